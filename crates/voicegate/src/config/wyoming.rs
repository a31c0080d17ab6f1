//! The `[wyoming]` section: the Wyoming protocol server Home Assistant's "Wyoming Protocol"
//! integration connects to (text to speech with the voices, speech to text with the assistants'
//! recognisers). Wyoming has no authentication: the server is off by default, listens on
//! loopback, and accepts only the clients its allowlist names.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::address_policy::AddressBlocks;

/// Which of a kind of things (users' built voices, assistants) the Wyoming server offers: none,
/// all, or the ones listed by id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Exposure {
    /// `false`: none; `true`: every one.
    All(bool),
    /// These ids.
    Listed(Vec<String>),
}

impl Exposure {
    /// Whether the one with this id is offered.
    pub fn exposes(&self, id: &str) -> bool {
        match self {
            Self::All(all) => *all,
            Self::Listed(ids) => ids.iter().any(|listed| listed == id),
        }
    }

    /// Whether none is offered.
    pub fn is_none(&self) -> bool {
        match self {
            Self::All(all) => !all,
            Self::Listed(ids) => ids.is_empty(),
        }
    }
}

/// The Wyoming protocol server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WyomingConfig {
    /// Whether the server runs.
    pub enabled: bool,
    /// The address it listens on (Home Assistant's default port is 10200).
    pub listen: SocketAddr,
    /// Client addresses and CIDR blocks allowed to connect; others get an error and are
    /// disconnected. Default: loopback only.
    pub allow: Vec<String>,
    /// Users' built voices offered as Wyoming voices: `false` (none), `true` (every one that may
    /// be used for synthesis) or a list of voice ids.
    pub expose_built_voices: Exposure,
    /// Assistants whose recogniser is offered as a Wyoming speech-to-text model (those with a
    /// built language model): `true` (every one), `false` (none) or a list of assistant ids.
    pub expose_assistants: Exposure,
    /// The longest header line of an event, in bytes.
    pub max_header_bytes: usize,
    /// The largest data block of an event (the JSON after the header), in bytes.
    pub max_data_bytes: usize,
    /// The largest payload of an event (an audio chunk), in bytes.
    pub max_payload_bytes: usize,
    /// The voice of a synthesis that names neither a voice nor a language (an engine voice id
    /// or an exposed built voice's id).
    pub default_voice: String,
    /// The longest text one synthesis speaks (a `synthesize`, or all the chunks of a streamed
    /// one), in characters.
    pub max_text_chars: usize,
    /// Connections open at once; one more gets a `busy` error and is disconnected.
    pub max_connections: usize,
    /// A connection that sends no complete event this long while nothing is being done for it
    /// is told so and closed, in seconds.
    pub idle_timeout_secs: u64,
}

impl Default for WyomingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 10200)),
            allow: vec!["127.0.0.0/8".into(), "::1".into()],
            expose_built_voices: Exposure::All(false),
            expose_assistants: Exposure::All(true),
            default_voice: "espeak:en-us".into(),
            max_header_bytes: 8 * 1024,
            max_data_bytes: 64 * 1024,
            max_payload_bytes: 256 * 1024,
            max_text_chars: 2000,
            max_connections: 32,
            idle_timeout_secs: 30,
        }
    }
}

impl WyomingConfig {
    /// The first key out of range and why, or `None` when every value is usable. A listening
    /// address other than loopback needs an allowlist naming more than loopback: Wyoming has no
    /// authentication, so the allowlist is what guards the voices and recognisers.
    pub fn invalid(&self) -> Option<(&'static str, String)> {
        let blocks = match AddressBlocks::parse(&self.allow) {
            Ok(blocks) => blocks,
            Err(e) => return Some(("wyoming.allow", e.to_string())),
        };
        if !self.listen.ip().is_loopback() && blocks.only_loopback() {
            return Some((
                "wyoming.listen",
                format!(
                    "{} is not a loopback address, but wyoming.allow lets only loopback clients in: \
                     list the clients' addresses or networks in wyoming.allow",
                    self.listen
                ),
            ));
        }
        let ranges: [(&'static str, usize, usize, usize); 5] = [
            (
                "wyoming.max_header_bytes",
                self.max_header_bytes,
                256,
                1 << 20,
            ),
            ("wyoming.max_data_bytes", self.max_data_bytes, 1024, 1 << 24),
            (
                "wyoming.max_payload_bytes",
                self.max_payload_bytes,
                1024,
                1 << 26,
            ),
            ("wyoming.max_text_chars", self.max_text_chars, 1, 100_000),
            ("wyoming.max_connections", self.max_connections, 1, 10_000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Some((key, format!("must be from {min} to {max}")));
            }
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            return Some(("wyoming.idle_timeout_secs", "must be from 1 to 3600".into()));
        }
        None
    }

    /// The allowlist, parsed (checked by [`WyomingConfig::invalid`] when the configuration was
    /// loaded; an unparsable one allows nobody).
    pub fn allowlist(&self) -> AddressBlocks {
        AddressBlocks::parse(&self.allow).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    #[test]
    fn the_defaults_hold_and_every_limit_is_checked() {
        let config = WyomingConfig::default();
        assert_eq!(config.invalid(), None);
        assert!(!config.enabled);
        assert_eq!(config.listen.to_string(), "127.0.0.1:10200");
        assert!(config.expose_built_voices.is_none());
        assert!(config.expose_assistants.exposes("any"));
        let key = |change: fn(&mut WyomingConfig)| {
            let mut config = WyomingConfig::default();
            change(&mut config);
            config.invalid().map(|(key, _)| key)
        };
        assert_eq!(
            key(|c| c.max_header_bytes = 10),
            Some("wyoming.max_header_bytes")
        );
        assert_eq!(
            key(|c| c.max_data_bytes = 0),
            Some("wyoming.max_data_bytes")
        );
        assert_eq!(
            key(|c| c.max_payload_bytes = 1 << 30),
            Some("wyoming.max_payload_bytes")
        );
        assert_eq!(
            key(|c| c.max_text_chars = 0),
            Some("wyoming.max_text_chars")
        );
        assert_eq!(
            key(|c| c.max_connections = 0),
            Some("wyoming.max_connections")
        );
        assert_eq!(
            key(|c| c.idle_timeout_secs = 0),
            Some("wyoming.idle_timeout_secs")
        );
        assert_eq!(
            key(|c| c.allow = vec!["ha.lan".into()]),
            Some("wyoming.allow")
        );
    }

    #[test]
    fn a_listener_beyond_loopback_needs_an_allowlist_beyond_loopback() {
        let mut config = WyomingConfig {
            listen: "0.0.0.0:10200".parse().unwrap(),
            ..WyomingConfig::default()
        };
        let (key, reason) = config.invalid().unwrap();
        assert_eq!(key, "wyoming.listen");
        assert!(reason.contains("wyoming.allow"), "{reason}");
        config.allow = vec!["192.168.1.20".into()];
        assert_eq!(config.invalid(), None);
        config.allow = vec!["127.0.0.1".into(), "::1/128".into()];
        assert!(config.invalid().is_some());
    }

    #[test]
    fn exposure_is_a_flag_or_a_list() {
        #[derive(Deserialize)]
        struct Holder {
            wyoming: WyomingConfig,
        }
        let read = |toml: &str| -> WyomingConfig {
            Figment::new()
                .merge(Toml::string(toml))
                .extract::<Holder>()
                .unwrap()
                .wyoming
        };
        let listed = read("[wyoming]\nexpose_built_voices = [\"v1\"]\nexpose_assistants = false");
        assert!(listed.expose_built_voices.exposes("v1"));
        assert!(!listed.expose_built_voices.exposes("v2"));
        assert!(listed.expose_assistants.is_none());
        let all = read("[wyoming]\nexpose_built_voices = true");
        assert!(all.expose_built_voices.exposes("v2"));
    }
}
