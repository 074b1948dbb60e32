//! Ctrl-C on the command line before the firing starts: while the file is checked and at the
//! question. The run stops at its next batch of rows, removes the dump files it was writing
//! (a part of the file would read as the whole of it), sends nothing and exits 130. That takes a
//! fraction of a second; a run that has not ended a second after the first Ctrl-C is stuck (a
//! file on a dead network share), and another Ctrl-C then ends the process at once. Once the
//! firing starts, `fire::live` takes Ctrl-C over (SPEC §7: finish what is in flight, record it,
//! print the summary).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use signal_hook::consts::SIGINT;
use signal_hook::SigId;

/// How a run stopped by Ctrl-C before its firing ended; the error `run` turns into exit 130.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    /// While the rows were read and checked, after `rows` of them.
    #[error("interrupted after checking {rows} rows")]
    WhileChecking { rows: u64 },
    /// At the question before a live run.
    #[error("interrupted at the question")]
    AtTheQuestion,
}

/// Watches for Ctrl-C while it lives; dropped, it leaves Ctrl-C to whoever handles it next.
pub struct CtrlC {
    pressed: Arc<AtomicBool>,
    handler: SigId,
}

/// How often a wait looks at the flag: a stop well within what a person notices.
const LOOK_EVERY: Duration = Duration::from_millis(20);
/// A Ctrl-C this long after the first ends the process at once; sooner, it is the same request.
pub const GRACE: Duration = Duration::from_secs(1);

impl CtrlC {
    pub fn watch() -> Result<CtrlC> {
        let pressed = Arc::new(AtomicBool::new(false));
        let flag = pressed.clone();
        let since = Instant::now();
        // Nanoseconds after `since` of the first Ctrl-C.
        let first_at = AtomicU64::new(0);
        let action = move || {
            if pressed_again(&flag, &first_at, since.elapsed()) {
                let _ = signal_hook::low_level::emulate_default_handler(SIGINT);
            }
        };
        // SAFETY: the action is async-signal-safe: atomics, clock_gettime (Instant::elapsed) and
        // signal-hook's emulation of the default action; it allocates and locks nothing.
        let handler = unsafe { signal_hook::low_level::register(SIGINT, action) }.context("cannot watch for Ctrl-C")?;
        Ok(CtrlC { pressed, handler })
    }

    pub fn pressed(&self) -> bool {
        self.pressed.load(Ordering::SeqCst)
    }

    /// Ends once Ctrl-C has been pressed.
    pub async fn wait(&self) {
        while !self.pressed() {
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }
}

/// Records a Ctrl-C at `now`; `true` when it comes `GRACE` or more after the first one.
fn pressed_again(pressed: &AtomicBool, first_at: &AtomicU64, now: Duration) -> bool {
    let now = now.as_nanos() as u64;
    if !pressed.swap(true, Ordering::SeqCst) {
        first_at.store(now, Ordering::SeqCst);
        return false;
    }
    now.saturating_sub(first_at.load(Ordering::SeqCst)) >= GRACE.as_nanos() as u64
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.handler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_ctrl_c_ends_the_process_only_after_the_grace() {
        let (pressed, first_at) = (AtomicBool::new(false), AtomicU64::new(0));
        let at = |millis: u64| Duration::from_millis(5000 + millis);
        assert!(!pressed_again(&pressed, &first_at, at(0)), "the first asks the run to stop");
        assert!(pressed.load(Ordering::SeqCst));
        assert!(!pressed_again(&pressed, &first_at, at(300)), "a double press is the same request");
        assert!(!pressed_again(&pressed, &first_at, at(999)));
        assert!(pressed_again(&pressed, &first_at, at(1000)), "a run still going after the grace is stuck");
        assert!(pressed_again(&pressed, &first_at, at(4000)));
    }

    #[test]
    fn the_flag_is_seen_by_a_wait() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ctrl_c = CtrlC::watch().unwrap();
        assert!(!ctrl_c.pressed());
        ctrl_c.pressed.store(true, Ordering::SeqCst);
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), ctrl_c.wait()).await }).unwrap();
    }
}
