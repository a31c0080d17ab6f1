//! `GET /v1/admin/peers`: the state of every peer as this server sees it now (the store, the
//! message bus, the speakers' system, the Wyoming server), for administrators and the
//! console's Account page. `voicegate doctor` checks the same peers from outside.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::SpeakerBackendKind;
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::identity::scopes::AdminScope;
use crate::state::AppState;

/// One peer: what it is, where, and whether it answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Peer {
    /// What it is.
    pub name: &'static str,
    /// Where it is (an address, a backend).
    pub at: String,
    /// `ok`, `down` or `off`.
    pub status: &'static str,
    /// What to do when it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<&'static str>,
}

/// Answer of `GET /v1/admin/peers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Peers {
    /// Every peer.
    pub peers: Vec<Peer>,
}

fn up(ok: bool) -> &'static str {
    if ok { "ok" } else { "down" }
}

/// The peers' state (the `admin` scope).
#[utoipa::path(get, path = "/v1/admin/peers", tag = "account", security(("bearer" = ["admin"])),
    responses((status = 200, body = Peers), (status = 403, body = ErrorBody)))]
pub async fn peers(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<Peers>, ApiError> {
    let config = &state.config;
    let store_ok = state.db.ping().await.is_ok();
    let bus_ok = state.ovos.bus().is_connected();
    let speakers = match config.speakers.backend {
        SpeakerBackendKind::Local => Peer {
            name: "speakers",
            at: "this machine's output".into(),
            status: "ok",
            fix: None,
        },
        SpeakerBackendKind::Snapcast => {
            let ok = state.speakers.backend_connected().unwrap_or(false);
            Peer {
                name: "speakers",
                at: format!("snapserver {}", config.speakers.snapcast_control),
                status: up(ok),
                fix: (!ok).then_some("start snapserver or correct speakers.snapcast_control"),
            }
        }
    };
    let peers = vec![
        Peer {
            name: "store",
            at: state.db.backend().name().to_string(),
            status: up(store_ok),
            fix: (!store_ok).then_some("check the database (voicegate doctor says more)"),
        },
        Peer {
            name: "message bus",
            at: format!("ws://{}:{}", config.ovos.ws_host, config.ovos.ws_port),
            status: up(bus_ok),
            fix: (!bus_ok)
                .then_some("start ovos-messagebus or correct ovos.ws_host and ovos.ws_port"),
        },
        speakers,
        Peer {
            name: "wyoming",
            at: config.wyoming.listen.to_string(),
            status: if config.wyoming.enabled { "ok" } else { "off" },
            fix: None,
        },
    ];
    Ok(Json(Peers { peers }))
}
