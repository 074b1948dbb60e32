//! `--report FILE` (SPEC §9): the summary as JSON for scripts and schedulers, written on every
//! exit — a finished run, an early stop, an interruption, a run that could not start. Every
//! field is documented in `docs/reference.md`; counts are plain numbers (no separators).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::out::summary::{ExitCode, Summary};
use crate::problem::Severity;

/// The version of the report's shape: raised when a field changes meaning or goes away.
const FORMAT: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub format: u32,
    pub exit_code: i32,
    /// Why the run ended early, or null.
    pub stop: Option<Stop>,
    pub rows: Rows,
    pub dates: Option<Dates>,
    pub accounts: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// The workbook's sheet read; null for a CSV file.
    pub sheet: Option<String>,
    pub account_tokens: AccountTokens,
    pub dump_files: Vec<String>,
    pub problems: Vec<ProblemGroup>,
    /// A live run's figures; null for a dry run or a run that did not fire.
    pub fire: Option<Fire>,
}

#[derive(Debug, Serialize)]
pub struct Stop {
    /// `interrupted`, `dcs_down`, `account_refused`, `lock_lost`, `cannot_connect`,
    /// `database_failed`, `output_failed`, `could_not_start`.
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Rows {
    pub read: u64,
    pub valid: u64,
    pub with_exceptions: u64,
    pub with_warnings: u64,
    pub warnings: u64,
    pub blank: u64,
}

#[derive(Debug, Serialize)]
pub struct Dates {
    pub first: String,
    pub last: String,
    pub timezone: String,
}

#[derive(Debug, Default, Serialize)]
pub struct AccountTokens {
    pub checked: bool,
    /// The database they were checked against, password masked.
    pub database: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProblemGroup {
    pub severity: Severity,
    pub kind: &'static str,
    pub column: Option<String>,
    pub field: Option<String>,
    pub count: u64,
    pub first_rows: Vec<u64>,
    pub example: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Fire {
    pub request_url: String,
    pub proxy: Option<String>,
    pub fired: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
    pub already_fired: u64,
    pub over_limit: u64,
    pub not_sent: u64,
    /// Answers that were not an acceptance, by cause: the status (`"500"`) or `timeout`, ….
    pub failures: BTreeMap<String, u64>,
    pub elapsed_ms: u64,
    pub requests_per_second: f64,
    pub latency_ms: Latency,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

impl Report {
    /// The report of a run that has its summary.
    pub fn of(summary: &mut Summary) -> Report {
        let exit_code = summary.exit_code();
        let stop = summary.fire.as_ref().and_then(|fire| {
            fire.stop.map(|reason| Stop {
                reason: reason.code().to_owned(),
                message: fire.stop_message().unwrap_or_default(),
            })
        });
        let problems = [&summary.exception_groups, &summary.warning_groups]
            .into_iter()
            .flat_map(|groups| groups.sorted())
            .map(|group| ProblemGroup {
                severity: group.first.severity,
                kind: group.first.kind.code(),
                column: group.first.column.clone(),
                field: group.first.field.clone(),
                count: group.count,
                first_rows: group.rows.clone(),
                example: group.first.line(),
            })
            .collect();
        let fire = summary.fire.as_mut().map(|fire| {
            let latency = fire.latency();
            Fire {
                request_url: fire.request_url.clone(),
                proxy: fire.proxy.clone(),
                fired: fire.fired,
                accepted: fire.accepted,
                refused: fire.refused,
                failed: fire.failed,
                already_fired: fire.already_fired_total(),
                over_limit: fire.over_limit,
                not_sent: fire.not_sent,
                failures: fire.causes.clone(),
                elapsed_ms: fire.elapsed.as_millis() as u64,
                requests_per_second: fire.rate(),
                latency_ms: Latency { p50: latency[0], p90: latency[1], p99: latency[2], max: latency[3] },
            }
        });
        let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        Report {
            format: FORMAT,
            exit_code: exit_code as i32,
            stop,
            rows: Rows {
                read: summary.rows_read,
                valid: summary.rows_valid,
                with_exceptions: summary.rows_with_exceptions,
                with_warnings: summary.rows_with_warnings,
                warnings: summary.warnings,
                blank: summary.rows_blank,
            },
            dates: summary.first_date.zip(summary.last_date).map(|(first, last)| Dates {
                first: first.to_string(),
                last: last.to_string(),
                timezone: summary.timezone.clone(),
            }),
            accounts: summary.accounts.clone(),
            events: summary.events.clone(),
            encoding: text(&summary.read.encoding),
            delimiter: text(&summary.read.delimiter),
            sheet: summary.read.sheet.clone(),
            account_tokens: AccountTokens {
                checked: summary.tokens_checked,
                database: summary.accounts_database.clone(),
            },
            dump_files: summary.files_written.iter().map(|path| path.display().to_string()).collect(),
            problems,
            fire,
        }
    }

    /// The report of a run that ended without a summary: it could not start, or was
    /// interrupted before the end of the checking.
    pub fn without_summary(exit_code: ExitCode, reason: &str, message: &str) -> Report {
        Report {
            format: FORMAT,
            exit_code: exit_code as i32,
            stop: Some(Stop { reason: reason.to_owned(), message: message.to_owned() }),
            rows: Rows::default(),
            dates: None,
            accounts: BTreeMap::new(),
            events: BTreeMap::new(),
            encoding: None,
            delimiter: None,
            sheet: None,
            account_tokens: AccountTokens::default(),
            dump_files: Vec::new(),
            problems: Vec::new(),
            fire: None,
        }
    }

    /// Written whole or not at all: to a temporary file beside `path`, then renamed over it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let folder = path.parent().filter(|folder| !folder.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(folder)
            .with_context(|| format!("cannot write the report {}: check its folder", path.display()))?;
        serde_json::to_writer_pretty(&mut file, self).context("cannot write the report")?;
        std::io::Write::write_all(&mut file, b"\n")?;
        file.persist(path).with_context(|| format!("cannot write the report {}", path.display()))?;
        Ok(())
    }
}
