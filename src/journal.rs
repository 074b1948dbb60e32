//! The journal around firing (SPEC §8): a row is `sent` durably before its request leaves,
//! `accepted` or `failed` after; rows an earlier run got accepted are skipped unless `--refire`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::db::{Database, JournalState, RunInfo};
use crate::fire::{Fired, Hooks, Job, Verdict};

/// Rows an earlier run got accepted, per run ("name (token …)").
pub type AlreadyFired = Arc<Mutex<BTreeMap<String, u64>>>;

#[derive(Clone)]
pub struct Journal {
    database: Database,
    run: RunInfo,
    refire: bool,
    pub already_fired: AlreadyFired,
}

impl Journal {
    pub fn new(database: Database, run: RunInfo, refire: bool) -> Journal {
        Journal { database, run, refire, already_fired: AlreadyFired::default() }
    }

    /// Which of `jobs` an earlier run got accepted, counted per run: for the pre-flight summary.
    pub async fn count_accepted(&self, jobs: &[Job]) -> Result<BTreeMap<String, u64>> {
        let keys: Vec<(String, String)> = jobs.iter().map(|job| (job.account.clone(), job.rid.clone())).collect();
        let found = self.database.journal_lookup(&keys).await?;
        let mut runs = BTreeMap::new();
        for entry in found.values().filter(|entry| entry.state == JournalState::Accepted) {
            *runs.entry(run_label(&entry.run_name, &entry.run_token)).or_insert(0) += 1;
        }
        Ok(runs)
    }
}

pub fn run_label(name: &str, token: &str) -> String {
    format!("{name} (token {token})")
}

impl Hooks for Journal {
    async fn prepare(&mut self, batch: &mut Vec<Job>) -> Result<()> {
        if !self.refire {
            let keys: Vec<(String, String)> = batch.iter().map(|job| (job.account.clone(), job.rid.clone())).collect();
            let found = self.database.journal_lookup(&keys).await?;
            let mut already = self.already_fired.lock().expect("not poisoned");
            batch.retain(|job| match found.get(&(job.account.clone(), job.rid.clone())) {
                Some(entry) if entry.state == JournalState::Accepted => {
                    *already.entry(run_label(&entry.run_name, &entry.run_token)).or_insert(0) += 1;
                    false
                }
                _ => true,
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, String, u64)> = batch.iter().map(|job| (job.account.clone(), job.rid.clone(), job.row)).collect();
        self.database.mark_sent(&self.run, &rows).await
    }

    async fn complete(&mut self, results: &[Fired]) -> Result<()> {
        let done: Vec<(String, String, JournalState, Option<u16>)> = results
            .iter()
            .filter_map(|fired| {
                let state = match fired.verdict {
                    Verdict::Accepted => JournalState::Accepted,
                    Verdict::Refused | Verdict::AccountRefused | Verdict::Failed => JournalState::Failed,
                    // Left `sent`: the next run sends it again, with the same rid.
                    Verdict::Abandoned => return None,
                };
                Some((fired.job.account.clone(), fired.job.rid.clone(), state, fired.status))
            })
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        self.database.mark_done(&done).await
    }
}
