//! replayer: turn a client's CSV of offline sales and visits into the tags the DCS would have
//! seen, dump them and fire them. Data flows one way: arguments → settings → rows → payloads →
//! (dump files, HTTP, journal) → summary.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod dates;
pub mod db;
pub mod dedupe;
pub mod dump;
pub mod field;
pub mod handlers;
pub mod fire;
pub mod input;
pub mod live;
pub mod mapping;
pub mod money;
pub mod payload;
pub mod replayer;
pub mod rows;
pub mod settings;
pub mod summary;

use anyhow::Result;
use chrono::Utc;

use crate::cli::Cli;
use crate::fire::StopReason;
use crate::replayer::Replayer;
use crate::settings::Settings;
use crate::summary::ExitCode;

/// The main job: check one client's file, dump it, and fire it.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::from_args(cli.run)?;
    let now = Utc::now();
    let mut summary = if settings.fire_tag {
        live::check_confirmation_possible(&settings)?;
        live::run_live(settings, now)?
    } else {
        let mut replayer = Replayer::new(settings, now)?;
        replayer.load_file(|_| Ok(()))?;
        replayer.finish()?
    };
    print_problems("exceptions (rows not fired)", &summary.shown_exceptions, summary.rows_with_exceptions);
    print_problems("warnings", &summary.shown_warnings, summary.warnings);
    print!("{}", summary.render());
    if let Some(reason) = summary.fire.as_ref().and_then(|fire| fire.stop) {
        eprintln!("{}", stop_message(reason));
    }
    Ok(summary.exit_code())
}

fn stop_message(reason: StopReason) -> String {
    let resume = "Rerun the same command to resume: rows already accepted are skipped, the rest are sent.";
    match reason {
        StopReason::DcsDown => format!(
            "stopped: the DCS looked down ({} requests in a row failed after every retry). Check that it is up, then resume. {resume}",
            fire::DOWN_AFTER_FAILURES
        ),
        StopReason::AccountRefused => format!(
            "stopped: the DCS refused the account (401/403): check the account token and its connection in attrib_account. {resume}"
        ),
        StopReason::Interrupted => format!("interrupted: requests in flight were finished and recorded. {resume}"),
    }
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
