//! The progress of a live run on the terminal (§7): done/total, the rate over the last seconds
//! (sensible from the first second), the ETA as `1h 04m`, the time elapsed, accepted, refused
//! and failed, and what was not accepted by cause (`500 ×118, timeout ×2`).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fire::{Fired, Verdict};
use crate::out::summary::FireStats;
use crate::out::terminal::separated;
use crate::settings::Settings;

/// The rate is measured over this much of the recent past.
const WINDOW: Duration = Duration::from_secs(5);
/// Below this much time measured, the rate is not shown: it would be noise.
const SHORTEST: Duration = Duration::from_millis(200);

/// Counts seen at moments of the recent past: the rate over the last seconds.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    pub fn new(started: Instant) -> Meter {
        Meter { started, samples: VecDeque::from([(started, 0)]) }
    }

    /// `done` rows at `now`.
    pub fn record(&mut self, now: Instant, done: u64) {
        self.samples.push_back((now, done));
        // The oldest sample kept is the last one before the window: the rate spans the window.
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= WINDOW {
            self.samples.pop_front();
        }
    }

    /// Rows a second over the window (since the start while it is shorter than the window).
    pub fn rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let span = last.0.duration_since(first.0);
        (span >= SHORTEST).then(|| (last.1 - first.1) as f64 / span.as_secs_f64())
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// The time left for `remaining` rows at the current rate.
    pub fn eta(&self, remaining: u64) -> Option<Duration> {
        let rate = self.rate().filter(|rate| *rate > 0.0)?;
        Some(Duration::from_secs_f64((remaining as f64 / rate).min(1e7)))
    }
}

/// `1h 04m`, `4m 05s`, `12s`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        3600.. => format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60),
        60.. => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{seconds}s"),
    }
}

/// The two lines shown: where the run is, then what came back.
pub fn progress_lines(stats: &FireStats, total: u64, meter: &Meter, now: Instant) -> (String, String) {
    let rate = meter.rate().map_or_else(|| "–/s".to_owned(), |rate| format!("{}/s", separated(rate.round() as u64)));
    let eta = meter.eta(total.saturating_sub(stats.fired)).map_or_else(|| "–".to_owned(), human);
    let first = format!(
        "{}/{}  {rate}  ETA {eta}  elapsed {}",
        separated(stats.fired),
        separated(total),
        human(meter.elapsed(now))
    );
    let mut second = format!(
        "accepted {}  refused {}  failed {}",
        separated(stats.accepted),
        separated(stats.refused),
        separated(stats.failed)
    );
    if !stats.causes.is_empty() {
        second.push_str(&format!("  ({})", FireStats::causes_text(&stats.causes)));
    }
    (first, second)
}

/// The bar on the terminal; hidden with `--quiet` or without a terminal.
pub fn progress_bar(settings: &Settings) -> ProgressBar {
    if settings.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(5));
    bar.set_style(
        ProgressStyle::with_template("{bar:24} {prefix}\n{msg}").expect("valid template").progress_chars("=> "),
    );
    bar
}

/// Counts a batch of answers.
pub fn count_batch(stats: &mut FireStats, batch: &[Fired]) {
    for fired in batch {
        stats.fired += 1;
        match fired.verdict {
            Verdict::Accepted => stats.accepted += 1,
            Verdict::Refused | Verdict::AccountRefused => stats.refused += 1,
            Verdict::Failed | Verdict::Abandoned => stats.failed += 1,
        }
        if let Some(cause) = fired.cause() {
            *stats.causes.entry(cause).or_insert(0) += 1;
        }
        stats.latencies_ms.push(u32::try_from(fired.elapsed.as_millis()).unwrap_or(u32::MAX));
    }
}

/// The exact counts on the bar.
pub fn show_counts(bar: &ProgressBar, stats: &FireStats, total: u64, meter: &Meter) {
    if bar.length() != Some(total) {
        bar.set_length(total);
    }
    bar.set_position(stats.fired);
    let (first, second) = progress_lines(stats, total, meter, Instant::now());
    bar.set_prefix(first);
    bar.set_message(second);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fire::Job;

    fn fired(row: u64, verdict: Verdict, status: Option<u16>) -> Fired {
        Fired {
            job: Job { row, account: "acct-0001".into(), rid: "r".repeat(32), url: String::new() },
            verdict,
            status,
            error: status.is_none().then(|| "timed out: no answer within 10 s".to_owned()),
            attempts: 1,
            elapsed: Duration::from_millis(3),
            body: String::new(),
        }
    }

    #[test]
    fn the_rate_is_sensible_from_the_first_second_and_follows_the_last_seconds() {
        let start = Instant::now();
        let mut meter = Meter::new(start);
        assert_eq!(meter.rate(), None, "nothing measured yet");
        meter.record(start + Duration::from_millis(500), 1000);
        assert_eq!(meter.rate().map(f64::round), Some(2000.0));
        // A steady 2,000/s for a minute, then 500/s for ten seconds: the rate says 500/s.
        let mut done = 1000;
        for tenth in 6..600 {
            done += 200;
            meter.record(start + Duration::from_millis(tenth * 100), done);
        }
        for tenth in 600..700 {
            done += 50;
            meter.record(start + Duration::from_millis(tenth * 100), done);
        }
        assert_eq!(meter.rate().map(f64::round), Some(500.0));
        assert!(meter.samples.len() <= 60, "the window stays bounded: {}", meter.samples.len());
        assert_eq!(meter.eta(3_840_000).map(human).as_deref(), Some("2h 08m"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(3840)), "1h 04m");
        assert_eq!(human(Duration::from_secs(245)), "4m 05s");
        assert_eq!(human(Duration::from_secs(12)), "12s");
    }

    #[test]
    fn the_progress_shows_exact_counts_refusals_and_failures_by_cause() {
        let start = Instant::now();
        let mut meter = Meter::new(start);
        let mut stats = FireStats::default();
        let mut batch: Vec<Fired> = (0..3000).map(|row| fired(row, Verdict::Accepted, Some(200))).collect();
        batch.extend((0..118).map(|row| fired(row, Verdict::Failed, Some(500))));
        batch.extend((0..2).map(|row| fired(row, Verdict::Failed, None)));
        batch.push(fired(1, Verdict::Refused, Some(400)));
        count_batch(&mut stats, &batch);
        meter.record(start + Duration::from_secs(2), stats.fired);
        let (first, second) = progress_lines(&stats, 50_000, &meter, start + Duration::from_secs(2));
        assert_eq!(first, "3,121/50,000  1,561/s  ETA 30s  elapsed 2s");
        assert_eq!(second, "accepted 3,000  refused 1  failed 120  (500 ×118, timeout ×2, 400 ×1)");
    }
}
