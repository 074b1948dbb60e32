//! One pipeline, called by both front ends: the command line's dry run and the server's check
//! run the same `Replayer` over the same bytes, and report progress through `Progress`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::ctrl_c::CtrlC;
use crate::out::summary::Summary;
use crate::replayer::Replayer;
use crate::row::check::KnownAccounts;
use crate::settings::Settings;

/// How far a run has got, and whether its front end wants it stopped; called from the thread
/// that reads the file.
pub trait Progress {
    /// A valid row has been handled; `row` is its spreadsheet row number.
    fn row(&self, row: u64);

    /// Asked before each batch of rows: `true` ends the run with `Interrupted`.
    fn stopped(&self) -> bool {
        false
    }
}

/// No progress shown: the command line's dry run prints only the summary, and stops on Ctrl-C.
impl Progress for CtrlC {
    fn row(&self, _row: u64) {}

    fn stopped(&self) -> bool {
        self.pressed()
    }
}

/// Read, check and (with `dump_data`) dump the file, sending nothing: the dry run.
pub fn dry_run(
    settings: Settings,
    now: DateTime<Utc>,
    accounts: Option<KnownAccounts>,
    progress: &dyn Progress,
) -> Result<Summary> {
    let mut replayer = Replayer::new(settings, now, accounts)?;
    replayer.load_file(&|| progress.stopped(), |valid| {
        progress.row(valid.row);
        Ok(())
    })?;
    replayer.finish()
}
