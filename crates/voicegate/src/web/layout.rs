//! The frame every console page shares (header, navigation by scope, sign-out, the CSRF token
//! the scripts send back) and the headers every console page carries.

use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::http::html::escape;
use crate::identity::Principal;
use crate::identity::scopes::Scope;
use crate::web::assets;

/// The console's Content-Security-Policy: its own scripts, styles and API only, nothing inline,
/// never in a frame. Audio the page makes (synthesis, recordings) plays from `blob:` URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A page of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Rooms, devices, volume, playback, announcements.
    Speakers,
    /// Voices: trying them, recording an account's sentences, builds, licences.
    Voices,
    /// Assistants: datasets, training, parsing.
    Assistants,
    /// The Open Voice OS assistant: speak, stop, microphone, volume, utterances, the bus log.
    Ovos,
    /// The user's own tokens and API keys; for administrators users, clients and peers.
    Account,
}

impl Page {
    /// Every page, in the navigation's order.
    pub const ALL: [Page; 5] = [
        Page::Speakers,
        Page::Voices,
        Page::Assistants,
        Page::Ovos,
        Page::Account,
    ];

    /// Its path.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Speakers => "/console/speakers",
            Self::Voices => "/console/voices",
            Self::Assistants => "/console/assistants",
            Self::Ovos => "/console/assistant",
            Self::Account => "/console/account",
        }
    }

    /// Its name in the navigation and the title.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Speakers => "Speakers",
            Self::Voices => "Voices",
            Self::Assistants => "Assistants",
            Self::Ovos => "Assistant (OVOS)",
            Self::Account => "Account",
        }
    }

    /// The scope a user needs to see it (`None`: every signed-in user).
    pub const fn scope(self) -> Option<Scope> {
        Some(match self {
            Self::Speakers => Scope::Speakers,
            Self::Voices => Scope::VoiceList,
            Self::Assistants => Scope::Assistant,
            Self::Ovos => Scope::Ovos,
            Self::Account => return None,
        })
    }

    /// Whether `principal` may see it.
    pub fn allows(self, principal: &Principal) -> bool {
        self.scope().is_none_or(|scope| principal.has_scope(scope))
    }

    /// Its script (after `common.js`).
    pub const fn script(self) -> &'static str {
        match self {
            Self::Speakers => "speakers.js",
            Self::Voices => "voices.js",
            Self::Assistants => "assistants.js",
            Self::Ovos => "ovos.js",
            Self::Account => "account.js",
        }
    }

    /// The page at `path`, if there is one.
    pub fn at(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|page| page.path() == path)
    }
}

/// The headers of every console page: not cached, not framed, no inline script.
pub fn page_headers(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
}

/// A whole HTML document: `head_extra` (already escaped) in the head, `body` (already
/// escaped) in the body.
pub fn document(status: StatusCode, title: &str, head_extra: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · voicegate</title>\
         <link rel=\"stylesheet\" href=\"{css}\">{head_extra}</head><body>{body}</body></html>",
        title = escape(title),
        css = assets::url("console.css"),
    );
    let mut response = (status, Html(html)).into_response();
    page_headers(response.headers_mut());
    response
}

/// A signed-in page: the header with the user and sign-out, the navigation to the pages the
/// user's scopes allow, `main` (already escaped), and the page's scripts.
pub fn signed_in(page: Page, principal: &Principal, csrf: &str, main: &str) -> Response {
    let nav: String = Page::ALL
        .into_iter()
        .filter(|p| p.allows(principal))
        .map(|p| {
            let current = if p == page {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{}\"{current}>{}</a>", p.path(), p.label())
        })
        .collect();
    // The Voices page loads its audio worklet by URL, which carries its hash too.
    let worklet = if page == Page::Voices {
        format!(
            "<meta name=\"capture-worklet\" content=\"{}\">",
            assets::url("capture-worklet.js")
        )
    } else {
        String::new()
    };
    let head = format!(
        "<meta name=\"csrf-token\" content=\"{csrf}\">{worklet}\
         <script src=\"{common}\" defer></script><script src=\"{script}\" defer></script>",
        csrf = escape(csrf),
        common = assets::url("common.js"),
        script = assets::url(page.script()),
    );
    let body = format!(
        "<a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><span class=\"brand\">voicegate</span>\
         <nav aria-label=\"Pages\">{nav}</nav>\
         <form class=\"signout\" method=\"post\" action=\"/console/sign-out\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <span class=\"who\">{user}</span> <button type=\"submit\">Sign out</button></form></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>\
         <p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>{main}</main>",
        csrf = escape(csrf),
        user = escape(&principal.user),
        title = page.label(),
    );
    document(StatusCode::OK, page.label(), &head, &body)
}
