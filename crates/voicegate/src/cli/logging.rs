//! Logging for the commands: to standard error, filtered by `log_level`.

/// Installs the subscriber with `filter` (a `log_level` such as `info,voicegate=debug`; an
/// invalid one falls back to `info` with a warning).
pub fn init(filter: &str) {
    let targets: tracing_subscriber::filter::Targets = filter.parse().unwrap_or_else(|_| {
        eprintln!("warning: log_level {filter:?} is not a valid filter; using info");
        "info".parse().expect("a valid filter")
    });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(targets)
        .try_init();
}
