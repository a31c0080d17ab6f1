//! What the skill-rest-api skill's answers mean, and which one answers a request.
//!
//! Each answer says in its context whether the key matched (`authenticated`). The skill checks
//! the key, and on a mismatch answers `{"error": "both keys don't match"}` (or, without a key in
//! its settings, `{"error": "no api key detected …"}`) with `authenticated: false`; but its
//! authentication flag is sticky, so once any request had the right key it goes on to answer
//! with the data after the refusal. A refusal is therefore only the answer when no data follows
//! within the drain window; data that follows is taken. A real wrong key yields refusals only.

use serde_json::Value;
use tokio::time::Instant;

use crate::ovos::bus::{Bus, BusError, BusMessage};
use crate::ovos::exchange::{Exchange, Next};

/// Why the skill refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `API_KEY` does not match the skill's `api_key` setting.
    WrongKey,
    /// The skill has no `api_key` setting.
    NoKey,
}

/// Why a request to the skill got no data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoData {
    /// The key was refused, and no data followed.
    Refused(Refusal),
    /// The skill reported an error.
    Failed(String),
    /// The bus dropped, or nothing came in time.
    Bus(BusError),
}

/// One answer of the skill.
#[derive(Debug, Clone, PartialEq)]
pub enum SkillAnswer {
    /// The data asked for.
    Data(Value),
    /// An error the skill reported after accepting the key.
    Failed(String),
    /// The key was not accepted.
    Refused(Refusal),
}

/// What an answer of the skill says.
pub fn classify(answer: &BusMessage) -> SkillAnswer {
    let error = answer.data.get("error").map(|error| {
        error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_string)
    });
    let authenticated = answer.context.get("authenticated").and_then(Value::as_bool) == Some(true);
    match (authenticated, error) {
        (false, Some(error)) if error.to_ascii_lowercase().contains("no api key") => {
            SkillAnswer::Refused(Refusal::NoKey)
        }
        (false, _) => SkillAnswer::Refused(Refusal::WrongKey),
        (true, Some(error)) => SkillAnswer::Failed(error),
        (true, None) => SkillAnswer::Data(answer.data.clone()),
    }
}

/// Reads an exchange's answers until one answers the request: the first data or error after
/// the key was accepted; a refusal when nothing else comes within the drain window after it.
pub async fn read(bus: &Bus, exchange: &mut Exchange<BusMessage>) -> Result<Value, NoData> {
    let deadline = exchange.deadline();
    let drain = bus.exchange_drain();
    let mut refused: Option<Refusal> = None;
    loop {
        let until = match refused {
            Some(_) => (Instant::now() + drain).min(deadline),
            None => deadline,
        };
        match exchange.next_before(until).await {
            Next::Answer(answer) => match classify(&answer) {
                SkillAnswer::Data(data) => {
                    if refused.is_some() {
                        tracing::warn!(
                            msg_type = %answer.msg_type,
                            "skill-rest-api refused the API key, then answered anyway: check that API_KEY matches the skill's api_key setting"
                        );
                    }
                    return Ok(data);
                }
                SkillAnswer::Failed(error) => return Err(NoData::Failed(error)),
                SkillAnswer::Refused(refusal) => refused = Some(refusal),
            },
            Next::Quiet => {
                return Err(match refused {
                    Some(refusal) => NoData::Refused(refusal),
                    None => NoData::Bus(BusError::Timeout(bus.request_timeout().as_millis())),
                });
            }
            Next::Closed => {
                return Err(NoData::Bus(BusError::Unavailable(bus.url().to_string())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(data: Value, authenticated: bool) -> BusMessage {
        BusMessage {
            msg_type: "ovos.api.info.answer".into(),
            data,
            context: json!({"authenticated": authenticated}),
        }
    }

    #[test]
    fn answers_are_data_errors_or_refusals() {
        assert_eq!(
            classify(&answer(json!({"a": 1}), true)),
            SkillAnswer::Data(json!({"a": 1}))
        );
        assert_eq!(
            classify(&answer(
                json!({"error": "no settings.json file found"}),
                true
            )),
            SkillAnswer::Failed("no settings.json file found".into())
        );
        assert_eq!(
            classify(&answer(json!({"error": "both keys don't match"}), false)),
            SkillAnswer::Refused(Refusal::WrongKey)
        );
        assert_eq!(
            classify(&answer(
                json!({"error": "no api key detected from home.mycroft.ai"}),
                false
            )),
            SkillAnswer::Refused(Refusal::NoKey)
        );
        let no_context = BusMessage::new("ovos.api.info.answer", json!({"a": 1}));
        assert_eq!(
            classify(&no_context),
            SkillAnswer::Refused(Refusal::WrongKey),
            "an answer that does not say the key matched is no answer"
        );
    }
}
