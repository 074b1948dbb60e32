//! `Replayer`: `load_file` drives the rows of the CSV through `format_data` to the dump files.

use anyhow::{Context, Result};
use chrono::{DateTime, Local, Utc};
use csv::{ByteRecord, StringRecord};

use crate::config::{Formatted, ReplayerConfig};
use crate::dedupe::{Dedupe, Duplicate};
use crate::dump::Dumps;
use crate::input::CsvInput;
use crate::settings::Settings;
use crate::summary::Summary;

/// Longest tag URL the DCS takes.
pub const MAX_URL_BYTES: usize = 8000;
/// Problems of each kind shown on the terminal; the dump files have them all.
const SHOWN: usize = 10;

pub struct Replayer {
    pub settings: Settings,
    pub config: ReplayerConfig,
    input: CsvInput,
    dumps: Option<Dumps>,
    dedupe: Dedupe,
    pub summary: Summary,
}

/// A row that passed every check: what firing needs.
pub struct ValidRow {
    pub row: u64,
    pub tag_url: String,
    pub formatted: Formatted,
}

impl Replayer {
    /// Open the file and check its header against the mapping: every setup failure happens here,
    /// before the first row.
    pub fn new(settings: Settings, now: DateTime<Utc>) -> Result<Replayer> {
        let input = CsvInput::open(&settings.load_file, settings.encoding, settings.delimiter)?;
        let (columns, unmapped) = input.columns(&settings.mapping)?;
        let config = ReplayerConfig::new(settings.mapping.clone(), columns, now)
            .with_context(|| format!("mapping {}", settings.mapping_path.display()))?;
        let dumps = if settings.dump_data || settings.fire_tag {
            Some(Dumps::create(&settings.output_dir, &settings.name, Local::now().date_naive(), settings.dump_data)?)
        } else {
            None
        };
        let mut summary = Summary { timezone: settings.mapping.timezone.name().to_owned(), ..Summary::default() };
        let file_warnings: Vec<String> = input.file_warnings.iter().cloned().chain(unmapped).collect();
        let mut replayer = Replayer { settings, config, input, dumps, dedupe: Dedupe::default(), summary: Summary::default() };
        for warning in file_warnings {
            summary.warnings += 1;
            replayer.show_warning(&mut summary, &warning)?;
        }
        replayer.summary = summary;
        Ok(replayer)
    }

    fn show_warning(&mut self, summary: &mut Summary, line: &str) -> Result<()> {
        if summary.shown_warnings.len() < SHOWN {
            summary.shown_warnings.push(line.to_owned());
        }
        if let Some(dumps) = &mut self.dumps {
            dumps.warning(line)?;
        }
        Ok(())
    }

    fn exception(&mut self, line: String) -> Result<()> {
        self.summary.rows_with_exceptions += 1;
        if self.summary.shown_exceptions.len() < SHOWN {
            self.summary.shown_exceptions.push(line.clone());
        }
        if let Some(dumps) = &mut self.dumps {
            dumps.exception(&line)?;
        }
        Ok(())
    }

    /// Read every row: valid rows go to `on_valid` and the request dumps, problems to the
    /// warnings and exceptions dumps.
    pub fn load_file(&mut self, mut on_valid: impl FnMut(&ValidRow) -> Result<()>) -> Result<()> {
        let mut record = ByteRecord::new();
        let width = self.config.columns().width;
        while let Some(row) = self.input.next_row(&mut record)? {
            if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
                self.summary.rows_blank += 1;
                continue;
            }
            self.summary.rows_read += 1;
            if record.len() < width {
                self.exception(format!(
                    "row {row}: {} cells but the header has {width}; a delimiter is missing, or a cell holds an unquoted line break; row not fired",
                    record.len()
                ))?;
                continue;
            }
            if let Some(extra) = record.iter().skip(width).position(|cell| !cell.trim_ascii().is_empty()) {
                self.exception(format!(
                    "row {row}: cell {} is past the header's last column and not empty ({} cells for {width} headers); \
                     a cell probably holds an unquoted delimiter: quote it; row not fired",
                    width + extra + 1,
                    record.len()
                ))?;
                continue;
            }
            let text = match StringRecord::from_byte_record(std::mem::take(&mut record)) {
                Ok(decoded) => decoded,
                Err(error) => {
                    let column = error.utf8_error().field();
                    let header = self.config.columns().headers.get(column).cloned().unwrap_or_default();
                    record = error.into_byte_record();
                    self.exception(format!(
                        "row {row}, column {header:?}: not valid UTF-8; save the file as \"CSV UTF-8\" or pass --encoding windows-1252; row not fired"
                    ))?;
                    continue;
                }
            };
            let outcome = self.handle_row(row, &text, &mut on_valid);
            record = text.into_byte_record();
            outcome?;
        }
        Ok(())
    }

    fn handle_row(&mut self, row: u64, text: &StringRecord, on_valid: &mut impl FnMut(&ValidRow) -> Result<()>) -> Result<()> {
        let formatted = match self.config.format_data(text) {
            Ok(formatted) => formatted,
            Err(problems) => {
                let parts: Vec<String> = problems
                    .iter()
                    .map(|problem| match &problem.column {
                        Some(column) => format!("column {column:?} ({}): {}", problem.field, problem.text),
                        None => format!("({}): {}", problem.field, problem.text),
                    })
                    .collect();
                let joiner = if parts[0].starts_with('(') { " " } else { ", " };
                let line = format!("row {row}{joiner}{}; row not fired", parts.join("; "));
                return self.exception(line);
            }
        };
        let tag_url = formatted.payload.tag_url(&self.settings.request_url);
        if tag_url.len() > MAX_URL_BYTES {
            return self.exception(format!(
                "row {row}: its tag URL would be {} bytes, over the DCS's {MAX_URL_BYTES}; shorten the longest cells (user_agent, page_url, custom); row not fired",
                tag_url.len()
            ));
        }
        match self.dedupe.check(row, &formatted.payload) {
            Ok(()) => {}
            Err(Duplicate::Row(first)) => {
                return self.exception(format!("row {row}: duplicate of row {first} (the same payload); row not fired"));
            }
            Err(Duplicate::OrderId(first)) => {
                let header = self.config.columns().of(crate::field::Field::OrderId).map(|i| self.config.columns().header(i).to_owned());
                let order_id = formatted.payload.get("order_id").unwrap_or_default();
                let column = header.map(|h| format!(", column {h:?}")).unwrap_or_default();
                return self.exception(format!(
                    "row {row}{column} (order_id): order id {order_id:?} was already used in row {first}; row not fired"
                ));
            }
        }

        let mut summary = std::mem::take(&mut self.summary);
        if !formatted.warnings.is_empty() {
            summary.rows_with_warnings += 1;
        }
        for warning in &formatted.warnings {
            summary.warnings += 1;
            self.show_warning(&mut summary, &warning.line(row))?;
        }
        summary.valid_row(
            formatted.local_date,
            formatted.payload.get("account_token").unwrap_or_default(),
            formatted.payload.get("event_name").unwrap_or_default(),
        );
        self.summary = summary;
        if let Some(dumps) = &mut self.dumps {
            if self.settings.dump_data {
                dumps.request(&tag_url)?;
                dumps.validated(row, &formatted.payload)?;
            }
        }
        on_valid(&ValidRow { row, tag_url, formatted })
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
