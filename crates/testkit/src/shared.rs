//! Peer data kept outside this repository (the ovos-api Postman collection, the NLU benchmark):
//! `../shared` beside the repository, or the folder `VOICEGATE_SHARED` names.
//!
//! A test that needs such a file asks [`shared_file`]. When the file is there, the test runs.
//! When it is not: under `CI=true` the test fails naming the file (CI always has it); elsewhere
//! (a user's clone of the repository alone) it is skipped with one line saying what is missing
//! and how to provide it, and the run stays green.

use std::path::{Path, PathBuf};

/// The variable that names the folder of peer data.
pub const SHARED_VAR: &str = "VOICEGATE_SHARED";

/// What [`locate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The file is there.
    Found(PathBuf),
    /// It is missing and the test is skipped: the line to print.
    Skip(String),
    /// It is missing and the test must fail (under CI): the message.
    Fail(String),
}

/// Where `relative` (a path inside the peer-data folder) is, given the value of
/// `VOICEGATE_SHARED` (if set), whether this is CI, and the repository's root.
pub fn locate(relative: &str, shared_var: Option<&str>, ci: bool, repository: &Path) -> Located {
    let root = match shared_var.filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => repository
            .parent()
            .map_or_else(|| repository.join("../shared"), |p| p.join("shared")),
    };
    let path = root.join(relative);
    if path.is_file() {
        return Located::Found(path);
    }
    let missing = format!(
        "peer data {relative} is missing (looked for {}); put the shared folder beside the \
         repository or set {SHARED_VAR} to it",
        path.display()
    );
    if ci {
        Located::Fail(missing)
    } else {
        Located::Skip(format!("skipped: {missing}"))
    }
}

/// The repository's root (the workspace of this crate).
fn repository() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Whether this run is CI (`CI=true` or `CI=1`): a missing peer fails the test there.
pub(crate) fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A peer the test needs is missing (`what` says which and how to install it): under CI a panic
/// with that message; elsewhere one `skipped: …` line on standard error, and the caller returns
/// `None` so the test returns early and passes.
pub(crate) fn skip_or_fail(what: &str) {
    if is_ci() {
        panic!("{what}");
    }
    // Straight to standard error, not through `eprintln!`, which the test harness captures.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}

/// The peer-data file `relative` for a test: `Some(path)` when it is there; `None` (after one
/// line on standard error) when it is missing outside CI, so the test returns early and passes;
/// a panic naming the file when it is missing under `CI=true`.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let shared = std::env::var(SHARED_VAR).ok();
    match locate(relative, shared.as_deref(), is_ci(), &repository()) {
        Located::Found(path) => Some(path),
        Located::Skip(line) => {
            // Straight to standard error, not through `eprintln!`, which the test harness
            // captures: the line shows in a normal run.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{line}");
            None
        }
        Located::Fail(message) => panic!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_absent_under_ci_and_absent_elsewhere() {
        let root = tempfile::tempdir().unwrap();
        let repository = root.path().join("repo");
        let shared = root.path().join("shared/peers");
        std::fs::create_dir_all(&repository).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(shared.join("collection.json"), "{}").unwrap();
        // Present beside the repository, or where the variable says.
        assert_eq!(
            locate("peers/collection.json", None, true, &repository),
            Located::Found(root.path().join("shared/peers/collection.json"))
        );
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("peers")).unwrap();
        std::fs::write(elsewhere.join("peers/collection.json"), "{}").unwrap();
        assert_eq!(
            locate(
                "peers/collection.json",
                Some(elsewhere.to_str().unwrap()),
                false,
                &repository
            ),
            Located::Found(elsewhere.join("peers/collection.json"))
        );
        // Absent under CI: a failure naming the file.
        let Located::Fail(message) = locate("peers/other.json", None, true, &repository) else {
            panic!("a missing file under CI fails");
        };
        assert!(
            message.contains("peers/other.json") && message.contains(SHARED_VAR),
            "{message}"
        );
        // Absent elsewhere: one skip line, saying how to provide it.
        let Located::Skip(line) = locate("peers/other.json", None, false, &repository) else {
            panic!("a missing file outside CI is skipped");
        };
        assert!(
            line.starts_with("skipped: peer data peers/other.json"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
