//! Uploads of `replayer serve` (SPEC §10): the history of each upload and its file, staged as
//! chunks of the raw bytes (so the check reads exactly what the command line would).

use std::fmt;

use anyhow::Result;
use sqlx::Row;

use super::{now_ms, random_secret, Backend, Database};

/// An upload's id: 32 lowercase hex digits, random, so ids cannot be guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn random() -> UploadId {
        UploadId(random_secret()[..32].to_owned())
    }

    pub fn parse(text: &str) -> Option<UploadId> {
        let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| UploadId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Being received or checked.
    Checking,
    Checked,
    Firing,
    Finished,
    Interrupted,
    Deleted,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Checking => "checking",
            UploadState::Checked => "checked",
            UploadState::Firing => "firing",
            UploadState::Finished => "finished",
            UploadState::Interrupted => "interrupted",
            UploadState::Deleted => "deleted",
        }
    }

    fn parse(text: &str) -> UploadState {
        match text {
            "checked" => UploadState::Checked,
            "firing" => UploadState::Firing,
            "finished" => UploadState::Finished,
            "interrupted" => UploadState::Interrupted,
            "deleted" => UploadState::Deleted,
            _ => UploadState::Checking,
        }
    }
}

/// The counts of SPEC §10's API.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub rows: i64,
    pub valid: i64,
    pub exceptions: i64,
    /// Rows with at least one warning.
    pub warnings: i64,
    pub fired: i64,
    pub accepted: i64,
    pub refused: i64,
    pub failed: i64,
    pub already_fired: i64,
}

/// One upload's history.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: UploadId,
    pub client: String,
    /// As the browser sent it: shown (escaped), never used as a path.
    pub file_name: String,
    pub size_bytes: i64,
    pub uploaded_by: String,
    pub uploaded_at_ms: i64,
    pub state: UploadState,
    /// Whether the file is still in the database.
    pub staged: bool,
    /// Why the check could not run (a header the file lacks, an unsure encoding…).
    pub error: Option<String>,
    pub counts: Counts,
    /// The rendered summary of SPEC §9.
    pub summary: Option<String>,
    /// The dump files written: JSON object of type → path.
    pub dumps: Option<String>,
    pub fired_by: Option<String>,
    pub fired_at_ms: Option<i64>,
    pub deleted_by: Option<String>,
    pub deleted_at_ms: Option<i64>,
    /// The version of the client's mapping the last check used (SPEC §13).
    pub mapping_version: Option<i64>,
    /// The column matching kept with this upload: JSON of field → header or null.
    pub column_matching: Option<String>,
}

pub(super) const UPLOADS_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_uploads (
  id             CHAR(32)     NOT NULL PRIMARY KEY,
  client         VARCHAR(255) NOT NULL,
  file_name      VARCHAR(255) NOT NULL,
  size_bytes     BIGINT       NOT NULL,
  uploaded_by    VARCHAR(255) NOT NULL,
  uploaded_at    BIGINT       NOT NULL,
  state          VARCHAR(16)  NOT NULL,
  staged         BIGINT       NOT NULL,
  error          TEXT         NULL,
  rows_read      BIGINT       NOT NULL DEFAULT 0,
  rows_valid     BIGINT       NOT NULL DEFAULT 0,
  rows_exceptions BIGINT      NOT NULL DEFAULT 0,
  rows_warnings  BIGINT       NOT NULL DEFAULT 0,
  fired          BIGINT       NOT NULL DEFAULT 0,
  accepted       BIGINT       NOT NULL DEFAULT 0,
  refused        BIGINT       NOT NULL DEFAULT 0,
  failed         BIGINT       NOT NULL DEFAULT 0,
  already_fired  BIGINT       NOT NULL DEFAULT 0,
  summary        TEXT         NULL,
  dumps          TEXT         NULL,
  fired_by       VARCHAR(255) NULL,
  fired_at       BIGINT       NULL,
  deleted_by     VARCHAR(255) NULL,
  deleted_at     BIGINT       NULL
)";

pub(super) fn chunks_ddl(backend: Backend) -> String {
    let blob = match backend {
        Backend::Sqlite => "BLOB",
        Backend::MySql => "LONGBLOB",
        Backend::Postgres => "BYTEA",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS replayer_upload_chunks (
  upload_id      CHAR(32)     NOT NULL,
  seq            BIGINT       NOT NULL,
  data           {blob}       NOT NULL,
  PRIMARY KEY (upload_id, seq)
)"
    )
}

const UPLOAD_COLUMNS: &str = "id, client, file_name, size_bytes, uploaded_by, uploaded_at, state, staged, error, \
    rows_read, rows_valid, rows_exceptions, rows_warnings, fired, accepted, refused, failed, already_fired, \
    summary, dumps, fired_by, fired_at, deleted_by, deleted_at, mapping_version, column_matching";

/// What a finished check leaves in the upload's row.
#[derive(Debug, Clone, Default)]
pub struct CheckOutcome {
    pub error: Option<String>,
    pub counts: Counts,
    pub summary: Option<String>,
    pub dumps: Option<String>,
}

impl CheckOutcome {
    /// A check that could not read the file, and why.
    pub fn failed(error: String) -> CheckOutcome {
        CheckOutcome { error: Some(error), ..CheckOutcome::default() }
    }
}

impl Database {
    /// Records a new upload, in state `checking` and not yet staged (its chunks are coming).
    pub async fn create_upload(&self, id: &UploadId, client: &str, file_name: &str, uploaded_by: &str) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO replayer_uploads (id, client, file_name, size_bytes, uploaded_by, uploaded_at, state, staged) \
             VALUES (?, ?, ?, 0, ?, ?, 'checking', 0)",
        );
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(id.as_str()).bind(client).bind(file_name).bind(uploaded_by).bind(now_ms()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("recording an upload", e))
    }

    /// Stages one chunk, unless the upload was deleted (then false, and nothing is written): one
    /// statement, so a delete stops an upload without a query of its own per chunk.
    pub async fn add_chunk(&self, id: &UploadId, seq: i64, data: &[u8]) -> Result<bool> {
        let sql = self.sql(
            "INSERT INTO replayer_upload_chunks (upload_id, seq, data) \
             SELECT id, ?, ? FROM replayer_uploads WHERE id = ? AND state <> 'deleted'",
        );
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(seq).bind(data).bind(id.as_str()).execute(pool).await.map(|done| done.rows_affected()));
        Ok(done.map_err(|e| self.fail("staging an uploaded file", e))? == 1)
    }

    /// The upload's chunks are all in: it is staged, with this size. False when it was deleted
    /// while it arrived (its chunks must go).
    pub async fn upload_staged(&self, id: &UploadId, size_bytes: i64) -> Result<bool> {
        let sql =
            self.sql("UPDATE replayer_uploads SET staged = 1, size_bytes = ? WHERE id = ? AND state <> 'deleted'");
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(size_bytes).bind(id.as_str()).execute(pool).await.map(|done| done.rows_affected()));
        Ok(done.map_err(|e| self.fail("recording an upload", e))? == 1)
    }

    /// Whether a user deleted the upload (an upload still arriving stops then).
    pub async fn upload_deleted(&self, id: &UploadId) -> Result<bool> {
        let sql = self.sql("SELECT state FROM replayer_uploads WHERE id = ?");
        let found: Result<Option<String>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_optional(pool).await {
                Ok(Some(row)) => row.try_get(0).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let state = found.map_err(|e| self.fail("reading replayer_uploads", e))?;
        Ok(state.is_none_or(|state| state == UploadState::Deleted.as_str()))
    }

    /// The upload could not be received or checked: `interrupted`, with why, unless deleted.
    pub async fn interrupt_upload(&self, id: &UploadId, why: &str) -> Result<()> {
        let sql = self
            .sql("UPDATE replayer_uploads SET state = 'interrupted', error = ? WHERE id = ? AND state <> 'deleted'");
        let done =
            with_pool!(self, pool => sqlx::query(&sql).bind(why).bind(id.as_str()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("recording an upload's state", e))
    }

    /// One staged chunk, by its number from 0; `None` past the last.
    pub async fn chunk(&self, id: &UploadId, seq: i64) -> Result<Option<Vec<u8>>> {
        let sql = self.sql("SELECT data FROM replayer_upload_chunks WHERE upload_id = ? AND seq = ?");
        let found: Result<Option<Vec<u8>>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).bind(seq).fetch_optional(pool).await {
                Ok(Some(row)) => row.try_get(0).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading a staged file", e))
    }

    pub async fn chunk_count(&self, id: &UploadId) -> Result<i64> {
        let sql = self.sql("SELECT COUNT(*) FROM replayer_upload_chunks WHERE upload_id = ?");
        let found: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_one(pool).await {
                Ok(row) => row.try_get(0),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_upload_chunks", e))
    }

    /// Removes the staged file; the history stays. `deleted_by` marks a user's deletion.
    pub async fn unstage_upload(&self, id: &UploadId, deleted_by: Option<&str>) -> Result<()> {
        let chunks = self.sql("DELETE FROM replayer_upload_chunks WHERE upload_id = ?");
        let done = with_pool!(self, pool => sqlx::query(&chunks).bind(id.as_str()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("deleting a staged file", e))?;
        self.forget_review_data(id).await?;
        let done = match deleted_by {
            Some(user) => {
                let sql = self.sql(
                    "UPDATE replayer_uploads SET staged = 0, state = 'deleted', deleted_by = ?, deleted_at = ? WHERE id = ?",
                );
                with_pool!(self, pool => sqlx::query(&sql).bind(user).bind(now_ms()).bind(id.as_str()).execute(pool).await.map(|_| ()))
            }
            None => {
                let sql = self.sql("UPDATE replayer_uploads SET staged = 0 WHERE id = ?");
                with_pool!(self, pool => sqlx::query(&sql).bind(id.as_str()).execute(pool).await.map(|_| ()))
            }
        };
        done.map_err(|e| self.fail("recording a deletion", e))
    }

    pub async fn set_upload_state(&self, id: &UploadId, state: UploadState, error: Option<&str>) -> Result<()> {
        let sql = self.sql("UPDATE replayer_uploads SET state = ?, error = ? WHERE id = ?");
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(state.as_str()).bind(error).bind(id.as_str()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("recording an upload's state", e))
    }

    /// Records a finished check: state `checked` (unless the upload was deleted meanwhile).
    pub async fn record_check(&self, id: &UploadId, outcome: &CheckOutcome) -> Result<()> {
        let sql = self.sql(
            "UPDATE replayer_uploads SET state = CASE WHEN state = 'deleted' THEN state ELSE 'checked' END, error = ?, \
             rows_read = ?, rows_valid = ?, rows_exceptions = ?, rows_warnings = ?, summary = ?, dumps = ? WHERE id = ?",
        );
        let counts = &outcome.counts;
        let done = with_pool!(self, pool => sqlx::query(&sql)
            .bind(outcome.error.as_deref())
            .bind(counts.rows)
            .bind(counts.valid)
            .bind(counts.exceptions)
            .bind(counts.warnings)
            .bind(outcome.summary.as_deref())
            .bind(outcome.dumps.as_deref())
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|_| ()));
        done.map_err(|e| self.fail("recording a check", e))
    }

    pub async fn upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        let sql = self.sql(&format!("SELECT {UPLOAD_COLUMNS} FROM replayer_uploads WHERE id = ?")).into_owned();
        let found: Result<Option<Upload>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_optional(pool).await {
                Ok(Some(row)) => upload_from(&row).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_uploads", e))
    }

    /// The latest uploads first, at most `limit`.
    pub async fn uploads(&self, limit: i64) -> Result<Vec<Upload>> {
        let sql = self
            .sql(&format!("SELECT {UPLOAD_COLUMNS} FROM replayer_uploads ORDER BY uploaded_at DESC, id LIMIT ?"))
            .into_owned();
        let found: Result<Vec<Upload>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(limit).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(upload_from).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_uploads", e))
    }

    /// Staged uploads older than this time: those the retention sweep removes.
    pub async fn staged_before(&self, before_ms: i64) -> Result<Vec<UploadId>> {
        let sql =
            self.sql("SELECT id FROM replayer_uploads WHERE staged = 1 AND state <> 'checking' AND uploaded_at < ?");
        let found: Result<Vec<String>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(before_ms).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| row.try_get(0)).collect(),
                Err(e) => Err(e),
            }
        });
        let ids = found.map_err(|e| self.fail("reading replayer_uploads", e))?;
        Ok(ids.iter().filter_map(|id| UploadId::parse(id)).collect())
    }

    /// The uploads whose id starts with these 12 digits (the name of their dumps).
    pub async fn uploads_by_prefix(&self, prefix: &str) -> Result<Vec<Upload>> {
        if prefix.len() != 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let sql = self.sql(&format!("SELECT {UPLOAD_COLUMNS} FROM replayer_uploads WHERE id LIKE ?")).into_owned();
        let found: Result<Vec<Upload>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(format!("{prefix}%")).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(upload_from).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_uploads", e))
    }

    /// Uploads left `checking` by a server that stopped: re-checked, or marked interrupted.
    pub async fn uploads_in_state(&self, state: UploadState) -> Result<Vec<Upload>> {
        let sql = self.sql(&format!("SELECT {UPLOAD_COLUMNS} FROM replayer_uploads WHERE state = ?")).into_owned();
        let found: Result<Vec<Upload>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(state.as_str()).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(upload_from).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_uploads", e))
    }
}

fn upload_from<R: Row>(row: &R) -> Result<Upload, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let id: String = row.try_get(0)?;
    let state: String = row.try_get(6)?;
    Ok(Upload {
        id: UploadId::parse(&id).ok_or_else(|| sqlx::Error::Decode(format!("bad upload id {id:?}").into()))?,
        client: row.try_get(1)?,
        file_name: row.try_get(2)?,
        size_bytes: row.try_get(3)?,
        uploaded_by: row.try_get(4)?,
        uploaded_at_ms: row.try_get(5)?,
        state: UploadState::parse(&state),
        staged: row.try_get::<i64, _>(7)? != 0,
        error: row.try_get(8)?,
        counts: Counts {
            rows: row.try_get(9)?,
            valid: row.try_get(10)?,
            exceptions: row.try_get(11)?,
            warnings: row.try_get(12)?,
            fired: row.try_get(13)?,
            accepted: row.try_get(14)?,
            refused: row.try_get(15)?,
            failed: row.try_get(16)?,
            already_fired: row.try_get(17)?,
        },
        summary: row.try_get(18)?,
        dumps: row.try_get(19)?,
        fired_by: row.try_get(20)?,
        fired_at_ms: row.try_get(21)?,
        deleted_by: row.try_get(22)?,
        deleted_at_ms: row.try_get(23)?,
        mapping_version: row.try_get(24)?,
        column_matching: row.try_get(25)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_parsed_once() {
        let id = UploadId::random();
        assert_eq!(UploadId::parse(id.as_str()), Some(id));
        for bad in ["", "../etc/passwd", &"A".repeat(32), &"0".repeat(31), &"g".repeat(32)] {
            assert_eq!(UploadId::parse(bad), None, "{bad}");
        }
    }
}
