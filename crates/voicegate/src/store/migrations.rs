//! A small migration runner: each migration runs once, in order, inside a transaction, and is
//! recorded in `schema_migrations`.

use sqlx::sqlite::SqlitePool;

use super::StoreError;

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
];

/// Applies the migrations the database does not have yet.
pub(super) async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;
    let known = SQLITE.last().map_or(0, |m| m.version);
    for migration in SQLITE {
        // BEGIN IMMEDIATE takes the write lock first, so two processes starting together do not
        // both apply the same migration.
        let mut conn = pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = apply(&mut conn, migration, known).await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *conn).await?;
        result?;
    }
    Ok(())
}

async fn apply(
    conn: &mut sqlx::SqliteConnection,
    migration: &Migration,
    known: i64,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let found = found.unwrap_or(0);
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    if found >= migration.version {
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
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))")
        .bind(migration.version)
        .bind(migration.name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    /// 0018 rebuilds `authorization_codes`: a database at 0017 keeps its clients and codes, every
    /// client stays PKCE-required, and a code may then be stored without a challenge.
    #[tokio::test]
    async fn client_pkce_keeps_existing_clients_strict_and_codes_intact() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
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
