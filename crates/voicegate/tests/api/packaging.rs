//! The Debian package's configuration file (`debian/voicegate.toml`, installed as
//! `/etc/voicegate/voicegate.toml`) documents every key of `Config` with its true default: a key
//! added to the configuration fails here until the file tells it. (The package itself is tested
//! by `scripts/package-test`.)

use std::collections::{BTreeMap, BTreeSet};

use voicegate::config::Config;

/// Keys the file sets for the package (uncommented), whose values differ from the built-in ones.
const PACKAGE_SETTINGS: [&str; 1] = ["data_dir"];

/// A key line of the file: its section, key, value text, and whether it is commented out or
/// an example of a key without a default (after a `# (unset)` line).
struct KeyLine {
    index: usize,
    path: String,
    line: String,
    commented: bool,
    example: bool,
}

fn packaged_file() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/debian/voicegate.toml");
    std::fs::read_to_string(path).expect("debian/voicegate.toml")
}

fn is_key(text: &str) -> bool {
    text.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

fn key_lines(file: &str) -> Vec<KeyLine> {
    let mut section = String::new();
    let mut lines = Vec::new();
    let mut previous = "";
    let mut unset = false;
    for (index, line) in file.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
        } else if line == "# (unset)" {
            unset = true;
            continue;
        } else {
            let (commented, text) = match line.strip_prefix('#') {
                Some(text) => (true, text),
                None => (false, line),
            };
            if is_key(text) {
                let key = text.split_once(" = ").map_or("", |(key, _)| key);
                assert!(
                    previous.starts_with("# ") || unset,
                    "{section}{key}: no comment tells what it means"
                );
                lines.push(KeyLine {
                    index,
                    path: format!("{section}{key}"),
                    line: text.to_string(),
                    commented,
                    example: unset,
                });
            }
        }
        unset = false;
        previous = line;
    }
    lines
}

/// The file with the chosen key lines uncommented (sections kept).
fn uncommented(file: &str, keep: impl Fn(&KeyLine) -> bool) -> String {
    let lines: BTreeMap<usize, KeyLine> =
        key_lines(file).into_iter().map(|k| (k.index, k)).collect();
    let mut out = String::new();
    for (index, line) in file.lines().enumerate() {
        let text = line.trim();
        if text.starts_with('[') {
            out.push_str(text);
        } else if let Some(key_line) = lines.get(&index).filter(|k| keep(k)) {
            out.push_str(&key_line.line);
        }
        out.push('\n');
    }
    out
}

/// Every value of a configuration by its key path (`http.json_body_limit`), from its pretty
/// Debug form: one `name: value` per line, sections as nested structs.
fn values(config: &Config) -> BTreeMap<String, String> {
    let text = format!("{config:#?}");
    let mut values = BTreeMap::new();
    let mut section = String::new();
    let mut lines = text.lines().skip(1);
    while let Some(line) = lines.next() {
        let depth = (line.len() - line.trim_start().len()) / 4;
        let Some((name, rest)) = line.trim().split_once(": ") else {
            if depth == 1 {
                section.clear();
            }
            continue;
        };
        if rest.ends_with('{') {
            section = format!("{name}.");
            continue;
        }
        let mut value = rest.to_string();
        if rest.ends_with('[') || rest.ends_with('(') {
            let indent = " ".repeat(depth * 4);
            for inner in lines.by_ref() {
                value.push_str(inner.trim());
                if inner.starts_with(&indent) && !inner[indent.len()..].starts_with(' ') {
                    break;
                }
            }
        }
        let path = if depth == 1 {
            name.to_string()
        } else {
            format!("{section}{name}")
        };
        values.insert(path, value.trim_end_matches(',').to_string());
    }
    values
}

#[test]
fn the_packaged_configuration_documents_every_key_with_its_default() {
    let file = packaged_file();
    let lines = key_lines(&file);
    let defaults = values(&Config::default());
    assert!(
        defaults.len() > 100,
        "{} keys read from Config's Debug",
        defaults.len()
    );

    let documented: BTreeSet<&str> = lines.iter().map(|k| k.path.as_str()).collect();
    let keys: BTreeSet<&str> = defaults.keys().map(String::as_str).collect();
    let missing: Vec<_> = keys.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys debian/voicegate.toml does not document: {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "keys debian/voicegate.toml names but Config lacks: {unknown:?}"
    );
    let active: Vec<_> = lines
        .iter()
        .filter(|k| !k.commented)
        .map(|k| k.path.as_str())
        .collect();
    assert_eq!(
        active, PACKAGE_SETTINGS,
        "the keys the file sets (the others are commented out)"
    );

    // As installed, the file parses and holds, and only the package's settings differ from the
    // built-in defaults.
    let installed: Config = toml::from_str(&file).expect("the installed file parses");
    installed.validate().expect("the installed file is valid");
    let installed = values(&installed);
    let changed: Vec<_> = keys
        .iter()
        .filter(|k| installed[**k] != defaults[**k])
        .collect();
    assert_eq!(
        changed,
        [&PACKAGE_SETTINGS[0]],
        "keys the installed file changes"
    );

    // Each commented line states the default: uncommented, nothing changes.
    let stated = uncommented(&file, |k| !k.example);
    let stated: Config = toml::from_str(&stated).expect("the stated defaults parse");
    let stated = values(&stated);
    let wrong: Vec<_> = keys
        .iter()
        .filter(|k| !PACKAGE_SETTINGS.contains(k) && stated[**k] != defaults[**k])
        .map(|k| {
            format!(
                "{k}: the file says {}, the default is {}",
                stated[*k], defaults[*k]
            )
        })
        .collect();
    assert!(wrong.is_empty(), "defaults stated wrongly: {wrong:#?}");

    // The examples given for keys without a default are values the server takes.
    let examples = uncommented(&file, |_| true);
    let examples: Config = toml::from_str(&examples).expect("the examples parse");
    examples.validate().expect("the examples are valid");
    let example_keys: BTreeSet<_> = lines
        .iter()
        .filter(|k| k.example)
        .map(|k| k.path.clone())
        .collect();
    let set = values(&examples);
    for key in &example_keys {
        assert_ne!(set[key], defaults[key], "{key}: the example is not applied");
    }
}
