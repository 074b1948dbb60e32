//! What a run did (SPEC §9): counts, the date range to be backdated, accounts and events, files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

/// Distinct accounts or events kept for the summary; past this they are only counted.
const MAX_DISTINCT: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Every row valid and, when fired, accepted.
    Success = 0,
    /// Finished, but some rows had exceptions or were refused or failed.
    RowsFailed = 1,
    /// Could not start: nothing sent.
    CouldNotStart = 2,
    /// Stopped early: the DCS looked down or refused the account.
    StoppedEarly = 3,
    Interrupted = 130,
}

/// Why a live run stopped before its last row: set by the firing, reported here.
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

#[derive(Debug, Default)]
pub struct Summary {
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_with_exceptions: u64,
    pub rows_with_warnings: u64,
    pub warnings: u64,
    pub rows_blank: u64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    pub accounts: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub timezone: String,
    pub files_written: Vec<PathBuf>,
    pub tokens_checked: bool,
    /// The database the account tokens were checked against, its password masked.
    pub accounts_database: Option<String>,
    /// The encoding and the delimiter read, and how they were found.
    pub encoding: String,
    pub delimiter: String,
    /// Lines shown on the terminal, the first few of each kind.
    pub shown_exceptions: Vec<String>,
    pub shown_warnings: Vec<String>,
    /// A live run's figures.
    pub fire: Option<FireStats>,
}

/// What a live run sent and what came back.
#[derive(Debug, Default)]
pub struct FireStats {
    pub request_url: String,
    pub fired: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
    /// Accepted by an earlier run, per run ("name token").
    pub already_fired: BTreeMap<String, u64>,
    /// Valid rows not sent: over --limit.
    pub over_limit: u64,
    /// Valid rows not sent because the run stopped early.
    pub not_sent: u64,
    pub latencies_ms: Vec<u32>,
    pub elapsed: Duration,
    pub stop: Option<StopReason>,
    /// What failed, for a stop that needs saying (a certificate, a database error).
    pub stop_detail: Option<String>,
    /// Stopped at once by a second Ctrl-C: the requests in flight were not waited for.
    pub aborted: bool,
}

impl FireStats {
    pub fn already_fired_total(&self) -> u64 {
        self.already_fired.values().sum()
    }

    /// The value at quantile `q` (0 to 1) of sorted latencies, in ms.
    fn percentile(sorted: &[u32], q: f64) -> u32 {
        if sorted.is_empty() {
            return 0;
        }
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index]
    }

    fn render(&mut self, out: &mut String) {
        let _ = writeln!(out, "fired:                {} to {}", self.fired, self.request_url);
        let _ = writeln!(out, "  accepted:           {}", self.accepted);
        let _ = writeln!(out, "  refused:            {}", self.refused);
        let _ = writeln!(out, "  failed:             {}", self.failed);
        let already = self.already_fired_total();
        if already > 0 {
            let runs: Vec<String> =
                self.already_fired.iter().map(|(run, count)| format!("{count} by run {run}")).collect();
            let _ = writeln!(out, "already fired:        {already} ({}; --refire sends them again)", runs.join(", "));
        } else {
            let _ = writeln!(out, "already fired:        0");
        }
        let skipped = self.over_limit + self.not_sent;
        let mut reasons = Vec::new();
        if self.over_limit > 0 {
            reasons.push(format!("{} over --limit", self.over_limit));
        }
        if self.not_sent > 0 {
            reasons.push(format!("{} not sent: the run stopped early", self.not_sent));
        }
        let reasons = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
        let _ = writeln!(out, "skipped:              {skipped}{reasons}");
        let seconds = self.elapsed.as_secs_f64();
        if self.fired > 0 && seconds > 0.0 {
            self.latencies_ms.sort_unstable();
            let sorted = &self.latencies_ms;
            let _ = writeln!(
                out,
                "request rate:         {:.0}/s over {seconds:.1} s; latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
                self.fired as f64 / seconds,
                Self::percentile(sorted, 0.5),
                Self::percentile(sorted, 0.9),
                Self::percentile(sorted, 0.99),
                sorted.last().copied().unwrap_or(0)
            );
        }
    }
}

fn count(map: &mut BTreeMap<String, u64>, key: &str, rows: u64) {
    if let Some(count) = map.get_mut(key) {
        *count += rows;
    } else if map.len() < MAX_DISTINCT {
        map.insert(key.to_owned(), rows);
    }
}

impl Summary {
    pub fn valid_row(&mut self, date: NaiveDate, account: &str, event: &str) {
        self.valid_date(date);
        self.count_names(account, event, 1);
    }

    /// A valid row's date; its account and event are counted with `count_names`.
    pub fn valid_date(&mut self, date: NaiveDate) {
        self.rows_valid += 1;
        self.first_date = Some(self.first_date.map_or(date, |first| first.min(date)));
        self.last_date = Some(self.last_date.map_or(date, |last| last.max(date)));
    }

    pub fn count_names(&mut self, account: &str, event: &str, rows: u64) {
        if rows > 0 {
            count(&mut self.accounts, account, rows);
            count(&mut self.events, event, rows);
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        if let Some(fire) = &self.fire {
            match fire.stop {
                Some(StopReason::Interrupted) => return ExitCode::Interrupted,
                Some(
                    StopReason::DcsDown
                    | StopReason::AccountRefused
                    | StopReason::LockLost
                    | StopReason::CannotConnect
                    | StopReason::DatabaseFailed
                    | StopReason::OutputFailed,
                ) => return ExitCode::StoppedEarly,
                None if fire.refused + fire.failed > 0 => return ExitCode::RowsFailed,
                None => {}
            }
        }
        if self.rows_with_exceptions > 0 {
            ExitCode::RowsFailed
        } else {
            ExitCode::Success
        }
    }

    pub fn date_range(&self) -> Option<String> {
        let (first, last) = (self.first_date?, self.last_date?);
        let days = (last - first).num_days() + 1;
        Some(format!("{first} to {last} ({days} day{}, {})", if days == 1 { "" } else { "s" }, self.timezone))
    }

    pub fn render(&mut self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "rows read:            {}", self.rows_read);
        let _ = writeln!(out, "  valid:              {}", self.rows_valid);
        let _ = writeln!(out, "  with exceptions:    {} (not fired)", self.rows_with_exceptions);
        let _ = writeln!(
            out,
            "  with warnings:      {} ({} warning{})",
            self.rows_with_warnings,
            self.warnings,
            if self.warnings == 1 { "" } else { "s" }
        );
        if self.rows_blank > 0 {
            let _ = writeln!(out, "  blank, skipped:     {}", self.rows_blank);
        }
        match self.date_range() {
            Some(range) => {
                let _ = writeln!(out, "dates to backdate:    {range}");
            }
            None => {
                let _ = writeln!(out, "dates to backdate:    none (no valid rows)");
            }
        }
        if let Some(fire) = &mut self.fire {
            fire.render(&mut out);
        }
        let _ = writeln!(out, "accounts:             {}", list(&self.accounts));
        let _ = writeln!(out, "events:               {}", list(&self.events));
        if !self.encoding.is_empty() {
            let _ = writeln!(out, "encoding read:        {}", self.encoding);
            let _ = writeln!(out, "delimiter read:       {}", self.delimiter);
        }
        match (&self.accounts_database, self.tokens_checked) {
            (Some(database), true) => {
                let _ = writeln!(out, "account tokens:       checked against attrib_account in {database}");
            }
            (None, true) => {
                let _ = writeln!(out, "account tokens:       checked against attrib_account");
            }
            (_, false) => {
                let _ = writeln!(
                    out,
                    "account tokens:       NOT checked against attrib_account (no --database-url, and no accounts in the embedded database)"
                );
            }
        }
        if self.files_written.is_empty() {
            let _ = writeln!(out, "files written:        none (validation only; --dump-data writes the dumps)");
        } else {
            let _ = writeln!(out, "files written:");
            for path in &self.files_written {
                let _ = writeln!(out, "  {}", path.display());
            }
        }
        out
    }
}

fn list(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    let mut text = crate::field::capped_list(map.iter().map(|(key, count)| format!("{key} ({count})")));
    if map.len() >= MAX_DISTINCT {
        text.push_str(" (past 1000 distinct ones, not counted)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_counts_and_exit_code() {
        let mut summary = Summary { timezone: "Europe/London".into(), ..Summary::default() };
        assert_eq!(summary.date_range(), None);
        summary.valid_row(NaiveDate::from_ymd_opt(2024, 6, 3).unwrap(), "tok", "sale");
        summary.valid_row(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), "tok", "visit");
        summary.valid_row(NaiveDate::from_ymd_opt(2024, 6, 2).unwrap(), "tok", "sale");
        assert_eq!(summary.date_range().unwrap(), "2024-06-01 to 2024-06-03 (3 days, Europe/London)");
        assert_eq!(summary.exit_code(), ExitCode::Success);
        summary.rows_with_exceptions = 1;
        assert_eq!(summary.exit_code(), ExitCode::RowsFailed);
        let text = summary.render();
        assert!(text.contains("sale (2), visit (1)") && text.contains("tok (3)"));
    }
}
