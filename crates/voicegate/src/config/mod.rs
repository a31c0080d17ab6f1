//! Configuration: built-in defaults < `voicegate.toml` < `.env` < environment.
//!
//! Every key can be set from the environment as `VOICEGATE_<KEY>`, nested sections joined by `__`
//! (`[http] json_body_limit` is `VOICEGATE_HTTP__JSON_BODY_LIMIT`). The ovos-api names `SECRET`,
//! `WS_HOST`, `WS_PORT`, `API_KEY` and `USERS_DB` are honoured too, below the `VOICEGATE_` names, so
//! an ovos-api `.env` works unchanged. Unknown keys are an error that names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::address_policy::{AddressBlocks, Allowlist};
use crate::outbound::resolve::parse_nameserver;
use crate::secret::Secret;
use layers::SECRET_VARS;

mod assistants;
mod layers;
mod sections;
mod speakers;
mod web;
mod wyoming;

pub use assistants::AssistantsConfig;
pub use layers::{Layers, Source};
pub use sections::{
    AuthConfig, EventsConfig, HttpConfig, JobsConfig, MetricsConfig, OvosConfig, QuotasConfig,
    StoreConfig, VoicesConfig,
};
pub use speakers::{LocalOutput, SpeakerBackendKind, SpeakersConfig};
pub use web::{SecureCookie, WebConfig};
pub use wyoming::{Exposure, WyomingConfig};

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on. Loopback only unless told otherwise.
    pub listen: SocketAddr,
    /// Directory holding the database, the generated signing and licence keys, and the blob store.
    pub data_dir: PathBuf,
    /// The database: unset (the default) is SQLite in `data_dir`; `postgres://user@host/db` is
    /// PostgreSQL, shared by every instance that names it (`DATABASE_URL` works too). With
    /// PostgreSQL, `data_dir` must be one directory shared by those instances (blobs, keys).
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub database_url: Option<Secret>,
    /// Public base URL of this server (token issuer). Default: `http://` + `listen`.
    pub public_url: Option<String>,
    /// HS256 signing key for access tokens (the ovos-api `SECRET`). When unset, a random 256-bit
    /// key is generated once and kept in `data_dir`.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
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
    /// The database connection.
    pub store: StoreConfig,
    /// The background job queue and its workers.
    pub jobs: JobsConfig,
    /// The events hub behind `GET /v1/events`.
    pub events: EventsConfig,
    /// `GET /metrics`.
    pub metrics: MetricsConfig,
    /// The vocalid-api voices surface.
    pub voices: VoicesConfig,
    /// Per-user quotas.
    pub quotas: QuotasConfig,
    /// The HK Omni speakers surface.
    pub speakers: SpeakersConfig,
    /// The Snips console assistants surface.
    pub assistants: AssistantsConfig,
    /// The Wyoming protocol server (Home Assistant).
    pub wyoming: WyomingConfig,
    /// The web console at `/`.
    pub web: WebConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            public_url: None,
            secret: None,
            secret_file: None,
            users_db: None,
            log_level: "info,sqlx=warn".into(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            ovos: OvosConfig::default(),
            store: StoreConfig::default(),
            jobs: JobsConfig::default(),
            events: EventsConfig::default(),
            metrics: MetricsConfig::default(),
            voices: VoicesConfig::default(),
            quotas: QuotasConfig::default(),
            speakers: SpeakersConfig::default(),
            assistants: AssistantsConfig::default(),
            wyoming: WyomingConfig::default(),
            web: WebConfig::default(),
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

impl Config {
    /// Loads the layers: defaults, then the TOML file (if given, it must exist; otherwise
    /// `voicegate.toml` in the working directory if present), then `.env` in the working directory
    /// (never overriding variables already set), then the environment.
    pub fn load(toml_path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_layers(toml_path).map(|(config, _)| config)
    }

    /// Loads as [`Config::load`] does, and answers the layers too, which tell where each value
    /// came from.
    pub fn load_with_layers(toml_path: Option<&Path>) -> Result<(Self, Layers), ConfigError> {
        let layers = Layers::read(toml_path).map_err(ConfigError::Load)?;
        let mut config: Config = layers
            .figment()
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.apply_secret_env(|name| std::env::var(name).ok());
        config.validate()?;
        Ok((config, layers))
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
                    "database_url" => self.database_url = value,
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
        if !(1..=600).contains(&auth.oauth_code_ttl_secs) {
            return invalid("auth.oauth_code_ttl_secs", "must be between 1 and 600");
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
        if auth.max_nonces_per_key == 0 {
            return invalid("auth.max_nonces_per_key", "must be at least 1");
        }
        let ovos = &self.ovos;
        if ovos.request_timeout_ms == 0 {
            return invalid("ovos.request_timeout_ms", "must be at least 1");
        }
        if ovos.skill_drain_ms >= ovos.request_timeout_ms {
            return invalid(
                "ovos.skill_drain_ms",
                "must be less than ovos.request_timeout_ms",
            );
        }
        let session_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
        if ovos.session_id.is_empty()
            || ovos.session_id.len() > 128
            || !ovos.session_id.chars().all(session_char)
        {
            return invalid(
                "ovos.session_id",
                "1 to 128 letters, digits, '.', '_', '-' or ':'",
            );
        }
        if ovos.max_text_chars == 0 || ovos.max_utterances == 0 {
            return invalid(
                "ovos",
                "max_text_chars and max_utterances must be at least 1",
            );
        }
        if let Some((key, reason)) = self.speakers.invalid() {
            return invalid(key, reason);
        }
        if let Some((key, reason)) = self.assistants.invalid() {
            return invalid(key, reason);
        }
        if let Some((key, reason)) = self.wyoming.invalid() {
            return invalid(key, &reason);
        }
        if let Some((key, reason)) = self.web.invalid() {
            return invalid(key, &reason);
        }
        if self.store.max_connections == 0 {
            return invalid("store.max_connections", "must be at least 1");
        }
        if !(100..=60_000).contains(&self.store.acquire_timeout_ms) {
            return invalid("store.acquire_timeout_ms", "must be from 100 to 60000");
        }
        if !(100..=600_000).contains(&self.store.heartbeat_ms) {
            return invalid("store.heartbeat_ms", "must be from 100 to 600000");
        }
        if let Some(url) = &self.database_url
            && !(url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            return invalid(
                "database_url",
                "must be a postgres:// URL (unset: SQLite in data_dir)",
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
        if self.http.header_read_timeout_secs == 0 {
            return invalid("http.header_read_timeout_secs", "must be at least 1");
        }
        if self.http.idle_timeout_secs == 0 {
            return invalid("http.idle_timeout_secs", "must be at least 1");
        }
        if !(1..=1_000_000).contains(&self.http.max_connections) {
            return invalid("http.max_connections", "must be from 1 to 1000000");
        }
        if !(1..=65_535).contains(&self.http.listen_backlog) {
            return invalid("http.listen_backlog", "must be from 1 to 65535");
        }
        if let Err(e) = AddressBlocks::parse(&self.http.trusted_proxies) {
            return invalid("http.trusted_proxies", &e.to_string());
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
        if let Some(Err(e)) = voices
            .put_url_nameservers
            .iter()
            .map(|entry| parse_nameserver(entry))
            .find(Result::is_err)
        {
            return invalid("voices.put_url_nameservers", &e);
        }
        if !(1..=1024).contains(&voices.put_url_max_concurrent) {
            return invalid("voices.put_url_max_concurrent", "must be from 1 to 1024");
        }
        if !(1..=1024).contains(&voices.max_concurrent_decodes) {
            return invalid("voices.max_concurrent_decodes", "must be from 1 to 1024");
        }
        if let Some((key, _)) = self.quotas.entries().into_iter().find(|(_, n)| *n == 0) {
            return invalid(key, "must be at least 1");
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
    use figment::Figment;
    use figment::providers::{Format, Toml};

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
        assert!(config.voices.put_url_nameservers.is_empty());
        assert_eq!(config.voices.put_url_max_concurrent, 4);
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
        let mut ported = config.clone();
        ported.voices.put_url_allow = vec!["minio.lan:9000".into(), "[fd00::5]:443".into()];
        ported.voices.put_url_nameservers = vec!["10.0.0.53".into(), "[::1]:5353".into()];
        assert!(ported.validate().is_ok());
        let mut bad = config.clone();
        bad.voices.put_url_nameservers = vec!["dns.lan".into()];
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("voices.put_url_nameservers"), "{err}");
        let mut bad = config.clone();
        bad.voices.put_url_max_concurrent = 0;
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("voices.put_url_max_concurrent"), "{err}");
        assert_eq!(config.voices.max_concurrent_decodes, 2);
        let mut bad = config.clone();
        bad.voices.max_concurrent_decodes = 0;
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("voices.max_concurrent_decodes"), "{err}");
        let mut bad = config;
        bad.jobs.workers = 0;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_ovos_session_defaults_to_the_device_session_and_is_checked() {
        let config: Config = Figment::new().merge(Toml::string("")).extract().unwrap();
        assert_eq!(config.ovos.session_id, "default");
        let config: Config = Figment::new()
            .merge(Toml::string("[ovos]\nsession_id = \"voicegate\""))
            .extract()
            .unwrap();
        assert_eq!(config.ovos.session_id, "voicegate");
        assert!(config.validate().is_ok());
        for bad_id in ["", "two words", &"x".repeat(129)] {
            let mut bad = config.clone();
            bad.ovos.session_id = bad_id.to_string();
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("ovos.session_id"), "{err}");
        }
    }

    #[test]
    fn connection_limits_have_defaults_and_are_checked() {
        let config: Config = Figment::new()
            .merge(Toml::string("[http]\nmax_connections = 64"))
            .extract()
            .unwrap();
        assert_eq!(config.http.max_connections, 64);
        assert_eq!(config.http.header_read_timeout_secs, 10);
        assert_eq!(config.http.idle_timeout_secs, 15);
        assert!(config.validate().is_ok());
        for (key, change) in [
            (
                "http.max_connections",
                (|c: &mut Config| c.http.max_connections = 0) as fn(&mut Config),
            ),
            ("http.header_read_timeout_secs", |c| {
                c.http.header_read_timeout_secs = 0
            }),
            ("http.idle_timeout_secs", |c| c.http.idle_timeout_secs = 0),
            ("http.listen_backlog", |c| c.http.listen_backlog = 0),
            ("http.trusted_proxies", |c| {
                c.http.trusted_proxies = vec!["proxy.lan".into()]
            }),
            ("http.trusted_proxies", |c| {
                c.http.trusted_proxies = vec!["10.0.0.1:8080".into()]
            }),
        ] {
            let mut bad = config.clone();
            change(&mut bad);
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn skill_rest_api_settings_have_defaults_and_the_drain_fits_the_timeout() {
        let config: Config = Figment::new()
            .merge(Toml::string("[ovos]\nskill_drain_ms = 40"))
            .extract()
            .unwrap();
        assert_eq!(config.ovos.skill_drain_ms, 40);
        assert_eq!(config.ovos.skill_list_ttl_ms, 10_000);
        assert_eq!(config.ovos.skill_rest_api_id, "skill-rest-api.smartgic");
        assert_eq!(Config::default().ovos.skill_drain_ms, 150);
        assert!(config.validate().is_ok());
        let mut bad = config;
        bad.ovos.skill_drain_ms = bad.ovos.request_timeout_ms;
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("ovos.skill_drain_ms"), "{err}");
    }

    #[test]
    fn quotas_have_defaults_and_none_may_be_zero() {
        let config: Config = Figment::new()
            .merge(Toml::string("[quotas]\ndevices_per_user = 5"))
            .extract()
            .unwrap();
        assert_eq!(config.quotas.devices_per_user, 5);
        assert_eq!(config.quotas.voice_accounts_per_user, 20);
        assert_eq!(config.quotas.recordings_per_account, 2000);
        assert_eq!(config.quotas.recording_bytes_per_user, 2 << 30);
        assert_eq!(config.quotas.api_keys_per_user, 20);
        assert_eq!(config.quotas.named_tokens_per_user, 50);
        assert_eq!(config.quotas.oauth_clients_per_user, 20);
        assert!(config.validate().is_ok());
        for (key, _) in config.quotas.entries() {
            let mut bad = config.clone();
            let field = key.strip_prefix("quotas.").unwrap();
            bad.quotas = Figment::new()
                .merge(Toml::string(&format!("{field} = 0")))
                .extract()
                .unwrap();
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = Figment::new()
            .merge(Toml::string("[quotas]\ndevices = 3"))
            .extract::<Config>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("devices"), "{err}");
    }

    #[test]
    fn oauth_lifetimes_default_to_the_hk_contracts_and_are_settable() {
        let config = Config::default();
        assert_eq!(config.auth.oauth_access_ttl_secs, 3600, "an hour");
        assert_eq!(config.auth.oauth_refresh_ttl_secs, 365 * 86_400, "a year");
        assert_eq!(config.auth.oauth_code_ttl_secs, 60, "a minute");
        let config: Config = Figment::new()
            .merge(Toml::string(
                "[auth]\noauth_access_ttl_secs = 900\noauth_code_ttl_secs = 120",
            ))
            .extract()
            .unwrap();
        assert_eq!(config.auth.oauth_access_ttl_secs, 900);
        assert_eq!(config.auth.oauth_code_ttl_secs, 120);
        assert!(config.validate().is_ok());
        for ttl in [0, 601] {
            let mut bad = config.clone();
            bad.auth.oauth_code_ttl_secs = ttl;
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("auth.oauth_code_ttl_secs"), "{ttl}: {err}");
        }
    }

    #[test]
    fn leeway_over_thirty_seconds_is_refused() {
        let mut config = Config::default();
        config.auth.leeway_secs = 31;
        assert!(config.validate().is_err());
    }
}
