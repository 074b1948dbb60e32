//! What the page's review of an upload keeps (SPEC §12): the edits laid over its staged file
//! (with their history), the cells of its rows with problems as its last check found them (so
//! that an edit re-checks one row without reading the file), and what the check said of the file
//! as a whole (its header, the identifier coverage).

use std::collections::HashSet;

use anyhow::Result;
use sqlx::Row;

use super::uploads::UploadId;
use super::{Backend, Database};
use crate::read::Edits;

/// Records in one INSERT: 9 parameters a record stays far below every backend's limit.
const PER_INSERT: usize = 100;

pub(super) fn edits_ddl(backend: Backend) -> String {
    let (id, text) = match backend {
        Backend::Sqlite => ("id            INTEGER PRIMARY KEY", "TEXT"),
        Backend::MySql => ("id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY", "MEDIUMTEXT"),
        Backend::Postgres => ("id            BIGSERIAL    PRIMARY KEY", "TEXT"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS replayer_upload_edits (
  {id},
  upload_id     CHAR(32)     NOT NULL,
  row_num       BIGINT       NOT NULL,
  column_name   VARCHAR(255) NULL,
  excluded      BIGINT       NULL,
  personal      BIGINT       NOT NULL,
  old_value     {text}       NULL,
  new_value     {text}       NULL,
  edited_by     VARCHAR(255) NOT NULL,
  edited_at     BIGINT       NOT NULL
)"
    )
}

pub(super) fn rows_ddl(backend: Backend) -> String {
    let text = if backend == Backend::MySql { "MEDIUMTEXT" } else { "TEXT" };
    format!(
        "CREATE TABLE IF NOT EXISTS replayer_upload_rows (
  upload_id     CHAR(32)     NOT NULL,
  row_num       BIGINT       NOT NULL,
  state         VARCHAR(16)  NOT NULL,
  cells         {text}       NOT NULL,
  problems      {text}       NOT NULL,
  PRIMARY KEY (upload_id, row_num)
)"
    )
}

pub(super) fn review_ddl(backend: Backend) -> String {
    let text = if backend == Backend::MySql { "MEDIUMTEXT" } else { "TEXT" };
    format!(
        "CREATE TABLE IF NOT EXISTS replayer_upload_review (
  upload_id     CHAR(32)     NOT NULL PRIMARY KEY,
  headers       {text}       NOT NULL,
  names_cells   BIGINT       NOT NULL,
  coverage      {text}       NOT NULL
)"
    )
}

/// One edit: a cell's new value, or a row excluded (`Some(true)`) or included again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditRecord {
    pub row: u64,
    /// The column's header; `None` for an exclusion.
    pub column: Option<String>,
    pub excluded: Option<bool>,
    /// The cell is personal data: its values are never shown, and go with the staged file.
    pub personal: bool,
    pub old: Option<String>,
    pub new: Option<String>,
    pub by: String,
    pub at_ms: i64,
}

/// A row with problems as a check (or an edit's re-check) left it: its cells (a JSON array, in
/// the header's order), its state and its problems (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub row: u64,
    pub state: String,
    pub cells: String,
    pub problems: String,
}

/// What the last check said of the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub headers: Vec<String>,
    pub names_cells: bool,
    /// JSON: account → coverage.
    pub coverage: String,
}

fn insert_rows_sql(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?)"; rows].join(", ");
    format!("INSERT INTO replayer_upload_rows (upload_id, row_num, state, cells, problems) VALUES {values}")
}

/// The latest of each cell and each exclusion, in the order the edits were made.
pub fn fold_edits(records: &[EditRecord]) -> Edits {
    let mut edits = Edits::default();
    for record in records {
        let row = edits.rows.entry(record.row).or_default();
        match (&record.column, record.excluded) {
            (_, Some(excluded)) => row.excluded = excluded,
            (Some(column), None) => row.set(column, record.new.as_deref().unwrap_or_default()),
            (None, None) => {}
        }
    }
    edits
}

impl Database {
    pub async fn add_edits(&self, id: &UploadId, edits: &[EditRecord]) -> Result<()> {
        for chunk in edits.chunks(PER_INSERT) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = self.sql(&format!(
                "INSERT INTO replayer_upload_edits (upload_id, row_num, column_name, excluded, personal, old_value, new_value, edited_by, edited_at) VALUES {values}"
            )).into_owned();
            let done = with_pool!(self, pool => {
                let mut query = sqlx::query(&sql);
                for edit in chunk {
                    query = query
                        .bind(id.as_str())
                        .bind(edit.row as i64)
                        .bind(edit.column.as_deref())
                        .bind(edit.excluded.map(i64::from))
                        .bind(i64::from(edit.personal))
                        .bind(edit.old.as_deref())
                        .bind(edit.new.as_deref())
                        .bind(edit.by.as_str())
                        .bind(edit.at_ms);
                }
                query.execute(pool).await.map(|_| ())
            });
            done.map_err(|e| self.fail("saving an edit", e))?;
        }
        Ok(())
    }

    /// Every edit of an upload, in the order they were made.
    pub async fn edits(&self, id: &UploadId) -> Result<Vec<EditRecord>> {
        let sql = self.sql(
            "SELECT row_num, column_name, excluded, personal, old_value, new_value, edited_by, edited_at \
             FROM replayer_upload_edits WHERE upload_id = ? ORDER BY id",
        );
        let found: Result<Vec<EditRecord>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| Ok(EditRecord {
                    row: row.try_get::<i64, _>(0)? as u64,
                    column: row.try_get(1)?,
                    excluded: row.try_get::<Option<i64>, _>(2)?.map(|excluded| excluded != 0),
                    personal: row.try_get::<i64, _>(3)? != 0,
                    old: row.try_get(4)?,
                    new: row.try_get(5)?,
                    by: row.try_get(6)?,
                    at_ms: row.try_get(7)?,
                })).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_upload_edits", e))
    }

    /// The edits of an upload as they apply to its file: the latest of each cell and exclusion.
    pub async fn upload_edits(&self, id: &UploadId) -> Result<Edits> {
        Ok(fold_edits(&self.edits(id).await?))
    }

    pub async fn edit_count(&self, id: &UploadId) -> Result<i64> {
        let sql = self.sql("SELECT COUNT(*) FROM replayer_upload_edits WHERE upload_id = ?");
        let found: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_one(pool).await {
                Ok(row) => row.try_get(0),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_upload_edits", e))
    }

    /// The rows with problems of a finished check, in place of the last check's; excluded rows
    /// (which a check does not read) are kept, in one transaction.
    pub async fn replace_checked_rows(&self, id: &UploadId, rows: &[StoredRow]) -> Result<()> {
        let delete = self.sql("DELETE FROM replayer_upload_rows WHERE upload_id = ? AND state <> 'excluded'");
        let excluded = self.sql("SELECT row_num FROM replayer_upload_rows WHERE upload_id = ?");
        let done: Result<(), sqlx::Error> = with_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            sqlx::query(&delete).bind(id.as_str()).execute(&mut *transaction).await?;
            let kept: Vec<i64> = sqlx::query_scalar(&excluded).bind(id.as_str()).fetch_all(&mut *transaction).await?;
            // A row excluded while the check ran keeps its exclusion.
            let kept: HashSet<u64> = kept.into_iter().map(|row| row as u64).collect();
            let fresh: Vec<&StoredRow> = rows.iter().filter(|row| !kept.contains(&row.row)).collect();
            for chunk in fresh.chunks(PER_INSERT) {
                let sql = self.sql(&insert_rows_sql(chunk.len())).into_owned();
                let mut query = sqlx::query(&sql);
                for row in chunk {
                    query = query.bind(id.as_str()).bind(row.row as i64).bind(row.state.as_str()).bind(row.cells.as_str()).bind(row.problems.as_str());
                }
                query.execute(&mut *transaction).await?;
            }
            transaction.commit().await
        }.await);
        done.map_err(|e| self.fail("saving the rows with problems", e))
    }

    /// One row as an edit's re-check left it, in place of what was kept of it.
    pub async fn save_row(&self, id: &UploadId, row: &StoredRow) -> Result<()> {
        let delete = self.sql("DELETE FROM replayer_upload_rows WHERE upload_id = ? AND row_num = ?");
        let insert = self.sql(&insert_rows_sql(1)).into_owned();
        let mut tries = 0;
        loop {
            let done: Result<(), sqlx::Error> = with_pool!(self, pool => async {
                let mut transaction = pool.begin().await?;
                sqlx::query(&delete).bind(id.as_str()).bind(row.row as i64).execute(&mut *transaction).await?;
                sqlx::query(&insert).bind(id.as_str()).bind(row.row as i64).bind(row.state.as_str()).bind(row.cells.as_str()).bind(row.problems.as_str()).execute(&mut *transaction).await?;
                transaction.commit().await
            }.await);
            match done {
                // A check saved the same row meanwhile: once more, after it.
                Err(e) if tries == 0 && e.as_database_error().is_some_and(|d| d.is_unique_violation()) => tries += 1,
                done => return done.map_err(|e| self.fail("saving a row", e)),
            }
        }
    }

    /// The stored rows `from..=to`, in order, at most `limit`.
    pub async fn stored_rows(&self, id: &UploadId, from: u64, to: u64, limit: i64) -> Result<Vec<StoredRow>> {
        let sql = self.sql(
            "SELECT row_num, state, cells, problems FROM replayer_upload_rows \
             WHERE upload_id = ? AND row_num >= ? AND row_num <= ? ORDER BY row_num LIMIT ?",
        );
        let found: Result<Vec<StoredRow>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).bind(from.min(i64::MAX as u64) as i64).bind(to.min(i64::MAX as u64) as i64).bind(limit).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| Ok(StoredRow {
                    row: row.try_get::<i64, _>(0)? as u64,
                    state: row.try_get(1)?,
                    cells: row.try_get(2)?,
                    problems: row.try_get(3)?,
                })).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_upload_rows", e))
    }

    pub async fn stored_row(&self, id: &UploadId, row: u64) -> Result<Option<StoredRow>> {
        Ok(self.stored_rows(id, row, row, 1).await?.pop())
    }

    /// Saves what a check said of the file, in place of the last check's (updated where it is,
    /// so that a request meanwhile never finds none).
    pub async fn save_review(&self, id: &UploadId, review: &Review) -> Result<()> {
        let update = self
            .sql("UPDATE replayer_upload_review SET headers = ?, names_cells = ?, coverage = ? WHERE upload_id = ?");
        let insert = self
            .sql("INSERT INTO replayer_upload_review (upload_id, headers, names_cells, coverage) VALUES (?, ?, ?, ?)");
        let headers = serde_json::to_string(&review.headers).unwrap_or_default();
        let names_cells = i64::from(review.names_cells);
        let done = with_pool!(self, pool => {
            match sqlx::query(&update).bind(headers.as_str()).bind(names_cells).bind(review.coverage.as_str()).bind(id.as_str()).execute(pool).await {
                Ok(done) if done.rows_affected() > 0 => Ok(()),
                // MySQL counts only changed rows: a unique violation then means the same values.
                Ok(_) => match sqlx::query(&insert).bind(id.as_str()).bind(headers.as_str()).bind(names_cells).bind(review.coverage.as_str()).execute(pool).await {
                    Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => Ok(()),
                    other => other.map(|_| ()),
                },
                Err(e) => Err(e),
            }
        });
        done.map_err(|e| self.fail("saving replayer_upload_review", e))
    }

    pub async fn review(&self, id: &UploadId) -> Result<Option<Review>> {
        let sql = self.sql("SELECT headers, names_cells, coverage FROM replayer_upload_review WHERE upload_id = ?");
        let found: Result<Option<(String, i64, String)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_optional(pool).await {
                Ok(Some(row)) => Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = found.map_err(|e| self.fail("reading replayer_upload_review", e))?;
        Ok(found.map(|(headers, names_cells, coverage)| Review {
            headers: serde_json::from_str(&headers).unwrap_or_default(),
            names_cells: names_cells != 0,
            coverage,
        }))
    }

    /// The staged file is gone: the cells kept of its rows go with it, and the values of the
    /// edits of personal data (the history keeps who, when, which row and column).
    pub async fn forget_review_data(&self, id: &UploadId) -> Result<()> {
        let rows = self.sql("DELETE FROM replayer_upload_rows WHERE upload_id = ?");
        let edits = self.sql(
            "UPDATE replayer_upload_edits SET old_value = NULL, new_value = NULL WHERE upload_id = ? AND personal = 1",
        );
        let done = with_pool!(self, pool => {
            match sqlx::query(&rows).bind(id.as_str()).execute(pool).await {
                Ok(_) => sqlx::query(&edits).bind(id.as_str()).execute(pool).await.map(|_| ()),
                Err(e) => Err(e),
            }
        });
        done.map_err(|e| self.fail("removing the rows kept for the page", e))
    }

    /// The spreadsheet rows of a run (an upload's fires) the journal says were accepted.
    pub async fn accepted_rows(&self, run_name: &str) -> Result<HashSet<u64>> {
        let sql = self.sql(
            "SELECT row_num FROM replayer_journal WHERE run_name = ? AND state = 'accepted' \
             UNION SELECT row_num FROM replayer_journal_log WHERE run_name = ? AND state = 'accepted'",
        );
        let found: Result<Vec<i64>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(run_name).bind(run_name).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| row.try_get::<i64, _>(0)).collect(),
                Err(e) => Err(e),
            }
        });
        let rows = found.map_err(|e| self.fail("reading replayer_journal", e))?;
        Ok(rows.into_iter().map(|row| row as u64).collect())
    }
}
