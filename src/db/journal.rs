//! The journal (SPEC §8): one row per (account token, rid) saying whether its tag was sent,
//! accepted or failed, and by which run.
//!
//! While a run fires, it only appends: each batch's `sent` records, then their outcomes, go to
//! `replayer_journal_log`, one transaction a batch, in the order they happen. Appending writes a
//! few pages a batch, where updating `replayer_journal` in place would write one page of its
//! index a row (rids are random). The log is folded into `replayer_journal` (each key takes its
//! latest record) when a run starts (what a run that died left there), every so many rows, and
//! at the end of a run. The log has no index but its id: a fold reads it whole, a few times a run.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{bail, Result};
use sqlx::Row;

use super::{now_ms, placeholders, Backend, Database, RunInfo};

/// Records in one INSERT into the log: 8 parameters a record stays far below every backend's limit.
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

/// The columns a journal row and a log record share. `row_num`, not `row_number`: ROW_NUMBER is
/// a reserved word in MySQL 8.
const ROW_COLUMNS: &str = "account_token VARCHAR(64)  NOT NULL,
  rid           CHAR(32)     NOT NULL,
  run_name      VARCHAR(255) NOT NULL,
  run_token     VARCHAR(64)  NOT NULL,
  row_num       BIGINT       NOT NULL,
  state         VARCHAR(16)  NOT NULL,
  status        INTEGER      NULL";

fn engine(backend: Backend) -> &'static str {
    if backend == Backend::MySql {
        " ENGINE=InnoDB"
    } else {
        ""
    }
}

/// One row per key, the latest state. A rowid table on SQLite: folds append in key order.
fn journal_ddl(backend: Backend) -> String {
    format!(
        "CREATE TABLE replayer_journal (
  {ROW_COLUMNS},
  sent_at       BIGINT       NOT NULL,
  updated_at    BIGINT       NOT NULL,
  PRIMARY KEY (account_token, rid)
){}",
        engine(backend)
    )
}

/// Append-only: what happened to each row, in order; `id` orders the records of a key.
fn log_ddl(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "id            INTEGER PRIMARY KEY",
        Backend::MySql => "id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY",
        Backend::Postgres => "id            BIGSERIAL    PRIMARY KEY",
    };
    format!(
        "CREATE TABLE replayer_journal_log (
  {id},
  {ROW_COLUMNS},
  at            BIGINT       NOT NULL
){}",
        engine(backend)
    )
}

fn lock_ddl(backend: Backend) -> String {
    format!(
        "CREATE TABLE replayer_lock (
  account_token VARCHAR(64)  NOT NULL PRIMARY KEY,
  run_name      VARCHAR(255) NOT NULL,
  run_token     VARCHAR(64)  NOT NULL,
  started_at    BIGINT       NOT NULL,
  heartbeat_at  BIGINT       NOT NULL,
  holder        VARCHAR(255) NOT NULL DEFAULT ''
){}",
        engine(backend)
    )
}

impl Database {
    /// Creates `replayer_journal`, its log and `replayer_lock` when missing, on every backend.
    pub async fn ensure_journal(&self) -> Result<()> {
        let tables = [
            ("replayer_journal", journal_ddl(self.backend())),
            ("replayer_journal_log", log_ddl(self.backend())),
            ("replayer_lock", lock_ddl(self.backend())),
        ];
        for (table, ddl) in tables {
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

    /// The journal rows for these (account token, rid) keys; keys without a row are absent. Fold
    /// the log of their accounts first (`fold_journal`) for the latest state.
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
    pub async fn mark_sent<A: AsRef<str>, R: AsRef<str>>(&self, run: &RunInfo, rows: &[(A, R, u64)]) -> Result<()> {
        let records: Vec<LogRecord> = rows
            .iter()
            .map(|(account, rid, row)| LogRecord {
                account: account.as_ref(),
                rid: rid.as_ref(),
                row: *row,
                state: JournalState::Sent,
                status: None,
            })
            .collect();
        self.append_log(run, &records).await.map_err(|e| self.fail("marking rows sent in replayer_journal_log", e))
    }

    /// Records the outcome of rows (account token, rid, row, state, HTTP status) fired by this
    /// run, in one transaction.
    pub async fn mark_done<A: AsRef<str>, R: AsRef<str>>(
        &self,
        run: &RunInfo,
        results: &[(A, R, u64, JournalState, Option<u16>)],
    ) -> Result<()> {
        let records: Vec<LogRecord> = results
            .iter()
            .map(|(account, rid, row, state, status)| LogRecord {
                account: account.as_ref(),
                rid: rid.as_ref(),
                row: *row,
                state: *state,
                status: *status,
            })
            .collect();
        self.append_log(run, &records).await.map_err(|e| self.fail("recording results in replayer_journal_log", e))
    }

    /// Takes back this run's `sent` marks of rows that never left (account token, rid): their
    /// records in the log, and a mark a fold during the run already moved into the journal. A
    /// key's earlier state, when such a fold overwrote it, is not restored: the row counts as
    /// new, and is sent by the next run either way.
    pub async fn unmark_sent(&self, run: &RunInfo, keys: &[(&str, &str)]) -> Result<()> {
        let mut rids_by_account: HashMap<&str, Vec<&str>> = HashMap::new();
        for (account, rid) in keys {
            rids_by_account.entry(account).or_default().push(rid);
        }
        for (account, rids) in rids_by_account {
            for chunk in rids.chunks(RIDS_PER_QUERY) {
                let condition = format!(
                    "WHERE account_token = ? AND run_token = ? AND state = 'sent' AND rid IN ({})",
                    placeholders(chunk.len())
                );
                for table in ["replayer_journal_log", "replayer_journal"] {
                    let sql = self.sql(&format!("DELETE FROM {table} {condition}")).into_owned();
                    let deleted: Result<(), sqlx::Error> = retrying_deadlocks(|| async {
                        with_pool!(self, pool => {
                            let mut query = sqlx::query(&sql).bind(account).bind(run.token.as_str());
                            for rid in chunk {
                                query = query.bind(*rid);
                            }
                            query.execute(pool).await.map(|_| ())
                        })
                    })
                    .await;
                    deleted.map_err(|e| self.fail(&format!("unmarking rows never sent in {table}"), e))?;
                }
            }
        }
        Ok(())
    }

    async fn append_log(&self, run: &RunInfo, records: &[LogRecord<'_>]) -> Result<(), sqlx::Error> {
        if records.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let full_chunk_sql = self.sql(&append_log_sql(ROWS_PER_INSERT)).into_owned();
        retrying_deadlocks(|| async {
            with_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            for chunk in records.chunks(ROWS_PER_INSERT) {
                let sql = if chunk.len() == ROWS_PER_INSERT {
                    Cow::Borrowed(full_chunk_sql.as_str())
                } else {
                    Cow::Owned(self.sql(&append_log_sql(chunk.len())).into_owned())
                };
                let mut query = sqlx::query(&sql);
                for record in chunk {
                    query = query
                        .bind(record.account)
                        .bind(record.rid)
                        .bind(run.name.as_str())
                        .bind(run.token.as_str())
                        .bind(i64::try_from(record.row).unwrap_or(i64::MAX))
                        .bind(record.state.as_str())
                        .bind(record.status.map(i32::from))
                        .bind(now);
                }
                query.execute(&mut *transaction).await?;
            }
            transaction.commit().await
        }
        .await)
        })
        .await
    }

    /// What the journal holds of the rows a run of this name fired, the latest record of each
    /// (the log's, else the folded table's): `(state, HTTP status, rows)`. For a run that died
    /// before it could say what it did (SPEC §14: an upload's counts after a crash).
    pub async fn run_outcomes(&self, run_name: &str) -> Result<Vec<(String, Option<i32>, i64)>> {
        let sql = self.sql(
            "SELECT state, status, COUNT(*) FROM ( \
               SELECT l.state, l.status FROM replayer_journal_log l \
               JOIN (SELECT MAX(id) AS last_id FROM replayer_journal_log WHERE run_name = ? GROUP BY account_token, rid) g \
               ON l.id = g.last_id \
               UNION ALL \
               SELECT j.state, j.status FROM replayer_journal j WHERE j.run_name = ? AND NOT EXISTS ( \
                 SELECT 1 FROM replayer_journal_log o WHERE o.account_token = j.account_token AND o.rid = j.rid AND o.run_name = ?) \
             ) t GROUP BY state, status",
        );
        let rows: Result<Vec<(String, Option<i32>, i64)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(run_name).bind(run_name).bind(run_name).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))).collect(),
                Err(e) => Err(e),
            }
        });
        rows.map_err(|e| self.fail("reading replayer_journal", e))
    }

    /// Folds the log records of these accounts into `replayer_journal`: each key takes its latest
    /// record (its first time in the log as `sent_at`), in one transaction per account. Only the
    /// run holding an account's lock writes its records, so nothing is appended meanwhile.
    pub async fn fold_journal(&self, accounts: &[String]) -> Result<()> {
        let insert = self.sql(&self.fold_sql()).into_owned();
        let last = self.sql("SELECT MAX(id) FROM replayer_journal_log WHERE account_token = ?").into_owned();
        let delete = self.sql("DELETE FROM replayer_journal_log WHERE account_token = ? AND id <= ?").into_owned();
        for account in accounts {
            let result: Result<(), sqlx::Error> = retrying_deadlocks(|| async { with_pool!(self, pool => async {
                let mut transaction = pool.begin().await?;
                let last_id: Option<i64> = sqlx::query_scalar(&last).bind(account.as_str()).fetch_one(&mut *transaction).await?;
                let Some(last_id) = last_id else { return Ok(()) };
                sqlx::query(&insert).bind(account.as_str()).bind(last_id).execute(&mut *transaction).await?;
                sqlx::query(&delete).bind(account.as_str()).bind(last_id).execute(&mut *transaction).await?;
                transaction.commit().await
            }
            .await) })
            .await;
            result.map_err(|e| self.fail("folding replayer_journal_log into replayer_journal", e))?;
        }
        Ok(())
    }

    /// The latest record of each key, inserted in key order (so each page of the table's index is
    /// written once), or updating the key's row; `sent_at` changes only when the row is sent anew.
    fn fold_sql(&self) -> String {
        let select = "INSERT INTO replayer_journal (account_token, rid, run_name, run_token, row_num, state, status, sent_at, updated_at) \
             SELECT l.account_token, l.rid, l.run_name, l.run_token, l.row_num, l.state, l.status, g.first_at, l.at \
             FROM replayer_journal_log l \
             JOIN (SELECT MAX(id) AS last_id, MIN(at) AS first_at FROM replayer_journal_log WHERE account_token = ? AND id <= ? GROUP BY rid) g \
             ON l.id = g.last_id WHERE l.id > 0 ORDER BY l.rid";
        let update = match self.backend() {
            // VALUES() is deprecated in MySQL 8.0.20 but is what MariaDB understands. sent_at first:
            // MySQL assigns left to right, and it reads the old state.
            Backend::MySql => {
                " ON DUPLICATE KEY UPDATE sent_at = IF(VALUES(state) = 'sent', VALUES(sent_at), sent_at), \
                 run_name = VALUES(run_name), run_token = VALUES(run_token), row_num = VALUES(row_num), \
                 state = VALUES(state), status = VALUES(status), updated_at = VALUES(updated_at)"
            }
            Backend::Sqlite | Backend::Postgres => {
                " ON CONFLICT (account_token, rid) DO UPDATE SET \
                 sent_at = CASE WHEN excluded.state = 'sent' THEN excluded.sent_at ELSE replayer_journal.sent_at END, \
                 run_name = excluded.run_name, run_token = excluded.run_token, row_num = excluded.row_num, \
                 state = excluded.state, status = excluded.status, updated_at = excluded.updated_at"
            }
        };
        format!("{select}{update}")
    }
}

/// Runs a transaction again when the database chose it as a deadlock's victim (InnoDB may, with
/// other runs writing the same tables): it was rolled back whole.
async fn retrying_deadlocks<F, Fut>(mut transaction: F) -> Result<(), sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    const TRIES: u32 = 5;
    let mut tries = 1;
    loop {
        match transaction().await {
            Err(error) if tries < TRIES && is_deadlock(&error) => {
                tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(tries))).await;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// MySQL 1213 and PostgreSQL 40P01 (deadlock), both 40001 (serialization failure).
fn is_deadlock(error: &sqlx::Error) -> bool {
    let Some(e) = error.as_database_error() else { return false };
    matches!(e.code().as_deref(), Some("40001" | "40P01" | "1213"))
}

/// One record of the log, before the run's name and token are added.
struct LogRecord<'a> {
    account: &'a str,
    rid: &'a str,
    row: u64,
    state: JournalState,
    status: Option<u16>,
}

fn append_log_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO replayer_journal_log (account_token, rid, run_name, run_token, row_num, state, status, at) VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?, ?, ?)" });
    }
    sql
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
