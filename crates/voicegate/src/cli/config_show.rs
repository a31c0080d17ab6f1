//! `voicegate config show`: the effective configuration, as TOML (or JSON), each value with the
//! layer it came from; secrets redacted, the database URL's password masked.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Source};

/// `voicegate config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, each key with where its value came from
    /// (`# default`, `# file PATH`, `# .env NAME`, `# env NAME`); secrets print as
    /// `[redacted]`, the database URL without its password.
    Show {
        /// Print JSON instead: `{"KEY": {"value", "source", "from"}}`, keys dotted.
        #[arg(long)]
        json: bool,
    },
}

/// Loads the configuration as `serve` would (with `data_dir` from `--data-dir` when given)
/// and prints it.
pub fn run(
    toml_path: Option<&Path>,
    data_dir: Option<&Path>,
    command: &ConfigCommand,
) -> Result<ExitCode, String> {
    let ConfigCommand::Show { json } = command;
    let (mut config, layers) = Config::load_with_layers(toml_path).map_err(|e| e.to_string())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir.to_path_buf();
    }
    let tree = tree(&config)?;
    let source = |key: &str| match (key, data_dir) {
        ("data_dir", Some(_)) => Source::CommandLine("--data-dir"),
        _ => layers.source(key),
    };
    if *json {
        let mut entries = serde_json::Map::new();
        collect_json(&tree, "", &source, &mut entries);
        let text =
            serde_json::to_string_pretty(&Value::Object(entries)).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render_toml(&tree, &source));
    }
    Ok(ExitCode::SUCCESS)
}

/// A table of the configuration, its keys in their declared order.
#[derive(Debug, Default)]
struct Table(Vec<(String, Node)>);

/// A value: a nested table or anything else.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Node {
    Table(Table),
    Leaf(Value),
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Table;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Table, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Node>()? {
                    entries.push(entry);
                }
                Ok(Table(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The configuration as a tree in declaration order (serialized to JSON text, which keeps the
/// order, and read back so). Secrets are `[redacted]` by their serializer; the database URL is
/// put back with its password masked.
fn tree(config: &Config) -> Result<Table, String> {
    let text = serde_json::to_string(config).map_err(|e| e.to_string())?;
    let mut tree: Table = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if let Some(url) = &config.database_url {
        let masked = crate::store::pg_tools::redacted_url(url.expose());
        for (key, node) in &mut tree.0 {
            if key == "database_url" {
                *node = Node::Leaf(Value::String(masked.clone()));
            }
        }
    }
    Ok(tree)
}

/// `prefix` + `key`, dotted.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The TOML text: a table's values first, each with its source in a trailing comment (an unset
/// one as a comment), then its nested tables under their headers.
fn render_toml(tree: &Table, source: &dyn Fn(&str) -> Source) -> String {
    let mut out = String::new();
    render_table(tree, "", source, &mut out);
    out
}

fn render_table(table: &Table, prefix: &str, source: &dyn Fn(&str) -> Source, out: &mut String) {
    let lines: Vec<(String, Source)> = table
        .0
        .iter()
        .filter_map(|(key, node)| match node {
            Node::Leaf(Value::Null) => {
                Some((format!("# {key} (unset)"), source(&join(prefix, key))))
            }
            // JSON's scalars and arrays of them are valid TOML values.
            Node::Leaf(value) => Some((format!("{key} = {value}"), source(&join(prefix, key)))),
            Node::Table(_) => None,
        })
        .collect();
    let width = lines
        .iter()
        .map(|(line, _)| line.len())
        .filter(|len| *len <= 48)
        .max()
        .unwrap_or(0);
    for (line, from) in lines {
        out.push_str(&format!("{line:<width$}  # {from}\n"));
    }
    for (key, node) in &table.0 {
        if let Node::Table(inner) = node {
            let path = join(prefix, key);
            out.push_str(&format!("\n[{path}]\n"));
            render_table(inner, &path, source, out);
        }
    }
}

/// Every value as `"KEY": {"value", "source", "from"}`, keys dotted.
fn collect_json(
    table: &Table,
    prefix: &str,
    source: &dyn Fn(&str) -> Source,
    out: &mut serde_json::Map<String, Value>,
) {
    for (key, node) in &table.0 {
        let path = join(prefix, key);
        match node {
            Node::Table(inner) => collect_json(inner, &path, source, out),
            Node::Leaf(value) => {
                let from = source(&path);
                let entry = serde_json::json!({
                    "value": value,
                    "source": from.kind(),
                    "from": from.origin(),
                });
                out.insert(path, entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn secrets_never_print_and_the_database_password_is_masked() {
        let mut config = Config {
            secret: Some(Secret::new("signing-key-value")),
            ..Config::default()
        };
        config.ovos.api_key = Some(Secret::new("api-key-value"));
        config.database_url = Some(Secret::new("postgres://vg:pg-password@db.lan/vg"));
        let tree = tree(&config).unwrap();
        let text = render_toml(&tree, &|_| Source::Default);
        for secret in ["signing-key-value", "api-key-value", "pg-password"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("secret = \"[redacted]\""), "{text}");
        assert!(text.contains("api_key = \"[redacted]\""), "{text}");
        assert!(
            text.contains("database_url = \"postgres://vg:***@db.lan/vg\""),
            "{text}"
        );
        let mut entries = serde_json::Map::new();
        collect_json(&tree, "", &|_| Source::Default, &mut entries);
        let json = Value::Object(entries).to_string();
        assert!(!json.contains("api-key-value") && !json.contains("pg-password"));
    }

    #[test]
    fn the_toml_keeps_the_declared_order_parses_back_and_marks_unset_keys() {
        let tree = tree(&Config::default()).unwrap();
        let text = render_toml(&tree, &|key| {
            if key == "http.json_body_limit" {
                Source::Env("VOICEGATE_HTTP__JSON_BODY_LIMIT".into())
            } else {
                Source::Default
            }
        });
        assert!(text.starts_with("listen = \"127.0.0.1:8000\""), "{text}");
        assert!(text.contains("# secret (unset)"), "{text}");
        let http = text.find("\n[http]\n").expect("an [http] table");
        assert!(text.find("\n[auth]\n").is_some_and(|auth| auth > http));
        let line = text
            .lines()
            .find(|l| l.starts_with("json_body_limit = "))
            .unwrap();
        assert!(
            line.ends_with("# env VOICEGATE_HTTP__JSON_BODY_LIMIT"),
            "{line}"
        );
        // What it prints is a configuration file that loads.
        let parsed: Config = figment::Figment::new()
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&text))
            .extract()
            .unwrap();
        assert_eq!(
            parsed.http.json_body_limit,
            Config::default().http.json_body_limit
        );
        assert_eq!(parsed.speakers.backend, Config::default().speakers.backend);
    }
}
