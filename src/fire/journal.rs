//! The journal around firing (SPEC §8): a row is `sent` durably before its request leaves,
//! `accepted` or `failed` after; rows an earlier run got accepted are skipped unless `--refire`.

use std::sync::Arc;

use anyhow::Result;

use crate::db::{Database, JournalState, RunInfo};
use crate::fire::{Fired, Hooks, Job, Verdict};

/// Outcomes recorded between two folds of the log into the journal. A fold costs about as much
/// as journaling its rows in place, but it stops the sending while it runs: rarely, then, so that
/// a run of up to this many rows sends without a pause, while the log still stays bounded.
const FOLD_EVERY: usize = 500_000;

#[derive(Clone)]
pub struct Journal {
    database: Database,
    run: RunInfo,
    /// The accounts this run holds the lock of: the ones whose log it folds.
    accounts: Arc<[String]>,
    done_since_fold: usize,
}

impl Journal {
    pub fn new(database: Database, run: RunInfo, accounts: &[String]) -> Journal {
        Journal { database, run, accounts: accounts.into(), done_since_fold: 0 }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Folds this run's records (and any a dead run left for its accounts) into the journal.
    pub async fn fold(&self) -> Result<()> {
        self.database.fold_journal(&self.accounts).await
    }

    /// For each of `jobs`, in order: what an earlier run left in the journal for it.
    pub async fn earlier(&self, jobs: &[Job]) -> Result<Vec<Earlier>> {
        let keys: Vec<(String, String)> = jobs.iter().map(|job| (job.account.clone(), job.rid.clone())).collect();
        let found = self.database.journal_lookup(&keys).await?;
        Ok(keys
            .iter()
            .map(|key| match found.get(key) {
                None => Earlier::Nothing,
                Some(entry) => match entry.state {
                    JournalState::Accepted => Earlier::Accepted(run_label(&entry.run_name, &entry.run_token)),
                    JournalState::Sent => Earlier::Sent,
                    // A status the DCS answered and that is not retried is a refusal.
                    JournalState::Failed => match entry.status {
                        Some(status) if !crate::fire::is_retryable_status(status) => Earlier::Refused,
                        _ => Earlier::Failed,
                    },
                },
            })
            .collect())
    }
}

/// What the journal says an earlier run did with a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    Nothing,
    /// Accepted, by this run ("name (token …)"): skipped unless `--refire`.
    Accepted(String),
    /// Sent, and no answer recorded: the run died (a clean stop unmarks what it did not send).
    Sent,
    /// The DCS refused it (a status that is not retried).
    Refused,
    /// No acceptance after every retry.
    Failed,
}

pub fn run_label(name: &str, token: &str) -> String {
    format!("{name} (token {token})")
}

impl Hooks for Journal {
    /// Rows already accepted were taken out before firing (the run holds the accounts' lock, so
    /// no other run changes them meanwhile): what is left is marked `sent`, in one transaction.
    async fn prepare(&mut self, batch: &mut Vec<Job>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&str, &str, u64)> =
            batch.iter().map(|job| (job.account.as_str(), job.rid.as_str(), job.row)).collect();
        self.database.mark_sent(&self.run, &rows).await
    }

    async fn complete(&mut self, results: &[Fired]) -> Result<()> {
        let done: Vec<(&str, &str, u64, JournalState, Option<u16>)> = results
            .iter()
            .map(|fired| {
                let state = match fired.verdict {
                    Verdict::Accepted => JournalState::Accepted,
                    // Abandoned: sent and not accepted, not retried because the run stopped; the
                    // next run sends it again, with the same rid, and counts it as failed before.
                    Verdict::Refused | Verdict::AccountRefused | Verdict::Failed | Verdict::Abandoned => {
                        JournalState::Failed
                    }
                };
                (fired.job.account.as_str(), fired.job.rid.as_str(), fired.job.row, state, fired.status)
            })
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        self.database.mark_done(&self.run, &done).await?;
        self.done_since_fold += done.len();
        if self.done_since_fold >= FOLD_EVERY {
            self.done_since_fold = 0;
            self.fold().await?;
        }
        Ok(())
    }

    /// Rows marked `sent` that never left (the run stopped first) lose that mark: the next
    /// pre-flight does not count them among the rows that may have been sent.
    async fn unsent(&mut self, jobs: &[Job]) -> Result<()> {
        let keys: Vec<(&str, &str)> = jobs.iter().map(|job| (job.account.as_str(), job.rid.as_str())).collect();
        self.database.unmark_sent(&self.run, &keys).await
    }
}
