//! One request to the DCS and its answer: the connection (TLS through rustls), the rate, retries
//! with backoff and `Retry-After`, and what failed when no answer came.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{HeaderMap, HOST, PROXY_AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rand::Rng;
use rustls::pki_types::CertificateDer;
use tokio::sync::Mutex;
use tower_service::Service;

use super::tunnel::ProxyConnector;
use super::*;

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
    connector: HttpsConnector<ProxyConnector>,
    pub(super) settings: FireSettings,
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
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
        let tcp = ProxyConnector::new(http, settings.proxies.clone());
        let connector =
            HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(tcp);
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
        // The request line takes the path and query as parsed already: no second parse. Through
        // a proxy, a plain-HTTP request names the whole URL (an https: one goes in a tunnel).
        let proxy = self.settings.proxies.for_uri(&uri).filter(|_| uri.scheme_str() != Some("https"));
        let target = match proxy {
            Some(_) => uri.clone(),
            None => Uri::from(uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"))),
        };
        let mut request = Request::get(target).header(HOST, authority.as_str()).header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(authorization) = proxy.and_then(|proxy| proxy.authorization.clone()) {
            request = request.header(PROXY_AUTHORIZATION, authorization);
        }
        let request = request.body(Empty::new()).map_err(|_| invalid())?;
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

    /// Send one job with the retry policy of §7. `Err` gives the job back when the run stopped
    /// before its first request left (waiting for the rate limit): it was not sent at all.
    pub async fn send(&self, connection: &mut Option<Connection>, job: Job) -> Result<Fired, Job> {
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
                return Err(job);
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
                        return Ok(Fired {
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
                    return Ok(Fired {
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
                return Ok(Fired { job, verdict, status, error, attempts, elapsed: started.elapsed(), body });
            }
            let wait = backoff(attempts - 1).max(wait_at_least.unwrap_or(Duration::ZERO));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.wait() => {
                    return Ok(Fired { job, verdict: Verdict::Abandoned, status, error, attempts, elapsed: started.elapsed(), body });
                }
            }
        }
    }
}
