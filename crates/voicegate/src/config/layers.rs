//! The configuration's layers above the defaults (the TOML file, `.env`, the environment) and
//! where each value came from, for `voicegate config show`.
//!
//! `.env` is applied into the process environment (a variable already set wins), so the
//! environment layer alone cannot tell the two apart: the names `.env` set are noted when it is
//! applied.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};

/// Environment variables that hold secrets, with the key each sets, strongest first: read
/// verbatim (the generic layer would turn `0123` into 123) and applied after the other layers.
pub const SECRET_VARS: [(&str, &str); 6] = [
    ("VOICEGATE_SECRET", "secret"),
    ("SECRET", "secret"),
    ("VOICEGATE_OVOS__API_KEY", "ovos.api_key"),
    ("API_KEY", "ovos.api_key"),
    ("VOICEGATE_DATABASE_URL", "database_url"),
    ("DATABASE_URL", "database_url"),
];

/// The ovos-api variable names honoured below the `VOICEGATE_` ones, with the key each sets.
const OVOS_API_VARS: [(&str, &str); 3] = [
    ("WS_HOST", "ovos.ws_host"),
    ("WS_PORT", "ovos.ws_port"),
    ("USERS_DB", "users_db"),
];

/// The prefix of every configuration variable.
const PREFIX: &str = "VOICEGATE_";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// A variable the `.env` file set.
    DotEnv(String),
    /// A variable of the environment.
    Env(String),
    /// A command-line option (`--data-dir`).
    CommandLine(&'static str),
}

impl Source {
    /// The kind of layer: `default`, `file`, `.env`, `env` or `command line`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File(_) => "file",
            Source::DotEnv(_) => ".env",
            Source::Env(_) => "env",
            Source::CommandLine(_) => "command line",
        }
    }

    /// Which one of its kind: the file's path, the variable's name or the option.
    pub fn origin(&self) -> Option<String> {
        match self {
            Source::Default => None,
            Source::File(path) => Some(path.display().to_string()),
            Source::DotEnv(name) | Source::Env(name) => Some(name.clone()),
            Source::CommandLine(option) => Some((*option).to_string()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin() {
            Some(origin) => write!(f, "{} {origin}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// The layers read: the TOML file and the environment as one figment (without the defaults:
/// a key it lacks has its default), and the variables `.env` set.
pub struct Layers {
    figment: Figment,
    from_dotenv: Vec<String>,
}

impl Layers {
    /// Applies `.env` of the working directory to the process environment (never overriding a
    /// variable already set) and gathers the TOML file (`toml_path`, which must exist, or else
    /// `voicegate.toml` in the working directory if present) and the environment.
    pub fn read(toml_path: Option<&Path>) -> Result<Self, String> {
        let from_dotenv = apply_dotenv(Path::new(".env"))?;
        let mut figment = Figment::new();
        match toml_path {
            Some(path) if !path.exists() => {
                return Err(format!("{}: no such file", path.display()));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("voicegate.toml").exists() => {
                figment = figment.merge(Toml::file_exact("voicegate.toml"));
            }
            None => {}
        }
        let secret_keys = ["secret", "ovos__api_key", "database_url"];
        figment = figment
            .merge(
                Env::raw()
                    .only(&["ws_host", "ws_port", "users_db"])
                    .map(|key| match key.as_str().to_ascii_lowercase().as_str() {
                        "ws_host" => "ovos__ws_host".into(),
                        "ws_port" => "ovos__ws_port".into(),
                        _ => key.into(),
                    })
                    .split("__"),
            )
            .merge(Env::prefixed(PREFIX).ignore(&secret_keys).split("__"));
        Ok(Self {
            figment,
            from_dotenv,
        })
    }

    /// The file and environment layers, to extract the configuration from.
    pub fn figment(&self) -> &Figment {
        &self.figment
    }

    /// Where the value of `key` (a dotted path: `http.json_body_limit`) came from, as
    /// [`super::Config::load`] applies the layers.
    pub fn source(&self, key: &str) -> Source {
        let secret_var = SECRET_VARS
            .iter()
            .filter(|(_, k)| *k == key)
            .map(|(name, _)| *name)
            .find(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
        if let Some(name) = secret_var {
            return self.variable(name);
        }
        let Some(metadata) = self.figment.find_metadata(key) else {
            return Source::Default;
        };
        if let Some(path) = metadata.source.as_ref().and_then(|s| s.file_path()) {
            return Source::File(path.to_path_buf());
        }
        if metadata.name.contains(PREFIX) {
            return self.variable(&variable_name(key));
        }
        match OVOS_API_VARS.iter().find(|(_, k)| *k == key) {
            Some((name, _)) => self.variable(name),
            None => Source::Env(format!("({})", metadata.name)),
        }
    }

    /// The variable `name` (matched regardless of case, as the layers read it), from `.env`
    /// or the environment.
    fn variable(&self, name: &str) -> Source {
        let name = std::env::vars_os()
            .map(|(var, _)| var.to_string_lossy().into_owned())
            .find(|var| var.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| name.to_string());
        if self.from_dotenv.contains(&name) {
            Source::DotEnv(name)
        } else {
            Source::Env(name)
        }
    }
}

/// The `VOICEGATE_` variable of a key: `http.json_body_limit` is
/// `VOICEGATE_HTTP__JSON_BODY_LIMIT`.
pub fn variable_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Applies the `.env` file at `path`, if there is one, and answers the names it set (those not
/// set before).
fn apply_dotenv(path: &Path) -> Result<Vec<String>, String> {
    let entries = match dotenvy::from_path_iter(path) {
        Ok(entries) => entries,
        Err(e) if e.not_found() => return Ok(Vec::new()),
        Err(e) => return Err(format!(".env: {e}")),
    };
    let fresh = entries
        .filter_map(Result::ok)
        .map(|(name, _)| name)
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    dotenvy::from_path(path).map_err(|e| format!(".env: {e}"))?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_print_their_kind_and_origin() {
        assert_eq!(Source::Default.to_string(), "default");
        assert_eq!(
            Source::File("voicegate.toml".into()).to_string(),
            "file voicegate.toml"
        );
        assert_eq!(Source::DotEnv("SECRET".into()).to_string(), ".env SECRET");
        assert_eq!(
            Source::Env(variable_name("http.json_body_limit")).to_string(),
            "env VOICEGATE_HTTP__JSON_BODY_LIMIT"
        );
        assert_eq!(
            Source::CommandLine("--data-dir").to_string(),
            "command line --data-dir"
        );
    }

    #[test]
    fn a_key_only_the_file_sets_comes_from_the_file_and_the_rest_from_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.toml");
        std::fs::write(
            &path,
            "log_level = \"debug\"\n[http]\nmax_connections = 9\n",
        )
        .unwrap();
        let layers = Layers {
            figment: Figment::new().merge(Toml::file_exact(&path)),
            from_dotenv: Vec::new(),
        };
        assert_eq!(
            layers.source("http.max_connections"),
            Source::File(path.clone())
        );
        assert_eq!(layers.source("log_level"), Source::File(path));
        assert_eq!(layers.source("http.json_body_limit"), Source::Default);
    }
}
