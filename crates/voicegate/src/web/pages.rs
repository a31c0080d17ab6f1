//! The console's HTML: the sign-in page and the skeleton of each page, which its script fills
//! from the API. Every value from outside is escaped here.

use axum::http::StatusCode;
use axum::response::Response;

use crate::http::html::escape;
use crate::web::layout::{self, Page};

/// The sign-in page: user name and password, the login CSRF token, where to go after, and an
/// error from the previous attempt.
pub fn sign_in(
    status: StatusCode,
    csrf: &str,
    next: Option<Page>,
    error: Option<&str>,
) -> Response {
    let error = error.map_or(String::new(), |text| {
        format!(
            "<p id=\"sign-in-error\" class=\"error\" role=\"alert\">{}</p>",
            escape(text)
        )
    });
    let next = next.map_or(String::new(), |page| {
        format!(
            "<input type=\"hidden\" name=\"next\" value=\"{}\">",
            page.path()
        )
    });
    let body = format!(
        "<main id=\"main\" class=\"narrow\"><h1>Sign in to voicegate</h1>{error}\
         <form method=\"post\" action=\"/console/sign-in\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{next}\
         <label for=\"user\">User name</label>\
         <input id=\"user\" name=\"user\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form></main>",
        csrf = escape(csrf),
    );
    layout::document(status, "Sign in", "", &body)
}

/// A page that only says something (no access, a bad form), with a way back.
pub fn notice(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<main id=\"main\" class=\"narrow\"><h1>{title}</h1><p class=\"error\" role=\"alert\">{text}</p>\
         <p><a href=\"/console/\">Back to the console</a></p></main>",
        title = escape(title),
        text = escape(text),
    );
    layout::document(status, title, "", &body)
}

/// The body of a signed-in page, below its heading.
pub fn main_of(page: Page) -> &'static str {
    match page {
        Page::Speakers => SPEAKERS,
        Page::Assistants => ASSISTANTS,
    }
}

const SPEAKERS: &str = "\
<p class=\"live\">Live updates: <span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"devices-heading\"><h2 id=\"devices-heading\">Speakers</h2>\
<p id=\"devices-error\" class=\"error\" role=\"alert\"></p>\
<ul id=\"devices\" class=\"cards\"></ul></section>\
<section aria-labelledby=\"session-heading\"><h2 id=\"session-heading\">Playing</h2>\
<div class=\"slider\"><label for=\"session-volume\">Volume of the speakers in this session</label>\
<input type=\"range\" id=\"session-volume\" min=\"0\" max=\"50\" step=\"1\" value=\"0\">\
<output id=\"session-volume-value\" for=\"session-volume\">0</output></div>\
<div class=\"buttons\"><button type=\"button\" id=\"party\">Party mode: every speaker</button>\
<button type=\"button\" id=\"pause\">Pause</button><button type=\"button\" id=\"resume\">Resume</button>\
<button type=\"button\" id=\"stop\">Stop</button></div>\
<p>State: <span id=\"playback-state\">stopped</span> · elapsed <span id=\"elapsed\">0:00</span></p>\
<p id=\"session-error\" class=\"error\" role=\"alert\"></p></section>\
<section aria-labelledby=\"say-heading\"><h2 id=\"say-heading\">Say this</h2>\
<form id=\"say-form\" class=\"stack\">\
<label for=\"say-text\">Text</label><textarea id=\"say-text\" rows=\"2\" required></textarea>\
<label for=\"say-voice\">Voice</label><select id=\"say-voice\"><option value=\"\">Default voice</option></select>\
<div class=\"slider\"><label for=\"say-volume\">Announcement volume</label>\
<input type=\"range\" id=\"say-volume\" min=\"0\" max=\"50\" step=\"1\" value=\"25\">\
<output id=\"say-volume-value\" for=\"say-volume\">25</output></div>\
<fieldset><legend>On these speakers</legend><div id=\"say-targets\" class=\"checks\"></div></fieldset>\
<button type=\"submit\">Say it</button>\
<p id=\"say-error\" class=\"error\" role=\"alert\"></p></form></section>\
<section aria-labelledby=\"media-heading\"><h2 id=\"media-heading\">Media</h2>\
<p id=\"media-error\" class=\"error\" role=\"alert\"></p><ul id=\"media\" class=\"list\"></ul></section>";

const ASSISTANTS: &str = "\
<p class=\"live\">Live updates: <span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"list-heading\"><h2 id=\"list-heading\">Your assistants</h2>\
<p id=\"list-error\" class=\"error\" role=\"alert\"></p>\
<div class=\"table\"><table><thead><tr><th scope=\"col\">Title</th><th scope=\"col\">Language</th>\
<th scope=\"col\">Training</th><th scope=\"col\">Actions</th></tr></thead>\
<tbody id=\"assistants\"></tbody></table></div></section>\
<section aria-labelledby=\"create-heading\"><h2 id=\"create-heading\">New assistant</h2>\
<form id=\"create-form\" class=\"stack\">\
<label for=\"create-title\">Title</label><input id=\"create-title\" maxlength=\"200\">\
<div id=\"drop\" class=\"drop\"><label for=\"create-file\">Dataset: a Snips NLU dataset or a benchmark \
file (JSON)</label><input type=\"file\" id=\"create-file\" accept=\".json,application/json\" required>\
<p class=\"hint\">or drop the file here</p></div>\
<button type=\"submit\">Create</button>\
<p id=\"create-error\" class=\"error\" role=\"alert\"></p></form></section>\
<section aria-labelledby=\"parse-heading\"><h2 id=\"parse-heading\">Try it</h2>\
<form id=\"parse-form\" class=\"stack\">\
<label for=\"parse-assistant\">Assistant</label><select id=\"parse-assistant\" required></select>\
<label for=\"parse-text\">Sentence</label><input id=\"parse-text\" required>\
<button type=\"submit\">Parse</button>\
<p id=\"parse-error\" class=\"error\" role=\"alert\"></p></form>\
<div id=\"parse-result\" class=\"result\" hidden><p>Intent: <strong id=\"parse-intent\"></strong> \
<span id=\"parse-probability\"></span></p><p id=\"parse-sentence\" class=\"sentence\"></p>\
<ul id=\"parse-slots\" class=\"list\"></ul></div></section>";
