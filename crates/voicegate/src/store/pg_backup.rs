//! `voicegate backup FILE` and `restore FILE` on PostgreSQL: the database by `pg_dump` and
//! `pg_restore`, the shared data directory's files beside it, in one file.
//!
//! The file is the same kind of container as the SQLite backup (an SQLite database, see
//! [`crate::store::backup`]), with `format` = [`PG_FORMAT`] in `backup_meta` (plus
//! `dump_bytes` and `dump_sha256`), the data directory's files in `backup_files`, and the
//! output of `pg_dump --format=custom --exclude-table-data=instances` in
//! `backup_pgdump(seq, content)`, in pieces of at most 8 MiB (read them in `seq` order and
//! concatenate to get a file `pg_restore` reads). The database's URL reaches the programs
//! as `--dbname` and is never logged or printed.
//!
//! Restore checks the dump's SHA-256, writes the files (each whole), then runs
//! `pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error`: the
//! database's tables become the backup's, in one transaction.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

use crate::secret::Secret;
use crate::store::backup::{
    BackupError, Staging, Summary, check_integrity, io_error, sql_error, store_files, sync_dir,
};
use crate::store::pg_tools::find_program;
use crate::store::restore::restore_files;
use crate::store::temporaries::temporary_name;

/// The `format` of a PostgreSQL backup in `backup_meta`.
pub const PG_FORMAT: &str = "voicegate-backup-pg-1";

/// The size of one piece of the dump in `backup_pgdump`.
const PIECE: usize = 8 << 20;

/// What the PostgreSQL programs need: the database's URL and where the programs are.
#[derive(Debug, Clone)]
pub struct PgTarget {
    /// The database (never printed).
    pub url: Secret,
    /// `store.pg_bin_dir`, when configured.
    pub bin_dir: Option<PathBuf>,
}

impl PgTarget {
    fn program(&self, name: &str, by_hand: &str) -> Result<PathBuf, BackupError> {
        find_program(name, self.bin_dir.as_deref()).ok_or_else(|| {
            let place = match &self.bin_dir {
                Some(dir) => format!("in store.pg_bin_dir ({})", dir.display()),
                None => "on PATH (or set store.pg_bin_dir)".into(),
            };
            BackupError::Refused(format!(
                "{name} was not found {place}: install PostgreSQL's client programs of the \
                 server's major version or newer (Debian: postgresql-client), or do it by \
                 hand: {by_hand}"
            ))
        })
    }

    /// A program's error text with the URL (and its password) taken out.
    fn scrub(&self, text: &str) -> String {
        let url = self.url.expose();
        let mut text = text.replace(url, "[database url]");
        if let Some(password) = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|authority| authority.rsplit_once('@'))
            .and_then(|(user_info, _)| user_info.split_once(':'))
            .map(|(_, password)| password)
            .filter(|p| !p.is_empty())
        {
            text = text.replace(password, "***");
        }
        text.trim().to_string()
    }
}

/// The commands the README gives for doing it by hand.
const DUMP_BY_HAND: &str = "pg_dump --format=custom --dbname=\"$DATABASE_URL\" \
     --file=voicegate.pgdump, and copy the data directory (blobs, models, keys)";
const RESTORE_BY_HAND: &str = "pg_restore --clean --if-exists --no-owner --single-transaction \
     --dbname=\"$DATABASE_URL\" voicegate.pgdump, and copy the data directory back";

/// Reads a child's standard error on a thread (so a full pipe never blocks it).
fn drain_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    })
}

/// Fills `buf` from `from` until it is full or the input ends; answers how much was read.
fn read_piece(from: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match from.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes a backup of the PostgreSQL database (at schema version `schema`) and of the
/// files of `data_dir` to `file`, replaced whole once complete.
pub fn backup(
    target: &PgTarget,
    data_dir: &Path,
    file: &Path,
    schema: i64,
) -> Result<Summary, BackupError> {
    let pg_dump = target.program("pg_dump", DUMP_BY_HAND)?;
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let (Ok(dir), Ok(data)) = (parent.canonicalize(), data_dir.canonicalize())
        && dir.starts_with(data)
    {
        return Err(BackupError::Refused(format!(
            "{} is inside the data directory: write the backup elsewhere",
            file.display()
        )));
    }
    crate::store::restore::create_dir(data_dir)?;
    let temporary = parent.join(temporary_name());
    let written = write_backup(target, &pg_dump, data_dir, &temporary, schema);
    let renamed = written.and_then(|summary| {
        fs::rename(&temporary, file).map_err(io_error(format!(
            "renaming the backup to {}",
            file.display()
        )))?;
        sync_dir(&parent)?;
        Ok(summary)
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    renamed
}

fn write_backup(
    target: &PgTarget,
    pg_dump: &Path,
    data_dir: &Path,
    out: &Path,
    schema: i64,
) -> Result<Summary, BackupError> {
    let mut staging = Staging::new(data_dir)?;
    staging.add(data_dir, Path::new(""))?;
    // The backup holds the keys: only its owner reads it.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(io_error(format!("creating {}", out.display())))?;
    let mut backup = Connection::open(out).map_err(sql_error("creating the backup file"))?;
    backup
        .execute_batch(
            "PRAGMA journal_mode = DELETE;
             CREATE TABLE backup_pgdump (seq INTEGER PRIMARY KEY, content BLOB NOT NULL);",
        )
        .map_err(sql_error("creating the dump's table"))?;
    let (dump_bytes, dump_sha256) = store_dump(target, pg_dump, &mut backup)?;
    // Files written while the dump ran (a blob its rows name) are in the backup too.
    staging.add(data_dir, Path::new(""))?;
    let summary = store_files(&mut backup, &staging, schema, PG_FORMAT)?;
    for (key, value) in [
        ("dump_bytes", dump_bytes.to_string()),
        ("dump_sha256", dump_sha256),
    ] {
        backup
            .execute(
                "INSERT INTO backup_meta (key, value) VALUES (?, ?)",
                params![key, value],
            )
            .map_err(sql_error("storing the backup's description"))?;
    }
    check_integrity(&backup, "the backup")?;
    backup
        .close()
        .map_err(|(_, e)| sql_error("closing the backup")(e))?;
    fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(io_error(format!("syncing {}", out.display())))?;
    Ok(Summary {
        bytes: summary.bytes + dump_bytes,
        ..summary
    })
}

/// Runs `pg_dump` and stores its output in pieces; answers its size and SHA-256.
fn store_dump(
    target: &PgTarget,
    pg_dump: &Path,
    backup: &mut Connection,
) -> Result<(u64, String), BackupError> {
    let mut child = Command::new(pg_dump)
        .arg("--format=custom")
        .arg("--exclude-table-data=instances")
        .arg(format!("--dbname={}", target.url.expose()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error(format!("starting {}", pg_dump.display())))?;
    let errors = drain_stderr(&mut child);
    let mut stdout = child.stdout.take().expect("piped above");
    let stored = (|| -> Result<(u64, String), BackupError> {
        let tx = backup
            .transaction()
            .map_err(sql_error("storing the dump"))?;
        let (mut total, mut hash, mut buf) = (0u64, Sha256::new(), vec![0u8; PIECE]);
        for seq in 0i64.. {
            let n =
                read_piece(&mut stdout, &mut buf).map_err(io_error("reading pg_dump's output"))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            total += n as u64;
            tx.execute(
                "INSERT INTO backup_pgdump (seq, content) VALUES (?, ?)",
                params![seq, &buf[..n]],
            )
            .map_err(sql_error("storing the dump"))?;
        }
        tx.commit().map_err(sql_error("storing the dump"))?;
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((total, hex))
    })();
    drop(stdout);
    let status = child
        .wait()
        .map_err(io_error(format!("waiting for {}", pg_dump.display())))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(BackupError::Refused(format!(
            "pg_dump failed ({status}): {}",
            target.scrub(&errors)
        )));
    }
    stored
}

/// Whether `file` is a PostgreSQL backup (else it may be an SQLite one).
pub fn is_pg_backup(file: &Path) -> Result<bool, BackupError> {
    let backup = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql_error("opening the backup"))?;
    let format: Option<String> = backup
        .query_row(
            "SELECT value FROM backup_meta WHERE key = 'format'",
            [],
            |row| row.get(0),
        )
        .ok();
    Ok(format.as_deref() == Some(PG_FORMAT))
}

fn meta(backup: &Connection, key: &str) -> Result<String, BackupError> {
    backup
        .query_row(
            "SELECT value FROM backup_meta WHERE key = ?",
            [key],
            |row| row.get(0),
        )
        .map_err(|_| BackupError::Invalid(format!("the backup's description lacks {key}")))
}

/// Restores a PostgreSQL backup: the files into `data_dir`, the dump into the database
/// (whose tables become the backup's). Whether servers run is the caller's check.
pub fn restore(target: &PgTarget, file: &Path, data_dir: &Path) -> Result<Summary, BackupError> {
    let pg_restore = target.program("pg_restore", RESTORE_BY_HAND)?;
    let backup = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql_error("opening the backup"))?;
    if meta(&backup, "format")? != PG_FORMAT {
        return Err(BackupError::Invalid(format!(
            "{} is not a PostgreSQL voicegate backup ({PG_FORMAT})",
            file.display()
        )));
    }
    check_integrity(&backup, "the backup")?;
    let expected = meta(&backup, "dump_sha256")?;
    let mut hash = Sha256::new();
    let dump_bytes = for_each_piece(&backup, |piece| {
        hash.update(piece);
        Ok(())
    })?;
    let found: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if found != expected {
        return Err(BackupError::Invalid(
            "the backup is damaged: the dump does not match its SHA-256".into(),
        ));
    }
    let schema = meta(&backup, "schema")?.parse().unwrap_or(0);
    crate::store::restore::create_dir(data_dir)?;
    let (files, bytes) = restore_files(&backup, data_dir)?;
    let mut child = Command::new(&pg_restore)
        .args(["--clean", "--if-exists", "--no-owner"])
        .args(["--single-transaction", "--exit-on-error"])
        .arg(format!("--dbname={}", target.url.expose()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error(format!("starting {}", pg_restore.display())))?;
    let errors = drain_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("piped above");
    // pg_restore stops reading when it fails: its status says why, not the broken pipe.
    let _ = for_each_piece(&backup, |piece| {
        stdin
            .write_all(piece)
            .map_err(io_error("feeding pg_restore"))
    });
    drop(stdin);
    let status = child
        .wait()
        .map_err(io_error(format!("waiting for {}", pg_restore.display())))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(BackupError::Refused(format!(
            "pg_restore failed ({status}), the database is unchanged: {}",
            target.scrub(&errors)
        )));
    }
    Ok(Summary {
        files,
        bytes: bytes + dump_bytes,
        schema,
    })
}

/// Calls `each` with every piece of the dump in order; answers the bytes.
fn for_each_piece(
    backup: &Connection,
    mut each: impl FnMut(&[u8]) -> Result<(), BackupError>,
) -> Result<u64, BackupError> {
    let read = |e| sql_error("reading the dump")(e);
    let mut rows = backup
        .prepare("SELECT content FROM backup_pgdump ORDER BY seq")
        .map_err(read)?;
    let mut rows = rows.query([]).map_err(read)?;
    let mut total = 0u64;
    while let Some(row) = rows.next().map_err(read)? {
        let piece =
            row.get_ref(0).map_err(read)?.as_blob().map_err(|e| {
                BackupError::Invalid(format!("the backup's dump is not bytes: {e}"))
            })?;
        total += piece.len() as u64;
        each(piece)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_the_programs_never_show_the_password() {
        let target = PgTarget {
            url: Secret::new("postgres://vg:hunter2@db.lan/vg"),
            bin_dir: None,
        };
        let text = target.scrub(
            "pg_dump: error: connection to \"postgres://vg:hunter2@db.lan/vg\" failed; hunter2",
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("[database url]"), "{text}");
    }

    #[test]
    fn a_missing_program_names_the_command_to_run_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let target = PgTarget {
            url: Secret::new("postgres://vg@db.lan/vg"),
            bin_dir: Some(dir.path().into()),
        };
        let err = backup(&target, &dir.path().join("data"), &dir.path().join("b"), 22)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pg_dump was not found"), "{err}");
        assert!(err.contains("pg_dump --format=custom"), "{err}");
    }
}
