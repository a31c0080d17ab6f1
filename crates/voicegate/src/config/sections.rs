//! The sections of the configuration (`[http]`, `[auth]`, `[ovos]`, `[jobs]`, `[events]`,
//! `[voices]`, `[quotas]`) with their built-in defaults; [`super::Config`] holds one of each.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// HTTP limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest JSON request body, in bytes; larger bodies get 413.
    pub json_body_limit: usize,
    /// Longest time a handler may take before the request is answered 503, in seconds.
    pub request_timeout_secs: u64,
    /// Longest time to receive the head of a request (request line and headers) from its first
    /// byte, in seconds; a slower client is disconnected.
    pub header_read_timeout_secs: u64,
    /// A connection silent in both directions this long is closed (after answering a request
    /// in progress), in seconds.
    pub idle_timeout_secs: u64,
    /// Connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Connections the kernel holds for the server to accept (capped by the system's
    /// `net.core.somaxconn`).
    pub listen_backlog: u32,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client for
    /// the rate limits; from any other peer the header is ignored.
    pub trusted_proxies: Vec<String>,
}

/// Token lifetimes, login protection and password rules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access-token lifetime in seconds (ovos-api: 30 minutes).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime in seconds (ovos-api: 6 hours).
    pub refresh_ttl_secs: i64,
    /// Lifetime of OAuth2 access tokens, in seconds (an hour, as the HK contract states).
    pub oauth_access_ttl_secs: i64,
    /// Absolute lifetime of an OAuth2 refresh-token family, in seconds (one year, as the HK
    /// contract states).
    pub oauth_refresh_ttl_secs: i64,
    /// An OAuth2 refresh token unused this long expires, in seconds (90 days).
    pub oauth_refresh_idle_secs: i64,
    /// Lifetime of an OAuth2 authorization code, in seconds (a minute, as the HK contract
    /// states; at most 600, RFC 6749's ceiling).
    pub oauth_code_ttl_secs: i64,
    /// Lifetime of the short token the Snips console login answers, in seconds.
    pub console_login_ttl_secs: i64,
    /// Clock-skew leeway when checking `exp` and `iat`, in seconds (at most 30).
    pub leeway_secs: i64,
    /// The `aud` claim of access tokens.
    pub audience: String,
    /// Failed logins per user name within `failure_window_secs` before that name gets 429.
    pub max_failures_per_user: u32,
    /// Failed credential checks per client IP within `failure_window_secs` before that IP gets 429.
    /// This and the other counters are kept by each instance: behind N instances an address
    /// gets up to N times the limit.
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
    /// Signed requests (nonces) one API key may make per 20 minutes (two timestamp windows, as
    /// long as a nonce is kept); past it that key gets 401 until its older nonces expire, so one
    /// key cannot fill the nonce store for the others. Each instance counts its own: several
    /// instances on one PostgreSQL let a key spend up to their number times this (they share
    /// the nonces themselves, not the count).
    pub max_nonces_per_key: u64,
}

/// The Open Voice OS message bus.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OvosConfig {
    /// Bus host (`WS_HOST`).
    pub ws_host: String,
    /// Bus port (`WS_PORT`).
    pub ws_port: u16,
    /// Key shared with the skill-rest-api companion skill (`API_KEY`).
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
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
    /// skill-rest-api answers each request several times and without correlation, so one request
    /// per answer type is in flight; after it, answers of that type are dropped until none has
    /// come for this long (milliseconds) before the next request of the type is sent. Also how
    /// long a key refusal waits for data that may follow it. 0: no drain (a skill answering once).
    pub skill_drain_ms: u64,
    /// How long ovos-core's skill list is trusted to say whether skill-rest-api is there,
    /// in milliseconds; skill-manager messages on the bus refresh it sooner.
    pub skill_list_ttl_ms: u64,
    /// skill-rest-api's id in ovos-core's skill list; empty: not checked (a skill run outside
    /// ovos-core's skill manager), requests always go to the skill.
    pub skill_rest_api_id: String,
    /// The session named in every message's context (`session.session_id`). `default` is the
    /// device's own session: ovos-audio speaks, and the listener listens, only for it.
    pub session_id: String,
}

/// The events hub behind `GET /v1/events`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// `GET /metrics`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether the metrics are kept and served (open from this machine, otherwise to tokens with
    /// the `admin` scope); when false, `/metrics` answers 404 and requests are not counted.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// The background job queue (voice builds, training) and its workers.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// The database connection (the database itself is `database_url`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Connections to PostgreSQL this instance keeps at most (SQLite uses 4).
    pub max_connections: u32,
    /// How long a request waits for a PostgreSQL connection (ms, 100 to 60000): with the
    /// database down, requests that need it answer 503 after this.
    pub acquire_timeout_ms: u64,
    /// How often a serving instance marks its row in `instances` as seen (ms, 100 to
    /// 600000); a row not seen for ten of these is an instance gone.
    pub heartbeat_ms: u64,
    /// The folder of `pg_dump` and `pg_restore` for `backup`/`restore` on PostgreSQL (default:
    /// found on `PATH`).
    pub pg_bin_dir: Option<std::path::PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_ms: 2_000,
            heartbeat_ms: 5_000,
            pg_bin_dir: None,
        }
    }
}

/// The vocalid-api voices surface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoicesConfig {
    /// Destinations a `put_url` upload may reach although they are not public addresses: host
    /// names (`minio.lan`), addresses (`10.0.0.5`) or CIDR blocks (`127.0.0.1/32`, `fd00::/8`),
    /// each with an optional port that is then the only one allowed (`minio.lan:9000`,
    /// `[fd00::5]:9000`, `10.0.0.0/8:9000`).
    pub put_url_allow: Vec<String>,
    /// Time limit of a `put_url` upload (name lookup, connection and answer), in milliseconds;
    /// an upload also waits at most this long for a free slot.
    pub put_url_timeout_ms: u64,
    /// DNS servers that resolve `put_url` hosts (`10.0.0.53`, `127.0.0.1:5353`, `[::1]:53`);
    /// empty for the system's (`/etc/resolv.conf`).
    pub put_url_nameservers: Vec<String>,
    /// `put_url` uploads (and their checks) in progress at once; more wait for a slot.
    pub put_url_max_concurrent: usize,
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
    /// WAV files decoded at once (an uploaded recording's check, a build's recordings); more
    /// wait for a slot. A decode holds the file and its samples, several times the file's size.
    pub max_concurrent_decodes: usize,
}

/// Per-user quotas: how much one user may create and keep. Past a count the answer is 429
/// `quota_exceeded`, past the bytes of recordings 507 `insufficient_storage`; nothing already
/// stored is touched.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotasConfig {
    /// Voice accounts (`account/register`) per user.
    pub voice_accounts_per_user: u64,
    /// Recordings per voice account.
    pub recordings_per_account: u64,
    /// Bytes of recordings (the uploaded WAV files) per user, over all of its voice accounts.
    pub recording_bytes_per_user: u64,
    /// Devices (`device/register`) per user.
    pub devices_per_user: u64,
    /// API keys per user.
    pub api_keys_per_user: u64,
    /// Named tokens (the console's alias tokens, long-lived tokens) per user; expired ones count
    /// until they are revoked.
    pub named_tokens_per_user: u64,
    /// OAuth2 clients acting for one user (their owner).
    pub oauth_clients_per_user: u64,
}

impl QuotasConfig {
    /// Each quota with its key, for validation.
    pub fn entries(&self) -> [(&'static str, u64); 7] {
        [
            (
                "quotas.voice_accounts_per_user",
                self.voice_accounts_per_user,
            ),
            ("quotas.recordings_per_account", self.recordings_per_account),
            (
                "quotas.recording_bytes_per_user",
                self.recording_bytes_per_user,
            ),
            ("quotas.devices_per_user", self.devices_per_user),
            ("quotas.api_keys_per_user", self.api_keys_per_user),
            ("quotas.named_tokens_per_user", self.named_tokens_per_user),
            ("quotas.oauth_clients_per_user", self.oauth_clients_per_user),
        ]
    }
}

impl Default for QuotasConfig {
    fn default() -> Self {
        Self {
            voice_accounts_per_user: 20,
            recordings_per_account: 2000,
            recording_bytes_per_user: 2 * 1024 * 1024 * 1024,
            devices_per_user: 50,
            api_keys_per_user: 20,
            named_tokens_per_user: 50,
            oauth_clients_per_user: 20,
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
            put_url_nameservers: Vec::new(),
            put_url_max_concurrent: 4,
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
            max_concurrent_decodes: 2,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_body_limit: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 15,
            max_connections: 512,
            listen_backlog: 1024,
            trusted_proxies: Vec::new(),
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
            oauth_code_ttl_secs: 60,
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
            max_nonces_per_key: 100_000,
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
            skill_drain_ms: 150,
            skill_list_ttl_ms: 10_000,
            skill_rest_api_id: "skill-rest-api.smartgic".into(),
            events_allowlist: [
                "speak",
                "recognizer_loop:utterance",
                "mycroft.mic.*",
                "mycroft.volume.*",
                "ovos.utterance.handled",
            ]
            .map(String::from)
            .to_vec(),
            session_id: "default".into(),
        }
    }
}
