//! The Python interpreter with the peer clients, and the checks made with them.

use std::path::{Path, PathBuf};

/// The Python interpreter that has the peer clients: `TESTKIT_PYTHON`, else the workspace's
/// `.venv` made by the test command, else `python3`.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("TESTKIT_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Runs a Python snippet with arguments and returns its standard output, trimmed. Panics with
/// the interpreter's error when it fails (a missing peer library fails the test, never skips it).
pub fn run_python(code: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python runs (the test command sets up .venv)");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A bcrypt hash of `password` made by Python's `bcrypt` (an implementation other than ours),
/// with the given prefix (`2a` or `2b`) and cost.
pub fn python_bcrypt_hash(password: &str, prefix: &str, cost: u32) -> String {
    run_python(
        "import sys, bcrypt; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=int(sys.argv[3]), prefix=sys.argv[2].encode())).decode())",
        &[password, prefix, &cost.to_string()],
    )
}

/// Whether Python's `bcrypt` accepts `password` for `hash`.
pub fn python_bcrypt_check(password: &str, hash: &str) -> bool {
    run_python(
        "import sys, bcrypt; print(bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()))",
        &[password, hash],
    ) == "True"
}
