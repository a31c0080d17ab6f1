//! `voicegate migrate`: applies the migrations to the configured database and says where it
//! stands, for operators who migrate before rolling out new instances (`serve` migrates at
//! start as well; on PostgreSQL under an advisory lock, so instances starting together
//! migrate once).

use std::process::ExitCode;

use crate::app;
use crate::config::Config;
use crate::store::Db;

/// A description of the configured database safe to print: the backend and where it is (a
/// PostgreSQL URL without its password).
pub fn describe(config: &Config) -> String {
    match &config.database_url {
        Some(url) => format!(
            "postgres at {}",
            crate::store::pg_tools::redacted_url(url.expose())
        ),
        None => format!(
            "sqlite in {}",
            config.data_dir.join(crate::store::DB_FILE).display()
        ),
    }
}

/// Opens the configured database (which applies the migrations it lacks) and prints the
/// backend and the schema version.
pub async fn run(config: &Config) -> Result<ExitCode, String> {
    app::create_data_dir(config).map_err(|e| e.to_string())?;
    let db = Db::open(config).await.map_err(|e| e.to_string())?;
    let version = db.schema_version().await.map_err(|e| e.to_string())?;
    db.close().await;
    println!(
        "migrated: {} (backend {}), schema version {version}",
        describe(config),
        db.backend().name()
    );
    Ok(ExitCode::SUCCESS)
}
