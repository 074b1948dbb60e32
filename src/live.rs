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
use tokio::sync::mpsc;

use crate::db::{Database, RunInfo, HEARTBEAT_EVERY};
use crate::dump::Dumps;
use crate::fire::{fire_all, FireSettings, Fired, Firer, Hooks, Job, Stop, StopReason, Verdict};
use crate::journal::Journal;
use crate::replayer::Replayer;
use crate::rows::KnownAccounts;
use crate::settings::Settings;
use crate::summary::{FireStats, Summary};

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

fn preflight(
    summary: &Summary,
    settings: &Settings,
    to_fire: u64,
    over_limit: u64,
    already: &BTreeMap<String, u64>,
) -> String {
    let mut text = String::new();
    let skipped: u64 = already.values().sum();
    text.push_str(&format!(
        "About to fire {} tag{} to {}\n",
        to_fire - skipped,
        if to_fire - skipped == 1 { "" } else { "s" },
        settings.request_url
    ));
    if skipped > 0 {
        let runs: Vec<String> = already.iter().map(|(run, count)| format!("{count} by run {run}")).collect();
        text.push_str(&format!(
            "  already fired, skipped: {skipped} ({}; --refire sends them again)\n",
            runs.join(", ")
        ));
    }
    if over_limit > 0 {
        text.push_str(&format!("  (--limit: {over_limit} more valid rows will not be sent)\n"));
    }
    text.push_str(&format!("  rows with exceptions, not fired: {}\n", summary.rows_with_exceptions));
    let list = |map: &std::collections::BTreeMap<String, u64>| {
        map.iter().map(|(k, v)| format!("{k} ({v})")).collect::<Vec<_>>().join(", ")
    };
    text.push_str(&format!("  accounts: {}\n", list(&summary.accounts)));
    text.push_str(&format!("  events: {}\n", list(&summary.events)));
    if let Some(range) = summary.date_range() {
        text.push_str(&format!("  dates the nightly jobs will backdate: {range}\n"));
    }
    text
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

/// The whole live run, journaled in `database`: rows an earlier run got accepted are skipped.
pub fn run_live(
    settings: Settings,
    now: DateTime<Utc>,
    runtime: &Runtime,
    database: Database,
    accounts: Option<KnownAccounts>,
) -> Result<Summary> {
    let mut replayer = Replayer::new(settings.clone(), now, accounts)?;
    let mut spool = Spool::create(&settings.output_dir)?;
    let limit = settings.limit.unwrap_or(u64::MAX);
    let mut over_limit = 0;
    let mut tokens = BTreeSet::new();
    replayer.load_file(|valid| {
        if spool.rows < limit {
            if !tokens.contains(valid.account()) {
                tokens.insert(valid.account().to_owned());
            }
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
    let journal = Journal::new(database.clone(), run.clone(), &tokens);
    let (lock, spool, already) = runtime.block_on(async {
        database.ensure_journal().await?;
        let lock = database.acquire_lock(&tokens, &run).await?;
        // What a run that died left in the log goes into the journal before the look-up.
        journal.fold().await?;
        let (spool, already) = if settings.refire {
            (spool, BTreeMap::new())
        } else {
            skip_already_fired(&journal, spool, &settings.output_dir).await?
        };
        anyhow::Ok((lock, spool, already))
    })?;
    if let Some(note) = lock.took_over() {
        eprintln!("note: {note}");
    }

    // The lock's heartbeat runs from now on, the confirmation included; losing the lock stops
    // the run, since another run may then be firing the same accounts.
    let stop = Arc::new(Stop::default());
    // Hidden, for tests: a shorter heartbeat, so losing the lock can be seen in seconds.
    let every = std::env::var("REPLAYER_HEARTBEAT_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(HEARTBEAT_EVERY, std::time::Duration::from_secs_f64);
    let heartbeat = {
        let (lock, stop) = (lock.clone(), stop.clone());
        runtime.spawn(async move {
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

    eprint!("{}", preflight(&summary, &settings, to_fire, over_limit, &already));
    let confirmed = settings.yes || runtime.block_on(async { tokio::task::spawn_blocking(confirm).await })??;
    let mut stats = FireStats { request_url: settings.request_url.clone(), over_limit, ..FireStats::default() };
    let fired = if confirmed && spool.rows > 0 {
        runtime.block_on(fire_spool(&settings, spool, &mut dumps, &mut stats, journal.clone(), stop.clone()))
    } else {
        Ok(())
    };
    // Before the lock goes: the next run on these accounts finds everything in the journal.
    let folded = runtime.block_on(journal.fold());
    heartbeat.abort();
    if stats.stop.is_none() {
        stats.stop = stop.reason();
    }
    stats.already_fired = already;
    stats.not_sent = to_fire.saturating_sub(stats.fired + stats.already_fired_total());
    let released = runtime.block_on(lock.release());
    summary.files_written = dumps.finish()?;
    if !confirmed {
        bail!("not confirmed; nothing was sent");
    }
    fired?;
    folded?;
    released?;
    summary.fire = Some(stats);
    Ok(summary)
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

/// Take out of the spool the rows an earlier run got accepted, counted per run: before the
/// pre-flight summary, so it says what will really be sent. The spool is copied only when some
/// rows were accepted before (a rerun), not on a file's first run.
async fn skip_already_fired(
    journal: &Journal,
    mut spool: Spool,
    directory: &std::path::Path,
) -> Result<(Spool, BTreeMap<String, u64>)> {
    let mut runs = BTreeMap::new();
    let mut accepted_rows = HashSet::new();
    for batch in spool_batches(&mut spool)? {
        let batch = batch?;
        let accepted = journal.accepted(&batch).await?;
        for (job, run) in batch.iter().zip(accepted) {
            if let Some(run) = run {
                *runs.entry(run).or_insert(0) += 1;
                accepted_rows.insert(job.row);
            }
        }
    }
    if accepted_rows.is_empty() {
        return Ok((spool, runs));
    }
    let mut kept = Spool::create(directory)?;
    for batch in spool_batches(&mut spool)? {
        for job in batch?.iter().filter(|job| !accepted_rows.contains(&job.row)) {
            kept.push(job.row, &job.account, &job.rid, &job.url)?;
        }
    }
    Ok((kept, runs))
}

async fn fire_spool<H: Hooks>(
    settings: &Settings,
    spool: Spool,
    dumps: &mut Dumps,
    stats: &mut FireStats,
    hooks: H,
    stop: Arc<Stop>,
) -> Result<()> {
    let interrupt = stop.clone();
    let listener = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.set(StopReason::Interrupted);
        }
    });
    let firer = Arc::new(Firer::new(
        FireSettings {
            concurrency: settings.concurrency,
            rate: settings.rate,
            timeout: settings.timeout,
            max_retries: settings.max_retries,
        },
        stop.clone(),
    )?);

    let (sender, receiver) = mpsc::channel::<Job>(crate::fire::BATCH * 8);
    let spool_rows = spool.rows;
    let reader = spool.into_reader()?;
    let producer = std::thread::spawn(move || -> Result<()> {
        for line in reader.lines() {
            let line = line?;
            let job = parse_job(&line).context("the spool file is damaged")?;
            if sender.blocking_send(job).is_err() {
                break; // The run stopped: nobody takes more jobs.
            }
        }
        Ok(())
    });

    let bar = progress_bar(settings, spool_rows);
    let started = Instant::now();
    let outcome = fire_all(firer, receiver, hooks, |fired: &Fired| {
        stats.fired += 1;
        match fired.verdict {
            Verdict::Accepted => stats.accepted += 1,
            Verdict::Refused | Verdict::AccountRefused => stats.refused += 1,
            Verdict::Failed | Verdict::Abandoned => stats.failed += 1,
        }
        stats.latencies_ms.push(u32::try_from(fired.elapsed.as_millis()).unwrap_or(u32::MAX));
        dumps.response(&fired.response_line())?;
        if let Some(line) = fired.exception_line() {
            dumps.exception(&line)?;
        }
        bar.inc(1);
        if stats.fired % 64 == 1 || fired.verdict != Verdict::Accepted {
            bar.set_message(format!("accepted {} failed {}", stats.accepted, stats.refused + stats.failed));
        }
        Ok(())
    })
    .await;
    stats.elapsed = started.elapsed();
    bar.finish_and_clear();
    listener.abort();
    stats.stop = stop.reason();
    producer.join().map_err(|_| anyhow::anyhow!("the spool reader panicked"))??;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

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
