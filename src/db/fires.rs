//! A fire of an upload from the server (SPEC §10): who started it and when, and what it ended
//! with, in the upload's history row.

use anyhow::Result;

use super::uploads::{Counts, UploadId, UploadState};
use super::{now_ms, Database};

/// What a fire leaves in the upload's row when it ends.
#[derive(Debug, Clone)]
pub struct FireOutcome {
    pub state: UploadState,
    /// Why it stopped (cancelled, the DCS down…), or why it could not run.
    pub note: Option<String>,
    pub counts: Counts,
    pub summary: Option<String>,
    /// JSON object of dump type → path.
    pub dumps: Option<String>,
}

impl Database {
    /// The upload goes `firing`, fired by `by`, unless it is already firing or gone.
    pub async fn start_fire(&self, id: &UploadId, by: &str) -> Result<bool> {
        let sql = self.sql(
            "UPDATE replayer_uploads SET state = 'firing', error = NULL, fired_by = ?, fired_at = ? \
             WHERE id = ? AND staged = 1 AND state IN ('checked', 'finished', 'interrupted')",
        );
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(by).bind(now_ms()).bind(id.as_str()).execute(pool).await.map(|done| done.rows_affected()));
        Ok(done.map_err(|e| self.fail("recording a fire", e))? == 1)
    }

    /// A fire whose server died is interrupted, with the counts its journal shows; false when it
    /// was no longer firing (its server recorded its end meanwhile).
    pub async fn interrupt_fire(&self, id: &UploadId, outcome: &FireOutcome) -> Result<bool> {
        let sql = self.sql(
            "UPDATE replayer_uploads SET state = ?, error = ?, fired = ?, accepted = ?, refused = ?, failed = ? \
             WHERE id = ? AND state = 'firing'",
        );
        let counts = &outcome.counts;
        let done = with_pool!(self, pool => sqlx::query(&sql)
            .bind(outcome.state.as_str())
            .bind(outcome.note.as_deref())
            .bind(counts.fired)
            .bind(counts.accepted)
            .bind(counts.refused)
            .bind(counts.failed)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()));
        Ok(done.map_err(|e| self.fail("recording an interrupted fire", e))? == 1)
    }

    /// Records how a fire ended; the counts of the check (rows, valid…) are kept.
    pub async fn record_fire(&self, id: &UploadId, outcome: &FireOutcome) -> Result<()> {
        let sql = self.sql(
            "UPDATE replayer_uploads SET state = CASE WHEN state = 'deleted' THEN state ELSE ? END, error = ?, \
             fired = ?, accepted = ?, refused = ?, failed = ?, already_fired = ?, \
             summary = COALESCE(?, summary), dumps = COALESCE(?, dumps) WHERE id = ?",
        );
        let counts = &outcome.counts;
        let done = with_pool!(self, pool => sqlx::query(&sql)
            .bind(outcome.state.as_str())
            .bind(outcome.note.as_deref())
            .bind(counts.fired)
            .bind(counts.accepted)
            .bind(counts.refused)
            .bind(counts.failed)
            .bind(counts.already_fired)
            .bind(outcome.summary.as_deref())
            .bind(outcome.dumps.as_deref())
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|_| ()));
        done.map_err(|e| self.fail("recording a fire", e))
    }
}
