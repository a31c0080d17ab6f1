//! The OpenAPI 3.1 document's frame: title, tags and the security schemes. Paths are declared
//! next to their handlers and collected by the router.

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Name of the bearer-JWT security scheme that protected routes name.
pub const BEARER: &str = "bearer";

/// Name of the scheme of `GET /v1/auth/refresh`: an opaque refresh token as the Bearer token.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// Name of the scheme of the OAuth2 endpoints: the client's id and secret (HTTP Basic, or
/// `client_id` and `client_secret` in the body).
pub const CLIENT: &str = "client";

/// The route table of `docs/scopes.md`, made from an OpenAPI document: one row per operation
/// (sorted by path, then method), with the credential it takes and the scope its token needs.
pub fn scopes_table(document: &Value) -> String {
    let mut rows = Vec::new();
    for (path, operations) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            let (credential, scopes) = credential_and_scopes(operation);
            rows.push((path.clone(), method.to_uppercase(), credential, scopes));
        }
    }
    rows.sort();
    let mut table = String::from("| method | path | credential | scope |\n|---|---|---|---|\n");
    for (path, method, credential, scopes) in rows {
        table.push_str(&format!(
            "| {method} | `{path}` | {credential} | {scopes} |\n"
        ));
    }
    table
}

/// What an operation's security says: the credential and the scopes (alternatives joined by
/// " or "; "—" for none).
fn credential_and_scopes(operation: &Value) -> (&'static str, String) {
    let requirements: Vec<(&String, Vec<&str>)> = operation["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object())
        .flat_map(|r| r.iter())
        .map(|(scheme, scopes)| {
            let scopes = scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            (scheme, scopes)
        })
        .collect();
    // An empty requirement beside others: the credential is optional (`/metrics` from this
    // machine).
    let optional = operation["security"]
        .as_array()
        .is_some_and(|all| all.len() > 1 && all.iter().any(|r| r == &serde_json::json!({})));
    let credential = match requirements.first().map(|(scheme, _)| scheme.as_str()) {
        Some(BEARER) if optional => "none from this machine, else access or named token",
        Some(BEARER) => "access or named token",
        Some(REFRESH_TOKEN) => "refresh token",
        Some(CLIENT) => "client (Basic or body)",
        _ if operation["x-credential"] == "password" => "password",
        _ => "none",
    };
    let alternatives: Vec<String> = requirements
        .iter()
        .filter(|(_, scopes)| !scopes.is_empty())
        .map(|(_, scopes)| scopes.join(" "))
        .collect();
    let scopes = if alternatives.is_empty() {
        "—".to_string()
    } else {
        alternatives.join(" or ")
    };
    (credential, scopes)
}

/// The document's frame.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "voicegate",
        description = "One self-hosted REST API for a home voice platform. Protected routes take \
                       `Authorization: Bearer <access token>` from `POST /v1/auth/tokens`. Errors \
                       answer `{\"error\": code, \"detail\": text}`."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "ovos-api login, refresh and the current principal"),
        (name = "oauth", description = "OAuth2 authorization server: token, revoke, introspect, metadata"),
        (name = "console", description = "Snips console login and alias tokens (`Authorization: JWT <token>` works as Bearer)"),
        (name = "network", description = "ovos-api network routes"),
        (name = "system", description = "ovos-api system routes, over the Open Voice OS message bus"),
        (name = "skills", description = "ovos-api skill routes"),
        (name = "voice", description = "ovos-api voice routes: speech, microphone, volume"),
        (name = "events", description = "Server-sent events from the message bus"),
        (name = "meta", description = "Health and documentation"),
        (name = "account", description = "The caller's own named tokens and API keys; users, OAuth clients and peers for administrators"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /v1/auth/tokens"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CLIENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An OAuth2 client's id and secret (or client_id and client_secret in the form)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            REFRESH_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("opaque")
                    .description(Some(
                        "Refresh token (vgr_…) from POST /v1/auth/tokens; single use",
                    ))
                    .build(),
            ),
        );
    }
}
