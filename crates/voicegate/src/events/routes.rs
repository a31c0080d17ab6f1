//! `GET /v1/events`: the hub's events that the caller's token may see, as server-sent events.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::events::FAMILIES;
use crate::events::stream::{Filter, Subscription};
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiQuery;
use crate::identity::scopes::ScopeSet;
use crate::state::AppState;

/// Most topic prefixes in one `?topics=`.
const MAX_TOPICS: usize = 16;

/// Longest topic prefix, in characters (the longest topic is far shorter).
const MAX_TOPIC_CHARS: usize = 128;

/// Query of `/v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated topic prefixes (`jobs,voices.build`; a trailing `.*` is allowed); default:
    /// every topic the token grants.
    pub topics: Option<String>,
}

/// Reads `?topics=`: prefixes of letters, digits and `_ - . :`.
fn topic_prefixes(text: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let mut prefixes = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let prefix = entry.trim_end_matches('*').trim_end_matches('.');
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if prefix.is_empty() || !prefix.chars().all(valid) {
            return Err(ApiError::bad_request(format!(
                "topics: {entry:?} is not a topic prefix such as jobs or ovos.speak"
            )));
        }
        if prefix.len() > MAX_TOPIC_CHARS {
            return Err(ApiError::bad_request(format!(
                "topics: a prefix has at most {MAX_TOPIC_CHARS} characters"
            )));
        }
        prefixes.push(prefix.to_string());
    }
    if prefixes.len() > MAX_TOPICS {
        return Err(ApiError::bad_request(format!(
            "topics: at most {MAX_TOPICS} prefixes"
        )));
    }
    Ok(Some(prefixes))
}

/// Streams events as server-sent events: bus messages on `ovos.events_allowlist` (event name:
/// the message type; data `{"type", "data"}`, secrets removed) for the `ovos` scope; job
/// progress (`jobs.<kind>.queued|started|progress|done|failed`) and voice builds
/// (`voices.build.*`) of the caller's own builds for `voice_build`; speakers and assistants for
/// theirs. The stream ends when the token expires or is revoked, or the user is disabled.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    security(("bearer" = ["ovos"]), ("bearer" = ["voice_build"]), ("bearer" = ["speakers"]), ("bearer" = ["assistant"])),
    responses(
        (status = 200, description = "A text/event-stream", content_type = "text/event-stream"),
        (status = 400, description = "A bad topics filter", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token grants no event topic", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let topics = topic_prefixes(query.topics.as_deref())?;
    let event_scopes: ScopeSet = FAMILIES.iter().map(|(_, scope)| *scope).collect();
    if principal.scopes.intersection(event_scopes).is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the token grants no event topic: it needs one of {event_scopes}"),
        )
        .with_challenge(format!(
            r#"Bearer realm="voicegate", error="insufficient_scope", scope="{event_scopes}""#
        )));
    }
    let filter = Filter {
        scopes: principal.scopes,
        user: principal.user_id,
        topics,
    };
    let subscription = Subscription::new(
        state.events.subscribe(),
        state.identity.clone(),
        state.clock.clone(),
        principal,
        filter,
    );
    let stream = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next().await?;
        let sse = SseEvent::default()
            .event(event.name.as_str())
            .data(event.data.as_str());
        Some((Ok(sse), subscription))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters_are_prefixes() {
        assert_eq!(topic_prefixes(None).unwrap(), None);
        assert_eq!(
            topic_prefixes(Some("jobs, voices.build.*,ovos.mycroft.mic.*")).unwrap(),
            Some(vec![
                "jobs".to_string(),
                "voices.build".into(),
                "ovos.mycroft.mic".into()
            ])
        );
        for bad in ["jobs,", "a b", "*", "x/y"] {
            assert!(topic_prefixes(Some(bad)).is_err(), "{bad}");
        }
        let many = vec!["a"; MAX_TOPICS + 1].join(",");
        assert!(topic_prefixes(Some(&many)).is_err());
        let longest = "a".repeat(MAX_TOPIC_CHARS);
        assert!(topic_prefixes(Some(&longest)).is_ok());
        assert!(topic_prefixes(Some(&format!("{longest}a"))).is_err());
    }
}
