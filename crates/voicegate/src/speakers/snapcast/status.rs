//! The state snapserver reports (`Server.GetStatus`): groups of clients, each group playing one
//! stream. Fields snapserver may leave out default, so an older or newer server still parses.

use serde::Deserialize;

/// The whole server: its groups (every client is in exactly one) and its streams.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerStatus {
    /// The groups, each with its clients.
    pub groups: Vec<Group>,
    /// The stream sources the server was configured with.
    pub streams: Vec<Stream>,
}

impl ServerStatus {
    /// Every client, connected or not, with the group it is in.
    pub fn clients(&self) -> impl Iterator<Item = (&Group, &Client)> {
        self.groups
            .iter()
            .flat_map(|group| group.clients.iter().map(move |client| (group, client)))
    }

    /// The client with id `id`, with its group.
    pub fn client(&self, id: &str) -> Option<(&Group, &Client)> {
        self.clients().find(|(_, client)| client.id == id)
    }
}

/// A group: clients that play the same stream and are muted together.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Group {
    /// The group's id (a UUID snapserver makes).
    pub id: String,
    /// Its name (often empty).
    pub name: String,
    /// The stream it plays.
    pub stream_id: String,
    /// Whether the whole group is muted.
    pub muted: bool,
    /// Its clients.
    pub clients: Vec<Client>,
}

/// A client: one snapclient, that is one speaker.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Client {
    /// Its id: the `--hostID` it was started with (`hostID#N` for instance N > 1).
    pub id: String,
    /// Whether it is connected now (snapserver remembers clients that left).
    pub connected: bool,
    /// Its settings.
    pub config: ClientConfig,
    /// The machine it runs on.
    pub host: Host,
    /// The snapclient program.
    pub snapclient: Program,
}

/// A client's settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// The name given with `Client.SetName` (empty until then).
    pub name: String,
    /// Its volume.
    pub volume: Volume,
    /// Extra latency, in milliseconds.
    pub latency: i64,
    /// The instance number (`-i`).
    pub instance: i64,
}

/// A client's volume. Snapcast does not check it: values above 100 amplify (and clip).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Muted.
    pub muted: bool,
    /// Percent.
    pub percent: u16,
}

/// The machine a client runs on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Host {
    /// Its address as snapserver sees it.
    pub ip: String,
    /// Its MAC address (shared by the clients of one machine).
    pub mac: String,
    /// Its host name.
    pub name: String,
}

/// The snapclient program a client runs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Program {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A stream source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Stream {
    /// Its id: the `name` of its source.
    pub id: String,
    /// `playing` while audio arrives, `idle` otherwise (with about half a second of lag).
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_parses_with_missing_fields_defaulted() {
        let status: ServerStatus = serde_json::from_value(serde_json::json!({
            "groups": [{
                "id": "g1", "name": "", "stream_id": "S1", "muted": false,
                "clients": [{
                    "id": "kitchen", "connected": true,
                    "config": {"name": "", "volume": {"muted": false, "percent": 40}, "latency": 0, "instance": 1},
                    "host": {"ip": "127.0.0.1", "mac": "00:00:00:00:00:00", "name": "h", "os": "Linux", "arch": "x86_64"},
                    "snapclient": {"name": "Snapclient", "version": "0.26.0", "protocolVersion": 2},
                    "lastSeen": {"sec": 1, "usec": 2}
                }, {"id": "patio"}]
            }],
            "server": {"host": {}, "snapserver": {}},
            "streams": [{"id": "S1", "status": "idle", "uri": {"raw": "tcp://127.0.0.1:4953"}}]
        }))
        .unwrap();
        assert_eq!(
            status.client("kitchen").unwrap().1.config.volume.percent,
            40
        );
        assert_eq!(status.client("patio").unwrap().0.id, "g1");
        assert!(!status.client("patio").unwrap().1.connected);
        assert_eq!(status.streams[0].id, "S1");
        assert!(status.client("nobody").is_none());
    }
}
