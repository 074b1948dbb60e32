//! Firing tags (SPEC §7): one connection pool, at most `concurrency` in flight and `rate` a
//! second, retries with backoff, and a stop on a dead DCS, a refused account or Ctrl-C.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{HeaderMap, HOST, RETRY_AFTER, USER_AGENT};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rand::Rng;
use rustls::pki_types::CertificateDer;
use tokio::sync::{mpsc, Mutex, Notify};
use tower_service::Service;

/// Failures in a row (after retries) that mean the DCS is down.
pub const DOWN_AFTER_FAILURES: u32 = 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BODY_CHARS: usize = 200;
const USER_AGENT_VALUE: &str = concat!("replayer/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct FireSettings {
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub max_retries: u32,
    /// CA certificates to trust for an `https:` DCS besides the system's store (`--ca-cert`).
    pub ca_certs: Vec<CertificateDer<'static>>,
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
    /// The DCS's host name does not resolve, or its certificate is not trusted: retrying every
    /// row cannot fix that.
    CannotConnect = 5,
    /// The journal could not be written: going on would fire rows no rerun knows about.
    DatabaseFailed = 6,
    /// A dump file or the spool could not be written or read.
    OutputFailed = 7,
}

/// Set once by whoever stops the run first; everyone else checks it. A second stop, `abort`,
/// means stop at once: the requests in flight are not waited for.
#[derive(Default)]
pub struct Stop {
    reason: AtomicU8,
    aborted: AtomicBool,
    /// What failed, for the reasons that need saying (a certificate, a database error).
    detail: std::sync::Mutex<Option<String>>,
    notify: Notify,
}

impl Stop {
    pub fn set(&self, reason: StopReason) {
        if self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.notify.notify_waiters();
        }
    }

    /// Stop, saying what failed; only the first stop's detail is kept.
    pub fn set_with(&self, reason: StopReason, detail: String) {
        if self.reason().is_none() {
            let mut slot = self.detail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            slot.get_or_insert(detail);
        }
        self.set(reason);
    }

    pub fn detail(&self) -> Option<String> {
        self.detail.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::DcsDown),
            2 => Some(StopReason::AccountRefused),
            3 => Some(StopReason::Interrupted),
            4 => Some(StopReason::LockLost),
            5 => Some(StopReason::CannotConnect),
            6 => Some(StopReason::DatabaseFailed),
            7 => Some(StopReason::OutputFailed),
            _ => None,
        }
    }

    /// Stop at once (a second Ctrl-C): what is known is recorded, nothing more is waited for.
    pub fn abort(&self) {
        self.set(StopReason::Interrupted);
        self.aborted.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
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

    pub async fn wait_abort(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_aborted() {
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

/// One sending task's keep-alive connection, and what it is connected to.
pub struct Connection {
    scheme: Option<Scheme>,
    authority: Option<Authority>,
    sender: http1::SendRequest<Empty<Bytes>>,
}

impl Connection {
    fn serves(&self, uri: &Uri) -> bool {
        self.scheme.as_ref() == uri.scheme() && self.authority.as_ref() == uri.authority()
    }
}

/// The shared parts of a firing run.
pub struct Firer {
    connector: HttpsConnector<HttpConnector>,
    settings: FireSettings,
    limiter: Option<RateLimiter>,
    pub stop: Arc<Stop>,
}

fn is_retryable(status: StatusCode) -> bool {
    is_retryable_status(status.as_u16())
}

/// The statuses §7 retries.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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

/// The start of the body, as text: enough to explain a refusal.
async fn read_body(response: Response<Incoming>) -> Result<String, hyper::Error> {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() >= BODY_CHARS * 4 {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).chars().take(BODY_CHARS).collect())
}

/// Why a request got no answer: the text for the dumps, and whether retrying can help.
#[derive(Debug, Clone)]
pub struct NoAnswer {
    pub message: String,
    /// A host name that does not resolve or a certificate that is not trusted: the same for
    /// every row, so the run stops at once.
    pub fatal: bool,
}

impl NoAnswer {
    fn retryable(message: impl Into<String>) -> NoAnswer {
        NoAnswer { message: message.into(), fatal: false }
    }

    fn fatal(message: String) -> NoAnswer {
        NoAnswer { message, fatal: true }
    }
}

/// One request and its answer: status, `Retry-After` and the start of the body, or why not.
type Answer = Result<(StatusCode, Option<Duration>, String), NoAnswer>;

/// The trust roots for `https:`: the system's CA store, plus `extra` (`--ca-cert`).
pub fn root_store(extra: &[CertificateDer<'static>]) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates of the system's store that rustls cannot use are skipped, as browsers do.
    let (_added, _ignored) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for certificate in extra {
        roots
            .add(certificate.clone())
            .map_err(|error| anyhow::anyhow!("a --ca-cert certificate cannot be used as a CA: {error}"))?;
    }
    Ok(roots)
}

/// What failed in making a connection, told apart as SPEC §7 asks: a name that does not resolve,
/// an untrusted certificate (with the reason rustls gives), a refused connection, a timeout.
fn connect_failure(uri: &Uri, error: &(dyn std::error::Error + 'static)) -> NoAnswer {
    let host = uri.host().unwrap_or_default();
    let authority = uri.authority().map_or(host, Authority::as_str);
    let mut chain = Vec::new();
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = link {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return NoAnswer::fatal(match tls {
                rustls::Error::InvalidCertificate(_) => format!(
                    "the certificate of {host} is not trusted ({tls}); if the DCS uses its own CA, give that CA's certificate with --ca-cert FILE (PEM)"
                ),
                _ => format!("the TLS handshake with {authority} failed ({tls})"),
            });
        }
        let io = error.downcast_ref::<std::io::Error>();
        match io.map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                return NoAnswer::retryable(format!("connection refused by {authority}"))
            }
            Some(std::io::ErrorKind::TimedOut) => {
                return NoAnswer::retryable(format!("timed out connecting to {authority}"))
            }
            _ => {}
        }
        let text = error.to_string();
        // hyper-util's connector names a failed look-up so; its error type is not public.
        if text == "dns error" {
            let cause = error.source().map(|cause| format!(" ({cause})")).unwrap_or_default();
            return NoAnswer::fatal(format!(
                "the host name {host} does not resolve{cause}; check the host in --request-url"
            ));
        }
        if text.contains("invalid dnsname") {
            return NoAnswer::fatal(format!(
                "{host} is not a host name a certificate can be checked for; check --request-url"
            ));
        }
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        // An io::Error's source() skips the error it wraps (hyper-rustls wraps tokio-rustls's
        // io::Error, which wraps rustls's error): step into it instead.
        link = match io.and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    NoAnswer::retryable(format!("cannot connect to {authority} ({})", chain.join(": ")))
}

impl Firer {
    pub fn new(settings: FireSettings, stop: Arc<Stop>) -> Result<Firer> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.timeout));
        http.enforce_http(false);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("cannot set up TLS")?
            .with_root_certificates(root_store(&settings.ca_certs)?)
            .with_no_client_auth();
        let connector =
            HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
        let limiter = settings.rate.map(RateLimiter::new);
        Ok(Firer { connector, settings, limiter, stop })
    }

    /// A new keep-alive connection (TLS for https) to the DCS at `uri`.
    async fn connect(&self, uri: &Uri) -> Result<Connection, NoAnswer> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|context| connector.poll_ready(context))
            .await
            .map_err(|error| connect_failure(uri, error.as_ref()))?;
        let stream = connector.call(uri.clone()).await.map_err(|error| connect_failure(uri, error.as_ref()))?;
        let (sender, connection) =
            http1::handshake(stream).await.map_err(|_| NoAnswer::retryable("broken connection"))?;
        // Drives the connection until it closes or the sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { scheme: uri.scheme().cloned(), authority: uri.authority().cloned(), sender })
    }

    /// One GET of the tag on the worker's connection (made or remade as needed), within the
    /// timeout, body included. A connection that failed or timed out is dropped.
    async fn request(&self, connection: &mut Option<Connection>, url: &str) -> Answer {
        let invalid = || NoAnswer::retryable("not a valid URL");
        let uri: Uri = url.parse().map_err(|_| invalid())?;
        let authority = uri.authority().ok_or_else(invalid)?.clone();
        // The request line takes the path and query as parsed already: no second parse.
        let path = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        let request = Request::get(Uri::from(path))
            .header(HOST, authority.as_str())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Empty::new())
            .map_err(|_| invalid())?;
        let exchange = async {
            let broken = || NoAnswer::retryable("broken connection");
            let mut request = request;
            // A second pass only on a new connection, when the worker's one turns out closed by
            // the server (a keep-alive limit) before the request left: no attempt is lost.
            for fresh in [false, true] {
                let reusable = connection.as_ref().is_some_and(|open| open.serves(&uri) && !open.sender.is_closed());
                if fresh || !reusable {
                    *connection = Some(self.connect(&uri).await?);
                }
                let sender = &mut connection.as_mut().expect("connected just above").sender;
                if sender.ready().await.is_err() {
                    if fresh {
                        return Err(broken());
                    }
                    continue;
                }
                let response = match sender.try_send_request(request).await {
                    Ok(response) => response,
                    Err(mut error) => match error.take_message() {
                        Some(unsent) if !fresh => {
                            request = unsent;
                            continue;
                        }
                        _ => return Err(broken()),
                    },
                };
                let status = response.status();
                let wait = retry_after(response.headers());
                let body = read_body(response).await.map_err(|_| NoAnswer::retryable("broken response"))?;
                return Ok((status, wait, body));
            }
            Err(broken())
        };
        let answer = tokio::time::timeout(self.settings.timeout, exchange).await.unwrap_or_else(|_| {
            Err(NoAnswer::retryable(format!("timed out: no answer within {} s", self.settings.timeout.as_secs_f64())))
        });
        if answer.is_err() {
            *connection = None;
        }
        answer
    }

    /// Send one job with the retry policy of §7. None when the run stopped before the job's
    /// first request left (waiting for the rate limit): it was not sent at all.
    pub async fn send(&self, connection: &mut Option<Connection>, job: Job) -> Option<Fired> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            if let Some(limiter) = &self.limiter {
                tokio::select! {
                    biased;
                    _ = self.stop.wait() => {}
                    _ = limiter.wait() => {}
                }
            }
            if attempts == 0 && self.stop.reason().is_some() {
                return None;
            }
            attempts += 1;
            let (status, error, body, wait_at_least) = match self.request(connection, &job.url).await {
                Ok((status, wait, body)) => {
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
                        return Some(Fired {
                            job,
                            verdict,
                            status: Some(status.as_u16()),
                            error: None,
                            attempts,
                            elapsed: started.elapsed(),
                            body,
                        });
                    }
                    (Some(status.as_u16()), None, body, wait)
                }
                Err(NoAnswer { message, fatal: true }) => {
                    self.stop.set_with(StopReason::CannotConnect, message.clone());
                    let elapsed = started.elapsed();
                    let body = String::new();
                    return Some(Fired {
                        job,
                        verdict: Verdict::Abandoned,
                        status: None,
                        error: Some(message),
                        attempts,
                        elapsed,
                        body,
                    });
                }
                Err(NoAnswer { message, .. }) => (None, Some(message), String::new(), None),
            };
            let retries_left = attempts <= self.settings.max_retries;
            if !retries_left || self.stop.reason().is_some() {
                let verdict = if retries_left { Verdict::Abandoned } else { Verdict::Failed };
                return Some(Fired { job, verdict, status, error, attempts, elapsed: started.elapsed(), body });
            }
            let wait = backoff(attempts - 1).max(wait_at_least.unwrap_or(Duration::ZERO));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.wait() => {
                    return Some(Fired { job, verdict: Verdict::Abandoned, status, error, attempts, elapsed: started.elapsed(), body });
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
    /// the run stops was journaled as sent but never left: a rerun sends it.
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
}

/// The journal stage: reads the jobs in batches, has `prepare` mark each batch `sent` and hands
/// it to the sending tasks, one batch ahead of the one being sent, so that the sending does not
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
    let (ready_tx, ready_rx) = mpsc::channel::<Vec<Job>>(1);
    let journal = tokio::spawn(journal_stage(jobs, hooks, ready_tx, stop.clone()));

    // `concurrency` workers, each sending one job at a time, take the jobs in order from the
    // journaled batches.
    let queue = Arc::new(Mutex::new(Queue { batch: Vec::new().into_iter(), ready: ready_rx }));
    let failures_in_a_row = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (firer, queue, done) = (firer.clone(), queue.clone(), done_tx.clone());
            let failures_in_a_row = failures_in_a_row.clone();
            tokio::spawn(async move {
                let mut connection = None;
                loop {
                    // The queue's lock is let go before sending.
                    let job = queue.lock().await.next(&firer.stop).await;
                    let Some(job) = job else { break };
                    let Some(fired) = firer.send(&mut connection, job).await else { break };
                    // Here, not where the answers are recorded: that may be a commit behind.
                    match fired.verdict {
                        Verdict::Accepted | Verdict::Refused => failures_in_a_row.store(0, Ordering::SeqCst),
                        Verdict::Failed => {
                            if failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1 >= DOWN_AFTER_FAILURES {
                                firer.stop.set(StopReason::DcsDown);
                            }
                        }
                        Verdict::AccountRefused => firer.stop.set(StopReason::AccountRefused),
                        Verdict::Abandoned => {}
                    }
                    if done.send(fired).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop((done_tx, queue));

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
        return output_error.map_or(Ok(()), Err);
    }
    record(&mut pending, &mut on_fired, &mut complete, &mut journal_ok, &mut output_error, &stop).await;
    for worker in workers {
        worker.await.context("a sending task stopped unexpectedly")?;
    }
    let journaled = journal.await.context("the journal stage stopped unexpectedly")?;
    match output_error {
        Some(error) => Err(error),
        None => journaled,
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
        let mut headers = HeaderMap::new();
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
        let refused = Fired {
            job: job.clone(),
            verdict: Verdict::Refused,
            status: Some(400),
            error: None,
            attempts: 1,
            elapsed: Duration::from_millis(12),
            body: "bad rid".into(),
        };
        let value: serde_json::Value = serde_json::from_str(&refused.response_line()).unwrap();
        assert_eq!(value["status"], 400);
        assert_eq!(value["row"], 7);
        assert_eq!(refused.exception_line().unwrap(), "row 7: DCS answered 400 (bad rid); row not accepted");
        let failed = Fired {
            verdict: Verdict::Failed,
            status: None,
            error: Some("timeout".into()),
            attempts: 6,
            body: String::new(),
            ..refused
        };
        let value: serde_json::Value = serde_json::from_str(&failed.response_line()).unwrap();
        assert_eq!(value["error"], "timeout");
        assert!(value.get("status").is_none());
        assert!(failed.exception_line().unwrap().contains("after 6 attempts (timeout)"));
    }
}
