//! Playback sessions: the contract's `SessionToken`, owned by the user who made it, with the
//! devices it plays on. Kept in memory: a restart ends them, as a speaker hub's restart does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::{UserId, new_token};
use crate::speakers::error::SpeakerError;

/// The contract's session tokens start so (its example: `r:abciKaTbUgdpQFuvYtgMm0FRh`).
const TOKEN_PREFIX: &str = "r:";

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its owner.
    pub owner: UserId,
    /// The backend ids of its devices, in the order they were added.
    pub devices: Vec<String>,
    last_used: Instant,
}

/// The open sessions.
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max_per_user: usize,
}

impl Sessions {
    /// No sessions yet; each ends after `idle` unused; `max_per_user` open per user at most.
    pub fn new(idle: Duration, max_per_user: usize) -> Self {
        Self {
            open: Mutex::default(),
            idle,
            max_per_user,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `owner` and returns its token.
    pub fn open(&self, owner: UserId) -> Result<String, SpeakerError> {
        let now = Instant::now();
        let mut open = self.lock();
        open.retain(|_, s| now.duration_since(s.last_used) < self.idle);
        if open.values().filter(|s| s.owner == owner).count() >= self.max_per_user {
            return Err(SpeakerError::TooManySessions(self.max_per_user));
        }
        let token = new_token(TOKEN_PREFIX);
        open.insert(
            token.clone(),
            Session {
                owner,
                devices: Vec::new(),
                last_used: now,
            },
        );
        Ok(token)
    }

    /// The session `token` of `owner` (marked used), or unknown.
    pub fn get(&self, owner: UserId, token: &str) -> Result<Session, SpeakerError> {
        self.update(owner, token, |_| ())
    }

    /// Changes the session `token` of `owner` with `change`; returns it changed.
    pub fn update(
        &self,
        owner: UserId,
        token: &str,
        change: impl FnOnce(&mut Session),
    ) -> Result<Session, SpeakerError> {
        let now = Instant::now();
        let mut open = self.lock();
        let session = open
            .get_mut(token)
            .filter(|s| s.owner == owner && now.duration_since(s.last_used) < self.idle)
            .ok_or(SpeakerError::UnknownSession)?;
        session.last_used = now;
        change(session);
        Ok(session.clone())
    }

    /// The devices of session `token`, whoever owns it (for what every user may see, such as
    /// which speakers are playing); none when it is unknown.
    pub fn devices_of(&self, token: &str) -> Vec<String> {
        self.lock()
            .get(token)
            .map(|s| s.devices.clone())
            .unwrap_or_default()
    }

    /// Ends the session `token` of `owner`.
    pub fn close(&self, owner: UserId, token: &str) -> Result<Session, SpeakerError> {
        let session = self.get(owner, token)?;
        self.lock().remove(token);
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_its_owners_alone_and_ends_when_closed_or_idle() {
        let sessions = Sessions::new(Duration::from_millis(50), 2);
        let (ana, bob) = (UserId::new(1), UserId::new(2));
        let token = sessions.open(ana).unwrap();
        assert!(token.starts_with("r:") && token.len() > 40, "{token}");
        sessions
            .update(ana, &token, |s| s.devices.push("kitchen".into()))
            .unwrap();
        assert_eq!(sessions.get(ana, &token).unwrap().devices, ["kitchen"]);
        assert_eq!(sessions.get(bob, &token), Err(SpeakerError::UnknownSession));
        assert_eq!(
            sessions.close(bob, &token),
            Err(SpeakerError::UnknownSession)
        );
        sessions.open(ana).unwrap();
        assert_eq!(sessions.open(ana), Err(SpeakerError::TooManySessions(2)));
        sessions.close(ana, &token).unwrap();
        assert_eq!(sessions.get(ana, &token), Err(SpeakerError::UnknownSession));
        let idle = sessions.open(ana).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.get(ana, &idle), Err(SpeakerError::UnknownSession));
    }
}
