//! Firing tags (SPEC §7): one connection pool, at most `concurrency` in flight and `rate` a
//! second, retries with backoff, and a stop on a dead DCS, a refused account or Ctrl-C.

use std::sync::atomic::{AtomicU8, Ordering};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::Rng;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use tokio::sync::{mpsc, Mutex, Notify, Semaphore};

/// Failures in a row (after retries) that mean the DCS is down.
pub const DOWN_AFTER_FAILURES: u32 = 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BODY_CHARS: usize = 200;

#[derive(Debug, Clone)]
pub struct FireSettings {
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub max_retries: u32,
}

/// One tag to fire.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: u64,
    pub account: String,
    pub rid: String,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Accepted,
    /// A status that is not retried: the DCS refuses the row.
    Refused,
    /// No acceptance after every retry, or no answer at all.
    Failed,
    /// 401 or 403: the DCS refuses the account, the run stops.
    AccountRefused,
    /// Not retried because the run is stopping; the row may be sent again by a rerun.
    Abandoned,
}

/// What came of one job.
#[derive(Debug, Clone)]
pub struct Fired {
    pub job: Job,
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub attempts: u32,
    pub elapsed: Duration,
    pub body: String,
}

impl Fired {
    /// The line of the `responses` dump.
    pub fn response_line(&self) -> String {
        // Written directly (one of these a request): only the strings need JSON escaping.
        let json = |text: &str| serde_json::to_string(text).expect("a string serializes");
        let answer = match (self.status, &self.error) {
            (Some(status), _) => format!("\"status\":{status}"),
            (None, error) => format!("\"error\":{}", json(error.as_deref().unwrap_or_default())),
        };
        format!(
            "{{\"row\":{},\"rid\":{},{answer},\"attempts\":{},\"elapsed_ms\":{},\"body\":{}}}",
            self.job.row,
            json(&self.job.rid),
            self.attempts,
            self.elapsed.as_millis(),
            json(&self.body)
        )
    }

    /// The line of the `exceptions` dump for a row that was not accepted.
    pub fn exception_line(&self) -> Option<String> {
        let row = self.job.row;
        let attempts = self.attempts;
        match (self.verdict, self.status) {
            (Verdict::Accepted, _) => None,
            (Verdict::Abandoned, _) => Some(format!(
                "row {row}: not accepted yet ({}), and not retried because the run stopped; row not accepted (rerun the same command to retry it)",
                self.status.map_or_else(|| self.error.clone().unwrap_or_default(), |status| format!("DCS answered {status}"))
            )),
            (Verdict::Refused | Verdict::AccountRefused, Some(status)) => {
                let body = if self.body.is_empty() { String::new() } else { format!(" ({})", self.body.replace('\n', " ")) };
                Some(format!("row {row}: DCS answered {status}{body}; row not accepted"))
            }
            (_, Some(status)) => Some(format!(
                "row {row}: DCS answered {status} on all {attempts} attempts; row not accepted (rerun the same command to retry it)"
            )),
            (_, None) => Some(format!(
                "row {row}: no answer from the DCS after {attempts} attempt{} ({}); row not accepted (rerun the same command to retry it)",
                if attempts == 1 { "" } else { "s" },
                self.error.as_deref().unwrap_or("error")
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    DcsDown = 1,
    AccountRefused = 2,
    Interrupted = 3,
    /// The run could not keep its lock on the accounts: another run may be firing them.
    LockLost = 4,
}

/// Set once by whoever stops the run first; everyone else checks it.
#[derive(Default)]
pub struct Stop {
    reason: AtomicU8,
    notify: Notify,
}

impl Stop {
    pub fn set(&self, reason: StopReason) {
        if self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.notify.notify_waiters();
        }
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::DcsDown),
            2 => Some(StopReason::AccountRefused),
            3 => Some(StopReason::Interrupted),
            4 => Some(StopReason::LockLost),
            _ => None,
        }
    }

    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.reason().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// At most `rate` requests a second, spaced evenly.
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(rate: f64) -> RateLimiter {
        RateLimiter { interval: Duration::from_secs_f64(1.0 / rate), next: Mutex::new(Instant::now()) }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The shared parts of a firing run.
pub struct Firer {
    client: reqwest::Client,
    settings: FireSettings,
    limiter: Option<RateLimiter>,
    pub stop: Arc<Stop>,
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date, capped.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Exponential backoff from 200 ms, doubling, at most 30 s, with jitter (between half and all of it).
pub fn backoff(retry: u32) -> Duration {
    let full = FIRST_BACKOFF.saturating_mul(1u32 << retry.min(16)).min(MAX_BACKOFF);
    full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connection refused or failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "broken response".to_owned()
    } else {
        "broken connection".to_owned()
    }
}

async fn read_body(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= BODY_CHARS * 4 {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(BODY_CHARS).collect()
}

impl Firer {
    pub fn new(settings: FireSettings, stop: Arc<Stop>) -> Result<Firer> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("replayer/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        let limiter = settings.rate.map(RateLimiter::new);
        Ok(Firer { client, settings, limiter, stop })
    }

    /// Send one job with the retry policy of §7.
    pub async fn send(&self, job: Job) -> Fired {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.wait().await;
            }
            attempts += 1;
            let (status, error, body, wait_at_least) = match self.client.get(&job.url).send().await {
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let body = read_body(response).await;
                    let verdict = if status.is_success() {
                        Some(Verdict::Accepted)
                    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        Some(Verdict::AccountRefused)
                    } else if !is_retryable(status) {
                        Some(Verdict::Refused)
                    } else {
                        None
                    };
                    if let Some(verdict) = verdict {
                        return Fired { job, verdict, status: Some(status.as_u16()), error: None, attempts, elapsed: started.elapsed(), body };
                    }
                    (Some(status.as_u16()), None, body, wait)
                }
                Err(error) => (None, Some(describe(&error)), String::new(), None),
            };
            let retries_left = attempts <= self.settings.max_retries;
            if !retries_left || self.stop.reason().is_some() {
                let verdict = if retries_left { Verdict::Abandoned } else { Verdict::Failed };
                return Fired { job, verdict, status, error, attempts, elapsed: started.elapsed(), body };
            }
            let wait = backoff(attempts - 1).max(wait_at_least.unwrap_or(Duration::ZERO));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.wait() => {
                    return Fired { job, verdict: Verdict::Abandoned, status, error, attempts, elapsed: started.elapsed(), body };
                }
            }
        }
    }
}

/// Hooks around sending, so a journal can wrap it: `prepare` sees each batch before it is sent
/// (and may drop rows from it), `complete` sees the results in batches.
pub trait Hooks: Clone + Send + 'static {
    fn prepare(&mut self, batch: &mut Vec<Job>) -> impl Future<Output = Result<()>> + Send;
    fn complete(&mut self, results: &[Fired]) -> impl Future<Output = Result<()>> + Send;
}

/// Jobs taken from the queue at once: the journal's batch.
pub const BATCH: usize = 1024;

/// Feed `jobs` to the firer; every result goes to `on_fired`, in completion order. Returns when
/// the queue is empty or the run stops, after the requests in flight have finished.
pub async fn fire_all<H: Hooks>(
    firer: Arc<Firer>,
    mut jobs: mpsc::Receiver<Job>,
    hooks: H,
    mut on_fired: impl FnMut(&Fired) -> Result<()>,
) -> Result<()> {
    let concurrency = firer.settings.concurrency;
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Fired>();
    let stop = firer.stop.clone();

    let dispatcher_firer = firer.clone();
    let mut prepare = hooks.clone();
    let mut complete = hooks;
    // The journal works one batch ahead of the sending: while a batch is being sent, the next
    // one is marked `sent` (durably), so the sending never waits for a commit.
    let (ready_tx, mut ready_rx) = mpsc::channel::<Vec<Job>>(1);
    let journal_stop = firer.stop.clone();
    let journal = tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                biased;
                _ = journal_stop.wait() => None,
                job = jobs.recv() => job,
            };
            let Some(first) = first else { break };
            let mut batch = Vec::with_capacity(BATCH);
            batch.push(first);
            while batch.len() < BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            prepare.prepare(&mut batch).await?;
            if ready_tx.send(batch).await.is_err() {
                break;
            }
        }
        anyhow::Ok(())
    });

    let dispatcher = tokio::spawn(async move {
        let firer = dispatcher_firer;
        loop {
            let batch = tokio::select! {
                biased;
                _ = firer.stop.wait() => None,
                batch = ready_rx.recv() => batch,
            };
            let Some(batch) = batch else { break };
            for job in batch {
                let permit = tokio::select! {
                    biased;
                    _ = firer.stop.wait() => None,
                    permit = semaphore.clone().acquire_owned() => permit.ok(),
                };
                let Some(permit) = permit else {
                    // Stopping: this row was journaled as sent but never left; a rerun sends it.
                    break;
                };
                let firer = firer.clone();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let fired = firer.send(job).await;
                    drop(permit);
                    let _ = done.send(fired);
                });
            }
            if firer.stop.reason().is_some() {
                break;
            }
        }
        drop(done_tx);
    });

    let mut pending: Vec<Fired> = Vec::with_capacity(BATCH);
    let mut failures_in_a_row = 0u32;
    let mut last_flush = Instant::now();
    while let Some(fired) = done_rx.recv().await {
        match fired.verdict {
            Verdict::Accepted | Verdict::Refused => failures_in_a_row = 0,
            Verdict::Failed => {
                failures_in_a_row += 1;
                if failures_in_a_row >= DOWN_AFTER_FAILURES {
                    stop.set(StopReason::DcsDown);
                }
            }
            Verdict::AccountRefused => stop.set(StopReason::AccountRefused),
            Verdict::Abandoned => {}
        }
        on_fired(&fired)?;
        pending.push(fired);
        if pending.len() >= BATCH || last_flush.elapsed() > Duration::from_millis(200) {
            complete.complete(&pending).await?;
            pending.clear();
            last_flush = Instant::now();
        }
    }
    complete.complete(&pending).await?;
    dispatcher.await.context("the dispatcher stopped unexpectedly")?;
    journal.await.context("the journal stage stopped unexpectedly")??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for retry in 0..20 {
            let full = FIRST_BACKOFF.saturating_mul(1 << retry.min(16)).min(MAX_BACKOFF);
            let wait = backoff(retry);
            assert!(wait <= full && wait >= full / 2, "retry {retry}: {wait:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(20)).to_rfc2822();
        headers.insert(RETRY_AFTER, soon.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn response_and_exception_lines() {
        let job = Job { row: 7, account: "acct".into(), rid: "r".repeat(32), url: String::new() };
        let refused = Fired { job: job.clone(), verdict: Verdict::Refused, status: Some(400), error: None, attempts: 1, elapsed: Duration::from_millis(12), body: "bad rid".into() };
        let value: serde_json::Value = serde_json::from_str(&refused.response_line()).unwrap();
        assert_eq!(value["status"], 400);
        assert_eq!(value["row"], 7);
        assert_eq!(refused.exception_line().unwrap(), "row 7: DCS answered 400 (bad rid); row not accepted");
        let failed = Fired { verdict: Verdict::Failed, status: None, error: Some("timeout".into()), attempts: 6, body: String::new(), ..refused };
        let value: serde_json::Value = serde_json::from_str(&failed.response_line()).unwrap();
        assert_eq!(value["error"], "timeout");
        assert!(value.get("status").is_none());
        assert!(failed.exception_line().unwrap().contains("after 6 attempts (timeout)"));
    }
}
