//! Child processes tied to the test process: killed when their handle drops, and killed by the
//! kernel when the test process dies however it dies (a panic, SIGKILL), through
//! `setpriv --pdeathsig KILL`. When the tests run as root, the child runs as `nobody:nogroup`
//! (PostgreSQL refuses root; nginx needs no privilege on a loopback port above 1024).
//!
//! The kernel sends the parent-death signal when the *thread* that started the child ends, not
//! only the process: each child is started by a thread of its own that lives as long as the
//! child does.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The user and group a child runs as when the tests run as root.
pub(crate) const UNPRIVILEGED: (&str, &str) = ("nobody", "nogroup");

/// Whether this process runs as root.
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether `program` is an executable on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A command running `program` through `setpriv`: killed when its parent thread ends and, when
/// this process is root, as [`UNPRIVILEGED`].
pub(crate) fn command(program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    if is_root() {
        let (user, group) = UNPRIVILEGED;
        command.args(["--reuid", user, "--regid", group, "--clear-groups"]);
    }
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    command
}

/// Gives `dir` (and everything in it) to [`UNPRIVILEGED`] when this process is root, so the
/// children started by [`command`] may write there.
pub(crate) fn hand_over(dir: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let (user, group) = UNPRIVILEGED;
    let output = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:{group}"))
        .arg(dir)
        .output()
        .map_err(|e| format!("chown could not run: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "chown {user}:{group} {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A child started by a thread of its own (see the module's notes), killed when dropped.
pub(crate) struct TiedChild {
    child: Arc<Mutex<Child>>,
    pid: u32,
}

impl TiedChild {
    /// Starts `command` (one from [`command`]) on a new thread that waits for it.
    pub(crate) fn spawn(mut command: Command, name: &str) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("testkit-{name}"))
            .spawn(move || {
                let child = match command.spawn() {
                    Ok(child) => Arc::new(Mutex::new(child)),
                    Err(error) => {
                        let _ = sender.send(Err(error));
                        return;
                    }
                };
                let _ = sender.send(Ok(Arc::clone(&child)));
                // This thread is the child's parent for the kernel: it lives until the child
                // has exited (and reaps it).
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let exited = child
                        .lock()
                        .map(|mut c| !matches!(c.try_wait(), Ok(None)))
                        .unwrap_or(true);
                    if exited {
                        return;
                    }
                }
            })?;
        let child = receiver
            .recv()
            .map_err(|_| std::io::Error::other("the starting thread ended"))??;
        let pid = child.lock().map(|c| c.id()).unwrap_or_default();
        Ok(Self { child, pid })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status, once the child has exited.
    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .ok()
            .and_then(|mut c| c.try_wait().ok().flatten())
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub(crate) fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TiedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The user id process `pid` runs as (its real uid), if it runs.
#[cfg(test)]
pub(crate) fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// Whether process `pid` is gone (or a zombie: dead, waiting to be reaped).
#[cfg(test)]
pub(crate) fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}
