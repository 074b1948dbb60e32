//! `Replayer`: `load_file` drives the rows of the file through `format_data` to the dump files.

use anyhow::{Context, Result};
use chrono::{DateTime, Local, Utc};

use crate::ctrl_c::Interrupted;
use crate::field::Field;
use crate::out::dump::Dumps;
use crate::out::summary::Summary;
use crate::problem::{exception_line, Kind, Problem};
use crate::read::{self, Overlay, Reading, RowSource};
use crate::row::check::{check_rows, Checked, CheckedBatch, KnownAccounts, RowContext, ValidInfo};
use crate::row::config::ReplayerConfig;
use crate::row::damage::Tally;
use crate::row::dedupe::{Dedupe, Duplicate};
use crate::settings::Settings;

pub struct Replayer {
    pub settings: Settings,
    context: Option<RowContext>,
    input: Option<Box<dyn RowSource>>,
    dumps: Option<Dumps>,
    dedupe: Dedupe,
    /// What needs the whole file (SPEC §11.2), added up batch by batch.
    damage: Tally,
    pub summary: Summary,
}

/// A row that passed every check: what firing needs, read from its batch when asked (a dry run
/// never asks).
pub struct ValidRow<'a> {
    pub row: u64,
    batch: &'a CheckedBatch,
    info: &'a ValidInfo,
}

impl ValidRow<'_> {
    pub fn tag_url(&self) -> &str {
        self.batch.request(self.info)
    }

    pub fn account(&self) -> &str {
        self.batch.account(self.info)
    }

    pub fn rid(&self) -> &str {
        self.batch.rid(self.info)
    }

    pub fn event(&self) -> &str {
        self.batch.event(self.info)
    }

    /// The row's date in the mapping's timezone: the day the nightly jobs backdate.
    pub fn local_date(&self) -> chrono::NaiveDate {
        self.info.local_date
    }
}

/// Consecutive kept rows of a batch: their lines are contiguous in the batch's buffers.
#[derive(Default)]
struct Run {
    requests: Option<std::ops::Range<usize>>,
    validated: std::ops::Range<usize>,
}

impl Run {
    fn start(info: &ValidInfo) -> Run {
        Run { requests: Some(info.request.start..info.request.end + 1), validated: info.validated.clone() }
    }

    /// Add the row when it follows the run directly; false when it does not (or the run is empty).
    fn extend(&mut self, info: &ValidInfo) -> bool {
        match &mut self.requests {
            Some(requests) if requests.end == info.request.start && self.validated.end == info.validated.start => {
                requests.end = info.request.end + 1;
                self.validated.end = info.validated.end;
                true
            }
            _ => false,
        }
    }

    fn ranges(&self) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        self.requests.clone().map(|requests| (requests, self.validated.clone()))
    }
}

/// A file-level warning of the reader (`file: …`) as a problem.
fn file_problem(line: &str) -> Problem {
    Problem::file(line.strip_prefix("file: ").unwrap_or(line))
}

impl Replayer {
    /// Open the file and check its header against the mapping: every setup failure happens here,
    /// before the first row.
    pub fn new(settings: Settings, now: DateTime<Utc>, accounts: Option<KnownAccounts>) -> Result<Replayer> {
        let expected = read::expected_headers(&settings.mapping);
        let reading = Reading {
            encoding: settings.encoding,
            delimiter: settings.delimiter,
            sheet: settings.sheet.as_deref(),
            expected: &expected,
        };
        let input = match &settings.opened_file {
            Some(file) => {
                let file = file.try_clone().context("cannot read the staged file")?;
                read::open(&settings.load_file, file, &reading)?
            }
            None => read::open_path(&settings.load_file, &reading)?,
        };
        let input = match &settings.edits {
            Some(edits) if !edits.is_empty() => Box::new(Overlay::new(input, edits.clone())),
            _ => input,
        };
        let (columns, unmapped) = input.columns(&settings.mapping)?;
        if let Some(kept) = &settings.problem_rows {
            *kept.headers.lock().expect("not poisoned") = input.headers().to_vec();
            kept.names_cells.store(input.names_cells(), std::sync::atomic::Ordering::Relaxed);
        }
        let config = ReplayerConfig::new(settings.mapping.clone(), columns, now)
            .with_context(|| format!("mapping {}", settings.mapping_path.display()))?;
        let dumps = if settings.dump_data || settings.fire_tag {
            Some(Dumps::create(&settings.output_dir, &settings.name, Local::now().date_naive(), settings.dump_data)?)
        } else {
            None
        };
        let summary = Summary {
            timezone: settings.mapping.timezone.name().to_owned(),
            tokens_checked: accounts.is_some(),
            read: input.description(),
            ..Summary::default()
        };
        let file_warnings: Vec<Problem> =
            input.file_warnings().iter().cloned().chain(unmapped).map(|line| file_problem(&line)).collect();
        let context = RowContext {
            config,
            request_url: settings.request_url.clone(),
            pretty: settings.dump_data,
            accounts,
            names_cells: input.names_cells(),
            keep_cells: settings.problem_rows.is_some(),
        };
        let mut replayer = Replayer {
            settings,
            context: Some(context),
            input: Some(input),
            dumps,
            dedupe: Dedupe::default(),
            damage: Tally::default(),
            summary,
        };
        for warning in &file_warnings {
            replayer.warning(warning)?;
        }
        Ok(replayer)
    }

    fn warning(&mut self, problem: &Problem) -> Result<()> {
        self.summary.warnings += 1;
        self.summary.warning_groups.add(problem);
        if let Some(dumps) = &mut self.dumps {
            dumps.warning(&problem.line())?;
            if self.settings.problems_dump {
                dumps.problem(problem)?;
            }
        }
        Ok(())
    }

    /// A row not fired, for all of `problems` (one row's, at least one).
    fn exception(&mut self, problems: &[Problem]) -> Result<()> {
        self.summary.rows_with_exceptions += 1;
        for problem in problems {
            self.summary.exception_groups.add(problem);
        }
        if let Some(dumps) = &mut self.dumps {
            dumps.exception(&exception_line(problems))?;
            if self.settings.problems_dump {
                for problem in problems {
                    dumps.problem(problem)?;
                }
            }
        }
        Ok(())
    }

    /// Read every row: valid rows go to `on_valid` and the request dumps, problems to the
    /// warnings and exceptions dumps. Rows are checked on every core and handled here in order.
    /// `stopped` is asked before each batch: once it says so, the reading ends with
    /// [`Interrupted`] and the dumps are removed.
    pub fn load_file(
        &mut self,
        stopped: &dyn Fn() -> bool,
        mut on_valid: impl FnMut(&ValidRow) -> Result<()>,
    ) -> Result<()> {
        let context = self.context.take().expect("load_file runs once");
        let mut input = self.input.take().expect("load_file runs once");
        let outcome = check_rows(input.as_mut(), &context, |batch| {
            if stopped() {
                return Err(Interrupted::WhileChecking { rows: self.summary.rows_read }.into());
            }
            let mut rows = std::mem::take(&mut batch.rows);
            let mut names = vec![0u64; batch.names.len()];
            let mut run = Run::default();
            for (index, (row, checked)) in rows.drain(..).enumerate() {
                let with_problems = match checked {
                    Checked::Blank => {
                        self.summary.rows_blank += 1;
                        false
                    }
                    Checked::Exception(problems) => {
                        self.summary.rows_read += 1;
                        self.exception(&problems)?;
                        true
                    }
                    Checked::Valid(info) => {
                        self.summary.rows_read += 1;
                        let exceptions = self.summary.rows_with_exceptions;
                        let kept = self.valid_row(row, &context, batch, &info, &mut on_valid)?;
                        if kept {
                            names[info.names as usize] += 1;
                            self.summary.count_coverage(batch.account(&info), info.identifiers);
                            if !run.extend(&info) {
                                self.write_run(batch, &run)?;
                                run = Run::start(&info);
                            }
                        }
                        !info.warnings.is_empty() || self.summary.rows_with_exceptions > exceptions
                    }
                };
                if let (true, Some(kept), Some(cells)) =
                    (with_problems, &self.settings.problem_rows, batch.cells.get_mut(index))
                {
                    let mut kept = kept.rows.lock().expect("not poisoned");
                    if kept.len() < crate::settings::ProblemRows::MAX {
                        kept.push((row, std::mem::take(cells)));
                    }
                }
            }
            self.write_run(batch, &run)?;
            for ((account, event), count) in batch.names.iter().zip(names) {
                self.summary.count_names(account, event, count);
            }
            self.damage.add(&batch.damage);
            batch.rows = rows;
            Ok(())
        });
        // Warnings that needed the whole file: decided now that it is read.
        let outcome = outcome.and_then(|()| {
            for warning in self.damage.warnings(context.config.columns()) {
                self.warning(&warning)?;
            }
            Ok(())
        });
        self.summary.rows_excluded = input.rows_excluded();
        self.context = Some(context);
        if outcome.is_err() {
            // The reading stopped (a record over 1 MiB, a full disk, Ctrl-C): no dump of part of
            // the file is left to be read as the whole of it, or fired from.
            if let Some(dumps) = &mut self.dumps {
                dumps.discard();
            }
        }
        outcome
    }

    /// Write a run of rows that follow each other in the batch's buffers: one write for many rows.
    fn write_run(&mut self, batch: &CheckedBatch, run: &Run) -> Result<()> {
        if let (Some(dumps), Some((requests, validated))) = (&mut self.dumps, run.ranges()) {
            if self.settings.dump_data {
                dumps.requests(&batch.requests[requests])?;
                dumps.validated(&batch.validated[validated])?;
            }
        }
        Ok(())
    }

    /// Check a valid row against the rows before it; true when it is kept.
    fn valid_row(
        &mut self,
        row: u64,
        context: &RowContext,
        batch: &CheckedBatch,
        info: &ValidInfo,
        on_valid: &mut impl FnMut(&ValidRow) -> Result<()>,
    ) -> Result<bool> {
        let duplicate =
            self.dedupe.check(row, info.dedupe_key).context("cannot use the temporary file of duplicate detection")?;
        match duplicate {
            None => {}
            Some(Duplicate::Row(first)) => {
                let message = format!("duplicate of row {first} (the same payload)");
                self.exception(&[Problem::row(row, Kind::DuplicateRow, message)])?;
                return Ok(false);
            }
            Some(Duplicate::OrderId(first)) => {
                let columns = context.config.columns();
                let order_id = batch.order_id(info);
                let column = columns.of(Field::OrderId).map(|index| columns.header(index).to_owned());
                self.exception(&[Problem {
                    value: column.as_ref().map(|_| order_id.to_owned()),
                    column,
                    field: Some(Field::OrderId.name().to_owned()),
                    ..Problem::row(
                        row,
                        Kind::DuplicateOrderId,
                        format!("order id {order_id:?} was already used in row {first}"),
                    )
                }])?;
                return Ok(false);
            }
        }

        if !info.warnings.is_empty() {
            self.summary.rows_with_warnings += 1;
        }
        for warning in &info.warnings {
            self.warning(warning)?;
        }
        self.summary.valid_date(info.local_date);
        on_valid(&ValidRow { row, batch, info })?;
        Ok(true)
    }

    /// The summary so far and the dump files, still open, for a live run to go on writing.
    pub fn into_parts(self) -> (Summary, Option<Dumps>) {
        (self.summary, self.dumps)
    }

    /// Close the dump files and return the summary.
    pub fn finish(mut self) -> Result<Summary> {
        if let Some(dumps) = self.dumps.take() {
            self.summary.files_written = dumps.finish()?;
        }
        Ok(self.summary)
    }
}
