//! The OpenAPI 3.1 document's frame: title, tags and the security schemes. Paths are declared
//! next to their handlers and collected by the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Name of the bearer-JWT security scheme that protected routes name.
pub const BEARER: &str = "bearer";

/// Name of the scheme of `GET /v1/auth/refresh`: an opaque refresh token as the Bearer token.
pub const REFRESH_TOKEN: &str = "refresh_token";

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
