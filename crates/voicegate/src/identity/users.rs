//! Users: creation, passwords, enabling and disabling, and the ovos-api users.json import.

use std::path::Path;

use crate::identity::error::IdentityError;
use crate::identity::model::{Role, User, UserName, UserSource};
use crate::identity::password;
use crate::identity::repo::NewUser;
use crate::identity::service::IdentityService;
use crate::identity::users_file;

/// What importing a users file changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Users created.
    pub created: usize,
    /// Users whose hash or status changed.
    pub updated: usize,
    /// Users synced from an earlier USERS_DB that are no longer in it, now disabled.
    pub disabled: usize,
    /// In the file, but a user of that name is managed by the other source.
    pub skipped: usize,
}

impl IdentityService {
    /// Checks a new password against the rules and hashes it with Argon2id.
    async fn new_password_hash(&self, password: &str) -> Result<String, IdentityError> {
        if password.chars().count() < self.auth.min_password_chars {
            return Err(IdentityError::Validation(format!(
                "the password must have at least {} characters",
                self.auth.min_password_chars
            )));
        }
        if password.len() > self.auth.max_password_bytes {
            return Err(IdentityError::Validation(format!(
                "the password must have at most {} bytes",
                self.auth.max_password_bytes
            )));
        }
        let password = password.to_string();
        Ok(self
            .off_executor(move || password::hash_argon2(&password))
            .await??)
    }

    /// The user named `name`, which must be managed here rather than in the USERS_DB file.
    async fn local_user(&self, name: &str) -> Result<User, IdentityError> {
        let user = self
            .repo
            .find_user(name)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(name.to_string()))?;
        if user.source == UserSource::UsersDb {
            return Err(IdentityError::ManagedByUsersDb(name.to_string()));
        }
        Ok(user)
    }

    /// Creates a user with an Argon2id hash of `password`.
    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        role: Role,
    ) -> Result<(), IdentityError> {
        self.add_user_with_email(name, None, password, role).await
    }

    /// Creates a user with an e-mail address (the Snips console logs in with it).
    pub async fn add_user_with_email(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
        role: Role,
    ) -> Result<(), IdentityError> {
        let name = UserName::parse(name)?;
        if let Some(email) = email
            && (email.len() > 254 || !email.contains('@') || email.chars().any(char::is_whitespace))
        {
            return Err(IdentityError::Validation(format!(
                "invalid e-mail address {email:?}"
            )));
        }
        let hash = self.new_password_hash(password).await?;
        let user = NewUser {
            name: name.as_str(),
            email,
            password_hash: &hash,
            imported_hash: None,
            role,
            active: true,
            source: UserSource::Local,
        };
        self.repo.insert_user(&user, self.clock.now()).await?;
        self.states.reload(&self.repo).await
    }

    /// Changes a user's password; their existing tokens stop working.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), IdentityError> {
        let user = self.local_user(name).await?;
        let hash = self.new_password_hash(password).await?;
        self.repo
            .set_password(user.id, &hash, None, self.clock.now_ms())
            .await?;
        self.states.reload(&self.repo).await
    }

    /// Enables or disables a user. A disabled user cannot log in, refresh or use a token, and
    /// the tokens it had stay dead when it is enabled again.
    pub async fn set_active(&self, name: &str, active: bool) -> Result<(), IdentityError> {
        let user = self.local_user(name).await?;
        self.repo
            .set_active(user.id, active, self.clock.now_ms())
            .await?;
        self.states.reload(&self.repo).await
    }

    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<User>, IdentityError> {
        self.repo.list_users().await
    }

    /// How many users exist.
    pub async fn user_count(&self) -> Result<i64, IdentityError> {
        self.repo.count_users().await
    }

    /// Imports an ovos-api users.json file: creates missing users, updates changed hashes and
    /// statuses. From `USERS_DB` ([`UserSource::UsersDb`]) it is a sync: users that came from an
    /// earlier version of the file and are no longer in it are disabled. An import never touches
    /// users of the other source (a CLI-made user is not taken over by the file, nor the reverse).
    pub async fn import_users(
        &self,
        path: &Path,
        source: UserSource,
    ) -> Result<ImportReport, IdentityError> {
        let entries = users_file::read(path)?;
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let mut report = ImportReport::default();
        for entry in &entries {
            match self.repo.find_user(&entry.user).await? {
                None => {
                    let user = NewUser {
                        name: &entry.user,
                        email: None,
                        password_hash: &entry.password,
                        imported_hash: Some(&entry.password),
                        role: Role::User,
                        active: entry.active,
                        source,
                    };
                    self.repo.insert_user(&user, now).await?;
                    report.created += 1;
                }
                Some(existing) if existing.source != source => {
                    tracing::warn!(user = %entry.user, "users file: a user of that name is managed elsewhere; skipped");
                    report.skipped += 1;
                }
                Some(existing) => {
                    let known_hash = existing
                        .imported_hash
                        .as_deref()
                        .unwrap_or(&existing.password_hash);
                    let mut changed = false;
                    if known_hash != entry.password {
                        self.repo
                            .set_password(
                                existing.id,
                                &entry.password,
                                Some(&entry.password),
                                now_ms,
                            )
                            .await?;
                        changed = true;
                    }
                    if existing.active != entry.active {
                        self.repo
                            .set_active(existing.id, entry.active, now_ms)
                            .await?;
                        changed = true;
                    }
                    report.updated += usize::from(changed);
                }
            }
        }
        if source == UserSource::UsersDb {
            for user in self.repo.list_users().await? {
                let in_file = entries.iter().any(|e| e.user == user.name);
                if user.source == UserSource::UsersDb && user.active && !in_file {
                    self.repo.set_active(user.id, false, now_ms).await?;
                    report.disabled += 1;
                }
            }
        }
        self.states.reload(&self.repo).await?;
        Ok(report)
    }
}
