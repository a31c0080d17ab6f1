//! Free space where `data_dir` is (the database on SQLite, the blobs, the keys), read with
//! POSIX `df`.

use std::path::Path;
use std::time::Duration;

use crate::cli::doctor::report::Finding;

/// Below this, writes are about to fail.
const FAIL_BELOW: u64 = 100 << 20;
/// Below this, warn.
const WARN_BELOW: u64 = 1 << 30;
/// How long `df` may take (a hung network mount).
const LIMIT: Duration = Duration::from_secs(5);

/// The free space of the file system holding `data_dir` (or, before it exists, its nearest
/// existing parent).
pub async fn check(data_dir: &Path) -> Vec<Finding> {
    let Some(existing) = data_dir.ancestors().find(|dir| dir.is_dir()) else {
        return vec![Finding::fail(
            format!("disk: no folder of {} exists", data_dir.display()),
            "correct data_dir (--data-dir)",
        )];
    };
    let fix = "free space there, or move data_dir to a larger file system";
    match space(existing).await {
        Ok(space) => {
            let text = format!(
                "disk: {} free of {} at {} (file system {})",
                size(space.available),
                size(space.total),
                data_dir.display(),
                space.mount
            );
            vec![if space.available < FAIL_BELOW {
                Finding::fail(text, fix)
            } else if space.available < WARN_BELOW {
                Finding::warn(text, fix)
            } else {
                Finding::ok(text)
            }]
        }
        Err(e) => vec![Finding::warn(
            format!(
                "disk: the free space at {} is unknown: {e}",
                data_dir.display()
            ),
            "check the data directory's file system by hand (df)",
        )],
    }
}

/// A file system's size and free space, in bytes, and where it is mounted.
#[derive(Debug, PartialEq, Eq)]
struct Space {
    total: u64,
    available: u64,
    mount: String,
}

/// `df -Pk DIR`.
async fn space(dir: &Path) -> Result<Space, String> {
    let mut command = tokio::process::Command::new("df");
    command.arg("-Pk").arg(dir).kill_on_drop(true);
    let output = tokio::time::timeout(LIMIT, command.output())
        .await
        .map_err(|_| format!("df gave no answer within {} s", LIMIT.as_secs()))?
        .map_err(|e| format!("running df: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    parse_df(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| "df's output does not parse".into())
}

/// POSIX `df -Pk` output: a header, then `FS 1024-BLOCKS USED AVAILABLE CAPACITY MOUNT`.
fn parse_df(text: &str) -> Option<Space> {
    let fields: Vec<&str> = text.lines().nth(1)?.split_whitespace().collect();
    let kib = |at: usize| fields.get(at)?.parse::<u64>().ok()?.checked_mul(1024);
    Some(Space {
        total: kib(1)?,
        available: kib(3)?,
        mount: fields
            .get(5..)
            .map(|rest| rest.join(" "))
            .unwrap_or_default(),
    })
}

/// `bytes` in MiB or GiB.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_parses_and_sizes_print() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/vda         263174212 45000000 204000000      19% /\n";
        assert_eq!(
            parse_df(text),
            Some(Space {
                total: 263_174_212 * 1024,
                available: 204_000_000 * 1024,
                mount: "/".into()
            })
        );
        assert_eq!(parse_df("Filesystem\n"), None);
        assert_eq!(size(3 << 29), "1.5 GiB");
        assert_eq!(size(100 << 20), "100 MiB");
    }
}
