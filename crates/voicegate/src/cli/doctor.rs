//! `voicegate doctor`: checks the configuration, the data directory, the store and the peers, and
//! says what to fix.

use std::process::ExitCode;
use std::time::Duration;

use crate::app;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::identity::signing_key::KeySource;

/// Runs every check, prints one line per check, and fails if any check failed.
pub async fn run(config: &Config, clock: SharedClock) -> ExitCode {
    let mut failed = false;
    println!(
        "ok    configuration loaded (listen {}, data_dir {})",
        config.listen,
        config.data_dir.display()
    );
    match app::open_identity(config, clock).await {
        Ok((db, identity, key_source)) => {
            println!(
                "ok    store: {} in {}",
                db.backend(),
                config.data_dir.display()
            );
            let key = match key_source {
                KeySource::Configured => "from SECRET",
                KeySource::File => "from secret_file",
                KeySource::Generated => "generated, kept in the data directory",
            };
            println!("ok    signing key {key}");
            match identity.user_count().await {
                Ok(0) => println!(
                    "warn  no users: create one with `voicegate --data-dir {} user add NAME`",
                    config.data_dir.display()
                ),
                Ok(n) => println!("ok    {n} user(s)"),
                Err(e) => {
                    failed = true;
                    println!("fail  reading users: {e}");
                }
            }
            db.close().await;
        }
        Err(e) => {
            failed = true;
            println!("fail  {e}");
        }
    }
    let bus = format!("{}:{}", config.ovos.ws_host, config.ovos.ws_port);
    match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&bus)).await {
        Ok(Ok(_)) => println!("ok    OVOS message bus reachable at {bus}"),
        Ok(Err(e)) => println!("warn  OVOS message bus at {bus}: {e}"),
        Err(_) => println!("warn  OVOS message bus at {bus}: no answer within 2 s"),
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
