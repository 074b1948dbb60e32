//! replayer: turn a client's CSV of offline sales and visits into the tags the DCS would have
//! seen, dump them and fire them. Data flows one way: arguments → settings → rows → payloads →
//! (dump files, HTTP, journal) → summary.

pub mod accounts;
pub mod cli;
pub mod clients;
pub mod ctrl_c;
pub mod dates;
pub mod db;
pub mod field;
pub mod fire;
pub mod out;
pub mod problem;
pub mod proxy;
pub mod read;
pub mod replayer;
pub mod row;
pub mod run;
pub mod settings;
pub mod template;
pub mod users;
pub mod web;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::cli::{Cli, Command};
use crate::ctrl_c::{CtrlC, Interrupted};
use crate::db::Database;
use crate::out::report::Report;
use crate::out::summary::{ExitCode, FireStats, Summary};
use crate::out::terminal::{render_groups, wrap, wrap_lines, Paint, Stream, WIDTH};
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
        Some(Command::Clients { command, database_url, output_dir }) => {
            runtime()?.block_on(clients::run_clients(command, database_url.as_deref(), &output_dir))?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Serve(args)) => {
            web::serve(args)?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Template(args)) => {
            template::run_template(&args)?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Completions { shell }) => return print_bytes(&cli::completions(shell)),
        Some(Command::Man) => return print_bytes(&cli::man_page().context("cannot render the manual page")?),
        None => {}
    }
    let (report, color) = (cli.run.report.clone(), cli.run.color);
    let ended = main_job(cli.run);
    let paint = Paint::for_stream(color, Stream::Stderr);
    let (code, written) = match ended {
        Ok(Ended::Summary(mut summary)) => {
            // A live run showed its exceptions in the pre-flight, before the question.
            if summary.fire.is_none() {
                eprint!("{}", render_groups("exceptions (rows not fired)", &summary.exception_groups, paint));
            }
            eprint!("{}", render_groups("warnings", &summary.warning_groups, paint));
            // Not print!: a closed pipe (`| head`) must not panic after the work is done.
            // On a terminal, lines stay within 80 columns; a pipe gets them whole, one a line.
            let mut text = summary.render();
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                text = wrap_lines(&text, 22);
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            if let Some(message) = summary.fire.as_ref().and_then(FireStats::stop_message) {
                eprintln!("{}", paint.red(&wrap(&message, WIDTH, 0)));
            }
            (summary.exit_code(), report.map(|path| (path, Report::of(&mut summary))))
        }
        Ok(Ended::Interrupted(message)) => {
            eprintln!("{}", wrap(&message, WIDTH, 0));
            let code = ExitCode::Interrupted;
            (code, report.map(|path| (path, Report::without_summary(code, "interrupted", &message))))
        }
        Err(error) => {
            if let Some(path) = report {
                let message = format!("{error:#}");
                let written =
                    Report::without_summary(ExitCode::CouldNotStart, "could_not_start", &message).write(&path);
                if let Err(failed) = written {
                    eprintln!("error: {failed:#}");
                }
            }
            return Err(error);
        }
    };
    if let Some((path, report)) = written {
        report.write(&path)?;
    }
    Ok(code)
}

/// How the main job ended, when it did not fail.
enum Ended {
    Summary(Box<Summary>),
    /// Stopped by Ctrl-C before anything was sent: what to tell the person.
    Interrupted(String),
}

/// Check one client's file, dump it, and fire it.
fn main_job(args: cli::RunArgs) -> Result<Ended> {
    let runtime = runtime()?;
    // SPEC §13: --client reads the mapping the database keeps, instead of a file.
    let stored = match &args.client {
        Some(name) => {
            Some(runtime.block_on(clients::mapping_for_run(name, args.database_url.as_deref(), &args.output_dir))?)
        }
        None => None,
    };
    let settings = Settings::from_args_with(args, None, stored)?;
    if settings.fire_tag {
        fire::live::check_confirmation_possible(&settings)?;
    }
    let now = Utc::now();
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
    match outcome {
        Err(error) => match error.downcast_ref::<Interrupted>() {
            Some(interrupted) => Ok(Ended::Interrupted(interrupted_message(*interrupted, fire_tag, dump_data))),
            None => Err(error),
        },
        Ok(mut summary) => {
            summary.accounts_database = accounts_database;
            Ok(Ended::Summary(Box::new(summary)))
        }
    }
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
