//! Firing tags (SPEC §7): one connection pool, at most `concurrency` in flight and `rate` a
//! second, retries with backoff, and a stop on a dead DCS, a refused account or Ctrl-C. This file
//! holds what a job, its answer and a stop are; `http` sends one request, `pipeline` drives all
//! of them through the journal, `live` is the whole live run both front ends call.

mod http;
pub mod journal;
pub mod live;
mod pipeline;
mod tunnel;

pub use http::{backoff, is_retryable_status, root_store, Connection, Firer, NoAnswer};
pub use pipeline::{fire_all, Hooks, BATCH, RECORD_EVERY};

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::sync::Notify;

use crate::out::summary::StopReason;

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
    /// Which proxy each request goes through (`--proxy` and the environment).
    pub proxies: std::sync::Arc<crate::proxy::Proxies>,
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

    /// Why it was not accepted, in a word or two for the progress and the summary: the status
    /// (`500`), or what failed (`timeout`, `connection refused`, …); `None` when accepted.
    pub fn cause(&self) -> Option<String> {
        if self.verdict == Verdict::Accepted {
            return None;
        }
        if let Some(status) = self.status {
            return Some(status.to_string());
        }
        let error = self.error.as_deref().unwrap_or_default();
        let cause = if error.contains("timed out") {
            "timeout"
        } else if error.contains("connection refused") {
            "connection refused"
        } else if error.contains("broken") {
            "broken connection"
        } else if error.contains("certificate") || error.contains("TLS") {
            "TLS"
        } else if error.contains("does not resolve") {
            "host name"
        } else if error.contains("proxy") {
            "proxy"
        } else {
            "no answer"
        };
        Some(cause.to_owned())
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

    /// Stop, saying what failed; only the first stop's reason and detail are kept.
    pub fn set_with(&self, reason: StopReason, detail: String) {
        let mut slot = self.detail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            *slot = Some(detail);
            drop(slot);
            self.notify.notify_waiters();
        }
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

#[cfg(test)]
mod tests {
    use super::http::retry_after;
    use super::*;
    use hyper::header::{HeaderMap, RETRY_AFTER};

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
