//! The work of one row, done on every core: from a CSV record to an exception line or a row
//! ready to dump and fire. Only what needs the whole file (duplicates, counts, the dump files)
//! stays in order on the main thread.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::mpsc;
use std::sync::Mutex;

use anyhow::Result;
use chrono::NaiveDate;
use csv::{ByteRecord, StringRecord};

use crate::db::Account;
use crate::field::{closest, Field};
use crate::problem::{Kind, Problem, Severity};
use crate::read::{CellMarks, RowSource, SourceRow};
use crate::row::config::ReplayerConfig;
use crate::row::damage::{RowDamage, Tally};
use crate::row::dedupe::DedupeKey;

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
    /// Name cells as Excel does (`cell H12`) in problems: the file is a workbook.
    pub names_cells: bool,
    /// Keep each row's cells in its batch (`CheckedBatch::cells`), for the server's page.
    pub keep_cells: bool,
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

/// A valid row before the duplicate check; its text lives in its batch's buffers.
pub struct ValidInfo {
    pub dedupe_key: DedupeKey,
    pub local_date: NaiveDate,
    /// Index into `CheckedBatch::names`: (account token, event name).
    pub names: u32,
    pub warnings: Vec<Problem>,
    /// The tag URL in `CheckedBatch::requests`, where a newline follows it.
    pub request: Range<usize>,
    /// The `requests-validated` entry in `CheckedBatch::validated`, starting with ",\n".
    pub validated: Range<usize>,
    /// The order id in `CheckedBatch::order_ids` (empty when none).
    pub order_id: Range<usize>,
    /// Which identifiers the payload carries: visitor id, customer id, e-mail, phone.
    pub identifiers: [bool; 4],
}

pub enum Checked {
    /// Empty in every cell: skipped silently.
    Blank,
    /// Why the row is not fired: one problem or more, all of this row.
    Exception(Vec<Problem>),
    Valid(ValidInfo),
}

/// The rows of one batch, checked: per row what the main thread needs, and the text of all the
/// valid rows in a few buffers, so handing them over costs a few allocations a batch, not a row.
#[derive(Default)]
pub struct CheckedBatch {
    pub rows: Vec<(u64, Checked)>,
    /// Tag URLs, a line each: ASCII.
    pub requests: Vec<u8>,
    pub validated: Vec<u8>,
    pub order_ids: String,
    pub names: Vec<(String, String)>,
    /// What needs the whole file, counted over this batch's rows.
    pub damage: Tally,
    /// An empty record, kept to stand in for the one being converted to text.
    stand_in: Option<ByteRecord>,
    /// With `RowContext::keep_cells`: each row's cells as a JSON array, by the index of `rows`.
    pub cells: Vec<String>,
}

impl CheckedBatch {
    pub fn request(&self, info: &ValidInfo) -> &str {
        std::str::from_utf8(&self.requests[info.request.clone()]).expect("tag URLs are ASCII")
    }

    /// The rid: the tag URL ends with it.
    pub fn rid<'a>(&'a self, info: &ValidInfo) -> &'a str {
        std::str::from_utf8(&self.requests[info.request.end - 32..info.request.end]).expect("a rid is hex digits")
    }

    pub fn account(&self, info: &ValidInfo) -> &str {
        &self.names[info.names as usize].0
    }

    pub fn event(&self, info: &ValidInfo) -> &str {
        &self.names[info.names as usize].1
    }

    pub fn order_id(&self, info: &ValidInfo) -> &str {
        &self.order_ids[info.order_id.clone()]
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.requests.clear();
        self.validated.clear();
        self.order_ids.clear();
        self.names.clear();
        self.damage.clear();
        self.cells.clear();
    }

    fn names_index(&mut self, account: &str, event: &str) -> u32 {
        let found = self.names.iter().position(|(a, e)| a == account && e == event);
        let index = found.unwrap_or_else(|| {
            self.names.push((account.to_owned(), event.to_owned()));
            self.names.len() - 1
        });
        index as u32
    }
}

/// Check one row: shape, encoding, every handler, the URL's length.
pub fn check_row(context: &RowContext, source_row: &mut SourceRow, batch: &mut CheckedBatch) -> Checked {
    let checked = check_cells(context, source_row, batch);
    match (context.names_cells, checked) {
        (true, Checked::Exception(mut problems)) => {
            name_cells(context.config.columns(), &mut problems);
            Checked::Exception(problems)
        }
        (true, Checked::Valid(mut info)) => {
            name_cells(context.config.columns(), &mut info.warnings);
            Checked::Valid(info)
        }
        (_, checked) => checked,
    }
}

/// Name each problem's cell as Excel does (`cell H12`), besides its header.
fn name_cells(columns: &crate::read::Columns, problems: &mut [Problem]) {
    for problem in problems {
        let (Some(row), Some(header), None) = (problem.row, &problem.column, &problem.cell) else { continue };
        if let Some(index) = columns.headers.iter().position(|h| h == header) {
            problem.cell = Some(format!("cell {}{row}", crate::read::source::column_letters(index)));
        }
    }
}

fn check_cells(context: &RowContext, source_row: &mut SourceRow, batch: &mut CheckedBatch) -> Checked {
    let SourceRow { meta, cells: record, marks } = source_row;
    let row = meta.row;
    let columns = context.config.columns();
    if let Some(cell) = meta.broken {
        return exception(cell_problem(
            columns,
            row,
            cell,
            None,
            Kind::BrokenQuoting,
            "the quoting is broken (a quote inside a quoted cell is not doubled, or text follows a closing quote), \
             so the cell cannot be read as written; double the quote (\"\") or quote the whole cell",
        ));
    }
    if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
        return Checked::Blank;
    }
    batch.damage.headerless_cells(&columns.headerless, record);
    let width = columns.width;
    if record.len() < width {
        return exception(Problem::row(
            row,
            Kind::MissingCells,
            format!(
                "{} cells but the header has {width}; a delimiter is missing, or a cell holds an unquoted line break",
                record.len()
            ),
        ));
    }
    // Cells under an empty header are counted above; only those past the header row are extra.
    let header_cells = columns.headers.len().max(width);
    if let Some(extra) = record.iter().skip(header_cells).position(|cell| !cell.trim_ascii().is_empty()) {
        return exception(Problem::row(
            row,
            Kind::ExtraCells,
            format!(
                "cell {} is past the header's last column and not empty ({} cells for {width} headers); \
                 a cell probably holds an unquoted delimiter: quote it",
                header_cells + extra + 1,
                record.len()
            ),
        ));
    }
    // The conversion checks UTF-8 in place; the record goes back to the batch for reuse. An
    // empty record the batch keeps stands in for it meanwhile (a new one would allocate a row).
    let stand_in = batch.stand_in.take().unwrap_or_default();
    let text = match StringRecord::from_byte_record(std::mem::replace(record, stand_in)) {
        Ok(text) => text,
        Err(error) => {
            let cell = error.utf8_error().field();
            batch.stand_in = Some(std::mem::replace(record, error.into_byte_record()));
            return exception(cell_problem(
                columns,
                row,
                cell,
                columns.field_name(cell),
                Kind::NotUtf8,
                "not valid UTF-8 (a byte from another encoding); retype the cell, or save the file as \"CSV UTF-8\" \
                 (or pass --encoding with the encoding the whole file is in)",
            ));
        }
    };
    let checked = check_text(context, row, &text, marks, batch);
    batch.stand_in = Some(std::mem::replace(record, text.into_byte_record()));
    checked
}

/// Every handler over a row of text, then the account and the URL's length.
fn check_text(
    context: &RowContext,
    row: u64,
    text: &StringRecord,
    marks: &CellMarks,
    batch: &mut CheckedBatch,
) -> Checked {
    let columns = context.config.columns();
    let mut damage = RowDamage::default();
    let formatted = context.config.format_data_noting(text, marks, &mut damage);
    let event_cell = || columns.of(Field::EventTime).and_then(|index| text.get(index)).map_or("", str::trim);
    batch.damage.row(row, damage, formatted.is_ok(), event_cell);
    let formatted = match formatted {
        Ok(formatted) => formatted,
        Err(mut problems) => {
            for problem in &mut problems {
                problem.row = Some(row);
            }
            return Checked::Exception(problems);
        }
    };
    let payload = formatted.payload;
    let account = payload.get(Field::AccountToken).unwrap_or_default();
    if let Some(accounts) = &context.accounts {
        if let Some(problem) = accounts.problem(account) {
            let column = columns.of(Field::AccountToken).map(|index| columns.header(index).to_owned());
            return exception(Problem {
                value: column.as_ref().map(|_| account.to_owned()),
                column,
                field: Some(Field::AccountToken.name().to_owned()),
                ..Problem::row(row, Kind::UnknownAccount, problem)
            });
        }
    }

    let request_start = batch.requests.len();
    let length = payload.write_tag_url(&mut batch.requests, &context.request_url);
    if length > MAX_URL_BYTES {
        batch.requests.truncate(request_start);
        return exception(Problem::row(
            row,
            Kind::UrlTooLong,
            format!(
                "its tag URL would be {length} bytes, over the DCS's {MAX_URL_BYTES}; shorten the longest cells (user_agent, page_url, custom)"
            ),
        ));
    }
    let request = request_start..batch.requests.len();
    batch.requests.push(b'\n');

    let validated_start = batch.validated.len();
    if context.pretty {
        let out = &mut batch.validated;
        out.extend_from_slice(b",\n  {\n    \"row\": ");
        out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes());
        out.extend_from_slice(b",\n    \"payload\": ");
        payload.write_pretty(out);
        out.extend_from_slice(b"\n  }");
    }
    let validated = validated_start..batch.validated.len();

    let order_start = batch.order_ids.len();
    if let Some(order_id) = payload.get(Field::OrderId) {
        batch.order_ids.push_str(order_id);
    }
    let order_id = order_start..batch.order_ids.len();

    let identifiers = Field::IDENTIFIERS.map(|field| payload.get(field).is_some_and(|value| !value.is_empty()));
    Checked::Valid(ValidInfo {
        identifiers,
        dedupe_key: DedupeKey::of(&payload),
        local_date: formatted.local_date,
        names: batch.names_index(account, payload.get(Field::EventName).unwrap_or_default()),
        warnings: formatted.warnings.into_iter().map(|warning| Problem { row: Some(row), ..warning }).collect(),
        request,
        validated,
        order_id,
    })
}

fn exception(problem: Problem) -> Checked {
    Checked::Exception(vec![problem])
}

/// A problem with cell `index` of the row, named by its header (or by its position when the
/// header is empty); its value is not read (it could not be).
fn cell_problem(
    columns: &crate::read::Columns,
    row: u64,
    index: usize,
    field: Option<String>,
    kind: Kind,
    message: &str,
) -> Problem {
    let header = columns.headers.get(index).filter(|header| !header.is_empty()).cloned();
    let cell = header.is_none().then(|| columns.cell_name(index));
    Problem { column: header, cell, field, severity: Severity::Exception, ..Problem::row(row, kind, message) }
}

/// Check a batch of records into `batch`, which is cleared first; both keep their allocations.
fn check_batch(context: &RowContext, records: &mut Records, batch: &mut CheckedBatch) {
    batch.clear();
    for source_row in records.iter_mut() {
        if context.keep_cells {
            batch.cells.push(cells_json(&source_row.cells));
        }
        let checked = check_row(context, source_row, batch);
        batch.rows.push((source_row.meta.row, checked));
    }
}

/// A row's cells as a JSON array of strings (bytes not UTF-8 replaced).
pub fn cells_json(cells: &ByteRecord) -> String {
    let text: Vec<std::borrow::Cow<str>> = cells.iter().map(String::from_utf8_lossy).collect();
    serde_json::to_string(&text).unwrap_or_default()
}

type Records = Vec<SourceRow>;

/// Read up to a batch of rows into `records`, reusing the ones it holds; false at the end.
fn read_batch(input: &mut dyn RowSource, records: &mut Records) -> Result<bool> {
    let mut filled = 0;
    while filled < BATCH_ROWS {
        if filled == records.len() {
            let cells = ByteRecord::with_capacity(RECORD_BYTES, RECORD_FIELDS);
            records.push(SourceRow { cells, ..SourceRow::default() });
        }
        if !input.next_row(&mut records[filled])? {
            records.truncate(filled);
            return Ok(false);
        }
        filled += 1;
    }
    records.truncate(filled);
    Ok(true)
}

/// Buffers handed back after use, so the steady state allocates nothing a batch.
#[derive(Default)]
struct Spare {
    records: Mutex<Vec<Records>>,
    batches: Mutex<Vec<CheckedBatch>>,
}

impl Spare {
    fn records(&self) -> Records {
        self.records.lock().expect("not poisoned").pop().unwrap_or_else(|| Records::with_capacity(BATCH_ROWS))
    }
    fn batch(&self) -> CheckedBatch {
        self.batches.lock().expect("not poisoned").pop().unwrap_or_default()
    }
    fn give_records(&self, records: Records) {
        self.records.lock().expect("not poisoned").push(records);
    }
    fn give_batch(&self, batch: CheckedBatch) {
        self.batches.lock().expect("not poisoned").push(batch);
    }
}

/// Read every record of `input`, check them on all cores, and give the batches to `sink` in row
/// order. Memory stays bounded: a few batches are in flight at once, and their buffers are reused.
pub fn check_rows(
    input: &mut dyn RowSource,
    context: &RowContext,
    mut sink: impl FnMut(&mut CheckedBatch) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    if workers == 1 {
        let mut records = Records::with_capacity(BATCH_ROWS);
        let mut batch = CheckedBatch::default();
        loop {
            let more = read_batch(input, &mut records)?;
            check_batch(context, &mut records, &mut batch);
            sink(&mut batch)?;
            if !more {
                return Ok(());
            }
        }
    }

    let spare = Spare::default();
    let (work_sender, work_receiver) = mpsc::channel::<(u64, Records)>();
    let work_receiver = Mutex::new(work_receiver);
    let (done_sender, done_receiver) = mpsc::channel::<(u64, CheckedBatch)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_sender = done_sender.clone();
            let (work_receiver, spare) = (&work_receiver, &spare);
            scope.spawn(move || loop {
                let next = work_receiver.lock().expect("a worker panicked").recv();
                let Ok((sequence, mut records)) = next else { break };
                let mut batch = spare.batch();
                check_batch(context, &mut records, &mut batch);
                spare.give_records(records);
                if done_sender.send((sequence, batch)).is_err() {
                    break;
                }
            });
        }
        drop(done_sender);

        // Four batches a worker (about 1 MiB each): the workers wait less while this thread,
        // which shares their cores, reads and writes (on 2 cores, 1.82 cores busy against 1.75
        // with two a worker, for about 4 MiB more at the peak).
        let max_in_flight = workers as u64 * 4;
        let mut sent = 0u64;
        let mut next_to_sink = 0u64;
        let mut waiting: std::collections::BTreeMap<u64, CheckedBatch> = std::collections::BTreeMap::new();
        let outcome = (|| -> Result<()> {
            let mut more = true;
            loop {
                // Refill the queue before each batch is sunk, not after all the ready ones: the
                // workers then have work while this thread writes.
                while more && sent - next_to_sink < max_in_flight {
                    let mut records = spare.records();
                    more = read_batch(input, &mut records)?;
                    if records.is_empty() {
                        spare.give_records(records);
                    } else {
                        work_sender.send((sent, records)).expect("workers run until the work queue closes");
                        sent += 1;
                    }
                }
                if let Some(mut ready) = waiting.remove(&next_to_sink) {
                    sink(&mut ready)?;
                    spare.give_batch(ready);
                    next_to_sink += 1;
                } else if next_to_sink == sent {
                    return Ok(());
                } else {
                    let (sequence, checked) = done_receiver.recv().expect("workers answer every batch");
                    waiting.insert(sequence, checked);
                }
            }
        })();
        // Closing the queue ends the workers, whether we finished or failed.
        drop(work_sender);
        outcome
    })
}
