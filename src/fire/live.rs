//! A live run (`--fire-tag`): validate the whole file first, show what is about to happen and
//! ask, then fire the valid rows and record every answer.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::runtime::Runtime;

use crate::ctrl_c::{CtrlC, Interrupted, Presses};
use crate::db::{default_sqlite_url, Database, RunInfo, HEARTBEAT_EVERY};
use crate::fire::journal::Journal;
use crate::fire::{fire_all, FireSettings, Fired, Firer, Hooks, Job, Stop, Verdict};
use crate::out::dump::Dumps;
use crate::out::summary::{FireStats, StopReason, Summary};
use crate::replayer::Replayer;
use crate::row::check::KnownAccounts;
use crate::settings::Settings;

/// Valid rows waiting to be fired, spooled to a private temporary file so that exactly the rows
/// that were validated and dumped are the ones sent, however large the file.
struct Spool {
    file: BufWriter<File>,
    rows: u64,
}

impl Spool {
    fn create(directory: &std::path::Path) -> Result<Spool> {
        // tempfile creates it readable by its owner only, and it is gone when closed.
        let file = tempfile::tempfile_in(directory)
            .with_context(|| format!("cannot create a temporary file in {}", directory.display()))?;
        Ok(Spool { file: BufWriter::with_capacity(256 * 1024, file), rows: 0 })
    }

    fn push(&mut self, row: u64, account: &str, rid: &str, url: &str) -> Result<()> {
        // Tag URLs and tokens are percent-encoded or plain: no tab or newline can occur in them.
        writeln!(self.file, "{row}\t{account}\t{rid}\t{url}")?;
        self.rows += 1;
        Ok(())
    }

    /// A reader from the start of everything pushed so far.
    fn reader(&mut self) -> Result<BufReader<File>> {
        self.file.flush()?;
        let mut file = self.file.get_ref().try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
    }

    fn into_reader(mut self) -> Result<BufReader<File>> {
        self.reader()
    }
}

fn parse_job(line: &str) -> Option<Job> {
    let mut parts = line.splitn(4, '\t');
    Some(Job {
        row: parts.next()?.parse().ok()?,
        account: parts.next()?.to_owned(),
        rid: parts.next()?.to_owned(),
        url: parts.next()?.to_owned(),
    })
}

/// Refuse a live run that nobody can confirm, before anything else happens.
pub fn check_confirmation_possible(settings: &Settings) -> Result<()> {
    if !settings.yes && !std::io::stdin().is_terminal() {
        bail!(
            "--fire-tag asks for a confirmation, and there is no terminal to ask on; nothing was sent. \
             Check the dry run (--dump-data), then run again with --yes"
        );
    }
    Ok(())
}

/// What the pre-flight of §7 says: its text, and the number of tags that will be sent.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    pub text: String,
    /// Rows to fire, less those accepted before: what the operator confirms.
    pub sending: u64,
    pub already_fired: u64,
    pub with_exceptions: u64,
}

/// What differs between the two front ends of a live run: how the pre-flight is confirmed,
/// where progress goes, and whether Ctrl-C stops the run.
pub trait FireFrontEnd {
    /// Asked once the pre-flight is known, with the lock held; `false` sends and writes nothing.
    fn confirm(&mut self, preflight: &Preflight, runtime: &Runtime) -> Result<bool>;
    /// After every batch of answers, with the exact counts so far out of `total` to send.
    fn progress(&mut self, stats: &FireStats, total: u64);
    /// The command line's Ctrl-C presses, which stop the firing; the server stops it through the
    /// run's `Stop`.
    fn ctrl_c(&self) -> Option<Arc<Presses>>;
    /// Asked before each batch of rows while the file is checked: `true` (Ctrl-C pressed) ends
    /// the run before anything is sent, with `Interrupted`.
    fn stopped(&self) -> bool {
        self.ctrl_c().is_some_and(|presses| presses.count() > 0)
    }
}

/// The command line: the pre-flight on stderr, a question on the terminal, a progress bar.
struct Terminal {
    yes: bool,
    bar: ProgressBar,
    /// Before the firing it stops the run with `Interrupted`; during it, `fire_spool` counts it.
    ctrl_c: CtrlC,
}

impl FireFrontEnd for Terminal {
    fn confirm(&mut self, preflight: &Preflight, runtime: &Runtime) -> Result<bool> {
        eprint!("{}", preflight.text);
        let confirmed = if self.yes { Ok(true) } else { runtime.block_on(ask(&self.ctrl_c)) };
        // However late it came (the last batch, while the lock was taken, with the answer), a
        // Ctrl-C before this point stops the run before anything is sent.
        if self.ctrl_c.pressed() {
            return Err(Interrupted::BeforeFiring.into());
        }
        if matches!(confirmed, Ok(true)) {
            self.ctrl_c.presses().hand_over_to_the_firing();
        }
        confirmed
    }

    fn progress(&mut self, stats: &FireStats, total: u64) {
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
        show_counts(&self.bar, stats);
    }

    fn ctrl_c(&self) -> Option<Arc<Presses>> {
        Some(self.ctrl_c.presses())
    }
}

/// What an earlier run did with the rows about to be fired, counted for the pre-flight.
#[derive(Debug, Default)]
struct Earlier {
    /// Accepted before, per run: skipped unless `--refire`.
    accepted: BTreeMap<String, u64>,
    refused: u64,
    failed: u64,
    /// Marked sent by a run that died, with no answer recorded: their fate is unknown.
    unanswered: u64,
}

/// The pre-flight of §7. `selected` counts the accounts, events and dates of the rows to fire
/// (with `--limit`, only the first rows).
fn preflight(
    summary: &Summary,
    selected: &Summary,
    settings: &Settings,
    to_fire: u64,
    over_limit: u64,
    earlier: &Earlier,
) -> Preflight {
    let mut text = String::new();
    let skipped: u64 = earlier.accepted.values().sum();
    let sending = to_fire - skipped;
    text.push_str(&format!(
        "About to fire {sending} tag{} to {}\n",
        if sending == 1 { "" } else { "s" },
        settings.request_url
    ));
    if skipped > 0 {
        let runs: Vec<String> = earlier.accepted.iter().map(|(run, count)| format!("{count} by run {run}")).collect();
        text.push_str(&format!(
            "  already fired, skipped: {skipped} ({}; --refire sends them again)\n",
            runs.join(", ")
        ));
    }
    let were = |count: u64| if count == 1 { "was" } else { "were" };
    if earlier.refused > 0 {
        let count = earlier.refused;
        text.push_str(&format!("  {count} {} refused before and will be sent again\n", were(count)));
    }
    if earlier.failed > 0 {
        let count = earlier.failed;
        text.push_str(&format!("  {count} failed before (sent, not accepted) and will be sent again\n"));
    }
    if earlier.unanswered > 0 {
        let count = earlier.unanswered;
        text.push_str(&format!(
            "  up to {count} row{} may have been sent by a run that died; they are sent again with the same rid, so the DCS drops repeats\n",
            if count == 1 { "" } else { "s" }
        ));
    }
    if over_limit > 0 {
        text.push_str(&format!("  (--limit: {over_limit} more valid rows will not be sent)\n"));
    }
    text.push_str(&format!("  rows with exceptions, not fired: {}\n", summary.rows_with_exceptions));
    let list =
        |map: &BTreeMap<String, u64>| map.iter().map(|(k, v)| format!("{k} ({v})")).collect::<Vec<_>>().join(", ");
    text.push_str(&format!("  accounts: {}\n", list(&selected.accounts)));
    text.push_str(&format!("  events: {}\n", list(&selected.events)));
    if let Some(range) = selected.date_range() {
        text.push_str(&format!("  dates the nightly jobs will backdate: {range}\n"));
    }
    Preflight { text, sending, already_fired: skipped, with_exceptions: summary.rows_with_exceptions }
}

/// Asks on the terminal, on a thread of its own: Ctrl-C ends the wait at once, while the lock's
/// heartbeat goes on running on the runtime. (A blocking task would keep the runtime from
/// shutting down until someone pressed Enter.)
async fn ask(ctrl_c: &CtrlC) -> Result<bool> {
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || sender.send(confirm()));
    let presses = ctrl_c.presses();
    tokio::select! {
        answer = answer => answer.context("the question ended without an answer")?,
        () = presses.wait_for(1) => Err(Interrupted::BeforeFiring.into()),
    }
}

fn confirm() -> Result<bool> {
    eprint!("Fire these tags? Type \"yes\" to go on: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn progress_bar(settings: &Settings, total: u64) -> ProgressBar {
    if settings.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(5));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {rate} ETA {eta} {msg}")
            .expect("valid template")
            .with_key("rate", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}/s", state.per_sec());
            })
            .progress_chars("=> "),
    );
    bar
}

/// The command line's live run: `fire_file` with the terminal as its front end.
pub fn run_live(
    settings: Settings,
    now: DateTime<Utc>,
    runtime: &Runtime,
    database: Option<Database>,
    accounts: Option<KnownAccounts>,
    ctrl_c: CtrlC,
) -> Result<Summary> {
    let mut terminal = Terminal { yes: settings.yes, bar: progress_bar(&settings, 0), ctrl_c };
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

    let mut stats = FireStats { request_url: settings.request_url.clone(), over_limit, ..FireStats::default() };
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

/// What a live run holds while it fires: the lock (and its heartbeat), the journal, and the
/// spool of rows still to fire.
struct Held {
    lock: crate::db::Lock,
    heartbeat: tokio::task::JoinHandle<()>,
    journal: Journal,
    spool: Option<Spool>,
    earlier: Earlier,
}

/// Take the lock on `tokens`, start its heartbeat, fold what a dead run left, and take out of the
/// spool the rows accepted before (counting what the journal says of the rest).
async fn hold(
    database: &Database,
    run: &RunInfo,
    tokens: &[String],
    spool: Spool,
    settings: &Settings,
    stop: Arc<Stop>,
) -> Result<Held> {
    database.ensure_journal().await?;
    let lock = database.acquire_lock(tokens, run).await?;
    if let Some(note) = lock.took_over() {
        eprintln!("note: {note}");
    }
    let journal = Journal::new(database.clone(), run.clone(), tokens);
    // What a run that died left in the log goes into the journal before the look-up.
    journal.fold().await?;
    let (spool, earlier) = look_up(&journal, spool, &settings.output_dir, settings.refire).await?;
    // The heartbeat runs from now on, the confirmation included; losing the lock stops the run,
    // since another run may then be firing the same accounts.
    // Hidden, for tests: a shorter heartbeat, so losing the lock can be seen in seconds.
    let every = std::env::var("REPLAYER_HEARTBEAT_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .filter(|seconds: &f64| seconds.is_finite() && *seconds > 0.0 && *seconds < 3600.0)
        .map_or(HEARTBEAT_EVERY, std::time::Duration::from_secs_f64);
    let heartbeat = {
        let (lock, stop) = (lock.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = lock.heartbeat().await {
                    eprintln!("error: {error:#}");
                    stop.set(StopReason::LockLost);
                    return;
                }
            }
        })
    };
    Ok(Held { lock, heartbeat, journal, spool: Some(spool), earlier })
}

/// Read the spool's jobs in batches of 1,000.
fn spool_batches(spool: &mut Spool) -> Result<impl Iterator<Item = Result<Vec<Job>>>> {
    let mut lines = spool.reader()?.lines();
    Ok(std::iter::from_fn(move || {
        let mut batch = Vec::with_capacity(1000);
        for line in lines.by_ref() {
            let job = line
                .map_err(anyhow::Error::from)
                .and_then(|line| parse_job(&line).context("the spool file is damaged"));
            match job {
                Ok(job) => batch.push(job),
                Err(error) => return Some(Err(error)),
            }
            if batch.len() == 1000 {
                break;
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }))
}

/// Take out of the spool the rows an earlier run got accepted (unless `refire`), counted per
/// run, and count what the journal says of the others: before the pre-flight, so it says what
/// will really be sent. The spool is copied only when some rows were accepted before (a rerun),
/// not on a file's first run.
async fn look_up(
    journal: &Journal,
    mut spool: Spool,
    directory: &std::path::Path,
    refire: bool,
) -> Result<(Spool, Earlier)> {
    let mut earlier = Earlier::default();
    let mut accepted_rows = HashSet::new();
    for batch in spool_batches(&mut spool)? {
        let batch = batch?;
        for (job, found) in batch.iter().zip(journal.earlier(&batch).await?) {
            match found {
                crate::fire::journal::Earlier::Accepted(_) if refire => {}
                crate::fire::journal::Earlier::Accepted(run) => {
                    *earlier.accepted.entry(run).or_insert(0) += 1;
                    accepted_rows.insert(job.row);
                }
                crate::fire::journal::Earlier::Refused => earlier.refused += 1,
                crate::fire::journal::Earlier::Failed => earlier.failed += 1,
                crate::fire::journal::Earlier::Sent => earlier.unanswered += 1,
                crate::fire::journal::Earlier::Nothing => {}
            }
        }
    }
    if accepted_rows.is_empty() {
        return Ok((spool, earlier));
    }
    let mut kept = Spool::create(directory)?;
    for batch in spool_batches(&mut spool)? {
        for job in batch?.iter().filter(|job| !accepted_rows.contains(&job.row)) {
            kept.push(job.row, &job.account, &job.rid, &job.url)?;
        }
    }
    Ok((kept, earlier))
}

/// Counts a batch of answers.
fn count_batch(stats: &mut FireStats, batch: &[Fired]) {
    for fired in batch {
        stats.fired += 1;
        match fired.verdict {
            Verdict::Accepted => stats.accepted += 1,
            Verdict::Refused | Verdict::AccountRefused => stats.refused += 1,
            Verdict::Failed | Verdict::Abandoned => stats.failed += 1,
        }
        stats.latencies_ms.push(u32::try_from(fired.elapsed.as_millis()).unwrap_or(u32::MAX));
    }
}

/// The exact counts on the progress bar.
fn show_counts(bar: &ProgressBar, stats: &FireStats) {
    bar.set_position(stats.fired);
    bar.set_message(format!("accepted {} failed {}", stats.accepted, stats.refused + stats.failed));
}

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
        },
        stop.clone(),
    )?);

    let spool_rows = spool.rows;
    let jobs = spool.into_reader()?.lines().map(|line| {
        let line = line.context("cannot read the spool file")?;
        parse_job(&line).context("the spool file is damaged")
    });

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ctrl_c_before_the_confirmation_stops_the_run_even_with_yes() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let preflight = Preflight { text: String::new(), sending: 5, already_fired: 0, with_exceptions: 0 };
        let mut terminal = Terminal { yes: true, bar: ProgressBar::hidden(), ctrl_c: CtrlC::pressed_once() };
        assert!(terminal.stopped());
        let confirmed = terminal.confirm(&preflight, &runtime);
        let error = confirmed.expect_err("a run pressed to stop was confirmed");
        assert_eq!(error.downcast_ref::<Interrupted>(), Some(&Interrupted::BeforeFiring));
    }

    #[test]
    fn the_progress_bar_shows_exact_counts_after_every_batch() {
        let bar = ProgressBar::hidden();
        bar.set_length(32);
        let mut stats = FireStats::default();
        let fired = |row: u64, verdict: Verdict| Fired {
            job: Job { row, account: "acct-0001".into(), rid: "r".repeat(32), url: String::new() },
            verdict,
            status: Some(if verdict == Verdict::Accepted { 200 } else { 400 }),
            error: None,
            attempts: 1,
            elapsed: std::time::Duration::from_millis(3),
            body: String::new(),
        };
        let all: Vec<Fired> =
            (0..32).map(|row| fired(row + 2, if row == 7 { Verdict::Refused } else { Verdict::Accepted })).collect();
        for (done, batch) in all.chunks(5).enumerate() {
            count_batch(&mut stats, batch);
            show_counts(&bar, &stats);
            let fired = (5 * (done as u64 + 1)).min(32);
            assert_eq!(bar.position(), fired);
            let refused = u64::from(fired > 7);
            assert_eq!(bar.message(), format!("accepted {} failed {refused}", fired - refused));
        }
        assert_eq!((stats.fired, stats.accepted, stats.refused), (32, 31, 1));
    }

    #[test]
    fn spool_round_trips_jobs() {
        let directory = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(directory.path()).unwrap();
        spool.push(2, "acct-0001", &"a".repeat(32), "http://127.0.0.1/tag?x=%09").unwrap();
        spool.push(9, "acct-0001", &"b".repeat(32), "http://127.0.0.1/tag?y=1").unwrap();
        let jobs: Vec<Job> =
            spool.into_reader().unwrap().lines().map(|line| parse_job(&line.unwrap()).unwrap()).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[1].row, jobs[1].url.as_str()), (9, "http://127.0.0.1/tag?y=1"));
    }
}
