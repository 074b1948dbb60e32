//! What the journal says of the rows about to be fired, before the pre-flight: rows an earlier
//! run got accepted are taken out of the spool (unless `--refire`), the rest are counted.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;

use super::spool::Spool;
use crate::fire::journal::{self, Journal};

/// What an earlier run did with the rows about to be fired, counted for the pre-flight.
#[derive(Debug, Default)]
pub struct Earlier {
    /// Accepted before, per run: skipped unless `--refire`.
    pub accepted: BTreeMap<String, u64>,
    pub refused: u64,
    pub failed: u64,
    /// Marked sent by a run that died, with no answer recorded: their fate is unknown.
    pub unanswered: u64,
}

/// Take out of the spool the rows an earlier run got accepted (unless `refire`), counted per
/// run, and count what the journal says of the others: before the pre-flight, so it says what
/// will really be sent. The spool is copied only when some rows were accepted before (a rerun),
/// not on a file's first run.
pub async fn look_up(
    journal: &Journal,
    mut spool: Spool,
    directory: &std::path::Path,
    refire: bool,
) -> Result<(Spool, Earlier)> {
    let mut earlier = Earlier::default();
    let mut accepted_rows = HashSet::new();
    for batch in spool.batches()? {
        let batch = batch?;
        for (job, found) in batch.iter().zip(journal.earlier(&batch).await?) {
            match found {
                journal::Earlier::Accepted(_) if refire => {}
                journal::Earlier::Accepted(run) => {
                    *earlier.accepted.entry(run).or_insert(0) += 1;
                    accepted_rows.insert(job.row);
                }
                journal::Earlier::Refused => earlier.refused += 1,
                journal::Earlier::Failed => earlier.failed += 1,
                journal::Earlier::Sent => earlier.unanswered += 1,
                journal::Earlier::Nothing => {}
            }
        }
    }
    if accepted_rows.is_empty() {
        return Ok((spool, earlier));
    }
    let mut kept = Spool::create(directory)?;
    for batch in spool.batches()? {
        for job in batch?.iter().filter(|job| !accepted_rows.contains(&job.row)) {
            kept.push(job.row, &job.account, &job.rid, &job.url)?;
        }
    }
    Ok((kept, earlier))
}
