//! The firing pipeline: the journal stage hands batches to the sending tasks, and the answers
//! go, in batches, to the dumps and then the journal.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::{mpsc, Mutex};

use crate::out::summary::FireStats;

use super::*;

/// Hooks around sending, so a journal can wrap it: `prepare` sees each batch before it is sent
/// (and may drop rows from it), `complete` sees the results in batches, and `unsent` the jobs
/// `prepare` saw that never left because the run stopped.
pub trait Hooks: Clone + Send + 'static {
    fn prepare(&mut self, batch: &mut Vec<Job>) -> impl Future<Output = Result<()>> + Send;
    fn complete(&mut self, results: &[Fired]) -> impl Future<Output = Result<()>> + Send;
    fn unsent(&mut self, _jobs: &[Job]) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

/// Jobs taken from the queue at once: the journal's batch.
pub const BATCH: usize = 1024;

/// The longest an answer waits in hand before it is written to the `responses` dump and the
/// journal. A run killed with `kill -9` fires again at most what was answered in the last 100 ms
/// (SPEC §8): this wait, plus the commit under way and the batch's own, must stay within it.
pub const RECORD_EVERY: Duration = Duration::from_millis(30);

/// How long a second Ctrl-C waits for the last answers to reach the journal.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// The journaled batches, shared by the sending tasks.
struct Queue {
    batch: std::vec::IntoIter<Job>,
    ready: mpsc::Receiver<Vec<Job>>,
}

impl Queue {
    /// The next job, or none when the batches are over or the run stops. A job not taken when
    /// the run stops was prepared (journaled as sent) but never left: see `left_over`.
    async fn next(&mut self, stop: &Stop) -> Option<Job> {
        loop {
            if stop.reason().is_some() {
                return None;
            }
            if let Some(job) = self.batch.next() {
                return Some(job);
            }
            let batch = tokio::select! {
                biased;
                _ = stop.wait() => None,
                batch = self.ready.recv() => batch,
            };
            self.batch = batch?.into_iter();
        }
    }

    /// The jobs prepared and never taken: the rest of the batch in hand and the batches waiting.
    /// Called once the journal stage is over, so no batch can still arrive.
    fn left_over(&mut self, mut unsent: Vec<Job>) -> Vec<Job> {
        unsent.extend(self.batch.by_ref());
        while let Ok(batch) = self.ready.try_recv() {
            unsent.extend(batch);
        }
        unsent
    }
}

/// Failures in a row, with their causes: what a stop on a dead DCS says it saw.
#[derive(Default)]
struct Streak(std::sync::Mutex<(u32, std::collections::BTreeMap<String, u64>)>);

impl Streak {
    fn reset(&self) {
        let mut streak = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if streak.0 > 0 {
            *streak = Default::default();
        }
    }

    /// One more failure; at `DOWN_AFTER_FAILURES`, the causes of the streak (`500 ×20`).
    fn add(&self, cause: String) -> Option<String> {
        let mut streak = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        streak.0 += 1;
        *streak.1.entry(cause).or_insert(0) += 1;
        (streak.0 >= DOWN_AFTER_FAILURES).then(|| FireStats::causes_text(&streak.1))
    }
}

/// The journal stage: reads the jobs in batches, has `prepare` mark each batch `sent` and hands
/// it to the sending tasks, up to two batches ahead of the one being sent, so that the sending does not
/// wait for a commit (a row marked but never sent is sent by the rerun: that counts nothing
/// twice). No further ahead: its commits share the database with the answers' records, which
/// must not wait behind them. It watches the stop at every wait, so no stop leaves it blocked.
async fn journal_stage<H: Hooks>(
    mut jobs: impl Iterator<Item = Result<Job>>,
    mut hooks: H,
    ready: mpsc::Sender<Vec<Job>>,
    stop: Arc<Stop>,
) -> Result<()> {
    while stop.reason().is_none() {
        // A place for the batch first: it is marked only when it can be handed on.
        let permit = tokio::select! {
            biased;
            _ = stop.wait() => break,
            permit = ready.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let mut batch = Vec::with_capacity(BATCH);
        for job in jobs.by_ref() {
            match job {
                Ok(job) => batch.push(job),
                Err(error) => {
                    stop.set_with(StopReason::OutputFailed, format!("{error:#}"));
                    return Err(error);
                }
            }
            if batch.len() == BATCH {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        if let Err(error) = hooks.prepare(&mut batch).await {
            stop.set_with(StopReason::DatabaseFailed, format!("{error:#}"));
            return Ok(());
        }
        permit.send(batch);
        // Reading the jobs does not wait: let the sending tasks run between two batches.
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Fire `jobs`. Answers are handed, in batches in completion order, first to `on_fired` (which
/// writes the `responses` dump), then to the hooks' `complete` (the journal): so the dump never
/// holds less than the journal. A batch goes out when it is full or its first answer is
/// `RECORD_EVERY` old. Returns when the jobs are over or the run stops, after the requests in
/// flight have finished (or timed out); at once on `Stop::abort`. A journal error stops the run
/// (`StopReason::DatabaseFailed`) and the rest is still written to the dumps; an error of
/// `on_fired` stops the run and is returned.
pub async fn fire_all<H: Hooks>(
    firer: Arc<Firer>,
    jobs: impl Iterator<Item = Result<Job>> + Send + 'static,
    hooks: H,
    mut on_fired: impl FnMut(&[Fired]) -> Result<()>,
) -> Result<()> {
    let concurrency = firer.settings.concurrency;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Fired>();
    let stop = firer.stop.clone();

    let mut complete = hooks.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<Vec<Job>>(2);
    let journal = tokio::spawn(journal_stage(jobs, hooks, ready_tx, stop.clone()));

    // `concurrency` workers, each sending one job at a time, take the jobs in order from the
    // journaled batches.
    let queue = Arc::new(Mutex::new(Queue { batch: Vec::new().into_iter(), ready: ready_rx }));
    // Jobs a worker took but did not send, because the run stopped first.
    let untaken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failures_in_a_row = Arc::new(Streak::default());
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (firer, queue, done) = (firer.clone(), queue.clone(), done_tx.clone());
            let (failures_in_a_row, untaken) = (failures_in_a_row.clone(), untaken.clone());
            tokio::spawn(async move {
                let mut connection = None;
                loop {
                    // The queue's lock is let go before sending.
                    let job = queue.lock().await.next(&firer.stop).await;
                    let Some(job) = job else { break };
                    let fired = match firer.send(&mut connection, job).await {
                        Ok(fired) => fired,
                        Err(job) => {
                            untaken.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(job);
                            break;
                        }
                    };
                    // Here, not where the answers are recorded: that may be a commit behind.
                    match fired.verdict {
                        Verdict::Accepted | Verdict::Refused => failures_in_a_row.reset(),
                        Verdict::Failed => {
                            if let Some(causes) = failures_in_a_row.add(fired.cause().unwrap_or_default()) {
                                let detail = format!(
                                    "{DOWN_AFTER_FAILURES} requests in a row failed after every retry: {causes}"
                                );
                                firer.stop.set_with(StopReason::DcsDown, detail);
                            }
                        }
                        Verdict::AccountRefused => {
                            let status = fired.status.map_or_else(|| "401/403".to_owned(), |status| status.to_string());
                            firer.stop.set_with(StopReason::AccountRefused, format!("the DCS answered {status}"));
                        }
                        Verdict::Abandoned => {}
                    }
                    if done.send(fired).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(done_tx);

    let mut pending: Vec<Fired> = Vec::with_capacity(BATCH);
    let mut journal_ok = true;
    let mut output_error = None;
    let deadline = tokio::time::sleep(RECORD_EVERY);
    tokio::pin!(deadline);
    loop {
        let fired = tokio::select! {
            biased;
            _ = stop.wait_abort() => break,
            fired = done_rx.recv() => match fired {
                Some(fired) => Some(fired),
                None => break,
            },
            _ = &mut deadline, if !pending.is_empty() => None,
        };
        if let Some(fired) = fired {
            if pending.is_empty() {
                deadline.as_mut().reset((Instant::now() + RECORD_EVERY).into());
            }
            pending.push(fired);
            // The deadline is checked here too: answers that keep coming would starve its branch.
            if pending.len() < BATCH && !deadline.is_elapsed() {
                continue;
            }
        }
        record(&mut pending, &mut on_fired, &mut complete, &mut journal_ok, &mut output_error, &stop).await;
    }
    if stop.is_aborted() {
        // Only what is known: the answers in hand. The requests in flight stay `sent`.
        let recording = record(&mut pending, &mut on_fired, &mut complete, &mut journal_ok, &mut output_error, &stop);
        let _ = tokio::time::timeout(ABORT_GRACE, recording).await;
        for worker in &workers {
            worker.abort();
        }
        journal.abort();
        // The requests in flight stay `sent` (their fate is unknown); the jobs never taken are
        // known not to have left.
        let unmarking = async {
            for worker in workers {
                let _ = worker.await;
            }
            let _ = journal.await;
            unmark(&queue, &untaken, &mut complete, journal_ok).await;
        };
        let _ = tokio::time::timeout(ABORT_GRACE, unmarking).await;
        return output_error.map_or(Ok(()), Err);
    }
    record(&mut pending, &mut on_fired, &mut complete, &mut journal_ok, &mut output_error, &stop).await;
    for worker in workers {
        worker.await.context("a sending task stopped unexpectedly")?;
    }
    let journaled = journal.await.context("the journal stage stopped unexpectedly")?;
    unmark(&queue, &untaken, &mut complete, journal_ok).await;
    match output_error {
        Some(error) => Err(error),
        None => journaled,
    }
}

/// After the sending and the journal stage are over: the jobs marked `sent` that never left are
/// handed to `unsent`, so the journal does not say they may have been sent. Its failure leaves
/// them `sent` (the rerun sends them, with the same rid): the run is stopping anyway.
async fn unmark<H: Hooks>(queue: &Mutex<Queue>, untaken: &std::sync::Mutex<Vec<Job>>, hooks: &mut H, journal_ok: bool) {
    let taken_back = std::mem::take(&mut *untaken.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    let unsent = queue.lock().await.left_over(taken_back);
    if journal_ok && !unsent.is_empty() {
        if let Err(error) = hooks.unsent(&unsent).await {
            eprintln!("warning: {error:#}; {} rows never sent stay marked sent in the journal", unsent.len());
        }
    }
}

/// Hands the answers in hand to the dumps, then to the journal, and empties `pending`. A failure
/// stops the run; after a journal failure, answers only go to the dumps.
async fn record<H: Hooks>(
    pending: &mut Vec<Fired>,
    on_fired: &mut impl FnMut(&[Fired]) -> Result<()>,
    complete: &mut H,
    journal_ok: &mut bool,
    output_error: &mut Option<anyhow::Error>,
    stop: &Stop,
) {
    if pending.is_empty() {
        return;
    }
    if output_error.is_none() {
        if let Err(error) = on_fired(pending) {
            stop.set_with(StopReason::OutputFailed, format!("{error:#}"));
            *output_error = Some(error);
        }
    }
    if *journal_ok {
        if let Err(error) = complete.complete(pending).await {
            stop.set_with(StopReason::DatabaseFailed, format!("{error:#}"));
            *journal_ok = false;
        }
    }
    pending.clear();
}
