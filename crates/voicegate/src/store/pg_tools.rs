//! What the operations commands need around PostgreSQL: its URL shown without the password,
//! `pg_dump`/`pg_restore` found, and the notification round trip `doctor` measures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::secret::Secret;

/// The channel `doctor` measures the notification delay on: not the cache-invalidation
/// channel, so a probe never makes an instance reload anything.
pub const DOCTOR_CHANNEL: &str = "voicegate_doctor";

/// `url` with its password replaced by `***` and its query (which may hold a password) by
/// `?…`: safe to print.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, "?…"),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}{query}")
}

/// A PostgreSQL client program (`pg_dump`, `pg_restore`): in `bin_dir` when configured
/// (`store.pg_bin_dir`), else the first on `PATH`. `None` when it is not there.
pub fn find_program(name: &str, bin_dir: Option<&Path>) -> Option<PathBuf> {
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(dir) = bin_dir {
        let path = dir.join(name);
        return executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| executable(path))
}

/// Connects a listener on [`DOCTOR_CHANNEL`], sends a notification with a fresh payload from
/// a second connection, and answers how long it took to arrive (at most `limit`).
pub async fn notification_delay(url: &Secret, limit: Duration) -> Result<Duration, String> {
    let probe = async {
        let mut listener = sqlx::postgres::PgListener::connect(url.expose())
            .await
            .map_err(|e| format!("listening: {e}"))?;
        listener
            .listen(DOCTOR_CHANNEL)
            .await
            .map_err(|e| format!("LISTEN {DOCTOR_CHANNEL}: {e}"))?;
        let mut sender = sqlx::postgres::PgConnection::connect(url.expose())
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let payload = crate::ids::new_hex_id();
        let sent = Instant::now();
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(DOCTOR_CHANNEL)
            .bind(&payload)
            .execute(&mut sender)
            .await
            .map_err(|e| format!("NOTIFY {DOCTOR_CHANNEL}: {e}"))?;
        loop {
            let note = listener
                .recv()
                .await
                .map_err(|e| format!("receiving: {e}"))?;
            if note.payload() == payload {
                let delay = sent.elapsed();
                let _ = sender.close().await;
                return Ok(delay);
            }
        }
    };
    tokio::time::timeout(limit, probe).await.map_err(|_| {
        format!(
            "no notification arrived on {DOCTOR_CHANNEL} within {} s",
            limit.as_secs()
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printed_url_never_holds_the_password() {
        for (url, shown) in [
            (
                "postgres://vg:s3cret@db.lan:5432/voicegate",
                "postgres://vg:***@db.lan:5432/voicegate",
            ),
            (
                "postgresql://vg:p@ss:w@rd@db/vg?sslmode=require&password=x",
                "postgresql://vg:***@db/vg?…",
            ),
            (
                "postgres://vg@127.0.0.1:5433/vg_1",
                "postgres://vg@127.0.0.1:5433/vg_1",
            ),
            ("postgres://db.lan", "postgres://db.lan"),
            ("s3cret", "(not a URL)"),
        ] {
            assert_eq!(redacted_url(url), shown);
        }
    }

    #[test]
    fn programs_are_found_in_the_configured_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_program("pg_dump", Some(dir.path())), None);
        let program = dir.path().join("pg_dump");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        assert_eq!(
            find_program("pg_dump", Some(dir.path())),
            None,
            "not executable"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("pg_dump", Some(dir.path())), Some(program));
        assert!(find_program("sh", None).is_some(), "found on PATH");
    }
}
