//! Reading a new password for the CLI: from standard input, a file, or an interactive prompt.

use std::io::BufRead;
use std::path::Path;

use crate::secret::Secret;

/// Reads a password: the first line of standard input, the first line of `file`, or a prompt on
/// the terminal (asked twice).
pub fn read(from_stdin: bool, file: Option<&Path>) -> Result<Secret, String> {
    let line = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from standard input: {e}"))?;
        line
    } else if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        text.lines().next().unwrap_or_default().to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    };
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(Secret::new(password))
}
