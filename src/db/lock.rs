//! The run lock (SPEC §8): one `replayer_lock` row per account token, so two live runs for one
//! account cannot overlap. A run refreshes its heartbeat while it fires; a lock whose heartbeat is
//! older than STALE_AFTER was left by a run that died, and the next run takes it over.
//!
//! Race-safe between processes without transactions: a lock is taken by an INSERT that the
//! primary key lets only one run win, and taken over by an UPDATE conditional on the exact stale
//! holder, which again only one run can win.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use sqlx::Row;

use super::{now_ms, placeholders, Database};

/// A lock whose heartbeat is older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(180);
/// How often a run should call `Lock::heartbeat`: well inside STALE_AFTER.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

/// How many times a lock that changes hands under us is tried again before giving up.
const ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct RunInfo {
    pub name: String,
    /// The run's random token (the one in its dump file names).
    pub token: String,
    pub started_at_ms: i64,
}

/// The accounts this run holds; cheap to clone, so a task can keep the heartbeat going.
#[derive(Clone)]
pub struct Lock {
    database: Database,
    accounts: Arc<[String]>,
    run: RunInfo,
    took_over: Option<String>,
}

struct Holder {
    run_name: String,
    run_token: String,
    started_at_ms: i64,
    heartbeat_at_ms: i64,
    /// `host:pid` of the process that holds it.
    holder: String,
}

/// `host:pid` of this process: lets a later run on the same machine see that a holder died
/// (kill -9, power cut) without waiting for its lock to go stale.
fn this_process() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_default()
}

impl Holder {
    /// True when the holder ran on this machine and its process no longer exists.
    fn died_here(&self) -> bool {
        let Some((host, pid)) = self.holder.rsplit_once(':') else { return false };
        let Ok(pid) = pid.parse::<u32>() else { return false };
        if host.is_empty() || host != host_name() || pid == std::process::id() {
            return false;
        }
        // A live replayer keeps its lock; a gone process, or a reused pid now running
        // something else, does not.
        match std::fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(cmdline) => !String::from_utf8_lossy(&cmdline).contains("replayer"),
            Err(_) => std::path::Path::new("/proc/self").exists(),
        }
    }

    /// Not stale, and not left by a process of this machine that is gone.
    fn is_live(&self, now_ms: i64) -> bool {
        now_ms - self.heartbeat_at_ms < STALE_AFTER.as_millis() as i64 && !self.died_here()
    }

    fn describe(&self, now_ms: i64) -> String {
        format!(
            "run \"{}\" (run token {}, started {}, last heartbeat {} ago)",
            self.run_name,
            self.run_token,
            utc(self.started_at_ms),
            ago(now_ms - self.heartbeat_at_ms)
        )
    }
}

impl Database {
    /// Locks every account for this run, or none: a live lock held by another run is an error
    /// naming that run; a stale one is taken over (see `Lock::took_over`).
    pub async fn acquire_lock(&self, accounts: &[String], run: &RunInfo) -> Result<Lock> {
        let mut accounts = accounts.to_vec();
        accounts.sort();
        accounts.dedup();
        let mut notes = Vec::new();
        for (index, account) in accounts.iter().enumerate() {
            match self.lock_account(account, run).await {
                Ok(note) => notes.extend(note),
                Err(error) => {
                    // Best effort: what is not released goes stale by itself.
                    let _ = self.unlock(&accounts[..index], run).await;
                    return Err(error);
                }
            }
        }
        let took_over = (!notes.is_empty()).then(|| notes.join("; "));
        Ok(Lock { database: self.clone(), accounts: accounts.into(), run: run.clone(), took_over })
    }

    /// Takes one account's lock; `Some(note)` when it was taken over from a stale run.
    async fn lock_account(&self, account: &str, run: &RunInfo) -> Result<Option<String>> {
        let insert =
            self.sql("INSERT INTO replayer_lock (account_token, run_name, run_token, started_at, heartbeat_at, holder) VALUES (?, ?, ?, ?, ?, ?)");
        let take_over = self.sql(
            "UPDATE replayer_lock SET run_name = ?, run_token = ?, started_at = ?, heartbeat_at = ?, holder = ? \
             WHERE account_token = ? AND run_token = ? AND started_at = ? AND heartbeat_at = ?",
        );
        for _ in 0..ATTEMPTS {
            let now = now_ms();
            let inserted = with_pool!(self, pool => sqlx::query(&insert)
                .bind(account)
                .bind(run.name.as_str())
                .bind(run.token.as_str())
                .bind(run.started_at_ms)
                .bind(now)
                .bind(this_process())
                .execute(pool)
                .await
                .map(|_| ()));
            match inserted {
                Ok(_) => return Ok(None),
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {}
                Err(e) => return Err(self.fail(&format!("taking the run lock on account {account}"), e)),
            }
            // Released between our INSERT and this read: try the INSERT again.
            let Some(holder) = self.lock_holder(account).await? else { continue };
            if holder.run_token == run.token && holder.started_at_ms == run.started_at_ms {
                return Ok(None);
            }
            let died = holder.died_here();
            if holder.is_live(now) {
                bail!(
                    "account {account} is locked by another live run: {}. Wait for that run to finish; if it died, its lock goes stale \
                     {} minutes after its last heartbeat (at {}) and rerunning this command then takes it over.",
                    holder.describe(now),
                    STALE_AFTER.as_secs() / 60,
                    utc(holder.heartbeat_at_ms + STALE_AFTER.as_millis() as i64),
                );
            }
            let taken = with_pool!(self, pool => sqlx::query(&take_over)
                .bind(run.name.as_str())
                .bind(run.token.as_str())
                .bind(run.started_at_ms)
                .bind(now)
                .bind(this_process())
                .bind(account)
                .bind(holder.run_token.as_str())
                .bind(holder.started_at_ms)
                .bind(holder.heartbeat_at_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()));
            match taken {
                Ok(1) => {
                    let how = if died { ", whose process on this machine is gone," } else { "" };
                    return Ok(Some(format!(
                        "took over the lock left by {}{how} on account {account}",
                        holder.describe(now)
                    )));
                }
                // Another run took it over, or its owner woke up: look again.
                Ok(_) => {}
                Err(e) => return Err(self.fail(&format!("taking over the stale run lock on account {account}"), e)),
            }
        }
        bail!(
            "the run lock on account {account} in {} kept changing hands while this run tried to take it; another run is starting now, try again in a minute",
            self.redacted_url()
        )
    }

    async fn lock_holder(&self, account: &str) -> Result<Option<Holder>> {
        let sql = self.sql(
            "SELECT run_name, run_token, started_at, heartbeat_at, holder FROM replayer_lock WHERE account_token = ?",
        );
        let holder: Result<Option<Holder>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(account).fetch_optional(pool).await {
                Ok(Some(row)) => (|| {
                    Ok(Some(Holder {
                        run_name: row.try_get(0)?,
                        run_token: row.try_get(1)?,
                        started_at_ms: row.try_get(2)?,
                        heartbeat_at_ms: row.try_get(3)?,
                        holder: row.try_get(4)?,
                    }))
                })(),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        holder.map_err(|e| self.fail("reading replayer_lock", e))
    }

    /// Whether a live run holds this account's lock (a stale one, or one whose process on this
    /// machine is gone, is not live).
    pub async fn lock_is_live(&self, account: &str) -> Result<bool> {
        Ok(self.lock_holder(account).await?.is_some_and(|holder| holder.is_live(now_ms())))
    }

    /// The locks a run of this name holds: `None` when it holds none, else whether any is live.
    pub async fn run_locks_live(&self, run_name: &str) -> Result<Option<bool>> {
        let sql = self
            .sql("SELECT run_name, run_token, started_at, heartbeat_at, holder FROM replayer_lock WHERE run_name = ?");
        let holders: Result<Vec<Holder>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(run_name).fetch_all(pool).await {
                Ok(rows) => rows
                    .iter()
                    .map(|row| {
                        Ok(Holder {
                            run_name: row.try_get(0)?,
                            run_token: row.try_get(1)?,
                            started_at_ms: row.try_get(2)?,
                            heartbeat_at_ms: row.try_get(3)?,
                            holder: row.try_get(4)?,
                        })
                    })
                    .collect(),
                Err(e) => Err(e),
            }
        });
        let holders = holders.map_err(|e| self.fail("reading replayer_lock", e))?;
        let now = now_ms();
        Ok((!holders.is_empty()).then(|| holders.iter().any(|holder| holder.is_live(now))))
    }

    /// Sets the heartbeat of this run's locks; returns how many rows it found.
    async fn touch(&self, accounts: &[String], run: &RunInfo, now: i64) -> Result<u64> {
        let sql = self
            .sql(&format!(
                "UPDATE replayer_lock SET heartbeat_at = ? WHERE run_token = ? AND started_at = ? AND account_token IN ({})",
                placeholders(accounts.len())
            ))
            .into_owned();
        let result = with_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(now).bind(run.token.as_str()).bind(run.started_at_ms);
            for account in accounts {
                query = query.bind(account.as_str());
            }
            query.execute(pool).await.map(|done| done.rows_affected())
        });
        result.map_err(|e| self.fail("refreshing the run lock", e))
    }

    async fn unlock(&self, accounts: &[String], run: &RunInfo) -> Result<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        let sql = self
            .sql(&format!(
                "DELETE FROM replayer_lock WHERE run_token = ? AND started_at = ? AND account_token IN ({})",
                placeholders(accounts.len())
            ))
            .into_owned();
        let result = with_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(run.token.as_str()).bind(run.started_at_ms);
            for account in accounts {
                query = query.bind(account.as_str());
            }
            query.execute(pool).await.map(|_| ())
        });
        result.map_err(|e| self.fail("releasing the run lock", e))
    }
}

impl Lock {
    /// Set when a stale lock was taken over: which run had left it, e.g. `run "norton-june"
    /// (run token k3j9x0aa, started …, last heartbeat 7 min ago) on account …`.
    pub fn took_over(&self) -> Option<String> {
        self.took_over.clone()
    }

    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Refreshes the heartbeat; call it every HEARTBEAT_EVERY. An error when another run has taken
    /// the lock over (this run's heartbeat had gone stale): the run must stop sending.
    pub async fn heartbeat(&self) -> Result<()> {
        if self.accounts.is_empty() {
            return Ok(());
        }
        let found = self.database.touch(&self.accounts, &self.run, now_ms()).await?;
        if found < self.accounts.len() as u64 {
            bail!(
                "this run lost its lock on account(s) {}: its heartbeat went more than {} minutes without a refresh and another run took the lock over; \
                 stop this run and rerun the command once the other run has finished",
                self.accounts.join(", "),
                STALE_AFTER.as_secs() / 60
            );
        }
        Ok(())
    }

    pub async fn release(self) -> Result<()> {
        self.database.unlock(&self.accounts, &self.run).await
    }
}

/// A time for people: `2024-06-01 11:45:00 UTC`.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms after 1970"), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn ago(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_well() {
        assert_eq!(utc(1_717_242_300_000), "2024-06-01 11:45:00 UTC");
        assert_eq!(ago(20_400), "20 s");
        assert_eq!(ago(7 * 60_000), "7 min");
        assert_eq!(ago(-5), "0 s");
    }
}
