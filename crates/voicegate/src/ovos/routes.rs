//! ovos-api network routes.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The ping answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pong {
    /// A table-tennis player, as the original ovos-api answers.
    pub pong: &'static str,
}

const PLAYERS: [&str; 6] = [
    "Jan-Ove Waldner",
    "Deng Yaping",
    "Ma Long",
    "Zhang Yining",
    "Timo Boll",
    "Ding Ning",
];

/// Tells that the API is up. No authentication.
#[utoipa::path(get, path = "/v1/network/ping", tag = "network",
    responses((status = 200, description = "The API is up", body = Pong)))]
pub async fn ping() -> Json<Pong> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let player = PLAYERS[NEXT.fetch_add(1, Ordering::Relaxed) % PLAYERS.len()];
    Json(Pong { pong: player })
}
