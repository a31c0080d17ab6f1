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
        Page::Voices => VOICES,
        Page::Assistants => ASSISTANTS,
        Page::Ovos => OVOS,
        Page::Account => ACCOUNT,
    }
}

const SPEAKERS: &str = "\
<p class=\"live\">Live updates: <span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"devices-heading\"><h2 id=\"devices-heading\">Devices</h2>\
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
<label class=\"check\" for=\"say-volume-on\"><input type=\"checkbox\" id=\"say-volume-on\"> \
Set an announcement volume (otherwise each speaker keeps its own)</label>\
<div class=\"slider\"><label for=\"say-volume\">Announcement volume</label>\
<input type=\"range\" id=\"say-volume\" min=\"0\" max=\"50\" step=\"1\" value=\"25\" disabled>\
<output id=\"say-volume-value\" for=\"say-volume\">25</output></div>\
<fieldset><legend>On these speakers</legend><div id=\"say-targets\" class=\"checks\"></div></fieldset>\
<button type=\"submit\">Say it</button>\
<p id=\"say-error\" class=\"error\" role=\"alert\"></p></form></section>\
<section aria-labelledby=\"media-heading\"><h2 id=\"media-heading\">Media</h2>\
<p id=\"media-error\" class=\"error\" role=\"alert\"></p><ul id=\"media\" class=\"list\"></ul></section>";

const VOICES: &str = "\
<p class=\"live\">Live updates: <span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"try-heading\"><h2 id=\"try-heading\">Try a voice</h2>\
<form id=\"try-form\" class=\"stack\">\
<label for=\"try-voice\">Voice</label><select id=\"try-voice\" required></select>\
<label for=\"try-text\">Text</label><input id=\"try-text\" required maxlength=\"256\" \
value=\"Hello, this is how I sound.\">\
<div class=\"slider\"><label for=\"try-pitch\">Pitch</label>\
<input type=\"range\" id=\"try-pitch\" min=\"0.5\" max=\"2\" step=\"0.1\" value=\"1\">\
<output id=\"try-pitch-value\" for=\"try-pitch\">1.0</output></div>\
<div class=\"slider\"><label for=\"try-rate\">Rate</label>\
<input type=\"range\" id=\"try-rate\" min=\"0.5\" max=\"2\" step=\"0.1\" value=\"1\">\
<output id=\"try-rate-value\" for=\"try-rate\">1.0</output></div>\
<button type=\"submit\">Play</button>\
<p id=\"try-error\" class=\"error\" role=\"alert\"></p></form>\
<audio id=\"try-audio\" controls hidden></audio></section>\
<section aria-labelledby=\"record-heading\"><h2 id=\"record-heading\">Record your voice</h2>\
<form id=\"account-form\" class=\"stack\">\
<label for=\"account\">Voice account</label><select id=\"account\"></select>\
<details><summary>New account</summary><div class=\"stack\">\
<label for=\"account-gender\">Voice</label><select id=\"account-gender\">\
<option value=\"female\">female</option><option value=\"male\">male</option>\
<option value=\"other\">other</option></select>\
<label for=\"account-age\">Age</label><input id=\"account-age\" type=\"number\" min=\"0\" max=\"150\" value=\"30\">\
<button type=\"submit\">Create the account</button></div></details>\
<p id=\"account-error\" class=\"error\" role=\"alert\"></p></form>\
<p><span id=\"recorded\">0</span> sentences recorded.</p>\
<p>Read aloud: <q id=\"sentence\"></q></p>\
<div class=\"buttons\"><button type=\"button\" id=\"record\">Record</button>\
<button type=\"button\" id=\"stop-recording\" disabled>Stop</button></div>\
<label for=\"level\">Level</label> <meter id=\"level\" min=\"0\" max=\"1\" low=\"0.05\" \
high=\"0.9\" optimum=\"0.4\" value=\"0\"></meter>\
<p id=\"record-error\" class=\"error\" role=\"alert\"></p>\
<h3>Takes</h3><ol id=\"takes\" class=\"takes\"></ol></section>\
<section aria-labelledby=\"builds-heading\"><h2 id=\"builds-heading\">Builds</h2>\
<button type=\"button\" id=\"build\">Build a voice from this account</button>\
<p id=\"build-error\" class=\"error\" role=\"alert\"></p>\
<ul id=\"builds\" class=\"list\"></ul></section>\
<section aria-labelledby=\"voices-heading\"><h2 id=\"voices-heading\">Voices and licences</h2>\
<label for=\"device-name\">Device the licence is for</label>\
<input id=\"device-name\" maxlength=\"100\" value=\"Kitchen speaker\">\
<p id=\"voices-error\" class=\"error\" role=\"alert\"></p>\
<ul id=\"voices\" class=\"list\"></ul></section>";

const ASSISTANTS: &str = "\
<p class=\"live\">Live updates: <span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"list-heading\"><h2 id=\"list-heading\">Your assistants</h2>\
<p id=\"list-error\" class=\"error\" role=\"alert\"></p>\
<div class=\"table\"><table><thead><tr><th scope=\"col\">Title</th><th scope=\"col\">Language</th>\
<th scope=\"col\">Training</th><th scope=\"col\">Speech model</th>\
<th scope=\"col\">Actions</th></tr></thead>\
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

const OVOS: &str = "\
<p class=\"live\">Message bus: <span id=\"bus\">checking…</span> · live log: \
<span id=\"live\">connecting…</span></p>\
<section aria-labelledby=\"speak-heading\"><h2 id=\"speak-heading\">Speak</h2>\
<form id=\"speak-form\" class=\"stack\"><label for=\"speak-text\">Sentence to say</label>\
<input id=\"speak-text\" required><div class=\"buttons\"><button type=\"submit\">Speak</button>\
<button type=\"button\" id=\"speak-stop\" class=\"quiet\">Stop speaking</button></div>\
<p id=\"speak-error\" class=\"error\" role=\"alert\"></p></form></section>\
<section aria-labelledby=\"heard-heading\"><h2 id=\"heard-heading\">Send an utterance as if heard</h2>\
<form id=\"utterance-form\" class=\"stack\"><label for=\"utterance-text\">Utterance</label>\
<input id=\"utterance-text\" required><button type=\"submit\">Send</button>\
<p id=\"utterance-error\" class=\"error\" role=\"alert\"></p></form></section>\
<section aria-labelledby=\"mic-heading\"><h2 id=\"mic-heading\">Microphone and volume</h2>\
<p>Microphone: <span id=\"mic\">unknown</span></p>\
<div class=\"buttons\"><button type=\"button\" id=\"mute\">Mute</button>\
<button type=\"button\" id=\"unmute\">Unmute</button></div>\
<div class=\"slider\"><label for=\"ovos-volume\">Volume</label>\
<input type=\"range\" id=\"ovos-volume\" min=\"0\" max=\"100\" step=\"1\" value=\"0\">\
<output id=\"ovos-volume-value\" for=\"ovos-volume\">0</output></div>\
<p id=\"mic-error\" class=\"error\" role=\"alert\"></p></section>\
<section aria-labelledby=\"log-heading\"><h2 id=\"log-heading\">Bus log</h2>\
<ol id=\"log\" class=\"log\" reversed></ol></section>";

const ACCOUNT: &str = "\
<section aria-labelledby=\"tokens-heading\"><h2 id=\"tokens-heading\">Named tokens</h2>\
<p class=\"hint\">For scripts and automations: sent as <code>Authorization: Bearer</code>.</p>\
<form id=\"token-form\" class=\"stack\">\
<label for=\"token-alias\">Name</label><input id=\"token-alias\" required maxlength=\"64\" \
pattern=\"[A-Za-z0-9._-]+\">\
<label for=\"token-scopes\">Scopes (separated by spaces; empty: all of yours)</label>\
<input id=\"token-scopes\">\
<label for=\"token-days\">Valid for days (empty: until revoked)</label>\
<input id=\"token-days\" type=\"number\" min=\"1\" max=\"3650\">\
<button type=\"submit\">Make a token</button>\
<p id=\"token-error\" class=\"error\" role=\"alert\"></p></form>\
<div id=\"token-secret\" class=\"secret\" hidden><p>Copy it now: it is shown only once.</p>\
<code id=\"token-value\"></code></div>\
<ul id=\"tokens\" class=\"list\"></ul></section>\
<section aria-labelledby=\"keys-heading\"><h2 id=\"keys-heading\">API keys</h2>\
<p class=\"hint\">For HMAC-signed requests.</p>\
<form id=\"key-form\" class=\"stack\">\
<label for=\"key-scopes\">Scopes (separated by spaces; empty: all of yours)</label>\
<input id=\"key-scopes\"><button type=\"submit\">Make a key</button>\
<p id=\"key-error\" class=\"error\" role=\"alert\"></p></form>\
<div id=\"key-secret\" class=\"secret\" hidden><p>Copy the secret now: it is shown only once.</p>\
<p>Key: <code id=\"key-id\"></code></p><p>Secret: <code id=\"key-value\"></code></p></div>\
<ul id=\"keys\" class=\"list\"></ul></section>\
<section id=\"admin\" aria-labelledby=\"admin-heading\" hidden><h2 id=\"admin-heading\">Administration</h2>\
<p id=\"admin-error\" class=\"error\" role=\"alert\"></p>\
<h3>Peers</h3><ul id=\"peers\" class=\"list\"></ul>\
<h3>Users</h3><ul id=\"users\" class=\"list\"></ul>\
<h3>OAuth clients</h3><ul id=\"clients\" class=\"list\"></ul></section>";
