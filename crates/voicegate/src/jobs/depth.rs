//! How many jobs wait and run now, read from the table when asked (so it counts every instance's
//! jobs), and the queue's instruments, for `GET /metrics`.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::jobs::measures::JobMeasures;
use crate::jobs::queue::{JobError, JobStatus, Jobs};

impl Jobs {
    /// The queue's instruments.
    pub fn measures(&self) -> &JobMeasures {
        &self.inner.measures
    }

    /// Jobs queued and running now, by kind and state (`queued`, `running`), across every
    /// instance sharing the database; every kind registered here appears, with zeros.
    pub async fn depth(&self) -> Result<BTreeMap<(String, &'static str), i64>, JobError> {
        let mut depth = BTreeMap::new();
        for (kind, _) in self.registered() {
            depth.insert((kind.clone(), JobStatus::Queued.as_str()), 0);
            depth.insert((kind, JobStatus::Running.as_str()), 0);
        }
        let rows = sqlx::query(
            "SELECT kind, status, CAST(COUNT(*) AS BIGINT) AS jobs FROM jobs
             WHERE status IN ('queued', 'running') GROUP BY kind, status",
        )
        .fetch_all(self.inner.db.pool())
        .await?;
        for row in rows {
            let status: String = row.try_get("status")?;
            let status = match status.as_str() {
                "queued" => JobStatus::Queued,
                _ => JobStatus::Running,
            }
            .as_str();
            depth.insert((row.try_get("kind")?, status), row.try_get("jobs")?);
        }
        Ok(depth)
    }
}
