//! What a check found and how `doctor` prints it: one `ok`, `warn` or `fail` line, indented
//! details under it, and for a warning or a failure the fix on a `fix:` line.

use std::future::Future;
use std::time::Duration;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It works.
    Ok,
    /// It works, but something is likely wrong or missing.
    Warn,
    /// It does not work: `doctor` exits non-zero.
    Fail,
    /// A detail of the line above.
    Detail,
}

/// One printed finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it went.
    pub status: Status,
    /// What was found.
    pub text: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Finding {
    /// A check that passed.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            status: Status::Ok,
            text: text.into(),
            fix: None,
        }
    }

    /// A warning, with what to do.
    pub fn warn(text: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure, with what to do.
    pub fn fail(text: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }

    /// A detail of the finding before it.
    pub fn detail(text: impl Into<String>) -> Self {
        Self {
            status: Status::Detail,
            text: text.into(),
            fix: None,
        }
    }

    /// The printed lines.
    pub fn lines(&self) -> String {
        let label = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Detail => "",
        };
        let mut text = format!("{label:<6}{}", self.text);
        if let Some(fix) = &self.fix {
            text.push_str(&format!("\n      fix: {fix}"));
        }
        text
    }
}

/// The findings printed so far, counted.
#[derive(Debug, Default)]
pub struct Report {
    failures: usize,
    warnings: usize,
}

impl Report {
    /// Prints findings as they come.
    pub fn show(&mut self, findings: Vec<Finding>) {
        for finding in findings {
            match finding.status {
                Status::Fail => self.failures += 1,
                Status::Warn => self.warnings += 1,
                Status::Ok | Status::Detail => {}
            }
            println!("{}", finding.lines());
        }
    }

    /// Whether a check failed.
    pub fn failed(&self) -> bool {
        self.failures > 0
    }

    /// The closing line.
    pub fn summary(&self) -> String {
        match (self.failures, self.warnings) {
            (0, 0) => "doctor: every check passed".into(),
            (0, w) => format!("doctor: no failure, {w} warning(s)"),
            (f, w) => format!("doctor: {f} failure(s), {w} warning(s): see the fix lines"),
        }
    }
}

/// Runs `check`, a failure naming `what` if it takes longer than `limit`.
pub async fn bounded(
    limit: Duration,
    what: &str,
    fix: &str,
    check: impl Future<Output = Vec<Finding>>,
) -> Vec<Finding> {
    match tokio::time::timeout(limit, check).await {
        Ok(findings) => findings,
        Err(_) => vec![Finding::fail(
            format!("{what}: no answer within {} s", limit.as_secs()),
            fix,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_print_their_status_text_and_fix() {
        assert_eq!(Finding::ok("store").lines(), "ok    store");
        assert_eq!(
            Finding::fail("bus down", "start it").lines(),
            "fail  bus down\n      fix: start it"
        );
        assert_eq!(Finding::detail("instance 1").lines(), "      instance 1");
        let mut report = Report::default();
        report.show(vec![Finding::ok("a"), Finding::warn("b", "c")]);
        assert!(!report.failed());
        report.show(vec![Finding::fail("d", "e")]);
        assert!(report.failed());
        assert_eq!(
            report.summary(),
            "doctor: 1 failure(s), 1 warning(s): see the fix lines"
        );
    }
}
