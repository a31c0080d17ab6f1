//! The ovos-api surface: Open Voice OS control over one live message-bus connection.
//!
//! Native ovos-core messages are used wherever they exist (`speak`, `mycroft.stop`,
//! `mycroft.mic.*`, `mycroft.volume.*`, `recognizer_loop:*`, `skillmanager.*`); what only the
//! skill-rest-api companion skill answers goes out as `ovos.api.*` with `data.app_key` =
//! base64(API_KEY), as that skill expects. Each message's context names the service it is for
//! and the configured session ([`addressing`]). When ovos-core's skill list says the skill is not
//! there, sleep and wake-up go out as native messages and the skill-only routes answer 503 at
//! once, instead of waiting for an answer that cannot come.

pub mod addressing;
pub mod bus;
pub mod event_relay;
pub mod exchange;
pub mod redact;
pub mod routes;
pub mod skill_answer;
pub mod skill_presence;

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use std::sync::Arc;
use std::time::Duration;

use crate::config::OvosConfig;
use crate::events::EventHub;
use crate::ovos::bus::{Bus, BusError, BusMessage, BusSettings, MessageTap, ReplyMatch};
use crate::ovos::event_relay::EventRelay;
use crate::ovos::skill_answer::{NoData, Refusal};
use crate::ovos::skill_presence::{SKILL_LIST, SkillPresence};

/// Everything that can go wrong on the ovos-api surface.
#[derive(Debug, thiserror::Error)]
pub enum OvosError {
    /// The bus is down or did not answer in time.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The companion skill refused the API key.
    #[error(
        "skill-rest-api refused the API key: check that API_KEY matches the skill's api_key setting"
    )]
    SkillRefused,
    /// The companion skill has no API key in its settings, so it refuses every request.
    #[error(
        "skill-rest-api has no api_key setting: set it to the same value as voicegate's API_KEY"
    )]
    SkillKeyUnset,
    /// The companion skill is not installed or not active, as ovos-core's skill list says.
    #[error(
        "the skill-rest-api skill ({0}) is not installed or not active in ovos-core: this route needs it"
    )]
    SkillNotInstalled(String),
    /// A native service answered something voicegate cannot read.
    #[error("{0}")]
    BadAnswer(String),
    /// The companion skill answered with an error.
    #[error("skill-rest-api answered an error: {0}")]
    SkillFailed(String),
    /// `API_KEY` is not configured, so the companion skill cannot be asked.
    #[error("API_KEY is not configured: the skill-rest-api routes need it")]
    NoApiKey,
    /// No skill with that id.
    #[error("skill {0:?} not found")]
    UnknownSkill(String),
    /// A request value is not acceptable.
    #[error("{0}")]
    Validation(String),
}

impl From<NoData> for OvosError {
    fn from(no_data: NoData) -> Self {
        match no_data {
            NoData::Refused(Refusal::WrongKey) => OvosError::SkillRefused,
            NoData::Refused(Refusal::NoKey) => OvosError::SkillKeyUnset,
            NoData::Failed(error) => OvosError::SkillFailed(error),
            NoData::Bus(error) => OvosError::Bus(error),
        }
    }
}

/// Something to say: an utterance and its language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Speech {
    /// The text.
    pub utterance: String,
    /// Language, e.g. `en-us`.
    pub lang: String,
}

/// The skill list as ovos-api answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkillList {
    /// Number of skills.
    pub count: usize,
    /// Active skills.
    pub count_active: usize,
    /// Inactive skills.
    pub count_inactive: usize,
    /// Skill id → `{"active": bool, "id": …}` as ovos-core reports it.
    #[schema(value_type = Object)]
    pub results: Map<String, Value>,
}

/// Volume as ovos-api answers it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Volume {
    /// 0 to 100.
    pub percent: f64,
    /// Whether output is muted.
    pub muted: bool,
}

/// The ovos-api service.
pub struct OvosService {
    bus: Bus,
    app_key: Option<String>,
    presence: Arc<SkillPresence>,
    config: OvosConfig,
}

impl OvosService {
    /// A service for the configured bus, whose allowlisted messages go to `events`; the
    /// connection starts with [`Bus::spawn_connection`].
    pub fn new(config: &OvosConfig, events: EventHub) -> Self {
        let settings = BusSettings {
            url: format!("ws://{}:{}/core", config.ws_host, config.ws_port),
            address: format!("{}:{}", config.ws_host, config.ws_port),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            reconnect_max: Duration::from_millis(config.reconnect_max_ms),
            exchange_drain: Duration::from_millis(config.skill_drain_ms),
        };
        let relay = EventRelay::new(events, config.events_allowlist.clone());
        let presence = Arc::new(SkillPresence::new(
            &config.skill_rest_api_id,
            Duration::from_millis(config.skill_list_ttl_ms),
        ));
        let taps: Vec<Arc<dyn MessageTap>> = vec![Arc::new(relay), presence.clone()];
        let app_key = config
            .api_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.expose()));
        Self {
            bus: Bus::new(settings, taps),
            app_key,
            presence,
            config: config.clone(),
        }
    }

    /// The bus connection.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Whether the companion skill is there to answer (installed and active), from what the
    /// skill list said within `ovos.skill_list_ttl_ms`, else from a fresh skill list.
    async fn skill_present(&self) -> Result<bool, OvosError> {
        if !self.presence.checked() {
            return Ok(true);
        }
        if let Some(present) = self.presence.cached(tokio::time::Instant::now()) {
            return Ok(present);
        }
        // One list request refreshes it for every caller waiting here.
        let timeout = self.bus.request_timeout();
        let _turn = self
            .presence
            .refresh_turn(timeout)
            .await
            .ok_or(BusError::Timeout(timeout.as_millis()))?;
        if let Some(present) = self.presence.cached(tokio::time::Instant::now()) {
            return Ok(present);
        }
        let list = self.skill_list().await?;
        Ok(self
            .presence
            .record_list(&list, tokio::time::Instant::now()))
    }

    /// Asks the companion skill: sends `msg_type` with the app key and reads the skill's answers
    /// to it (`reply_type`, or `<msg_type>.answer` for a refusal), one such exchange at a time.
    /// Returns the answer's data. Without the skill, answers 503 at once.
    async fn ask_skill(
        &self,
        msg_type: &str,
        reply_type: &str,
        extra: Value,
    ) -> Result<Value, OvosError> {
        let app_key = self.app_key.as_ref().ok_or(OvosError::NoApiKey)?;
        if !self.skill_present().await? {
            return Err(OvosError::SkillNotInstalled(
                self.presence.skill_id().to_string(),
            ));
        }
        let mut data = match extra {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        data.insert("app_key".into(), json!(app_key));
        // The skill refuses a key under the request's own type (`recognizer_loop:sleep.answer`),
        // which differs from the data's for sleep and wake-up.
        let refusal_type = format!("{msg_type}.answer");
        let mut exchange = self
            .bus
            .exchange(
                self.message(msg_type, Value::Object(data)),
                &[reply_type, refusal_type.as_str()],
            )
            .await?;
        let answer = skill_answer::read(&self.bus, &mut exchange).await;
        if matches!(answer, Err(NoData::Bus(BusError::Timeout(_)))) {
            // A skill that stopped answering may have gone: look at the skill list again.
            self.presence.forget();
        }
        Ok(answer?)
    }

    /// Whether the companion skill can be asked: configured with a key and present.
    async fn skill_usable(&self) -> Result<bool, OvosError> {
        Ok(self.app_key.is_some() && self.skill_present().await?)
    }

    /// Asks ovos-core: the reply keeps the request's context and is matched by correlation id.
    async fn ask_core(
        &self,
        msg_type: &str,
        data: Value,
        reply_type: &str,
    ) -> Result<Value, OvosError> {
        let reply = self
            .bus
            .request(
                self.message(msg_type, data),
                &[reply_type],
                ReplyMatch::Correlated,
            )
            .await?;
        Ok(reply.data)
    }

    async fn emit(&self, msg_type: &str, data: Value) -> Result<(), OvosError> {
        Ok(self.bus.emit(self.message(msg_type, data)).await?)
    }

    /// A message addressed to the service that handles `msg_type`, in the configured session.
    fn message(&self, msg_type: &str, data: Value) -> BusMessage {
        BusMessage {
            context: addressing::context(msg_type, &self.config.session_id),
            ..BusMessage::new(msg_type, data)
        }
    }

    /// System information from the companion skill.
    pub async fn info(&self) -> Result<Value, OvosError> {
        let mut info = self
            .ask_skill("ovos.api.info", "ovos.api.info.answer", json!({}))
            .await?;
        redact::redact(&mut info);
        Ok(info)
    }

    /// The assistant's configuration, every secret removed.
    pub async fn config(&self) -> Result<Value, OvosError> {
        let mut config = self
            .ask_skill("ovos.api.config", "ovos.api.config.answer", json!({}))
            .await?;
        redact::redact(&mut config);
        Ok(config)
    }

    /// Puts the assistant to sleep (`awake = false`) or wakes it up, then speaks `dialog` if given.
    /// The listener obeys the message itself; the companion skill, when there, also keeps the
    /// sleep mark that [`OvosService::is_awake`] reads, and confirms.
    pub async fn set_awake(&self, awake: bool, dialog: Option<Speech>) -> Result<(), OvosError> {
        let (msg_type, reply_type) = if awake {
            ("recognizer_loop:wake_up", "ovos.api.wake_up.answer")
        } else {
            ("recognizer_loop:sleep", "ovos.api.sleep.answer")
        };
        if self.skill_usable().await? {
            self.ask_skill(msg_type, reply_type, json!({})).await?;
        } else {
            self.emit(msg_type, json!({})).await?;
        }
        if let Some(dialog) = dialog {
            self.speak(dialog).await?;
        }
        Ok(())
    }

    /// Whether the assistant is awake: the companion skill's sleep mark, or without the skill, the
    /// listener's state (`recognizer_loop:state.get`).
    pub async fn is_awake(&self) -> Result<bool, OvosError> {
        if !self.skill_usable().await? {
            let data = self
                .ask_core(
                    "recognizer_loop:state.get",
                    json!({}),
                    "recognizer_loop:state",
                )
                .await?;
            return match data.get("state").and_then(Value::as_str) {
                Some(state) => Ok(state != "sleeping"),
                None => Err(OvosError::BadAnswer(
                    "the listener's recognizer_loop:state has no state".into(),
                )),
            };
        }
        let data = self
            .ask_skill("ovos.api.is_awake", "ovos.api.is_awake.answer", json!({}))
            .await?;
        data.get("is_awake")
            .and_then(Value::as_bool)
            .ok_or_else(|| OvosError::SkillFailed("the answer has no is_awake".into()))
    }

    /// Clears a cache (`tts`); answers what the skill reports.
    pub async fn clear_cache(&self, cache_type: &str) -> Result<Value, OvosError> {
        if cache_type != "tts" {
            return Err(OvosError::Validation(format!(
                "cache_type {cache_type:?} is not supported; use \"tts\""
            )));
        }
        let data = self
            .ask_skill(
                "ovos.api.cache",
                "ovos.api.cache.answer",
                json!({"cache_type": cache_type}),
            )
            .await?;
        Ok(json!({
            "cache_type": data.get("cache_type").cloned().unwrap_or_else(|| json!(cache_type)),
            "status": data.get("status").cloned().unwrap_or(Value::Bool(false)),
        }))
    }

    /// Whether the assistant reaches the Internet.
    pub async fn internet(&self) -> Result<bool, OvosError> {
        let data = self
            .ask_skill("ovos.api.internet", "ovos.api.internet.answer", json!({}))
            .await?;
        Ok(data.get("status").and_then(Value::as_bool).unwrap_or(false))
    }

    /// ovos-core's skill list: skill id → `{"active", "id"}`.
    async fn skill_list(&self) -> Result<Map<String, Value>, OvosError> {
        // ovos-core answers skillmanager.list with mycroft.skills.list; versions that build a fresh
        // message drop the context, so the answer is also accepted by type (any list will do).
        let reply = self
            .bus
            .request(
                self.message("skillmanager.list", json!({})),
                &[SKILL_LIST],
                ReplyMatch::ByType,
            )
            .await?;
        Ok(match reply.data {
            Value::Object(map) => map,
            _ => Map::new(),
        })
    }

    /// The installed skills.
    pub async fn skills(&self) -> Result<SkillList, OvosError> {
        let results = self.skill_list().await?;
        let active = results
            .values()
            .filter(|s| s.get("active").and_then(Value::as_bool).unwrap_or(false))
            .count();
        Ok(SkillList {
            count: results.len(),
            count_active: active,
            count_inactive: results.len() - active,
            results,
        })
    }

    async fn require_skill(&self, skill_id: &str) -> Result<(), OvosError> {
        self.check_skill_id(skill_id)?;
        let skills = self.skills().await?;
        let known = skills.results.iter().any(|(key, skill)| {
            key == skill_id || skill.get("id").and_then(Value::as_str) == Some(skill_id)
        });
        if known {
            Ok(())
        } else {
            Err(OvosError::UnknownSkill(skill_id.to_string()))
        }
    }

    fn check_skill_id(&self, skill_id: &str) -> Result<(), OvosError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if skill_id.is_empty() || skill_id.len() > 128 || !skill_id.chars().all(ok) {
            return Err(OvosError::Validation(format!(
                "invalid skill id {skill_id:?}: 1 to 128 letters, digits, '.', '_' or '-'"
            )));
        }
        Ok(())
    }

    /// A skill's settings, every secret removed.
    pub async fn skill_settings(&self, skill_id: &str) -> Result<Value, OvosError> {
        self.require_skill(skill_id).await?;
        let mut settings = self
            .ask_skill(
                "ovos.api.skill_settings",
                "ovos.api.skill_settings.answer",
                json!({"skill": skill_id}),
            )
            .await?;
        redact::redact(&mut settings);
        Ok(settings)
    }

    /// Activates or deactivates a skill.
    pub async fn set_skill_active(&self, skill_id: &str, active: bool) -> Result<(), OvosError> {
        self.require_skill(skill_id).await?;
        let msg_type = if active {
            "skillmanager.activate"
        } else {
            "skillmanager.deactivate"
        };
        let reply_type = format!("{msg_type}.response");
        let data = self
            .ask_core(msg_type, json!({"skill": skill_id}), &reply_type)
            .await?;
        if let Some(error) = data.get("error") {
            return Err(OvosError::SkillFailed(error.to_string()));
        }
        Ok(())
    }

    /// Validates and completes something to say.
    pub fn speech(&self, utterance: &str, lang: Option<&str>) -> Result<Speech, OvosError> {
        Ok(Speech {
            utterance: self.check_text("utterance", utterance)?.to_string(),
            lang: self.check_lang(lang)?,
        })
    }

    fn check_text<'t>(&self, field: &str, text: &'t str) -> Result<&'t str, OvosError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(OvosError::Validation(format!("{field} must not be empty")));
        }
        if text.chars().count() > self.config.max_text_chars {
            return Err(OvosError::Validation(format!(
                "{field} is longer than {} characters",
                self.config.max_text_chars
            )));
        }
        Ok(text)
    }

    fn check_lang(&self, lang: Option<&str>) -> Result<String, OvosError> {
        let lang = lang
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(&self.config.default_lang);
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if lang.len() > 16 || !lang.chars().all(ok) {
            return Err(OvosError::Validation(format!(
                "invalid lang {lang:?}: a language tag such as en-us"
            )));
        }
        Ok(lang.to_ascii_lowercase())
    }

    /// Makes the assistant say something.
    pub async fn speak(&self, speech: Speech) -> Result<Speech, OvosError> {
        self.emit(
            "speak",
            json!({"utterance": speech.utterance, "lang": speech.lang}),
        )
        .await?;
        Ok(speech)
    }

    /// Stops any speech or audio output.
    pub async fn stop(&self) -> Result<(), OvosError> {
        self.emit("mycroft.stop", json!({})).await
    }

    /// Mutes or unmutes the microphone.
    pub async fn set_mic_muted(&self, muted: bool) -> Result<(), OvosError> {
        let msg_type = if muted {
            "mycroft.mic.mute"
        } else {
            "mycroft.mic.unmute"
        };
        self.emit(msg_type, json!({})).await
    }

    /// Whether the microphone is muted.
    pub async fn mic_muted(&self) -> Result<bool, OvosError> {
        let data = self
            .ask_core(
                "mycroft.mic.get_status",
                json!({}),
                "mycroft.mic.get_status.response",
            )
            .await?;
        Ok(data.get("muted").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Starts listening as if the wake word was heard.
    pub async fn listen(&self) -> Result<(), OvosError> {
        self.emit("mycroft.mic.listen", json!({})).await
    }

    /// Injects utterances as if they had been spoken.
    pub async fn inject_utterances(
        &self,
        utterances: &[String],
        lang: Option<&str>,
    ) -> Result<(Vec<String>, String), OvosError> {
        if utterances.is_empty() || utterances.len() > self.config.max_utterances {
            return Err(OvosError::Validation(format!(
                "utterances must hold 1 to {} texts",
                self.config.max_utterances
            )));
        }
        let texts = utterances
            .iter()
            .map(|u| self.check_text("utterances", u).map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        let lang = self.check_lang(lang)?;
        self.emit(
            "recognizer_loop:utterance",
            json!({"utterances": texts, "lang": lang}),
        )
        .await?;
        Ok((texts, lang))
    }

    /// The output volume. On the bus it is a fraction (0.0 to 1.0); the API speaks percent.
    pub async fn volume(&self) -> Result<Volume, OvosError> {
        let data = self
            .ask_core(
                "mycroft.volume.get",
                json!({}),
                "mycroft.volume.get.response",
            )
            .await?;
        let fraction = data.get("percent").and_then(Value::as_f64).unwrap_or(0.0);
        Ok(Volume {
            percent: ((fraction * 100.0).clamp(0.0, 100.0) * 100.0).round() / 100.0,
            muted: data.get("muted").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Sets the output volume, 0 to 100 percent.
    pub async fn set_volume(&self, percent: f64) -> Result<(), OvosError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(OvosError::Validation(
                "percent must be between 0 and 100".into(),
            ));
        }
        self.emit("mycroft.volume.set", json!({"percent": percent / 100.0}))
            .await
    }
}
