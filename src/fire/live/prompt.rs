//! The command line's front end of a live run: the pre-flight on stderr, the question on the
//! terminal, the progress bar.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use tokio::runtime::Runtime;

use super::front::FireFrontEnd;
use super::preflight::Preflight;
use super::progress::{show_counts, Meter};
use crate::ctrl_c::{CtrlC, Interrupted, Presses};
use crate::out::summary::FireStats;
use crate::out::terminal::Paint;
use crate::settings::Settings;

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

pub struct Terminal {
    pub yes: bool,
    pub bar: ProgressBar,
    pub paint: Paint,
    /// The rate over the last seconds, from the first answer's batch on.
    pub meter: Option<Meter>,
    /// Before the firing it stops the run with `Interrupted`; during it, the firing counts it.
    pub ctrl_c: CtrlC,
}

impl FireFrontEnd for Terminal {
    fn confirm(&mut self, preflight: &Preflight, runtime: &Runtime) -> Result<bool> {
        eprint!("{}", preflight.render(self.paint));
        let confirmed = if self.yes { Ok(true) } else { runtime.block_on(ask(&self.ctrl_c, self.paint)) };
        // However late it came (the last batch, while the lock was taken, with the answer), a
        // Ctrl-C before this point stops the run before anything is sent.
        if self.ctrl_c.pressed() {
            return Err(Interrupted::BeforeFiring.into());
        }
        if matches!(confirmed, Ok(true)) {
            self.ctrl_c.presses().hand_over_to_the_firing();
        }
        confirmed
    }

    fn progress(&mut self, stats: &FireStats, total: u64) {
        let now = Instant::now();
        let meter = self.meter.get_or_insert_with(|| Meter::new(now));
        meter.record(now, stats.fired);
        show_counts(&self.bar, stats, total, meter);
    }

    fn ctrl_c(&self) -> Option<Arc<Presses>> {
        Some(self.ctrl_c.presses())
    }
}

/// Asks on the terminal, on a thread of its own: Ctrl-C ends the wait at once, while the lock's
/// heartbeat goes on running on the runtime. (A blocking task would keep the runtime from
/// shutting down until someone pressed Enter.)
async fn ask(ctrl_c: &CtrlC, paint: Paint) -> Result<bool> {
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || sender.send(confirm(paint)));
    let presses = ctrl_c.presses();
    tokio::select! {
        answer = answer => answer.context("the question ended without an answer")?,
        () = presses.wait_for(1) => Err(Interrupted::BeforeFiring.into()),
    }
}

fn confirm(paint: Paint) -> Result<bool> {
    eprint!("{} Type \"yes\" to go on: ", paint.bold("Fire these tags?"));
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ctrl_c_before_the_confirmation_stops_the_run_even_with_yes() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let preflight = Preflight { sending: 5, ..Preflight::default() };
        let mut terminal = Terminal {
            yes: true,
            bar: ProgressBar::hidden(),
            paint: Paint::default(),
            meter: None,
            ctrl_c: CtrlC::pressed_once(),
        };
        assert!(terminal.stopped());
        let confirmed = terminal.confirm(&preflight, &runtime);
        let error = confirmed.expect_err("a run pressed to stop was confirmed");
        assert_eq!(error.downcast_ref::<Interrupted>(), Some(&Interrupted::BeforeFiring));
    }
}
