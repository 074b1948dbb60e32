//! What differs between the two front ends of a live run.

use std::sync::Arc;

use anyhow::Result;
use tokio::runtime::Runtime;

use super::preflight::Preflight;
use crate::ctrl_c::Presses;
use crate::out::summary::FireStats;

/// How the pre-flight is confirmed, where progress goes, and whether Ctrl-C stops the run.
pub trait FireFrontEnd {
    /// Asked once the pre-flight is known, with the lock held; `false` sends and writes nothing.
    fn confirm(&mut self, preflight: &Preflight, runtime: &Runtime) -> Result<bool>;
    /// After every batch of answers, with the exact counts so far out of `total` to send.
    fn progress(&mut self, stats: &FireStats, total: u64);
    /// The command line's Ctrl-C presses, which stop the firing; the server stops it through the
    /// run's `Stop`.
    fn ctrl_c(&self) -> Option<Arc<Presses>>;
    /// Asked before each batch of rows while the file is checked: `true` (Ctrl-C pressed) ends
    /// the run before anything is sent, with `Interrupted`.
    fn stopped(&self) -> bool {
        self.ctrl_c().is_some_and(|presses| presses.count() > 0)
    }
}
