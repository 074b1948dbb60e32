//! Ctrl-C on the command line, watched from the start of the run to its end.
//!
//! Before the firing (while the file is checked, at the question, while the lock is taken) the
//! run stops at its next batch of rows, removes the dump files it was writing (a part of the file
//! would read as the whole of it), sends nothing and exits 130. That takes a fraction of a
//! second; a run that has not ended a second after the first Ctrl-C is stuck (a file on a dead
//! network share), and another Ctrl-C then ends the process at once. Once the firing starts,
//! `fire::live` counts the presses instead (SPEC §7): the first finishes what is in flight and
//! records it, the second stops at once after recording what is known.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    /// After the check, before anything was sent: at the question, or while the lock was taken.
    #[error("interrupted before the firing")]
    BeforeFiring,
}

/// How often a wait looks at the count: a stop well within what a person notices.
const LOOK_EVERY: Duration = Duration::from_millis(20);
/// Before the firing, a Ctrl-C this long after the first ends the process at once; sooner, it is
/// the same request.
pub const GRACE: Duration = Duration::from_secs(1);
/// Said at the first Ctrl-C before the firing, from the signal handler (one `write`).
const NOTICE: &[u8] =
    b"\ninterrupted: stopping before anything is sent (Ctrl-C again after a second to stop at once)\n";

/// The presses, shared by the signal handler and the run.
#[derive(Debug)]
pub struct Presses {
    count: AtomicU32,
    /// Nanoseconds after `since` of the first press.
    first_at: AtomicU64,
    since: Instant,
    /// Before the firing: notices are printed and a late second press ends the process.
    before_firing: AtomicBool,
}

impl Presses {
    fn new() -> Presses {
        Presses {
            count: AtomicU32::new(0),
            first_at: AtomicU64::new(0),
            since: Instant::now(),
            before_firing: AtomicBool::new(true),
        }
    }

    pub fn count(&self) -> u32 {
        self.count.load(Ordering::SeqCst)
    }

    /// Ends once Ctrl-C has been pressed `times` times in all.
    pub async fn wait_for(&self, times: u32) {
        while self.count() < times {
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// The firing starts: from now on `fire::live` decides what each press does.
    pub fn hand_over_to_the_firing(&self) {
        self.before_firing.store(false, Ordering::SeqCst);
    }

    /// Records a press `now` after `since`. What the handler then does: nothing more, print the
    /// notice (the first press before the firing), or end the process (a press before the
    /// firing `GRACE` or more after the first).
    fn press(&self, now: Duration) -> Reaction {
        let now = now.as_nanos() as u64;
        let earlier = self.count.fetch_add(1, Ordering::SeqCst);
        if earlier == 0 {
            self.first_at.store(now, Ordering::SeqCst);
        }
        if !self.before_firing.load(Ordering::SeqCst) {
            return Reaction::None;
        }
        if earlier == 0 {
            return Reaction::Notice;
        }
        let after_first = now.saturating_sub(self.first_at.load(Ordering::SeqCst));
        if after_first >= GRACE.as_nanos() as u64 {
            Reaction::EndTheProcess
        } else {
            Reaction::None
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reaction {
    None,
    Notice,
    EndTheProcess,
}

/// Watches for Ctrl-C while it lives.
pub struct CtrlC {
    presses: Arc<Presses>,
    /// `None` in unit tests, which press by hand.
    handler: Option<SigId>,
}

impl CtrlC {
    pub fn watch() -> Result<CtrlC> {
        let presses = Arc::new(Presses::new());
        let seen = presses.clone();
        let action = move || match seen.press(seen.since.elapsed()) {
            Reaction::None => {}
            Reaction::Notice => {
                // SAFETY: write(2) on stderr is async-signal-safe; NOTICE is a static buffer.
                let _ = unsafe { libc::write(libc::STDERR_FILENO, NOTICE.as_ptr().cast(), NOTICE.len()) };
            }
            Reaction::EndTheProcess => {
                let _ = signal_hook::low_level::emulate_default_handler(SIGINT);
            }
        };
        // SAFETY: the action is async-signal-safe: atomics, clock_gettime (Instant::elapsed),
        // write(2) and signal-hook's emulation of the default action; it allocates and locks
        // nothing.
        let handler = unsafe { signal_hook::low_level::register(SIGINT, action) }.context("cannot watch for Ctrl-C")?;
        Ok(CtrlC { presses, handler: Some(handler) })
    }

    /// Pressed by the test itself: no signal handler, so the test binary keeps its own Ctrl-C.
    #[cfg(test)]
    pub fn pressed_once() -> CtrlC {
        let presses = Arc::new(Presses::new());
        presses.press(Duration::ZERO);
        CtrlC { presses, handler: None }
    }

    pub fn pressed(&self) -> bool {
        self.presses.count() > 0
    }

    /// The count, for a task that outlives this borrow.
    pub fn presses(&self) -> Arc<Presses> {
        self.presses.clone()
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        if let Some(handler) = self.handler {
            signal_hook::low_level::unregister(handler);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_the_firing_a_late_second_press_ends_the_process_and_a_quick_one_does_not() {
        let presses = Presses::new();
        let at = |millis: u64| Duration::from_millis(5000 + millis);
        assert_eq!(presses.press(at(0)), Reaction::Notice, "the first asks the run to stop, and says so");
        assert_eq!(presses.press(at(300)), Reaction::None, "a double press is the same request");
        assert_eq!(presses.press(at(999)), Reaction::None);
        assert_eq!(presses.press(at(1000)), Reaction::EndTheProcess, "a run still going after the grace is stuck");
        assert_eq!(presses.count(), 4);
    }

    #[test]
    fn once_the_firing_starts_presses_are_only_counted() {
        let presses = Presses::new();
        presses.hand_over_to_the_firing();
        let at = Duration::from_secs;
        assert_eq!(presses.press(at(1)), Reaction::None);
        assert_eq!(presses.press(at(9)), Reaction::None, "the firing records what it knows before it stops");
        assert_eq!(presses.count(), 2);
    }

    #[test]
    fn a_wait_ends_at_the_press_it_waits_for() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let presses = Arc::new(Presses::new());
        presses.hand_over_to_the_firing();
        let pressing = presses.clone();
        runtime.block_on(async {
            let waiting = tokio::spawn(async move { pressing.wait_for(2).await });
            presses.press(Duration::from_secs(1));
            tokio::time::sleep(LOOK_EVERY * 3).await;
            assert!(!waiting.is_finished(), "ended after one press of two");
            presses.press(Duration::from_secs(2));
            tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        });
    }
}
