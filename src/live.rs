//! A live run (`--fire-tag`): validate the whole file first, show what is about to happen and
//! ask, then fire the valid rows and record every answer.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::dump::Dumps;
use crate::fire::{fire_all, FireSettings, Fired, Firer, Hooks, Job, NoHooks, Stop, StopReason, Verdict};
use crate::replayer::Replayer;
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
        let file = tempfile::tempfile_in(directory).with_context(|| format!("cannot create a temporary file in {}", directory.display()))?;
        Ok(Spool { file: BufWriter::with_capacity(256 * 1024, file), rows: 0 })
    }

    fn push(&mut self, row: u64, account: &str, rid: &str, url: &str) -> Result<()> {
        // Tag URLs and tokens are percent-encoded or plain: no tab or newline can occur in them.
        writeln!(self.file, "{row}\t{account}\t{rid}\t{url}")?;
        self.rows += 1;
        Ok(())
    }

    fn into_reader(self) -> Result<BufReader<File>> {
        let mut file = self.file.into_inner().map_err(|error| error.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
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

fn preflight(summary: &Summary, settings: &Settings, to_fire: u64, over_limit: u64) -> String {
    let mut text = String::new();
    text.push_str(&format!("About to fire {to_fire} tag{} to {}\n", if to_fire == 1 { "" } else { "s" }, settings.request_url));
    if over_limit > 0 {
        text.push_str(&format!("  (--limit: {over_limit} more valid rows will not be sent)\n"));
    }
    text.push_str(&format!("  rows with exceptions, not fired: {}\n", summary.rows_with_exceptions));
    let list = |map: &std::collections::BTreeMap<String, u64>| map.iter().map(|(k, v)| format!("{k} ({v})")).collect::<Vec<_>>().join(", ");
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
        ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The whole live run. `hooks` wraps the sending (the journal); `NoHooks` sends everything.
pub fn run_live(settings: Settings, now: DateTime<Utc>) -> Result<Summary> {
    run_live_with(settings, now, NoHooks)
}

pub fn run_live_with<H: Hooks>(settings: Settings, now: DateTime<Utc>, hooks: H) -> Result<Summary> {
    let mut replayer = Replayer::new(settings.clone(), now)?;
    let mut spool = Spool::create(&settings.output_dir)?;
    let limit = settings.limit.unwrap_or(u64::MAX);
    let mut over_limit = 0;
    replayer.load_file(|valid| {
        if spool.rows < limit {
            spool.push(valid.row, valid.account, valid.rid, valid.tag_url)
        } else {
            over_limit += 1;
            Ok(())
        }
    })?;
    let (mut summary, dumps) = replayer.into_parts();
    let mut dumps = dumps.context("a live run writes its dumps")?;
    let to_fire = spool.rows;

    eprint!("{}", preflight(&summary, &settings, to_fire, over_limit));
    if !settings.yes && !confirm()? {
        summary.files_written = dumps.finish()?;
        bail!("not confirmed; nothing was sent");
    }

    let mut stats = FireStats { request_url: settings.request_url.clone(), over_limit, ..FireStats::default() };
    if to_fire > 0 {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(fire_spool(&settings, spool, &mut dumps, &mut stats, hooks))?;
    }
    summary.files_written = dumps.finish()?;
    summary.fire = Some(stats);
    Ok(summary)
}

async fn fire_spool<H: Hooks>(settings: &Settings, spool: Spool, dumps: &mut Dumps, stats: &mut FireStats, hooks: H) -> Result<()> {
    let to_fire = spool.rows;
    let stop = Arc::new(Stop::default());
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

    let bar = progress_bar(settings, to_fire);
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
    outcome?;
    let handled = stats.fired + stats.already_fired_total();
    stats.not_sent = to_fire.saturating_sub(handled);
    Ok(())
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
        let jobs: Vec<Job> = spool.into_reader().unwrap().lines().map(|line| parse_job(&line.unwrap()).unwrap()).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[1].row, jobs[1].url.as_str()), (9, "http://127.0.0.1/tag?y=1"));
    }
}
