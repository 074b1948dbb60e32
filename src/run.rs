//! One pipeline, called by both front ends: the command line's dry run and the server's check
//! run the same `Replayer` over the same bytes, and report progress through `Progress`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::out::summary::Summary;
use crate::replayer::Replayer;
use crate::row::check::KnownAccounts;
use crate::settings::Settings;

/// How far a run has got; called from the thread that reads the file.
pub trait Progress {
    /// A valid row has been handled; `row` is its spreadsheet row number.
    fn row(&mut self, row: u64);
}

/// No progress shown: the command line's dry run prints only the summary.
pub struct Silent;

impl Progress for Silent {
    fn row(&mut self, _row: u64) {}
}

/// Read, check and (with `dump_data`) dump the file, sending nothing: the dry run.
pub fn dry_run(
    settings: Settings,
    now: DateTime<Utc>,
    accounts: Option<KnownAccounts>,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    let mut replayer = Replayer::new(settings, now, accounts)?;
    replayer.load_file(|valid| {
        progress.row(valid.row);
        Ok(())
    })?;
    replayer.finish()
}
