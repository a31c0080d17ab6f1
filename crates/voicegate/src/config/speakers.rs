//! The `[speakers]` section: the HK Omni surface's speaker system and its limits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::address_policy::Allowlist;

/// The speaker system behind the surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerBackendKind {
    /// This machine's sound output, one speaker (`local_output`).
    Local,
    /// Snapcast multi-room audio (`snapcast_control`, `snapcast_streams`).
    Snapcast,
}

/// Where the local backend's audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutput {
    /// ALSA's `aplay` (this machine's sound output).
    Aplay,
    /// A WAV file.
    Wav(PathBuf),
    /// Nowhere.
    Null,
}

/// The speakers surface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeakersConfig {
    /// `local` (this machine, the default) or `snapcast`.
    pub backend: SpeakerBackendKind,
    /// The local backend's output: `aplay` (ALSA), `null`, or `wav:PATH`.
    pub local_output: String,
    /// The local speaker's DeviceName (empty: this machine's host name).
    pub local_name: String,
    /// The volume announcements play at when the request gives none, 0–50 (0: the speakers'
    /// own volume).
    pub announce_volume: u8,
    /// snapserver's JSON-RPC control address (its `[tcp]` port), `HOST:PORT` (ignored with
    /// `manage_snapserver`: voicegate then talks to its own snapserver).
    pub snapcast_control: String,
    /// How long a control request waits for snapserver's answer, in milliseconds.
    pub snapcast_timeout_ms: u64,
    /// The longest wait between attempts to reconnect to snapserver's control port, in
    /// milliseconds (the wait starts at 100 ms and doubles after each failed attempt): once
    /// snapserver is back, the speakers routes answer again within about this long.
    pub snapcast_reconnect_max_ms: u64,
    /// The loudest a device may be set, on the contract's 0–50 scale (`set_volume` asks above
    /// it are lowered to it).
    pub max_volume: u8,
    /// A session unused for this long ends, in seconds.
    pub session_idle_secs: u64,
    /// Open sessions per user at most; past it `init_session` answers 429.
    pub max_sessions_per_user: usize,
    /// How long a command for a session played by another instance waits for that instance's
    /// answer, in milliseconds (then 503).
    pub forward_timeout_ms: u64,
    /// How long an instance's claim on the sessions it plays lasts unless renewed (it renews
    /// three times as often), in milliseconds: an instance gone this long has its sessions
    /// stopped.
    pub owner_lease_ms: u64,
    /// How often an instance looks for commands forwarded to it (while it plays sessions), and
    /// a forwarding instance for the answer, in milliseconds.
    pub command_poll_ms: u64,
    /// The stream sources sessions play into, each `NAME=tcp://HOST:PORT` as snapserver's
    /// config declares it (`source = tcp://HOST:PORT?name=NAME&mode=server`); one session
    /// plays on each at a time. Empty with `manage_snapserver` (the managed snapserver's
    /// sources are `snapserver_source_ports`).
    pub snapcast_streams: Vec<String>,
    /// snapserver's `buffer` in milliseconds: how far the speakers play behind what was
    /// written (the elapsed time reported is the written time less this).
    pub buffer_ms: u64,
    /// The voice announcements (`play_tts`) speak with when the request names none.
    pub tts_voice: String,
    /// The longest `Text` an announcement may have, in characters.
    pub max_tts_chars: usize,
    /// Whether voicegate runs snapserver itself, as a child with a configuration it writes in
    /// `<data_dir>/snapserver/`, restarted when it dies.
    pub manage_snapserver: bool,
    /// The managed snapserver's program (looked up in `PATH` unless it is a path).
    pub snapserver_program: String,
    /// Where the managed snapserver's JSON-RPC control port listens, `IP:PORT` (voicegate
    /// connects there; keep it on loopback).
    pub snapserver_control_address: SocketAddr,
    /// Where the managed snapserver's stream port listens, `IP:PORT`: the speakers (snapclients)
    /// connect there, so a household sets the address of its network (`0.0.0.0:1704`).
    pub snapserver_stream_address: SocketAddr,
    /// The managed snapserver's stream sources, one per port on 127.0.0.1 (named `S1`, `S2`,
    /// …): as many sessions can play at once.
    pub snapserver_source_ports: Vec<u16>,
    /// The longest wait before the managed snapserver is started again after it died (the wait
    /// doubles from 200 ms after each quick death), in milliseconds.
    pub snapserver_restart_max_ms: u64,
    /// The folder of hub media (`media_list`, `play_hub_media`), scanned with its subfolders;
    /// unset: `<data_dir>/media`; empty: no hub media.
    pub media_dir: Option<String>,
    /// The most audio files the hub media list holds (the scan stops there).
    pub media_max_files: usize,
    /// How deep the scan goes into subfolders of `media_dir` (0: the folder alone).
    pub media_max_depth: usize,
    /// How far decoding runs ahead of playback, in milliseconds.
    pub media_ahead_ms: u64,
    /// Web media destinations allowed although they are not public addresses: host names,
    /// addresses or CIDR blocks, each with an optional port (as `voices.put_url_allow`).
    pub web_media_allow: Vec<String>,
    /// Web media destinations always refused, public or allowed (the same forms).
    pub web_media_deny: Vec<String>,
    /// The time web media may take to resolve, connect and answer, and the longest wait for
    /// more of its body while it plays, in milliseconds.
    pub web_media_timeout_ms: u64,
    /// The most bytes of one web media download (past it the playback ends).
    pub web_media_max_bytes: u64,
    /// How many redirects a web media request follows (each target checked like the first).
    pub web_media_max_redirects: usize,
}

impl Default for SpeakersConfig {
    fn default() -> Self {
        Self {
            backend: SpeakerBackendKind::Local,
            local_output: "aplay".into(),
            local_name: String::new(),
            announce_volume: 0,
            snapcast_control: "127.0.0.1:1705".into(),
            snapcast_timeout_ms: 2000,
            snapcast_reconnect_max_ms: 5000,
            max_volume: 50,
            session_idle_secs: 3600,
            max_sessions_per_user: 16,
            forward_timeout_ms: 3000,
            owner_lease_ms: 3000,
            command_poll_ms: 50,
            snapcast_streams: Vec::new(),
            buffer_ms: 1000,
            tts_voice: "espeak:en-us".into(),
            max_tts_chars: 2000,
            manage_snapserver: false,
            snapserver_program: "snapserver".into(),
            snapserver_control_address: SocketAddr::from(([127, 0, 0, 1], 1705)),
            snapserver_stream_address: SocketAddr::from(([127, 0, 0, 1], 1704)),
            snapserver_source_ports: vec![4953, 4954, 4955, 4956],
            snapserver_restart_max_ms: 30_000,
            media_dir: None,
            media_max_files: 10_000,
            media_max_depth: 8,
            media_ahead_ms: 1500,
            web_media_allow: Vec::new(),
            web_media_deny: Vec::new(),
            web_media_timeout_ms: 10_000,
            web_media_max_bytes: 512 * 1024 * 1024,
            web_media_max_redirects: 5,
        }
    }
}

impl SpeakersConfig {
    /// The first key out of range, with why.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.local_output().is_none() {
            return Some(("speakers.local_output", "must be aplay, null or wav:PATH"));
        }
        if self.announce_volume > 50 {
            return Some(("speakers.announce_volume", "must be from 0 to 50"));
        }
        if self.max_volume > 50 {
            return Some(("speakers.max_volume", "must be from 0 to 50"));
        }
        if self.snapcast_timeout_ms == 0 {
            return Some(("speakers.snapcast_timeout_ms", "must be at least 1"));
        }
        if !(100..=60_000).contains(&self.snapcast_reconnect_max_ms) {
            return Some((
                "speakers.snapcast_reconnect_max_ms",
                "must be from 100 to 60000",
            ));
        }
        if self.session_idle_secs == 0 {
            return Some(("speakers.session_idle_secs", "must be at least 1"));
        }
        if self.max_sessions_per_user == 0 {
            return Some(("speakers.max_sessions_per_user", "must be at least 1"));
        }
        if !(1..=60_000).contains(&self.forward_timeout_ms) {
            return Some(("speakers.forward_timeout_ms", "must be from 1 to 60000"));
        }
        if !(100..=600_000).contains(&self.owner_lease_ms) {
            return Some(("speakers.owner_lease_ms", "must be from 100 to 600000"));
        }
        if !(1..=1000).contains(&self.command_poll_ms) {
            return Some(("speakers.command_poll_ms", "must be from 1 to 1000"));
        }
        if self.max_tts_chars == 0 {
            return Some(("speakers.max_tts_chars", "must be at least 1"));
        }
        if self.media_max_files == 0 {
            return Some(("speakers.media_max_files", "must be at least 1"));
        }
        if self.media_max_depth > 64 {
            return Some(("speakers.media_max_depth", "must be from 0 to 64"));
        }
        if !(100..=10_000).contains(&self.media_ahead_ms) {
            return Some(("speakers.media_ahead_ms", "must be from 100 to 10000"));
        }
        if Allowlist::parse(&self.web_media_allow).is_err() {
            return Some((
                "speakers.web_media_allow",
                "each must be a host name, address or CIDR block with an optional :port",
            ));
        }
        if Allowlist::parse(&self.web_media_deny).is_err() {
            return Some((
                "speakers.web_media_deny",
                "each must be a host name, address or CIDR block with an optional :port",
            ));
        }
        if self.web_media_timeout_ms == 0 {
            return Some(("speakers.web_media_timeout_ms", "must be at least 1"));
        }
        if self.web_media_max_bytes == 0 {
            return Some(("speakers.web_media_max_bytes", "must be at least 1"));
        }
        if self.web_media_max_redirects > 20 {
            return Some(("speakers.web_media_max_redirects", "must be from 0 to 20"));
        }
        if self.streams().is_none() {
            return Some((
                "speakers.snapcast_streams",
                "each must be NAME=tcp://HOST:PORT, names distinct",
            ));
        }
        if self.manage_snapserver && !self.snapcast_streams.is_empty() {
            return Some((
                "speakers.snapcast_streams",
                "must be empty with manage_snapserver (the managed snapserver's sources are \
                 speakers.snapserver_source_ports)",
            ));
        }
        if self.snapserver_program.trim().is_empty() {
            return Some(("speakers.snapserver_program", "must not be empty"));
        }
        let (control, stream) = (
            self.snapserver_control_address,
            self.snapserver_stream_address,
        );
        if control.port() == 0 {
            return Some(("speakers.snapserver_control_address", "needs a port"));
        }
        if stream.port() == 0 || stream.port() == control.port() {
            return Some((
                "speakers.snapserver_stream_address",
                "needs a port, not the control port",
            ));
        }
        let ports = &self.snapserver_source_ports;
        if (self.manage_snapserver && ports.is_empty())
            || ports.iter().enumerate().any(|(at, port)| {
                *port == 0
                    || *port == control.port()
                    || *port == stream.port()
                    || ports[..at].contains(port)
            })
        {
            return Some((
                "speakers.snapserver_source_ports",
                "at least one port, each distinct and neither the control nor the stream port",
            ));
        }
        if self.snapserver_restart_max_ms < 200 {
            return Some(("speakers.snapserver_restart_max_ms", "must be at least 200"));
        }
        None
    }

    /// The hub media folder: `media_dir`, or `<data_dir>/media` when it is unset; `None` when it
    /// is set empty.
    pub fn media_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        match self.media_dir.as_deref().map(str::trim) {
            None => Some(data_dir.join("media")),
            Some("") => None,
            Some(dir) => Some(PathBuf::from(dir)),
        }
    }

    /// The local backend's output, if `local_output` is one.
    pub fn local_output(&self) -> Option<LocalOutput> {
        match self.local_output.trim() {
            "aplay" => Some(LocalOutput::Aplay),
            "null" => Some(LocalOutput::Null),
            other => other
                .strip_prefix("wav:")
                .filter(|path| !path.trim().is_empty())
                .map(|path| LocalOutput::Wav(PathBuf::from(path.trim()))),
        }
    }

    /// How far behind the writing the speakers play: snapserver's buffer, or nothing for this
    /// machine's output.
    pub fn latency(&self) -> Duration {
        match self.backend {
            SpeakerBackendKind::Snapcast => Duration::from_millis(self.buffer_ms),
            SpeakerBackendKind::Local => Duration::ZERO,
        }
    }

    /// This configuration as the speakers use it: with `manage_snapserver`, the control
    /// address and stream sources are the managed snapserver's.
    pub fn resolved(&self) -> SpeakersConfig {
        let mut config = self.clone();
        if self.manage_snapserver {
            config.backend = SpeakerBackendKind::Snapcast;
            config.snapcast_control = connectable(self.snapserver_control_address).to_string();
            config.snapcast_streams = self
                .snapserver_source_ports
                .iter()
                .enumerate()
                .map(|(at, port)| format!("S{}=tcp://127.0.0.1:{port}", at + 1))
                .collect();
        }
        config
    }

    /// The stream sources as (name, `HOST:PORT`), if every entry parses.
    pub fn streams(&self) -> Option<Vec<(String, String)>> {
        let mut streams: Vec<(String, String)> = Vec::new();
        for entry in &self.snapcast_streams {
            let (name, uri) = entry.split_once('=')?;
            let address = uri.trim().strip_prefix("tcp://")?;
            let address = address.split_once('?').map_or(address, |(a, _)| a);
            let (name, address) = (name.trim(), address.trim_end_matches('/'));
            if name.is_empty() || !address.contains(':') || streams.iter().any(|(n, _)| n == name) {
                return None;
            }
            streams.push((name.to_string(), address.to_string()));
        }
        Some(streams)
    }
}

/// The address to connect to for a listening address: an unspecified IP (listening on every
/// interface) is reached on loopback.
fn connectable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), address.port())
        }
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_every_limit_is_checked() {
        assert_eq!(SpeakersConfig::default().invalid(), None);
        let with = |change: fn(&mut SpeakersConfig)| {
            let mut config = SpeakersConfig::default();
            change(&mut config);
            config.invalid().map(|(key, _)| key)
        };
        assert_eq!(with(|c| c.max_volume = 51), Some("speakers.max_volume"));
        assert_eq!(
            with(|c| c.local_output = "speaker".into()),
            Some("speakers.local_output")
        );
        assert_eq!(
            with(|c| c.local_output = "wav: ".into()),
            Some("speakers.local_output")
        );
        assert_eq!(
            with(|c| c.announce_volume = 51),
            Some("speakers.announce_volume")
        );
        let config = SpeakersConfig {
            local_output: "wav:/tmp/out.wav".into(),
            ..SpeakersConfig::default()
        };
        assert_eq!(
            config.local_output(),
            Some(LocalOutput::Wav(PathBuf::from("/tmp/out.wav")))
        );
        assert_eq!(with(|c| c.max_volume = 0), None);
        assert_eq!(
            with(|c| c.snapcast_timeout_ms = 0),
            Some("speakers.snapcast_timeout_ms")
        );
        assert_eq!(
            with(|c| c.snapcast_reconnect_max_ms = 99),
            Some("speakers.snapcast_reconnect_max_ms")
        );
        assert_eq!(with(|c| c.snapcast_reconnect_max_ms = 100), None);
        assert_eq!(
            with(|c| c.session_idle_secs = 0),
            Some("speakers.session_idle_secs")
        );
        assert_eq!(
            with(|c| c.max_sessions_per_user = 0),
            Some("speakers.max_sessions_per_user")
        );
        assert_eq!(
            with(|c| c.snapcast_streams = vec!["S1=udp://x:1".into()]),
            Some("speakers.snapcast_streams")
        );
        assert_eq!(
            with(|c| c.snapcast_streams = vec!["S1=tcp://a:1".into(), "S1=tcp://b:2".into()]),
            Some("speakers.snapcast_streams")
        );
        assert_eq!(
            with(|c| c.media_max_files = 0),
            Some("speakers.media_max_files")
        );
        assert_eq!(
            with(|c| c.media_max_depth = 65),
            Some("speakers.media_max_depth")
        );
        assert_eq!(
            with(|c| c.media_ahead_ms = 99),
            Some("speakers.media_ahead_ms")
        );
        assert_eq!(
            with(|c| c.web_media_allow = vec!["10.0.0.0/33".into()]),
            Some("speakers.web_media_allow")
        );
        assert_eq!(
            with(|c| c.web_media_deny = vec!["a b".into()]),
            Some("speakers.web_media_deny")
        );
        assert_eq!(
            with(|c| c.web_media_timeout_ms = 0),
            Some("speakers.web_media_timeout_ms")
        );
        assert_eq!(
            with(|c| c.web_media_max_bytes = 0),
            Some("speakers.web_media_max_bytes")
        );
        assert_eq!(
            with(|c| c.web_media_max_redirects = 21),
            Some("speakers.web_media_max_redirects")
        );
        let data = Path::new("/srv/voicegate");
        let dir = |media_dir: Option<&str>| {
            SpeakersConfig {
                media_dir: media_dir.map(str::to_string),
                ..SpeakersConfig::default()
            }
            .media_dir(data)
        };
        assert_eq!(dir(None), Some(data.join("media")));
        assert_eq!(dir(Some(" ")), None);
        assert_eq!(dir(Some("/music")), Some(PathBuf::from("/music")));
        let config = SpeakersConfig {
            snapcast_streams: vec!["S1 = tcp://127.0.0.1:4953?mode=server".into()],
            ..SpeakersConfig::default()
        };
        assert_eq!(
            config.streams(),
            Some(vec![("S1".to_string(), "127.0.0.1:4953".to_string())])
        );
    }

    #[test]
    fn the_managed_snapserver_keys_are_checked_and_give_the_control_address_and_streams() {
        let with = |change: fn(&mut SpeakersConfig)| {
            let mut config = SpeakersConfig::default();
            change(&mut config);
            config.invalid().map(|(key, _)| key)
        };
        assert_eq!(with(|c| c.manage_snapserver = true), None);
        assert_eq!(
            with(|c| {
                c.manage_snapserver = true;
                c.snapcast_streams = vec!["S1=tcp://127.0.0.1:4953".into()];
            }),
            Some("speakers.snapcast_streams")
        );
        assert_eq!(
            with(|c| c.snapserver_program = " ".into()),
            Some("speakers.snapserver_program")
        );
        assert_eq!(
            with(|c| c.snapserver_control_address.set_port(0)),
            Some("speakers.snapserver_control_address")
        );
        assert_eq!(
            with(|c| c.snapserver_stream_address.set_port(1705)),
            Some("speakers.snapserver_stream_address")
        );
        for ports in [vec![4953, 4953], vec![0], vec![1704], vec![1705]] {
            let mut config = SpeakersConfig {
                snapserver_source_ports: ports.clone(),
                ..SpeakersConfig::default()
            };
            assert_eq!(
                config.invalid().map(|(key, _)| key),
                Some("speakers.snapserver_source_ports"),
                "{ports:?}"
            );
            config.snapserver_source_ports = vec![];
            assert_eq!(config.invalid(), None, "unmanaged, no ports is fine");
            config.manage_snapserver = true;
            assert_eq!(
                config.invalid().map(|(key, _)| key),
                Some("speakers.snapserver_source_ports")
            );
        }
        assert_eq!(
            with(|c| c.snapserver_restart_max_ms = 199),
            Some("speakers.snapserver_restart_max_ms")
        );

        // Unmanaged, the configured control address and streams stand.
        let config = SpeakersConfig {
            snapcast_control: "10.0.0.2:1705".into(),
            snapcast_streams: vec!["A=tcp://10.0.0.2:4000".into()],
            ..SpeakersConfig::default()
        };
        let resolved = config.resolved();
        assert_eq!(
            (resolved.snapcast_control, resolved.snapcast_streams),
            (
                config.snapcast_control.clone(),
                config.snapcast_streams.clone()
            )
        );
        // Managed, they are the managed snapserver's; a wildcard control address is reached on
        // loopback.
        let config = SpeakersConfig {
            manage_snapserver: true,
            snapserver_control_address: "0.0.0.0:41705".parse().unwrap(),
            snapserver_source_ports: vec![5001, 5002],
            ..SpeakersConfig::default()
        };
        let resolved = config.resolved();
        assert_eq!(resolved.snapcast_control, "127.0.0.1:41705");
        assert_eq!(
            resolved.streams(),
            Some(vec![
                ("S1".to_string(), "127.0.0.1:5001".to_string()),
                ("S2".to_string(), "127.0.0.1:5002".to_string()),
            ])
        );
        let v6 = SpeakersConfig {
            snapserver_control_address: "[::]:41705".parse().unwrap(),
            ..config
        };
        assert_eq!(v6.resolved().snapcast_control, "[::1]:41705");
    }
}
