//! The process's own figures, read from `/proc/self` when scraped: resident and virtual memory
//! and open file descriptors. Elsewhere than Linux they are absent.

use std::path::Path;

/// What `/proc/self` tells about the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessFigures {
    /// Resident memory, in bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory, in bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
}

impl ProcessFigures {
    /// The figures of this process now.
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self {
            resident_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024),
            virtual_bytes: status_kib(&status, "VmSize:").map(|kib| kib * 1024),
            open_fds: count_entries(Path::new("/proc/self/fd")),
        }
    }
}

/// The value of a `/proc/<pid>/status` line such as `VmRSS:     1234 kB`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// Entries of a directory (the reading's own descriptor included, as every reader of
/// `/proc/self/fd` counts it).
fn count_entries(dir: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(dir).ok()?;
    Some(entries.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tvoicegate\nVmSize:\t  204800 kB\nVmRSS:\t    5120 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(5120));
        assert_eq!(status_kib(status, "VmSize:"), Some(204_800));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(status_kib("VmRSS:\t12 pages\n", "VmRSS:"), None);
    }

    #[test]
    fn this_process_has_memory_and_descriptors() {
        let figures = ProcessFigures::read();
        assert!(figures.resident_bytes.is_some_and(|b| b > 1024 * 1024));
        assert!(figures.virtual_bytes >= figures.resident_bytes);
        assert!(figures.open_fds.is_some_and(|n| n >= 3));
    }
}
