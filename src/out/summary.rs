//! What a run did (SPEC §9): counts, the date range to be backdated, accounts and events, files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use crate::out::terminal::{counted, separated};
use crate::problem::Groups;

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

impl StopReason {
    /// The stable code of the JSON report.
    pub fn code(self) -> &'static str {
        match self {
            StopReason::DcsDown => "dcs_down",
            StopReason::AccountRefused => "account_refused",
            StopReason::Interrupted => "interrupted",
            StopReason::LockLost => "lock_lost",
            StopReason::CannotConnect => "cannot_connect",
            StopReason::DatabaseFailed => "database_failed",
            StopReason::OutputFailed => "output_failed",
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_with_exceptions: u64,
    pub rows_with_warnings: u64,
    pub warnings: u64,
    pub rows_blank: u64,
    /// Rows the page's edits exclude from sending (SPEC §12).
    pub rows_excluded: u64,
    /// Per account: which identifiers its valid rows carry (SPEC §12), at most MAX_DISTINCT.
    pub coverage: BTreeMap<String, Coverage>,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    pub accounts: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub timezone: String,
    pub files_written: Vec<PathBuf>,
    pub tokens_checked: bool,
    /// The database the account tokens were checked against, its password masked.
    pub accounts_database: Option<String>,
    /// How the file was read: a CSV's encoding and delimiter, or a workbook's sheet.
    pub read: crate::read::source::SourceDescription,
    /// The problems, grouped, for the terminal and the pre-flight.
    pub exception_groups: Groups,
    pub warning_groups: Groups,
    /// A live run's figures.
    pub fire: Option<FireStats>,
}

/// How many of an account's valid rows carry each kind of identifier, and how many carry one
/// kind only.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    pub valid: u64,
    pub visitor_id: u64,
    pub customer_id: u64,
    pub email: u64,
    pub phone: u64,
    pub only_one_kind: u64,
}

impl Coverage {
    /// Count a valid row carrying `kinds`: visitor id, customer id, e-mail, phone.
    pub fn add(&mut self, kinds: [bool; 4]) {
        self.valid += 1;
        for (count, carried) in
            [&mut self.visitor_id, &mut self.customer_id, &mut self.email, &mut self.phone].into_iter().zip(kinds)
        {
            *count += u64::from(carried);
        }
        self.only_one_kind += u64::from(kinds.iter().filter(|&&carried| carried).count() == 1);
    }
}

/// What a live run sent and what came back.
#[derive(Debug, Default)]
pub struct FireStats {
    pub request_url: String,
    /// The proxy the requests went through, its password masked.
    pub proxy: Option<String>,
    /// Answers that were not an acceptance, by cause (`500`, `timeout`, …).
    pub causes: BTreeMap<String, u64>,
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

    /// Latency p50, p90, p99 and max, in ms.
    pub fn latency(&mut self) -> [u32; 4] {
        self.latencies_ms.sort_unstable();
        let sorted = &self.latencies_ms;
        [
            Self::percentile(sorted, 0.5),
            Self::percentile(sorted, 0.9),
            Self::percentile(sorted, 0.99),
            sorted.last().copied().unwrap_or(0),
        ]
    }

    /// Requests a second over the firing.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.fired as f64 / seconds
        } else {
            0.0
        }
    }

    /// `500 ×118, timeout ×2`: the causes, most frequent first.
    pub fn causes_text(causes: &BTreeMap<String, u64>) -> String {
        let mut sorted: Vec<(&String, &u64)> = causes.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(a.1));
        sorted.iter().map(|(cause, count)| format!("{cause} ×{}", separated(**count))).collect::<Vec<_>>().join(", ")
    }

    fn render(&mut self, out: &mut String) {
        let _ = writeln!(out, "fired:                {} to {}", separated(self.fired), self.request_url);
        if let Some(proxy) = &self.proxy {
            let _ = writeln!(out, "  through the proxy:  {proxy}");
        }
        let _ = writeln!(out, "  accepted:           {}", separated(self.accepted));
        let _ = writeln!(out, "  refused:            {}", separated(self.refused));
        let _ = writeln!(out, "  failed:             {}", separated(self.failed));
        if !self.causes.is_empty() {
            let _ = writeln!(out, "  not accepted, by cause: {}", Self::causes_text(&self.causes));
        }
        let already = self.already_fired_total();
        if already > 0 {
            let runs: Vec<String> =
                self.already_fired.iter().map(|(run, count)| format!("{} by run {run}", separated(*count))).collect();
            let _ = writeln!(
                out,
                "already fired:        {} ({}; --refire sends them again)",
                separated(already),
                runs.join(", ")
            );
        } else {
            let _ = writeln!(out, "already fired:        0");
        }
        let skipped = self.over_limit + self.not_sent;
        let mut reasons = Vec::new();
        if self.over_limit > 0 {
            reasons.push(format!("{} over --limit", separated(self.over_limit)));
        }
        if self.not_sent > 0 {
            reasons.push(format!("{} not sent: the run stopped early", separated(self.not_sent)));
        }
        let reasons = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
        let _ = writeln!(out, "skipped:              {}{reasons}", separated(skipped));
        let seconds = self.elapsed.as_secs_f64();
        if self.fired > 0 && seconds > 0.0 {
            let [p50, p90, p99, max] = self.latency();
            let _ = writeln!(
                out,
                "request rate:         {}/s over {seconds:.1} s; latency p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, max {max} ms",
                separated(self.rate().round() as u64),
            );
        }
    }

    /// What the person is told when the run stopped early: the cause, with the status seen,
    /// and how to resume.
    pub fn stop_message(&self) -> Option<String> {
        let resume = "Rerun the same command to resume: rows already accepted are skipped, the rest are sent.";
        let detail = self.stop_detail.as_deref().unwrap_or("see the error above");
        let message = match self.stop? {
            StopReason::DcsDown => format!("stopped: the DCS looked down ({detail}). Check that it is up, then resume. {resume}"),
            StopReason::AccountRefused => format!(
                "stopped: the DCS refused the account ({detail}): check the account token and its connection in attrib_account. {resume}"
            ),
            StopReason::Interrupted if self.aborted => format!(
                "interrupted twice: stopped at once; the answers received were recorded, the requests still in flight were not waited for (the rerun sends them again, with the same rid). {resume}"
            ),
            StopReason::Interrupted => format!("interrupted: requests in flight were finished and recorded. {resume}"),
            StopReason::LockLost => format!(
                "stopped: this run could not keep its lock on the accounts (see the error above), so another run may be firing them. \
                 Check with `replayer accounts list` and the other run's output; once no other run is going, {}",
                resume.to_lowercase()
            ),
            StopReason::CannotConnect => {
                format!("stopped: {detail}. Retrying every row cannot fix this, so nothing more was sent. {resume}")
            }
            StopReason::DatabaseFailed => format!(
                "stopped: the journal could not be written ({detail}), so nothing more was sent: every answer received is in the responses dump. \
                 Rows whose answer did not reach the journal are sent again by the rerun (same rid). Once the database is back, {}",
                resume.to_lowercase()
            ),
            StopReason::OutputFailed => format!("stopped: {detail}. {resume}"),
        };
        Some(message)
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

    /// A kept valid row of `account`, carrying these identifiers (visitor id, customer id,
    /// e-mail, phone).
    pub fn count_coverage(&mut self, account: &str, kinds: [bool; 4]) {
        if let Some(coverage) = self.coverage.get_mut(account) {
            coverage.add(kinds);
        } else if self.coverage.len() < MAX_DISTINCT {
            self.coverage.entry(account.to_owned()).or_default().add(kinds);
        }
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
        let _ = writeln!(out, "rows read:            {}", separated(self.rows_read));
        let _ = writeln!(out, "  valid:              {}", separated(self.rows_valid));
        let _ = writeln!(out, "  with exceptions:    {} (not fired)", separated(self.rows_with_exceptions));
        let _ = writeln!(
            out,
            "  with warnings:      {} ({})",
            separated(self.rows_with_warnings),
            counted(self.warnings, "warning")
        );
        if self.rows_blank > 0 {
            let _ = writeln!(out, "  blank, skipped:     {}", separated(self.rows_blank));
        }
        if self.rows_excluded > 0 {
            let _ = writeln!(out, "  excluded in page:   {} (not fired)", separated(self.rows_excluded));
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
        if let Some(sheet) = &self.read.sheet {
            let _ = writeln!(out, "sheet read:           {sheet}");
        } else if !self.read.encoding.is_empty() {
            let _ = writeln!(out, "encoding read:        {}", self.read.encoding);
            let _ = writeln!(out, "delimiter read:       {}", self.read.delimiter);
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
    let mut text = crate::field::capped_list(map.iter().map(|(key, count)| format!("{key} ({})", separated(*count))));
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
