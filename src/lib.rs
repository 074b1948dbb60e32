//! replayer: turn a client's CSV of offline sales and visits into the tags the DCS would have
//! seen, dump them and fire them. Data flows one way: arguments → settings → rows → payloads →
//! (dump files, HTTP, journal) → summary.

pub mod accounts;
pub mod cli;
pub mod ctrl_c;
pub mod dates;
pub mod db;
pub mod field;
pub mod fire;
pub mod out;
pub mod read;
pub mod replayer;
pub mod row;
pub mod run;
pub mod settings;
pub mod users;
pub mod web;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::cli::{Cli, Command};
use crate::ctrl_c::{CtrlC, Interrupted};
use crate::db::Database;
use crate::out::summary::StopReason;
use crate::out::summary::{ExitCode, FireStats};
use crate::row::check::KnownAccounts;
use crate::settings::Settings;

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
        fire::live::check_confirmation_possible(&settings)?;
    }
    let now = Utc::now();
    let runtime = runtime()?;
    // SPEC §8: --database-url, else the embedded SQLite file when it exists. Neither a dry run
    // nor a live run creates it here: a live run makes it once the run is confirmed.
    let database = match &settings.database_url {
        Some(url) => Some(runtime.block_on(Database::connect(url))?),
        None => runtime.block_on(db::open_embedded(&settings.output_dir))?,
    };
    let accounts = match (&database, &settings.database_url) {
        (Some(database), Some(_)) => Some(runtime.block_on(async {
            database.ensure_accounts_table().await?;
            database.accounts().await
        })?),
        // The embedded file: its tokens are checked when its attrib_account has rows.
        (Some(database), None) => runtime.block_on(database.embedded_accounts())?,
        (None, _) => None,
    };
    let accounts_database = match (&database, &accounts) {
        (Some(database), Some(_)) => Some(database.redacted_url()),
        _ => None,
    };
    let accounts = accounts.map(KnownAccounts::new);
    let (fire_tag, dump_data) = (settings.fire_tag, settings.dump_data);
    // From here Ctrl-C stops the run cleanly (before, nothing has been written to clean up):
    // until the firing, through `ctrl_c`.
    let ctrl_c = CtrlC::watch()?;
    let outcome = if fire_tag {
        fire::live::run_live(settings, now, &runtime, database.clone(), accounts, ctrl_c)
    } else {
        run::dry_run(settings, now, accounts, &ctrl_c)
    };
    if let Some(database) = database {
        runtime.block_on(database.close());
    }
    let mut summary = match outcome {
        Err(error) => match error.downcast_ref::<Interrupted>() {
            Some(interrupted) => {
                eprintln!("{}", interrupted_message(*interrupted, fire_tag, dump_data));
                return Ok(ExitCode::Interrupted);
            }
            None => return Err(error),
        },
        Ok(summary) => summary,
    };
    summary.accounts_database = accounts_database;
    print_problems("exceptions (rows not fired)", &summary.shown_exceptions, summary.rows_with_exceptions);
    print_problems("warnings", &summary.shown_warnings, summary.warnings);
    // Not print!: a closed pipe (`| head`) must not panic after the work is done.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), summary.render().as_bytes());
    if let Some(message) = summary.fire.as_ref().and_then(stop_message) {
        eprintln!("{message}");
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

fn interrupted_message(interrupted: Interrupted, fire_tag: bool, dump_data: bool) -> String {
    match interrupted {
        Interrupted::WhileChecking { rows } if !fire_tag => {
            let dumps = if dump_data {
                ", and the dump files it was writing were removed (a part of the file would read as the whole of it)"
            } else {
                ""
            };
            format!(
                "interrupted after checking {rows} rows: the dry run stopped{dumps}. Nothing was sent. Run it again to check the whole file."
            )
        }
        Interrupted::WhileChecking { rows } => {
            format!(
                "interrupted after checking {rows} rows, before the firing: nothing was sent and nothing was written."
            )
        }
        Interrupted::BeforeFiring => {
            "interrupted before the firing: nothing was sent and nothing was written.".to_owned()
        }
    }
}

fn stop_message(fire: &FireStats) -> Option<String> {
    let resume = "Rerun the same command to resume: rows already accepted are skipped, the rest are sent.";
    let detail = fire.stop_detail.as_deref().unwrap_or("see the error above");
    let message = match fire.stop? {
        StopReason::DcsDown => format!(
            "stopped: the DCS looked down ({} requests in a row failed after every retry). Check that it is up, then resume. {resume}",
            fire::DOWN_AFTER_FAILURES
        ),
        StopReason::AccountRefused => format!(
            "stopped: the DCS refused the account (401/403): check the account token and its connection in attrib_account. {resume}"
        ),
        StopReason::Interrupted if fire.aborted => format!(
            "interrupted twice: stopped at once; the answers received were recorded, the requests still in flight were not waited for (the rerun sends them again, with the same rid). {resume}"
        ),
        StopReason::Interrupted => format!("interrupted: requests in flight were finished and recorded. {resume}"),
        StopReason::LockLost => format!(
            "stopped: this run could not keep its lock on the accounts (see the error above), so another run may be firing them. \
             Check with `replayer accounts list` and the other run's output; once no other run is going, {}",
            resume.to_lowercase()
        ),
        StopReason::CannotConnect => format!(
            "stopped: {detail}. Retrying every row cannot fix this, so nothing more was sent. {resume}"
        ),
        StopReason::DatabaseFailed => format!(
            "stopped: the journal could not be written ({detail}), so nothing more was sent: every answer received is in the responses dump. \
             Rows whose answer did not reach the journal are sent again by the rerun (same rid). Once the database is back, {}",
            resume.to_lowercase()
        ),
        StopReason::OutputFailed => format!("stopped: {detail}. {resume}"),
    };
    Some(message)
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
