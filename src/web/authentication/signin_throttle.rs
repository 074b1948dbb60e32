//! Repeated failed sign-ins are slowed down: after a few failures for one e-mail address, the
//! next attempt must wait, twice as long after each further failure. Kept in memory, keyed by the
//! address as typed (known or not, so the answer does not tell which addresses exist).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the waiting starts.
const FREE_FAILURES: u32 = 3;
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; the oldest are forgotten past this.
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct SigninThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl SigninThrottle {
    /// How long this address must still wait before trying again, if at all.
    pub fn wait_for(&self, key: &str) -> Option<Duration> {
        let failures = self.failures.lock().expect("throttle lock");
        let &(count, last) = failures.get(key)?;
        let wait = wait_after(count)?;
        wait.checked_sub(last.elapsed()).filter(|left| !left.is_zero())
    }

    pub fn failed(&self, key: &str) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= MAX_TRACKED {
            let oldest = failures.iter().min_by_key(|(_, (_, at))| *at).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, Instant::now()));
        *entry = (entry.0 + 1, Instant::now());
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("throttle lock").remove(key);
    }
}

/// The wait after `count` failures in a row: none for the first few, then 1 s, 2 s, 4 s…
fn wait_after(count: u32) -> Option<Duration> {
    let over = count.checked_sub(FREE_FAILURES)?;
    Some(Duration::from_secs(1u64 << over.min(20)).min(LONGEST_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures() {
        assert_eq!(wait_after(2), None);
        assert_eq!(wait_after(3), Some(Duration::from_secs(1)));
        assert_eq!(wait_after(5), Some(Duration::from_secs(4)));
        assert_eq!(wait_after(60), Some(LONGEST_WAIT));
        let throttle = SigninThrottle::default();
        for _ in 0..3 {
            assert_eq!(throttle.wait_for("a@example.com"), None);
            throttle.failed("a@example.com");
        }
        assert!(throttle.wait_for("a@example.com").is_some());
        assert_eq!(throttle.wait_for("b@example.com"), None);
        throttle.succeeded("a@example.com");
        assert_eq!(throttle.wait_for("a@example.com"), None);
    }
}
