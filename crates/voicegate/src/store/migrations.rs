//! A small migration runner: each migration runs once, in order, inside a transaction, and is
//! recorded in `schema_migrations`. [`latest`] is the schema this binary migrates to.

use sqlx::AnyConnection;

use super::{Backend, Db, StoreError};

/// A schema change: its number, file name and SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// The SQLite migrations, in order. A new migration is a new file and a new line here.
const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_identity.sql",
        sql: include_str!("../../migrations/sqlite/0001_identity.sql"),
    },
    Migration {
        version: 2,
        name: "0002_named_tokens.sql",
        sql: include_str!("../../migrations/sqlite/0002_named_tokens.sql"),
    },
    Migration {
        version: 3,
        name: "0003_api_keys.sql",
        sql: include_str!("../../migrations/sqlite/0003_api_keys.sql"),
    },
    Migration {
        version: 4,
        name: "0004_oauth.sql",
        sql: include_str!("../../migrations/sqlite/0004_oauth.sql"),
    },
    Migration {
        version: 5,
        name: "0005_authorization_codes.sql",
        sql: include_str!("../../migrations/sqlite/0005_authorization_codes.sql"),
    },
    Migration {
        version: 6,
        name: "0006_jobs.sql",
        sql: include_str!("../../migrations/sqlite/0006_jobs.sql"),
    },
    Migration {
        version: 7,
        name: "0007_voices.sql",
        sql: include_str!("../../migrations/sqlite/0007_voices.sql"),
    },
    Migration {
        version: 8,
        name: "0008_job_progress.sql",
        sql: include_str!("../../migrations/sqlite/0008_job_progress.sql"),
    },
    Migration {
        version: 9,
        name: "0009_named_token_epoch.sql",
        sql: include_str!("../../migrations/sqlite/0009_named_token_epoch.sql"),
    },
    Migration {
        version: 10,
        name: "0010_revocation_epoch.sql",
        sql: include_str!("../../migrations/sqlite/0010_revocation_epoch.sql"),
    },
    Migration {
        version: 11,
        name: "0011_millisecond_cutoff.sql",
        sql: include_str!("../../migrations/sqlite/0011_millisecond_cutoff.sql"),
    },
    Migration {
        version: 12,
        name: "0012_signature_nonces.sql",
        sql: include_str!("../../migrations/sqlite/0012_signature_nonces.sql"),
    },
    Migration {
        version: 13,
        name: "0013_sealed_api_key_secrets.sql",
        sql: include_str!("../../migrations/sqlite/0013_sealed_api_key_secrets.sql"),
    },
    Migration {
        version: 14,
        name: "0014_recording_sizes.sql",
        sql: include_str!("../../migrations/sqlite/0014_recording_sizes.sql"),
    },
    Migration {
        version: 15,
        name: "0015_nonce_log.sql",
        sql: include_str!("../../migrations/sqlite/0015_nonce_log.sql"),
    },
    Migration {
        version: 16,
        name: "0016_nonce_log_unindexed.sql",
        sql: include_str!("../../migrations/sqlite/0016_nonce_log_unindexed.sql"),
    },
    Migration {
        version: 17,
        name: "0017_nonce_log_runs.sql",
        sql: include_str!("../../migrations/sqlite/0017_nonce_log_runs.sql"),
    },
    Migration {
        version: 18,
        name: "0018_client_pkce.sql",
        sql: include_str!("../../migrations/sqlite/0018_client_pkce.sql"),
    },
    Migration {
        version: 19,
        name: "0019_assistants.sql",
        sql: include_str!("../../migrations/sqlite/0019_assistants.sql"),
    },
    Migration {
        version: 20,
        name: "0020_assistant_language_models.sql",
        sql: include_str!("../../migrations/sqlite/0020_assistant_language_models.sql"),
    },
    Migration {
        version: 21,
        name: "0021_nonce_claims.sql",
        sql: include_str!("../../migrations/sqlite/0021_nonce_claims.sql"),
    },
    Migration {
        version: 22,
        name: "0022_instances.sql",
        sql: include_str!("../../migrations/sqlite/0022_instances.sql"),
    },
    Migration {
        version: 23,
        name: "0023_speaker_sessions.sql",
        sql: include_str!("../../migrations/sqlite/0023_speaker_sessions.sql"),
    },
    Migration {
        version: 24,
        name: "0024_events_relay.sql",
        sql: include_str!("../../migrations/sqlite/0024_events_relay.sql"),
    },
    Migration {
        version: 25,
        name: "0025_job_claimed_by.sql",
        sql: include_str!("../../migrations/sqlite/0025_job_claimed_by.sql"),
    },
    Migration {
        version: 26,
        name: "0026_web_sessions.sql",
        sql: include_str!("../../migrations/sqlite/0026_web_sessions.sql"),
    },
];

/// The PostgreSQL migrations: PostgreSQL starts at schema 20 with one file equal to SQLite's
/// 1 to 20; every later migration has a file per backend with the same number.
const POSTGRES: &[Migration] = &[
    Migration {
        version: 20,
        name: "0020_schema.sql",
        sql: include_str!("../../migrations/postgres/0020_schema.sql"),
    },
    Migration {
        version: 21,
        name: "0021_nonce_claims.sql",
        sql: include_str!("../../migrations/postgres/0021_nonce_claims.sql"),
    },
    Migration {
        version: 22,
        name: "0022_instances.sql",
        sql: include_str!("../../migrations/postgres/0022_instances.sql"),
    },
    Migration {
        version: 23,
        name: "0023_speaker_sessions.sql",
        sql: include_str!("../../migrations/postgres/0023_speaker_sessions.sql"),
    },
    Migration {
        version: 24,
        name: "0024_events_relay.sql",
        sql: include_str!("../../migrations/postgres/0024_events_relay.sql"),
    },
    Migration {
        version: 25,
        name: "0025_job_claimed_by.sql",
        sql: include_str!("../../migrations/postgres/0025_job_claimed_by.sql"),
    },
    Migration {
        version: 26,
        name: "0026_web_sessions.sql",
        sql: include_str!("../../migrations/postgres/0026_web_sessions.sql"),
    },
];

/// The schema version this binary migrates to (the same on both backends).
pub fn latest() -> i64 {
    let sqlite = SQLITE.last().map_or(0, |m| m.version);
    let postgres = POSTGRES.last().map_or(0, |m| m.version);
    debug_assert_eq!(sqlite, postgres, "both backends end at the same migration");
    sqlite.max(postgres)
}

/// Applies the migrations the database does not have yet.
pub(super) async fn run(db: &Db) -> Result<(), StoreError> {
    let mut conn = db.pool().acquire().await?;
    match db.backend() {
        Backend::Sqlite => {
            create_table(&mut conn).await?;
            for migration in SQLITE {
                // BEGIN IMMEDIATE takes the write lock first, so two processes starting
                // together do not both apply the same migration.
                in_transaction(&mut conn, "BEGIN IMMEDIATE", migration, SQLITE).await?;
            }
        }
        Backend::Postgres => {
            // A session lock (key: "vgmigr" in ASCII): instances starting together wait here
            // and then find the migrations applied.
            sqlx::raw_sql("DO $$ BEGIN PERFORM pg_advisory_lock(130186589333362); END $$")
                .execute(&mut *conn)
                .await?;
            let result = migrate_postgres(&mut conn).await;
            sqlx::raw_sql("DO $$ BEGIN PERFORM pg_advisory_unlock(130186589333362); END $$")
                .execute(&mut *conn)
                .await?;
            result?;
        }
    }
    Ok(())
}

async fn migrate_postgres(conn: &mut AnyConnection) -> Result<(), StoreError> {
    create_table(conn).await?;
    for migration in POSTGRES {
        in_transaction(conn, "BEGIN", migration, POSTGRES).await?;
    }
    Ok(())
}

async fn create_table(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn in_transaction(
    conn: &mut AnyConnection,
    begin: &str,
    migration: &Migration,
    all: &[Migration],
) -> Result<(), StoreError> {
    let known = all.last().map_or(0, |m| m.version);
    sqlx::raw_sql(sqlx::AssertSqlSafe(begin))
        .execute(&mut *conn)
        .await?;
    let result = apply(conn, migration, known).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end).execute(&mut *conn).await?;
    result
}

/// The highest migration a database has (0 for none).
pub(super) async fn version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    Ok(found.unwrap_or(0))
}

async fn apply(
    conn: &mut AnyConnection,
    migration: &Migration,
    known: i64,
) -> Result<(), StoreError> {
    let found = version(conn).await?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    // Each migration is looked up by its number, so one merged in below the highest applied
    // still runs.
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(migration.version)
            .fetch_optional(&mut *conn)
            .await?;
    if applied.is_some() {
        return Ok(());
    }
    sqlx::raw_sql(migration.sql)
        .execute(&mut *conn)
        .await
        .map_err(|source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(migration.version)
        .bind(migration.name)
        .bind(super::sql_integer(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use sqlx::any::AnyPoolOptions;

    use super::*;

    /// 0018 rebuilds `authorization_codes`: a database at 0017 keeps its clients and codes, every
    /// client stays PKCE-required, and a code may then be stored without a challenge.
    #[tokio::test]
    async fn client_pkce_keeps_existing_clients_strict_and_codes_intact() {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let (before, after) = SQLITE.split_at(17);
        for migration in before {
            apply(&mut conn, migration, 18).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO users (id, name, password_hash, created_at, updated_at) VALUES (1, 'ann', 'x', 0, 0);
             INSERT INTO oauth_clients (client_id, name, secret_hash, owner_id, grants, redirect_uris, scope, created_at)
                 VALUES ('vgc_old', 'Old', x'00', 1, 'authorization_code', 'https://a.example/cb', 'ovos', 0);
             INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at)
                 VALUES (x'01', 'vgc_old', 1, 'https://a.example/cb', 'ovos', 'challenge', 60);",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        assert_eq!(after[0].version, 18);
        apply(&mut conn, &after[0], 18).await.unwrap();

        let pkce: String = sqlx::query_scalar("SELECT pkce FROM oauth_clients")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(pkce, "required");
        let row =
            sqlx::query("SELECT client_id, code_challenge, expires_at FROM authorization_codes")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(row.get::<String, _>(0), "vgc_old");
        assert_eq!(
            row.get::<Option<String>, _>(1).as_deref(),
            Some("challenge")
        );
        assert_eq!(row.get::<i64, _>(2), 60);
        sqlx::query("INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, expires_at) VALUES (x'02', 'vgc_old', 1, 'u', 'ovos', 60)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let refused = sqlx::query("UPDATE oauth_clients SET pkce = 'off'")
            .execute(&mut *conn)
            .await;
        assert!(refused.is_err(), "only required or optional");
    }
}
