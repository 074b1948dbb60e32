//! The work of one row, done on every core: from a CSV record to an exception line or a row
//! ready to dump and fire. Only what needs the whole file (duplicates, counts, the dump files)
//! stays in order on the main thread.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Mutex;

use anyhow::Result;
use chrono::NaiveDate;
use csv::{ByteRecord, StringRecord};

use crate::config::ReplayerConfig;
use crate::db::Account;
use crate::field::{closest, Field};
use crate::dedupe::DedupeKey;
use crate::input::CsvInput;
use crate::payload::Payload;

/// Longest tag URL the DCS takes.
pub const MAX_URL_BYTES: usize = 8000;
/// Rows handed to a worker at once.
const BATCH_ROWS: usize = 512;
/// A new record's room: most rows fit, so reading one seldom reallocates.
const RECORD_BYTES: usize = 512;
const RECORD_FIELDS: usize = 32;

/// What the workers need, shared read-only.
pub struct RowContext {
    pub config: ReplayerConfig,
    pub request_url: String,
    /// Render the `requests-validated` entry too.
    pub pretty: bool,
    /// The attrib_account table, when a database is configured.
    pub accounts: Option<KnownAccounts>,
}

/// The accounts the DCS accepts tags for: token → connection.
pub struct KnownAccounts {
    connections: HashMap<String, String>,
}

impl KnownAccounts {
    pub fn new(accounts: Vec<Account>) -> KnownAccounts {
        KnownAccounts { connections: accounts.into_iter().map(|account| (account.token, account.connection)).collect() }
    }

    /// Why the DCS would refuse this token's tags, if it would.
    fn problem(&self, token: &str) -> Option<String> {
        let add = format!("replayer accounts add --token {token} --connection <CONNECTION>");
        match self.connections.get(token) {
            Some(connection) if !connection.trim().is_empty() => None,
            Some(_) => Some(format!("{token:?} is in attrib_account without a connection, so the DCS would refuse its tags; set one with: {add}")),
            None => {
                let hint = closest(token, self.connections.keys().map(String::as_str))
                    .map(|found| format!(" (did you mean {found:?}?)"))
                    .unwrap_or_default();
                Some(format!("{token:?} is not in attrib_account{hint}; fix the token, or add the account with: {add}"))
            }
        }
    }
}

/// A valid row before the duplicate check.
pub struct Prepared {
    pub payload: Payload,
    pub tag_url: String,
    /// The payload as pretty JSON, when dumping.
    pub pretty: Vec<u8>,
    pub dedupe_key: DedupeKey,
    pub warnings: Vec<String>,
    pub local_date: NaiveDate,
}

pub enum Checked {
    /// Empty in every cell: skipped silently.
    Blank,
    /// The line for the exceptions dump.
    Exception(String),
    Valid(Box<Prepared>),
}

/// Check one record: shape, encoding, every handler, the URL's length.
pub fn check_row(context: &RowContext, row: u64, record: ByteRecord) -> Checked {
    if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
        return Checked::Blank;
    }
    let columns = context.config.columns();
    let width = columns.width;
    if record.len() < width {
        return Checked::Exception(format!(
            "row {row}: {} cells but the header has {width}; a delimiter is missing, or a cell holds an unquoted line break; row not fired",
            record.len()
        ));
    }
    if let Some(extra) = record.iter().skip(width).position(|cell| !cell.trim_ascii().is_empty()) {
        return Checked::Exception(format!(
            "row {row}: cell {} is past the header's last column and not empty ({} cells for {width} headers); \
             a cell probably holds an unquoted delimiter: quote it; row not fired",
            width + extra + 1,
            record.len()
        ));
    }
    let text = match StringRecord::from_byte_record(record) {
        Ok(text) => text,
        Err(error) => {
            let header = columns.headers.get(error.utf8_error().field()).cloned().unwrap_or_default();
            return Checked::Exception(format!(
                "row {row}, column {header:?}: not valid UTF-8; save the file as \"CSV UTF-8\" or pass --encoding windows-1252; row not fired"
            ));
        }
    };
    let formatted = match context.config.format_data(&text) {
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
            return Checked::Exception(format!("row {row}{joiner}{}; row not fired", parts.join("; ")));
        }
    };
    let payload = formatted.payload;
    if let Some(accounts) = &context.accounts {
        let token = payload.get("account_token").unwrap_or_default();
        if let Some(problem) = accounts.problem(token) {
            let column = columns.of(Field::AccountToken).map(|index| format!(", column {:?}", columns.header(index))).unwrap_or_default();
            return Checked::Exception(format!("row {row}{column} (account_token): {problem}; row not fired"));
        }
    }
    let tag_url = payload.tag_url(&context.request_url);
    if tag_url.len() > MAX_URL_BYTES {
        return Checked::Exception(format!(
            "row {row}: its tag URL would be {} bytes, over the DCS's {MAX_URL_BYTES}; shorten the longest cells (user_agent, page_url, custom); row not fired",
            tag_url.len()
        ));
    }
    let mut pretty = Vec::new();
    if context.pretty {
        pretty.reserve(1024);
        payload.write_pretty(&mut pretty, 4).expect("writing to a Vec cannot fail");
    }
    Checked::Valid(Box::new(Prepared {
        dedupe_key: DedupeKey::of(&payload),
        payload,
        warnings: formatted.warnings.iter().map(|warning| warning.line(row)).collect(),
        local_date: formatted.local_date,
        tag_url,
        pretty,
    }))
}

type Batch = Vec<(u64, ByteRecord)>;
type Results = Vec<(u64, Checked)>;

/// Read every record of `input`, check them on all cores, and give the results to `sink` in row
/// order. Memory stays bounded: a few batches are in flight at once.
pub fn check_rows(input: &mut CsvInput, context: &RowContext, mut sink: impl FnMut(u64, Checked) -> Result<()>) -> Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    if workers == 1 {
        let mut record = ByteRecord::new();
        while let Some(row) = input.next_row(&mut record)? {
            sink(row, check_row(context, row, std::mem::take(&mut record)))?;
        }
        return Ok(());
    }

    let (work_sender, work_receiver) = mpsc::channel::<(u64, Batch)>();
    let work_receiver = Mutex::new(work_receiver);
    let (done_sender, done_receiver) = mpsc::channel::<(u64, Results)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_sender = done_sender.clone();
            let work_receiver = &work_receiver;
            scope.spawn(move || loop {
                let next = work_receiver.lock().expect("a worker panicked").recv();
                let Ok((sequence, batch)) = next else { break };
                let results = batch.into_iter().map(|(row, record)| (row, check_row(context, row, record))).collect();
                if done_sender.send((sequence, results)).is_err() {
                    break;
                }
            });
        }
        drop(done_sender);

        let max_in_flight = workers as u64 * 2;
        let mut sent = 0u64;
        let mut next_to_sink = 0u64;
        let mut waiting: std::collections::BTreeMap<u64, Results> = std::collections::BTreeMap::new();
        let mut deliver = |results: (u64, Results), next_to_sink: &mut u64| -> Result<()> {
            waiting.insert(results.0, results.1);
            while let Some(ready) = waiting.remove(next_to_sink) {
                for (row, checked) in ready {
                    sink(row, checked)?;
                }
                *next_to_sink += 1;
            }
            Ok(())
        };
        let outcome = (|| -> Result<()> {
            let mut done = false;
            while !done {
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                let mut record = ByteRecord::with_capacity(RECORD_BYTES, RECORD_FIELDS);
                while batch.len() < BATCH_ROWS {
                    match input.next_row(&mut record)? {
                        Some(row) => batch.push((row, std::mem::replace(&mut record, ByteRecord::with_capacity(RECORD_BYTES, RECORD_FIELDS)))),
                        None => {
                            done = true;
                            break;
                        }
                    }
                }
                if !batch.is_empty() {
                    work_sender.send((sent, batch)).expect("workers run until the work queue closes");
                    sent += 1;
                }
                while sent - next_to_sink >= max_in_flight || (done && next_to_sink < sent) {
                    let results = done_receiver.recv().expect("workers answer every batch");
                    deliver(results, &mut next_to_sink)?;
                }
            }
            Ok(())
        })();
        // Closing the queue ends the workers, whether we finished or failed.
        drop(work_sender);
        outcome
    })
}
