//! `voicegate doctor`: checks the configuration, the data directory, the store and every
//! configured peer, one `ok`, `warn` or `fail` line each with what to fix, and exits non-zero
//! when a check failed. Every peer's check is bounded in time.

mod bus;
mod disk;
mod engines;
mod report;
mod speakers;
mod store;
mod wyoming;

use std::process::ExitCode;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::Config;

use report::{Finding, Report, bounded};

/// How long the store may take to open and answer.
const STORE_LIMIT: Duration = Duration::from_secs(20);

/// Runs every check, prints what each found, and fails if any check failed.
pub async fn run(config: &Config, clock: SharedClock) -> ExitCode {
    let mut report = Report::default();
    report.show(vec![Finding::ok(format!(
        "configuration loaded (listen {}, data_dir {})",
        config.listen,
        config.data_dir.display()
    ))]);
    let store_fix = match &config.database_url {
        Some(_) => "check that PostgreSQL answers at database_url",
        None => "check the file system of data_dir",
    };
    report.show(bounded(STORE_LIMIT, "store", store_fix, store::check(config, clock)).await);
    report.show(bus::check(&config.ovos).await);
    report.show(speakers::check(config).await);
    report.show(engines::check(&config.assistants).await);
    report.show(disk::check(&config.data_dir).await);
    report.show(wyoming::check(config.wyoming.enabled, config.wyoming.listen).await);
    println!("{}", report.summary());
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
