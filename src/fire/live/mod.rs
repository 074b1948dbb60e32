//! A live run (`--fire-tag`): validate the whole file first, show what is about to happen and
//! ask, then fire the valid rows and record every answer. This file holds the orchestration;
//! each part has its file: the spool of rows to fire, the journal look-up, the lock and its
//! heartbeat, the pre-flight's text, the terminal's prompt and its progress.

mod front;
mod hold;
mod look_up;
mod preflight;
mod progress;
mod prompt;
mod spool;

pub use front::FireFrontEnd;
pub use preflight::Preflight;
pub use prompt::check_confirmation_possible;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use tokio::runtime::Runtime;

use crate::ctrl_c::CtrlC;
use crate::db::{default_sqlite_url, Database, RunInfo};
use crate::fire::{fire_all, FireSettings, Fired, Firer, Hooks, Stop};
use crate::out::dump::Dumps;
use crate::out::summary::{FireStats, StopReason, Summary};
use crate::out::terminal::{Paint, Stream};
use crate::replayer::Replayer;
use crate::row::check::KnownAccounts;
use crate::settings::Settings;
use hold::hold;
use look_up::Earlier;
use preflight::preflight;
use progress::{count_batch, progress_bar};
use prompt::Terminal;
use spool::Spool;

/// The command line's live run: `fire_file` with the terminal as its front end.
pub fn run_live(
    settings: Settings,
    now: DateTime<Utc>,
    runtime: &Runtime,
    database: Option<Database>,
    accounts: Option<KnownAccounts>,
    ctrl_c: CtrlC,
) -> Result<Summary> {
    let mut terminal = Terminal {
        yes: settings.yes,
        bar: progress_bar(&settings),
        paint: Paint::for_stream(settings.color, Stream::Stderr),
        meter: None,
        ctrl_c,
    };
    let summary = fire_file(settings, now, runtime, database, accounts, &mut terminal, Arc::new(Stop::default()));
    terminal.bar.finish_and_clear();
    summary
}

/// The error of a live run that was not confirmed: nothing was sent and nothing was written.
pub const NOT_CONFIRMED: &str = "not confirmed; nothing was sent and nothing was written";

/// The whole live run of both front ends, journaled in `database` (None: the embedded SQLite
/// file, which does not exist yet and is created only once the run is confirmed): rows an
/// earlier run got accepted are skipped. `stop` stops it as Ctrl-C does.
pub fn fire_file(
    settings: Settings,
    now: DateTime<Utc>,
    runtime: &Runtime,
    database: Option<Database>,
    accounts: Option<KnownAccounts>,
    front: &mut dyn FireFrontEnd,
    stop: Arc<Stop>,
) -> Result<Summary> {
    let mut replayer = Replayer::new(settings.clone(), now, accounts)?;
    let mut spool = Spool::create(&settings.output_dir)?;
    let limit = settings.limit.unwrap_or(u64::MAX);
    let mut over_limit = 0;
    let mut tokens = BTreeSet::new();
    // The accounts, events and dates of the rows to fire, for the pre-flight.
    let mut selected = Summary { timezone: settings.mapping.timezone.name().to_owned(), ..Summary::default() };
    replayer.load_file(&|| front.stopped(), |valid| {
        if spool.rows < limit {
            if !tokens.contains(valid.account()) {
                tokens.insert(valid.account().to_owned());
            }
            selected.valid_row(valid.local_date(), valid.account(), valid.event());
            spool.push(valid.row, valid.account(), valid.rid(), valid.tag_url())
        } else {
            over_limit += 1;
            Ok(())
        }
    })?;
    let (mut summary, dumps) = replayer.into_parts();
    let mut dumps = dumps.context("a live run writes its dumps")?;
    let to_fire = spool.rows;

    let run = RunInfo {
        name: settings.name.clone(),
        token: dumps.token().to_owned(),
        started_at_ms: Utc::now().timestamp_millis(),
    };
    let tokens: Vec<String> = tokens.into_iter().collect();
    // With a database, the lock is taken and the journal read before the question, so that the
    // pre-flight says what will really be sent and no other run fires these accounts meanwhile.
    let (held, spool, earlier) = match &database {
        Some(database) => {
            let held = runtime.block_on(hold(database, &run, &tokens, spool, &settings, stop.clone()));
            // Refused (another run holds the lock) or failed: nothing was sent, nothing stays.
            let mut held = held.inspect_err(|_| {
                dumps.discard();
            })?;
            let spool = held.spool.take().expect("held just above");
            let earlier = std::mem::take(&mut held.earlier);
            (Some(held), spool, earlier)
        }
        None => (None, spool, Earlier::default()),
    };

    let preflight = preflight(&summary, &selected, &settings, to_fire, over_limit, &earlier);
    let confirmed = front.confirm(&preflight, runtime);
    if !matches!(confirmed, Ok(true)) {
        // Nothing written: the dumps go, and the output directory when this run made it.
        let released = match held {
            Some(held) => {
                held.heartbeat.abort();
                runtime.block_on(held.lock.release())
            }
            None => Ok(()),
        };
        dumps.discard();
        if let (Err(_), Err(error)) = (&confirmed, &released) {
            eprintln!("error: {error:#}");
        }
        confirmed?;
        released?;
        bail!(NOT_CONFIRMED);
    }
    let (held, spool) = match held {
        Some(held) => (held, spool),
        None => {
            // The embedded database is made now, once the run is confirmed.
            let held = runtime.block_on(async {
                let database = Database::connect(&default_sqlite_url(&settings.output_dir)).await?;
                hold(&database, &run, &tokens, spool, &settings, stop.clone()).await
            });
            let mut held = held.inspect_err(|_| {
                dumps.discard();
            })?;
            let spool = held.spool.take().expect("held just above");
            (held, spool)
        }
    };
    let journal = held.journal.clone();

    let mut stats = FireStats {
        request_url: crate::db::redact_request_url(&settings.request_url),
        proxy: settings.proxies.shown_for(&settings.request_url),
        over_limit,
        ..FireStats::default()
    };
    stats.already_fired = earlier.accepted;
    let fired = if spool.rows > 0 {
        runtime.block_on(fire_spool(&settings, spool, &mut dumps, &mut stats, journal.clone(), stop.clone(), front))
    } else {
        Ok(())
    };
    held.heartbeat.abort();
    // Before the lock goes: the next run on these accounts finds everything in the journal. Not
    // after a second Ctrl-C (the next run folds what is in the log) or a journal failure.
    let folded = match stop.reason() {
        _ if stop.is_aborted() => Ok(()),
        Some(StopReason::DatabaseFailed) => Ok(()),
        _ => runtime.block_on(journal.fold()),
    };
    let released = runtime.block_on(async {
        tokio::time::timeout(RELEASE_WITHIN, held.lock.release()).await.unwrap_or_else(|_| {
            Err(anyhow::anyhow!("the database did not answer within {} s", RELEASE_WITHIN.as_secs()))
        })
    });
    if database.is_none() {
        // Made by this run: closing it checkpoints its WAL file back into the database.
        runtime.block_on(journal.database().close());
    }
    stats.stop = stop.reason();
    stats.stop_detail = stop.detail();
    stats.aborted = stop.is_aborted();
    stats.not_sent = to_fire.saturating_sub(stats.fired + stats.already_fired_total());
    summary.files_written = dumps.finish()?;
    fired?;
    // The firing is over and recorded in the dumps: a database failure now is reported with the
    // summary (exit 3), not instead of it.
    if let Err(error) = folded {
        stats.stop.get_or_insert(StopReason::DatabaseFailed);
        stats.stop_detail.get_or_insert(format!("{error:#}"));
    }
    if let Err(error) = released {
        eprintln!(
            "warning: the lock on the accounts could not be let go ({error:#}); it goes stale by itself in {} minutes",
            crate::db::STALE_AFTER.as_secs() / 60
        );
    }
    summary.fire = Some(stats);
    Ok(summary)
}

/// How long letting go of the lock may take at the end of a run.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn fire_spool<H: Hooks>(
    settings: &Settings,
    spool: Spool,
    dumps: &mut Dumps,
    stats: &mut FireStats,
    hooks: H,
    stop: Arc<Stop>,
    front: &mut dyn FireFrontEnd,
) -> Result<()> {
    // Ctrl-C stops the sending and lets the requests in flight finish; a second one stops at once.
    // A press since the confirmation stops the run before its first request.
    let interrupt = stop.clone();
    let presses = front.ctrl_c();
    if presses.as_ref().is_some_and(|presses| presses.count() > 0) {
        stop.set(StopReason::Interrupted);
    }
    let listener = tokio::spawn(async move {
        let Some(presses) = presses else { return };
        presses.wait_for(1).await;
        interrupt.set(StopReason::Interrupted);
        eprintln!("\ninterrupted: finishing the requests in flight (Ctrl-C again to stop at once)");
        presses.wait_for(2).await;
        interrupt.abort();
    });
    let firer = Arc::new(Firer::new(
        FireSettings {
            concurrency: settings.concurrency,
            rate: settings.rate,
            timeout: settings.timeout,
            max_retries: settings.max_retries,
            ca_certs: settings.ca_certs.clone(),
            proxies: settings.proxies.clone(),
        },
        stop.clone(),
    )?);

    let spool_rows = spool.rows;
    let jobs = spool.into_jobs()?;

    front.progress(stats, spool_rows);
    let started = Instant::now();
    let outcome = fire_all(firer, jobs, hooks, |batch: &[Fired]| {
        for fired in batch {
            dumps.response(&fired.response_line())?;
            if let Some(line) = fired.exception_line() {
                dumps.exception(&line)?;
            }
        }
        // Out of this process before the journal records the batch: a kill -9 leaves the
        // `responses` dump holding every answer the journal holds.
        dumps.flush()?;
        count_batch(stats, batch);
        stats.elapsed = started.elapsed();
        front.progress(stats, spool_rows);
        Ok(())
    })
    .await;
    stats.elapsed = started.elapsed();
    listener.abort();
    outcome
}
