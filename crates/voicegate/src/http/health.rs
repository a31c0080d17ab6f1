//! `GET /health`: the server's version and the store's status, for monitors and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// voicegate's version.
    pub version: &'static str,
    /// The store.
    pub store: StoreHealth,
}

/// The store's part of the health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreHealth {
    /// `sqlite` (or `postgres`).
    pub backend: &'static str,
    /// `ok` or `unavailable`.
    pub status: &'static str,
}

/// Reports the version and whether the store answers; 503 when it does not.
#[utoipa::path(get, path = "/health", tag = "meta",
    responses((status = 200, description = "Healthy", body = Health),
              (status = 503, description = "The store does not answer", body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store_ok = state.db.ping().await.is_ok();
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if store_ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            backend: state.db.backend().name(),
            status: if store_ok { "ok" } else { "unavailable" },
        },
    };
    (status, Json(health))
}
