//! The journal (SPEC §8): one row per (account token, rid) saying whether its tag was sent,
//! accepted or failed, and by which run. Written in batches, one transaction a batch, so it keeps
//! up with the firing.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{bail, Result};
use sqlx::Row;

use super::{now_ms, Backend, Database, RunInfo};

/// Rows in one INSERT of `mark_sent`: 7 parameters a row stays far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;
/// Rids in one `IN (…)` list.
const RIDS_PER_QUERY: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalState {
    /// Marked before the request left; a run that died leaves rows here, to be fired again.
    Sent,
    /// The DCS answered 2xx.
    Accepted,
    /// Refused, or still failing after the last retry.
    Failed,
}

impl JournalState {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalState::Sent => "sent",
            JournalState::Accepted => "accepted",
            JournalState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<JournalState> {
        match text {
            "sent" => Some(JournalState::Sent),
            "accepted" => Some(JournalState::Accepted),
            "failed" => Some(JournalState::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub state: JournalState,
    pub run_name: String,
    pub run_token: String,
    pub row: u64,
    pub status: Option<u16>,
    pub updated_at_ms: i64,
}

/// `row_num`, not `row_number`: ROW_NUMBER is a reserved word in MySQL 8.
fn journal_ddl(backend: Backend) -> String {
    let (suffix, engine) = match backend {
        // A rowid table: rows go in insertion order, so a batch's updates touch few pages.
        Backend::Sqlite => ("", ""),
        Backend::MySql => ("", " ENGINE=InnoDB"),
        Backend::Postgres => ("", ""),
    };
    format!(
        "CREATE TABLE replayer_journal (
  account_token VARCHAR(64)  NOT NULL,
  rid           CHAR(32)     NOT NULL,
  run_name      VARCHAR(255) NOT NULL,
  run_token     VARCHAR(64)  NOT NULL,
  row_num       BIGINT       NOT NULL,
  state         VARCHAR(16)  NOT NULL,
  status        INTEGER      NULL,
  sent_at       BIGINT       NOT NULL,
  updated_at    BIGINT       NOT NULL,
  PRIMARY KEY (account_token, rid)
){suffix}{engine}"
    )
}

fn lock_ddl(backend: Backend) -> String {
    let engine = if backend == Backend::MySql { " ENGINE=InnoDB" } else { "" };
    format!(
        "CREATE TABLE replayer_lock (
  account_token VARCHAR(64)  NOT NULL PRIMARY KEY,
  run_name      VARCHAR(255) NOT NULL,
  run_token     VARCHAR(64)  NOT NULL,
  started_at    BIGINT       NOT NULL,
  heartbeat_at  BIGINT       NOT NULL,
  holder        VARCHAR(255) NOT NULL DEFAULT ''
){engine}"
    )
}

impl Database {
    /// Creates `replayer_journal` and `replayer_lock` when missing, on every backend.
    pub async fn ensure_journal(&self) -> Result<()> {
        for (table, ddl) in [("replayer_journal", journal_ddl(self.backend())), ("replayer_lock", lock_ddl(self.backend()))] {
            // Look first: CREATE TABLE IF NOT EXISTS needs the CREATE privilege even when the table exists.
            let probe = format!("SELECT 1 FROM {table} WHERE 1 = 0");
            let exists = with_pool!(self, pool => sqlx::query(&probe).execute(pool).await.map(|_| ()));
            let Err(missing) = exists else { continue };
            if !is_missing_table(&missing) {
                return Err(self.fail(&format!("reading {table}"), missing));
            }
            let created = with_pool!(self, pool => sqlx::query(&ddl).execute(pool).await.map(|_| ()));
            match created {
                Ok(_) => {}
                // Another run created it between our look and our CREATE.
                Err(e) if is_already_exists(&e) => {}
                Err(e) => bail!(
                    "cannot create the {table} table in {}: {}; give this user the CREATE privilege once, or ask the DBA to create it:\n{ddl};",
                    self.redacted_url(),
                    self.scrub(&e)
                ),
            }
        }
        Ok(())
    }

    /// The journal rows for these (account token, rid) keys; keys without a row are absent.
    pub async fn journal_lookup(&self, keys: &[(String, String)]) -> Result<HashMap<(String, String), JournalEntry>> {
        let mut rids_by_account: HashMap<&str, Vec<&str>> = HashMap::new();
        for (account, rid) in keys {
            rids_by_account.entry(account).or_default().push(rid);
        }
        let mut entries = HashMap::with_capacity(keys.len());
        for (account, mut rids) in rids_by_account {
            rids.sort_unstable();
            rids.dedup();
            for chunk in rids.chunks(RIDS_PER_QUERY) {
                let sql = self.sql(&format!(
                    "SELECT rid, state, run_name, run_token, row_num, status, updated_at FROM replayer_journal WHERE account_token = ? AND rid IN ({})",
                    placeholders(chunk.len())
                ))
                .into_owned();
                let found: Result<Vec<(String, JournalEntry)>, sqlx::Error> = with_pool!(self, pool => {
                    let mut query = sqlx::query(&sql).bind(account);
                    for rid in chunk {
                        query = query.bind(*rid);
                    }
                    match query.fetch_all(pool).await {
                        Ok(rows) => rows
                            .iter()
                            .map(|row| {
                                let state: String = row.try_get(1)?;
                                let entry = JournalEntry {
                                    state: JournalState::parse(&state).ok_or_else(|| sqlx::Error::Decode(format!("unknown journal state {state:?}").into()))?,
                                    run_name: row.try_get(2)?,
                                    run_token: row.try_get(3)?,
                                    row: u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or_default(),
                                    status: row.try_get::<Option<i32>, _>(5)?.and_then(|s| u16::try_from(s).ok()),
                                    updated_at_ms: row.try_get(6)?,
                                };
                                Ok((row.try_get::<String, _>(0)?, entry))
                            })
                            .collect(),
                        Err(e) => Err(e),
                    }
                });
                for (rid, entry) in found.map_err(|e| self.fail("reading replayer_journal", e))? {
                    entries.insert((account.to_owned(), rid), entry);
                }
            }
        }
        Ok(entries)
    }

    /// Marks rows (account token, rid, row) `sent` by this run, in one transaction that is
    /// committed (on SQLite with synchronous=FULL: on disk) before this returns.
    pub async fn mark_sent(&self, run: &RunInfo, rows: &[(String, String, u64)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One key twice in one upsert is an error on PostgreSQL; the last one wins anyway.
        let mut last_index: HashMap<(&str, &str), usize> = HashMap::with_capacity(rows.len());
        for (index, (account, rid, _)) in rows.iter().enumerate() {
            last_index.insert((account, rid), index);
        }
        let rows: Cow<[(String, String, u64)]> = if last_index.len() == rows.len() {
            Cow::Borrowed(rows)
        } else {
            Cow::Owned(
                rows.iter()
                    .enumerate()
                    .filter(|(i, (a, r, _))| last_index[&(a.as_str(), r.as_str())] == *i)
                    .map(|(_, row)| row.clone())
                    .collect(),
            )
        };
        let now = now_ms();
        let full_chunk_sql = self.sql(&self.upsert_sent_sql(ROWS_PER_INSERT)).into_owned();
        let result: Result<(), sqlx::Error> = with_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let sql = if chunk.len() == ROWS_PER_INSERT {
                    Cow::Borrowed(full_chunk_sql.as_str())
                } else {
                    Cow::Owned(self.sql(&self.upsert_sent_sql(chunk.len())).into_owned())
                };
                let mut query = sqlx::query(&sql);
                for (account, rid, row) in chunk {
                    query = query
                        .bind(account.as_str())
                        .bind(rid.as_str())
                        .bind(run.name.as_str())
                        .bind(run.token.as_str())
                        .bind(i64::try_from(*row).unwrap_or(i64::MAX))
                        .bind(now)
                        .bind(now);
                }
                query.execute(&mut *transaction).await?;
            }
            transaction.commit().await
        }
        .await);
        result.map_err(|e| self.fail("marking rows sent in replayer_journal", e))
    }

    fn upsert_sent_sql(&self, rows: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO replayer_journal (account_token, rid, run_name, run_token, row_num, state, status, sent_at, updated_at) VALUES ",
        );
        for i in 0..rows {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, 'sent', NULL, ?, ?)" } else { ", (?, ?, ?, ?, ?, 'sent', NULL, ?, ?)" });
        }
        sql.push_str(match self.backend() {
            // VALUES() is deprecated in MySQL 8.0.20 but is what MariaDB understands.
            Backend::MySql => {
                " ON DUPLICATE KEY UPDATE run_name = VALUES(run_name), run_token = VALUES(run_token), row_num = VALUES(row_num), \
                 state = 'sent', status = NULL, sent_at = VALUES(sent_at), updated_at = VALUES(updated_at)"
            }
            Backend::Sqlite | Backend::Postgres => {
                " ON CONFLICT (account_token, rid) DO UPDATE SET run_name = excluded.run_name, run_token = excluded.run_token, \
                 row_num = excluded.row_num, state = 'sent', status = NULL, sent_at = excluded.sent_at, updated_at = excluded.updated_at"
            }
        });
        sql
    }

    /// Records the outcome of rows (account token, rid, state, HTTP status), in one transaction.
    pub async fn mark_done(&self, results: &[(String, String, JournalState, Option<u16>)]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        // Nearly every row of a batch shares its account, state and status: one UPDATE per group.
        let mut groups: HashMap<(&str, JournalState, Option<u16>), Vec<&str>> = HashMap::new();
        for (account, rid, state, status) in results {
            groups.entry((account, *state, *status)).or_default().push(rid);
        }
        let now = now_ms();
        let result: Result<(), sqlx::Error> = with_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            for ((account, state, status), rids) in &groups {
                for chunk in rids.chunks(RIDS_PER_QUERY) {
                    let sql = self.sql(&format!(
                        "UPDATE replayer_journal SET state = ?, status = ?, updated_at = ? WHERE account_token = ? AND rid IN ({})",
                        placeholders(chunk.len())
                    ))
                    .into_owned();
                    let mut query = sqlx::query(&sql).bind(state.as_str()).bind(status.map(i32::from)).bind(now).bind(*account);
                    for rid in chunk {
                        query = query.bind(*rid);
                    }
                    query.execute(&mut *transaction).await?;
                }
            }
            transaction.commit().await
        }
        .await);
        result.map_err(|e| self.fail("recording results in replayer_journal", e))
    }
}

/// `?, ?, …` for an `IN` list.
pub(super) fn placeholders(count: usize) -> String {
    let mut list = String::with_capacity(count * 3);
    for i in 0..count {
        list.push_str(if i == 0 { "?" } else { ", ?" });
    }
    list
}

/// SQLite "no such table", MySQL 1146, PostgreSQL 42P01.
pub(super) fn is_missing_table(error: &sqlx::Error) -> bool {
    let Some(e) = error.as_database_error() else { return false };
    matches!(e.code().as_deref(), Some("42S02" | "1146" | "42P01")) || e.message().contains("no such table")
}

/// MySQL 1050, PostgreSQL 42P07 (and its race on the type catalogue, 23505), SQLite "already exists".
fn is_already_exists(error: &sqlx::Error) -> bool {
    let Some(e) = error.as_database_error() else { return false };
    matches!(e.code().as_deref(), Some("42S01" | "1050" | "42P07" | "23505")) || e.message().contains("already exists")
}
