//! Configuration: built-in defaults < `voicegate.toml` < `.env` < environment.
//!
//! Every key can be set from the environment as `VOICEGATE_<KEY>`, nested sections joined by `__`
//! (`[http] json_body_limit` is `VOICEGATE_HTTP__JSON_BODY_LIMIT`). The ovos-api names `SECRET`,
//! `WS_HOST`, `WS_PORT`, `API_KEY` and `USERS_DB` are honoured too, below the `VOICEGATE_` names, so
//! an ovos-api `.env` works unchanged. Unknown keys are an error that names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::address_policy::Allowlist;
use crate::secret::Secret;

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on. Loopback only unless told otherwise.
    pub listen: SocketAddr,
    /// Directory holding the database, the generated signing and licence keys, and the blob store.
    pub data_dir: PathBuf,
    /// Public base URL of this server (token issuer). Default: `http://` + `listen`.
    pub public_url: Option<String>,
    /// HS256 signing key for access tokens (the ovos-api `SECRET`). When unset, a random 256-bit
    /// key is generated once and kept in `data_dir`.
    pub secret: Option<Secret>,
    /// A file holding the signing key, as an alternative to `secret`.
    pub secret_file: Option<PathBuf>,
    /// An ovos-api users.json file, synced into the user table at every start (`USERS_DB`).
    pub users_db: Option<PathBuf>,
    /// Log filter, e.g. `info` or `info,voicegate=debug`.
    pub log_level: String,
    /// HTTP limits.
    pub http: HttpConfig,
    /// Token lifetimes, login protection and password rules.
    pub auth: AuthConfig,
    /// The Open Voice OS message bus.
    pub ovos: OvosConfig,
    /// The background job queue and its workers.
    pub jobs: JobsConfig,
    /// The events hub behind `GET /v1/events`.
    pub events: EventsConfig,
    /// The vocalid-api voices surface.
    pub voices: VoicesConfig,
}

/// HTTP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest JSON request body, in bytes; larger bodies get 413.
    pub json_body_limit: usize,
    /// Longest time a handler may take before the request is answered 503, in seconds.
    pub request_timeout_secs: u64,
}

/// Token lifetimes, login protection and password rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access-token lifetime in seconds (ovos-api: 30 minutes).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime in seconds (ovos-api: 6 hours).
    pub refresh_ttl_secs: i64,
    /// Lifetime of OAuth2 access tokens, in seconds.
    pub oauth_access_ttl_secs: i64,
    /// Absolute lifetime of an OAuth2 refresh-token family, in seconds (one year).
    pub oauth_refresh_ttl_secs: i64,
    /// An OAuth2 refresh token unused this long expires, in seconds (90 days).
    pub oauth_refresh_idle_secs: i64,
    /// Lifetime of the short token the Snips console login answers, in seconds.
    pub console_login_ttl_secs: i64,
    /// Clock-skew leeway when checking `exp` and `iat`, in seconds (at most 30).
    pub leeway_secs: i64,
    /// The `aud` claim of access tokens.
    pub audience: String,
    /// Failed logins per user name within `failure_window_secs` before that name gets 429.
    pub max_failures_per_user: u32,
    /// Failed credential checks per client IP within `failure_window_secs` before that IP gets 429.
    pub max_failures_per_ip: u32,
    /// Credential checks (failed or not) per client IP within `failure_window_secs`.
    pub max_attempts_per_ip: u32,
    /// The window of the counters above, in seconds.
    pub failure_window_secs: i64,
    /// Password hashes computed at once; the rest wait. Default: half the cores, at least one.
    pub hash_concurrency: Option<usize>,
    /// Shortest password accepted for a new or changed password, in characters.
    pub min_password_chars: usize,
    /// Longest password accepted anywhere, in bytes.
    pub max_password_bytes: usize,
    /// How often the server re-reads user state written by other processes (CLI), in milliseconds.
    pub state_poll_ms: u64,
}

/// The Open Voice OS message bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OvosConfig {
    /// Bus host (`WS_HOST`).
    pub ws_host: String,
    /// Bus port (`WS_PORT`).
    pub ws_port: u16,
    /// Key shared with the skill-rest-api companion skill (`API_KEY`).
    pub api_key: Option<Secret>,
    /// How long a request waits for the bus's reply before 504, in milliseconds.
    pub request_timeout_ms: u64,
    /// Longest pause between reconnection attempts, in milliseconds.
    pub reconnect_max_ms: u64,
    /// Longest utterance, dialog or skill id accepted, in characters.
    pub max_text_chars: usize,
    /// Most utterances in one `POST /v1/voice/utterance`.
    pub max_utterances: usize,
    /// Language used when a request names none.
    pub default_lang: String,
    /// Bus message types streamed on `GET /v1/events`; a trailing `*` matches a prefix.
    pub events_allowlist: Vec<String>,
}

/// The events hub behind `GET /v1/events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Events buffered for each subscriber; one that falls further behind is disconnected.
    pub buffer: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self { buffer: 256 }
    }
}

/// The background job queue (voice builds, training) and its workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// How long a claimed job stays leased to its worker without a renewal, in milliseconds. A
    /// worker renews it while the job runs; a crashed worker's job is taken again once it lapses.
    pub lease_ms: u64,
    /// How often idle workers look for jobs queued by other processes, in milliseconds. Jobs
    /// queued by this process wake them at once.
    pub poll_ms: u64,
    /// Workers per job kind.
    pub workers: usize,
    /// Runs a job gets (the first and those after a lapsed lease) before it is failed.
    pub max_attempts: u32,
}

/// The vocalid-api voices surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoicesConfig {
    /// Destinations a `put_url` upload may reach although they are not public addresses: host
    /// names (`minio.lan`), addresses (`10.0.0.5`) or CIDR blocks (`127.0.0.1/32`, `fd00::/8`).
    pub put_url_allow: Vec<String>,
    /// Connect and total time limit of a `put_url` upload, in milliseconds.
    pub put_url_timeout_ms: u64,
    /// Bytes of the `put_url` response body kept (and reported) at most.
    pub put_url_max_response_bytes: usize,
    /// Longest synthesis `script`, in characters (the contract says 256).
    pub max_script_chars: usize,
    /// Largest recording upload (the whole multipart body), in bytes.
    pub max_upload_bytes: usize,
    /// Longest recording, in seconds.
    pub max_recording_secs: f64,
    /// Longest recording `sentence`, in characters.
    pub max_sentence_chars: usize,
    /// A sample at or above this magnitude (full scale 1.0) counts as clipped.
    pub clip_level: f32,
    /// OVERDRIVEN when more than this fraction of samples is clipped or flat-topped.
    pub max_clipped_ratio: f32,
    /// A run of at least this many identical loud samples is a flat top.
    pub flat_run_samples: usize,
    /// Samples quieter than this magnitude never count as a flat top.
    pub flat_run_min_level: f32,
    /// UNDERDRIVEN when the loudest 50 ms block is below this level, dBFS.
    pub min_peak_block_dbfs: f32,
    /// UNDERDRIVEN when active speech is below this RMS level, dBFS.
    pub min_active_rms_dbfs: f32,
    /// Fewest recordings at a good level for a build.
    pub min_build_recordings: usize,
    /// Fewest voiced 10 ms frames for a recording to count in a build.
    pub min_voiced_frames: usize,
    /// The engine voice a male account's build speaks with.
    pub base_voice_male: String,
    /// The engine voice a female account's build speaks with.
    pub base_voice_female: String,
    /// The engine voice other accounts' builds speak with.
    pub base_voice_other: String,
    /// Built-in voices to list and serve: ids, or prefixes ending in `*` (`espeak:en*`); empty
    /// for all of them.
    pub builtin_voices: Vec<String>,
    /// Syntheses running at once (each takes a core while it runs).
    pub max_concurrent_syntheses: usize,
    /// How long a synthesis waits for a free slot before the answer is 503, in milliseconds.
    pub synthesis_queue_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            secret: None,
            secret_file: None,
            users_db: None,
            log_level: "info,sqlx=warn".into(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            ovos: OvosConfig::default(),
            jobs: JobsConfig::default(),
            events: EventsConfig::default(),
            voices: VoicesConfig::default(),
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease_ms: 30_000,
            poll_ms: 1000,
            workers: 1,
            max_attempts: 3,
        }
    }
}

impl Default for VoicesConfig {
    fn default() -> Self {
        Self {
            put_url_allow: Vec::new(),
            put_url_timeout_ms: 10_000,
            put_url_max_response_bytes: 4096,
            max_script_chars: 256,
            max_upload_bytes: 10 * 1024 * 1024,
            max_recording_secs: 30.0,
            max_sentence_chars: 500,
            clip_level: 0.999,
            max_clipped_ratio: 0.001,
            flat_run_samples: 4,
            flat_run_min_level: 0.5,
            min_peak_block_dbfs: -34.0,
            min_active_rms_dbfs: -40.0,
            min_build_recordings: 3,
            min_voiced_frames: 50,
            base_voice_male: "espeak:en-us".into(),
            base_voice_female: "flite:slt".into(),
            base_voice_other: "espeak:en-us".into(),
            builtin_voices: Vec::new(),
            max_concurrent_syntheses: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            synthesis_queue_ms: 5000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_body_limit: 1024 * 1024,
            request_timeout_secs: 30,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 1800,
            refresh_ttl_secs: 21600,
            console_login_ttl_secs: 600,
            oauth_access_ttl_secs: 3600,
            oauth_refresh_ttl_secs: 365 * 86_400,
            oauth_refresh_idle_secs: 90 * 86_400,
            leeway_secs: 30,
            audience: "voicegate".into(),
            max_failures_per_user: 5,
            max_failures_per_ip: 20,
            max_attempts_per_ip: 120,
            failure_window_secs: 300,
            hash_concurrency: None,
            min_password_chars: 8,
            max_password_bytes: 1024,
            state_poll_ms: 1000,
        }
    }
}

impl Default for OvosConfig {
    fn default() -> Self {
        Self {
            ws_host: "127.0.0.1".into(),
            ws_port: 8181,
            api_key: None,
            request_timeout_ms: 5000,
            reconnect_max_ms: 5000,
            max_text_chars: 1000,
            max_utterances: 10,
            default_lang: "en-us".into(),
            events_allowlist: [
                "speak",
                "recognizer_loop:utterance",
                "mycroft.mic.*",
                "mycroft.volume.*",
                "ovos.utterance.handled",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A configuration that could not be loaded or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or parsed; the message names the key.
    #[error("configuration: {0}")]
    Load(String),
    /// A value is out of range.
    #[error("configuration: {key}: {reason}")]
    Invalid {
        /// The offending key.
        key: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// Environment variables that hold secrets: read verbatim, never parsed as numbers or lists.
const SECRET_VARS: [(&str, &str); 4] = [
    ("VOICEGATE_SECRET", "secret"),
    ("SECRET", "secret"),
    ("VOICEGATE_OVOS__API_KEY", "api_key"),
    ("API_KEY", "api_key"),
];

impl Config {
    /// Loads the layers: defaults, then the TOML file (if given, it must exist; otherwise
    /// `voicegate.toml` in the working directory if present), then `.env` in the working directory
    /// (never overriding variables already set), then the environment.
    pub fn load(toml_path: Option<&Path>) -> Result<Self, ConfigError> {
        // Variables already set win over .env: dotenvy never overrides.
        match dotenvy::from_path(".env") {
            Ok(()) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::Load(format!(".env: {e}"))),
        }
        let mut figment = Figment::new();
        match toml_path {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Load(format!(
                    "{}: no such file",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("voicegate.toml").exists() => {
                figment = figment.merge(Toml::file_exact("voicegate.toml"));
            }
            None => {}
        }
        let secret_keys = ["secret", "ovos__api_key"];
        figment = figment
            .merge(
                Env::raw()
                    .only(&["ws_host", "ws_port", "users_db"])
                    .map(|key| match key.as_str().to_ascii_lowercase().as_str() {
                        "ws_host" => "ovos__ws_host".into(),
                        "ws_port" => "ovos__ws_port".into(),
                        _ => key.into(),
                    })
                    .split("__"),
            )
            .merge(Env::prefixed("VOICEGATE_").ignore(&secret_keys).split("__"));
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.apply_secret_env(|name| std::env::var(name).ok());
        config.validate()?;
        Ok(config)
    }

    /// Secrets come from the environment verbatim (the generic layer would turn `0123` into 123).
    /// The `VOICEGATE_` name wins over the ovos-api one; both win over the TOML file.
    fn apply_secret_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        for (name, key) in SECRET_VARS.iter().rev() {
            // An empty value (`SECRET=""` in the ovos-api .env template) means "not set".
            if let Some(value) = var(name).filter(|v| !v.is_empty()) {
                let value = Some(Secret::new(value));
                match *key {
                    "secret" => self.secret = value,
                    _ => self.ovos.api_key = value,
                }
            }
        }
    }

    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if !(0..=30).contains(&auth.leeway_secs) {
            return invalid("auth.leeway_secs", "must be between 0 and 30");
        }
        if auth.access_ttl_secs < 1 {
            return invalid("auth.access_ttl_secs", "must be at least 1");
        }
        if auth.oauth_access_ttl_secs < 1
            || auth.oauth_refresh_ttl_secs < 1
            || auth.oauth_refresh_idle_secs < 1
        {
            return invalid("auth.oauth_*_secs", "must be at least 1");
        }
        if auth.console_login_ttl_secs < 1 {
            return invalid("auth.console_login_ttl_secs", "must be at least 1");
        }
        if auth.refresh_ttl_secs < 1 {
            return invalid("auth.refresh_ttl_secs", "must be at least 1");
        }
        if auth.failure_window_secs < 1 {
            return invalid("auth.failure_window_secs", "must be at least 1");
        }
        if auth.max_password_bytes < auth.min_password_chars.max(1) {
            return invalid(
                "auth.max_password_bytes",
                "must be at least min_password_chars",
            );
        }
        if auth.hash_concurrency == Some(0) {
            return invalid("auth.hash_concurrency", "must be at least 1");
        }
        let ovos = &self.ovos;
        if ovos.request_timeout_ms == 0 {
            return invalid("ovos.request_timeout_ms", "must be at least 1");
        }
        if ovos.max_text_chars == 0 || ovos.max_utterances == 0 {
            return invalid(
                "ovos",
                "max_text_chars and max_utterances must be at least 1",
            );
        }
        if self.events.buffer == 0 {
            return invalid("events.buffer", "must be at least 1");
        }
        if self.http.json_body_limit == 0 {
            return invalid("http.json_body_limit", "must be at least 1");
        }
        if self.http.request_timeout_secs == 0 {
            return invalid("http.request_timeout_secs", "must be at least 1");
        }
        let jobs = &self.jobs;
        if jobs.lease_ms < 100 {
            return invalid("jobs.lease_ms", "must be at least 100");
        }
        if jobs.poll_ms == 0 {
            return invalid("jobs.poll_ms", "must be at least 1");
        }
        if jobs.workers == 0 {
            return invalid("jobs.workers", "must be at least 1");
        }
        if jobs.max_attempts == 0 {
            return invalid("jobs.max_attempts", "must be at least 1");
        }
        let voices = &self.voices;
        if voices.put_url_timeout_ms == 0 {
            return invalid("voices.put_url_timeout_ms", "must be at least 1");
        }
        if let Err(e) = Allowlist::parse(&voices.put_url_allow) {
            return invalid("voices.put_url_allow", &e.to_string());
        }
        Ok(())
    }

    /// The token issuer and public base URL.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Password hashes computed at once.
    pub fn hash_concurrency(&self) -> usize {
        self.auth.hash_concurrency.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / 2).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_toml_key_is_named() {
        let err = Figment::new()
            .merge(Toml::string("listen = \"127.0.0.1:9000\"\nlisten_port = 3"))
            .extract::<Config>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_port"), "{err}");
        let err = Figment::new()
            .merge(Toml::string("[auth]\naccess_ttl = 3"))
            .extract::<Config>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("access_ttl"), "{err}");
    }

    #[test]
    fn secrets_are_taken_verbatim_and_voicegate_names_win() {
        let mut config = Config::default();
        config.apply_secret_env(|name| match name {
            "SECRET" => Some("0123".into()),
            "VOICEGATE_SECRET" => Some(String::new()),
            "API_KEY" => Some("ovos-key".into()),
            "VOICEGATE_OVOS__API_KEY" => Some("vg-key".into()),
            _ => None,
        });
        assert_eq!(config.secret.as_ref().map(Secret::expose), Some("0123"));
        assert_eq!(
            config.ovos.api_key.as_ref().map(Secret::expose),
            Some("vg-key")
        );
        assert!(!format!("{config:?}").contains("0123"));
    }

    #[test]
    fn jobs_and_voices_sections_have_defaults_and_are_checked() {
        let config: Config = Figment::new()
            .merge(Toml::string(
                "[jobs]\nworkers = 2\n[voices]\nput_url_allow = [\"minio.lan\", \"127.0.0.1/32\"]",
            ))
            .extract()
            .unwrap();
        assert_eq!(config.jobs.workers, 2);
        assert_eq!(config.jobs.lease_ms, 30_000);
        assert_eq!(config.jobs.poll_ms, 1000);
        assert_eq!(config.voices.put_url_timeout_ms, 10_000);
        assert_eq!(config.voices.put_url_max_response_bytes, 4096);
        assert!(config.validate().is_ok());
        let err = Figment::new()
            .merge(Toml::string("[voices]\nput_url_timeout = 3"))
            .extract::<Config>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("put_url_timeout"), "{err}");
        let mut bad = config.clone();
        bad.voices.put_url_allow = vec!["10.0.0.0/33".into()];
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("voices.put_url_allow"), "{err}");
        let mut bad = config;
        bad.jobs.workers = 0;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn leeway_over_thirty_seconds_is_refused() {
        let mut config = Config::default();
        config.auth.leeway_secs = 31;
        assert!(config.validate().is_err());
    }
}
