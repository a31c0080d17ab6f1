//! The store's findings: the signing key and the users through identity, the backend and schema,
//! the instances seen recently, and on PostgreSQL the notification delay.

use std::time::Duration;

use crate::app;
use crate::cli::doctor::report::Finding;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::identity::signing_key::KeySource;
use crate::store::Db;
use crate::store::instances::Instances;
use crate::store::pg_tools;

/// Opens the store as the server does (which applies missing migrations) and reads it.
pub async fn check(config: &Config, clock: SharedClock) -> Vec<Finding> {
    let (db, identity, key_source) = match app::open_identity(config, clock).await {
        Ok(opened) => opened,
        Err(e) => {
            let fix = match &config.database_url {
                Some(_) => "start PostgreSQL or correct database_url (DATABASE_URL)",
                None => "make data_dir a writable directory (--data-dir, data_dir)",
            };
            return vec![Finding::fail(e.to_string(), fix)];
        }
    };
    let mut findings = schema_and_instances(config, &db).await;
    let key = match key_source {
        KeySource::Configured => "from SECRET",
        KeySource::File => "from secret_file",
        KeySource::Generated => "generated, kept in the data directory",
    };
    findings.push(Finding::ok(format!("signing key {key}")));
    findings.push(match identity.user_count().await {
        Ok(0) => Finding::warn(
            "no users: nobody can log in",
            format!(
                "create one with `voicegate --data-dir {} user add NAME`",
                config.data_dir.display()
            ),
        ),
        Ok(n) => Finding::ok(format!("{n} user(s)")),
        Err(e) => Finding::fail(
            format!("reading users: {e}"),
            "check the database (voicegate migrate)",
        ),
    });
    db.close().await;
    findings
}

async fn schema_and_instances(config: &Config, db: &Db) -> Vec<Finding> {
    let mut findings = Vec::new();
    let where_ = crate::cli::migrate::describe(config);
    findings.push(match db.schema_version().await {
        Ok(version) => Finding::ok(format!(
            "store: backend {}, {where_}, schema version {version}",
            db.backend().name()
        )),
        Err(e) => Finding::fail(
            format!("store: {where_}: reading the schema version: {e}"),
            "run `voicegate migrate` and look at its error",
        ),
    });
    let within = Duration::from_millis(config.store.heartbeat_ms)
        .saturating_mul(crate::store::instances::STALE_BEATS);
    match Instances::alive(db, within).await {
        Ok(rows) if rows.is_empty() => findings.push(Finding::ok(format!(
            "no instance seen within {} s (no server running)",
            within.as_secs()
        ))),
        Ok(rows) => {
            findings.push(Finding::ok(format!(
                "{} instance(s) seen within {} s:",
                rows.len(),
                within.as_secs()
            )));
            for row in rows {
                findings.push(Finding::detail(format!(
                    "instance {} host {} pid {} version {} seen {:.1} s ago",
                    row.id,
                    row.host,
                    row.pid,
                    row.version,
                    row.seen_ms_ago as f64 / 1000.0
                )));
            }
        }
        Err(e) => findings.push(Finding::fail(
            format!("reading the instances: {e}"),
            "run `voicegate migrate` and look at its error",
        )),
    }
    if let Some(url) = db.postgres_url() {
        findings.push(
            match pg_tools::notification_delay(url, Duration::from_secs(5)).await {
                Ok(delay) => Finding::ok(format!(
                    "notification channel: LISTEN/NOTIFY delay {:.1} ms",
                    delay.as_secs_f64() * 1000.0
                )),
                Err(e) => Finding::fail(
                    format!("notification channel: {e}"),
                    "let the database user LISTEN and NOTIFY (no pooler in transaction mode \
                     between voicegate and PostgreSQL)",
                ),
            },
        );
    }
    findings
}
