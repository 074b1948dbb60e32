//! replayer: turn a client's CSV of offline sales and visits into the tags the DCS would have
//! seen, dump them and fire them. Data flows one way: arguments → settings → rows → payloads →
//! (dump files, HTTP, journal) → summary.

pub mod cli;
pub mod config;
pub mod dates;
pub mod dedupe;
pub mod dump;
pub mod field;
pub mod handlers;
pub mod input;
pub mod mapping;
pub mod money;
pub mod payload;
pub mod replayer;
pub mod settings;
pub mod summary;

use anyhow::{bail, Result};
use chrono::Utc;

use crate::cli::Cli;
use crate::replayer::Replayer;
use crate::settings::Settings;
use crate::summary::ExitCode;

/// The main job: check, dump and (later) fire one client's file.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::from_args(cli.run)?;
    if settings.fire_tag {
        bail!("--fire-tag is not available yet in this version; use --dump-data for a dry run");
    }
    let mut replayer = Replayer::new(settings, Utc::now())?;
    replayer.load_file(|_| Ok(()))?;
    let summary = replayer.finish()?;
    print_problems("exceptions (rows not fired)", &summary.shown_exceptions, summary.rows_with_exceptions);
    print_problems("warnings", &summary.shown_warnings, summary.warnings);
    print!("{}", summary.render());
    Ok(summary.exit_code())
}

fn print_problems(title: &str, shown: &[String], total: u64) {
    if shown.is_empty() {
        return;
    }
    eprintln!("{title}:");
    for line in shown {
        eprintln!("  {line}");
    }
    let more = total.saturating_sub(shown.len() as u64);
    if more > 0 {
        eprintln!("  … and {more} more (all are in the dump files written with --dump-data)");
    }
}
