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
pub mod fire;
pub mod handlers;
pub mod input;
pub mod journal;
pub mod live;
pub mod mapping;
pub mod money;
pub mod payload;
pub mod replayer;
pub mod rows;
pub mod run;
pub mod settings;
pub mod summary;
pub mod users;
pub mod web;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::cli::{Cli, Command};
use crate::db::{default_sqlite_url, Database};
use crate::fire::StopReason;
use crate::rows::KnownAccounts;
use crate::settings::Settings;
use crate::summary::ExitCode;

/// The main job: check one client's file, dump it, and fire it; or manage the accounts.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Accounts { command, database_url, output_dir }) => {
            runtime()?.block_on(accounts::run_accounts(command, database_url.as_deref(), &output_dir))?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Users { command, database_url, output_dir }) => {
            runtime()?.block_on(users::run_users(command, database_url.as_deref(), &output_dir))?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Serve(args)) => {
            web::serve(args)?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Completions { shell }) => return print_bytes(&cli::completions(shell)),
        Some(Command::Man) => return print_bytes(&cli::man_page().context("cannot render the manual page")?),
        None => {}
    }
    let settings = Settings::from_args(cli.run)?;
    if settings.fire_tag {
        live::check_confirmation_possible(&settings)?;
    }
    let now = Utc::now();
    let runtime = runtime()?;
    // A dry run without --database-url touches no database; a live run keeps its journal in the
    // embedded SQLite file unless a database is given.
    let database = match (&settings.database_url, settings.fire_tag) {
        (Some(url), _) => Some(runtime.block_on(Database::connect(url))?),
        (None, true) => {
            std::fs::create_dir_all(&settings.output_dir).with_context(|| {
                format!(
                    "cannot create the output directory {}; choose another with --output-dir",
                    settings.output_dir.display()
                )
            })?;
            Some(runtime.block_on(Database::connect(&default_sqlite_url(&settings.output_dir)))?)
        }
        (None, false) => None,
    };
    let accounts = match (&database, &settings.database_url) {
        (Some(database), Some(_)) => Some(runtime.block_on(async {
            database.ensure_accounts_table().await?;
            anyhow::Ok(KnownAccounts::new(database.accounts().await?))
        })?),
        _ => None,
    };
    let outcome = match database.clone() {
        Some(database) if settings.fire_tag => live::run_live(settings, now, &runtime, database, accounts),
        _ => run::dry_run(settings, now, accounts, &mut run::Silent),
    };
    if let Some(database) = database {
        runtime.block_on(database.close());
    }
    let mut summary = outcome?;
    print_problems("exceptions (rows not fired)", &summary.shown_exceptions, summary.rows_with_exceptions);
    print_problems("warnings", &summary.shown_warnings, summary.warnings);
    // Not print!: a closed pipe (`| head`) must not panic after the work is done.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), summary.render().as_bytes());
    if let Some(reason) = summary.fire.as_ref().and_then(|fire| fire.stop) {
        eprintln!("{}", stop_message(reason));
    }
    Ok(summary.exit_code())
}

/// Write generated text to stdout; a closed pipe (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> Result<ExitCode> {
    let _ = std::io::Write::write_all(&mut std::io::stdout(), bytes);
    Ok(ExitCode::Success)
}

/// One thread drives every request and the journal: on two cores, handing tasks between
/// threads costs more than it gives.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
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
        StopReason::LockLost => format!(
            "stopped: this run could not keep its lock on the accounts (see the error above), so another run may be firing them. \
             Check with `replayer accounts list` and the other run's output; once no other run is going, {}",
            resume.to_lowercase()
        ),
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
