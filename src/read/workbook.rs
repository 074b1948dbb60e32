//! Workbooks (SPEC §11.1): `.xlsx`, `.xlsm`, `.xls`, `.ods` (and `.xlsb`) through calamine,
//! recognised by their content. Every cell becomes the text Excel shows for it: dates as local
//! date-times (marked, so no `date_formats` is needed), numbers as its General format shows
//! them, error values as Excel writes them (marked). An `.xlsx` sheet is streamed on a thread of
//! its own, so memory stays flat as the rows grow; the other formats are read whole by calamine.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use anyhow::{anyhow, bail, Result};
use calamine::{Data, DataRef, Ods, Reader, SheetType, SheetVisible, Xls, Xlsb, Xlsx, XlsxError};

use crate::read::source::{CellMark, RowSource, SourceDescription, SourceRow};
use crate::read::xlsx::{CellContext, XlsxBook};

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Text, or nothing known: read as CSV.
    Text,
    /// A ZIP archive: `.xlsx`, `.xlsm`, `.xlsb`, `.ods` (or not a workbook at all).
    Zip,
    /// An OLE compound file: `.xls` (or a password-protected workbook, or a Word file).
    Ole,
    /// A kind of file that is no spreadsheet, as a person calls it.
    Other(&'static str),
}

/// The kind of file, from its first bytes.
pub fn sniff(head: &[u8]) -> Sniffed {
    const SIGNATURES: [(&[u8], &str); 6] = [
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"{\\rtf", "an RTF document"),
        (b"\x1F\x8B", "a gzip archive"),
    ];
    if head.starts_with(b"PK\x03\x04") {
        return Sniffed::Zip;
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Sniffed::Ole;
    }
    SIGNATURES
        .iter()
        .find(|(signature, _)| head.starts_with(signature))
        .map_or(Sniffed::Text, |(_, what)| Sniffed::Other(what))
}

/// What to do with a file that cannot be read as rows.
const SAVE_AS: &str = "open it in Excel and save it as .xlsx (Excel Workbook) or as CSV UTF-8, then load that";

/// Rows handed from the reading thread at once.
const CHUNK_ROWS: usize = 512;

/// An open sheet of a workbook, read row by row.
pub struct WorkbookInput {
    path: PathBuf,
    headers: Vec<String>,
    file_warnings: Vec<String>,
    /// `"Sales" of an Excel workbook (.xlsx)`, for the summary.
    described: String,
    rows: Receiver<Result<Vec<SourceRow>, String>>,
    recycle: SyncSender<Vec<SourceRow>>,
    chunk: Vec<SourceRow>,
    next: usize,
}

/// The workbook, opened in the form it has: an `.xlsx` by this crate's reader, the others by
/// calamine.
enum Book {
    Xlsx(Box<(XlsxBook, CellContext)>),
    Xlsb(Xlsb<BufReader<File>>),
    Xls(Xls<BufReader<File>>),
    Ods(Ods<BufReader<File>>),
}

impl Book {
    fn open(path: &Path, file: File, sniffed: Sniffed) -> Result<(Book, &'static str)> {
        let reader = |file: &File| -> Result<BufReader<File>> {
            let mut copy = file.try_clone()?;
            copy.seek(SeekFrom::Start(0))?;
            Ok(BufReader::new(copy))
        };
        let shown = path.display();
        if sniffed == Sniffed::Ole {
            return match Xls::new(reader(&file)?) {
                Ok(book) => Ok((Book::Xls(book), "an Excel 97-2003 workbook (.xls)")),
                Err(calamine::XlsError::Password) => bail!("{shown} is a password-protected workbook, which cannot be read; {SAVE_AS} without a password"),
                Err(_) => match Xlsx::new(reader(&file)?) {
                    Err(XlsxError::Password) => bail!("{shown} is a password-protected (encrypted) workbook, which cannot be read; {SAVE_AS} without a password"),
                    _ => bail!("{shown} is an Office file but not a workbook this tool can read (a Word or Outlook file?); {SAVE_AS}"),
                },
            };
        }
        let unreadable = |error: String| anyhow!("cannot read {shown}: {error}; {SAVE_AS}");
        if let Some(mut book) = XlsxBook::open(file.try_clone()?).map_err(unreadable)? {
            let kind =
                if book.macros { "an Excel macro-enabled workbook (.xlsm)" } else { "an Excel workbook (.xlsx)" };
            let context = book.context().map_err(unreadable)?;
            return Ok((Book::Xlsx(Box::new((book, context))), kind));
        }
        if let Ok(book) = Ods::new(reader(&file)?) {
            return Ok((Book::Ods(book), "an OpenDocument spreadsheet (.ods)"));
        }
        if let Ok(book) = Xlsb::new(reader(&file)?) {
            return Ok((Book::Xlsb(book), "an Excel binary workbook (.xlsb)"));
        }
        if zip_names_contain(&file, b".iwa") {
            bail!("{shown} is an Apple Numbers file, which cannot be read; in Numbers, choose File > Export To > Excel, then load the .xlsx");
        }
        bail!("{shown} is a ZIP archive but not a workbook this tool can read (a Word document, or a ZIP of several files?); {SAVE_AS}")
    }

    fn sheets(&self) -> Vec<calamine::Sheet> {
        match self {
            Book::Xlsx(book) => book.0.sheets(),
            Book::Xlsb(book) => book.sheets_metadata().to_vec(),
            Book::Xls(book) => book.sheets_metadata().to_vec(),
            Book::Ods(book) => book.sheets_metadata().to_vec(),
        }
    }

    /// Whether the sheet holds a value anywhere; for an `.xlsx`, read until its first value.
    fn has_values(&mut self, name: &str) -> bool {
        let loaded = match self {
            Book::Xlsx(book) => {
                let (book, context) = &mut **book;
                let mut found = false;
                let _ = book.read_cells(name, context, |_, _, value, _| {
                    found = !is_blank(value);
                    if found {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                return found;
            }
            Book::Xlsb(book) => book.worksheet_range(name).map_err(|_| ()),
            Book::Xls(book) => book.worksheet_range(name).map_err(|_| ()),
            Book::Ods(book) => book.worksheet_range(name).map_err(|_| ()),
        };
        loaded.is_ok_and(|range| range.used_cells().any(|(_, _, value)| !matches!(value, Data::Empty)))
    }
}

/// Whether a ZIP archive's file names (in its central directory, at the end) hold `needle`.
fn zip_names_contain(file: &File, needle: &[u8]) -> bool {
    let Ok(mut copy) = file.try_clone() else { return false };
    let Ok(length) = copy.seek(SeekFrom::End(0)) else { return false };
    let start = length.saturating_sub(256 * 1024);
    let mut tail = Vec::new();
    if copy.seek(SeekFrom::Start(start)).is_err() || copy.take(256 * 1024).read_to_end(&mut tail).is_err() {
        return false;
    }
    tail.windows(needle.len()).any(|window| window == needle)
}

fn is_blank(value: &DataRef) -> bool {
    match value {
        DataRef::Empty => true,
        DataRef::String(text) => text.trim().is_empty(),
        DataRef::SharedString(text) => text.trim().is_empty(),
        _ => false,
    }
}

/// The sheet to read: `wanted` by name (or, failing that, by its number from 1), else the first
/// visible worksheet.
fn choose_sheet(sheets: &[calamine::Sheet], wanted: Option<&str>, path: &Path) -> Result<String> {
    let worksheets: Vec<&calamine::Sheet> = sheets.iter().filter(|sheet| sheet.typ == SheetType::WorkSheet).collect();
    let names = || crate::field::capped_list(worksheets.iter().map(|sheet| format!("{:?}", sheet.name)));
    let Some(wanted) = wanted.map(str::trim) else {
        let first = worksheets.iter().find(|sheet| sheet.visible == SheetVisible::Visible).or(worksheets.first());
        return first
            .map(|sheet| sheet.name.clone())
            .ok_or_else(|| anyhow!("{}: the workbook has no worksheet (only charts?); {SAVE_AS}", path.display()));
    };
    let by_name = worksheets
        .iter()
        .find(|sheet| sheet.name == wanted)
        .or_else(|| worksheets.iter().find(|sheet| sheet.name.trim().eq_ignore_ascii_case(wanted)));
    let by_number = || wanted.parse::<usize>().ok().and_then(|number| worksheets.get(number.checked_sub(1)?));
    by_name.or_else(by_number).map(|sheet| sheet.name.clone()).ok_or_else(|| {
        anyhow!(
            "{}: the workbook has no sheet {wanted:?}; its sheets are {} (give --sheet a name or a number from 1 to {})",
            path.display(),
            names(),
            worksheets.len()
        )
    })
}

impl WorkbookInput {
    /// Open the workbook, choose its sheet, and read up to its header (the first non-empty row).
    pub fn open(path: &Path, file: File, sniffed: Sniffed, sheet: Option<&str>) -> Result<WorkbookInput> {
        let (mut book, kind) = Book::open(path, file, sniffed)?;
        let sheets = book.sheets();
        let chosen = choose_sheet(&sheets, sheet, path)?;
        // Hidden sheets (a drop-down's list) and the template's "Fields" sheet are not data a
        // person forgot.
        let others: Vec<String> = sheets
            .iter()
            .filter(|other| other.typ == SheetType::WorkSheet && other.name != chosen)
            .filter(|other| other.visible == SheetVisible::Visible && other.name != "Fields")
            .map(|other| other.name.clone())
            .collect();
        let others: Vec<String> = others.into_iter().filter(|name| book.has_values(name)).collect();
        let mut file_warnings = Vec::new();
        if !others.is_empty() {
            file_warnings.push(format!(
                "file: the workbook has other sheets with data, which were not read: {}; give --sheet (or the mapping's \"sheet\") to read another",
                crate::field::capped_list(others.iter().map(|name| format!("{name:?}")))
            ));
        }

        let (rows_sender, rows) = mpsc::sync_channel(4);
        let (recycle, recycled) = mpsc::sync_channel(8);
        let sheet_name = chosen.clone();
        std::thread::Builder::new()
            .name("workbook".to_owned())
            .spawn(move || stream(book, &sheet_name, Assembler::new(rows_sender, recycled)))
            .map_err(|error| anyhow!("cannot start reading the workbook: {error}"))?;

        let mut input = WorkbookInput {
            path: path.to_owned(),
            headers: Vec::new(),
            file_warnings,
            described: format!("{chosen:?} of {kind}"),
            rows,
            recycle,
            chunk: Vec::new(),
            next: 0,
        };
        let mut header = SourceRow::default();
        loop {
            if !input.next_row(&mut header)? {
                bail!(
                    "{}: the sheet {chosen:?} is empty: it has no header row; give --sheet to read another",
                    path.display()
                );
            }
            if header.cells.iter().any(|cell| !cell.trim_ascii().is_empty()) {
                break;
            }
        }
        input.headers = header.cells.iter().map(|cell| String::from_utf8_lossy(cell).trim().to_owned()).collect();
        Ok(input)
    }
}

impl RowSource for WorkbookInput {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn next_row(&mut self, row: &mut SourceRow) -> Result<bool> {
        if self.next == self.chunk.len() {
            let used = std::mem::take(&mut self.chunk);
            if used.capacity() > 0 {
                let _ = self.recycle.try_send(used);
            }
            match self.rows.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.next = 0;
                }
                Ok(Err(error)) => bail!("cannot read {}: {error}; {SAVE_AS}", self.path.display()),
                Err(_) => return Ok(false),
            }
            if self.chunk.is_empty() {
                return Ok(false);
            }
        }
        std::mem::swap(row, &mut self.chunk[self.next]);
        self.next += 1;
        // A sheet leaves out the empty cells at the end of a row; a row has the header's width.
        while row.cells.len() < self.headers.len() {
            row.cells.push_field(b"");
        }
        Ok(true)
    }

    fn names_cells(&self) -> bool {
        true
    }

    fn file_warnings(&self) -> &[String] {
        &self.file_warnings
    }

    fn description(&self) -> SourceDescription {
        SourceDescription { sheet: Some(self.described.clone()), ..SourceDescription::default() }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Builds rows from cells given in row order and hands them over a chunk at a time.
struct Assembler {
    sender: SyncSender<Result<Vec<SourceRow>, String>>,
    recycled: Receiver<Vec<SourceRow>>,
    chunk: Vec<SourceRow>,
    /// Rows of `chunk` that are complete; the one after them is being filled.
    filled: usize,
    /// The 0-based sheet row being filled.
    current: Option<u32>,
    text: String,
}

/// The reader of this side went away: stop reading.
struct Gone;

impl Assembler {
    fn new(sender: SyncSender<Result<Vec<SourceRow>, String>>, recycled: Receiver<Vec<SourceRow>>) -> Assembler {
        Assembler { sender, recycled, chunk: Vec::new(), filled: 0, current: None, text: String::new() }
    }

    fn row_in_progress(&mut self) -> &mut SourceRow {
        if self.chunk.len() == self.filled {
            self.chunk.push(SourceRow::default());
        }
        &mut self.chunk[self.filled]
    }

    fn close_row(&mut self) -> Result<(), Gone> {
        if self.current.take().is_some() {
            self.filled += 1;
            if self.filled == CHUNK_ROWS {
                self.send()?;
            }
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), Gone> {
        let mut full = self.recycled.try_recv().unwrap_or_default();
        std::mem::swap(&mut full, &mut self.chunk);
        full.truncate(self.filled);
        self.filled = 0;
        self.sender.send(Ok(full)).map_err(|_| Gone)
    }

    /// Add cell (`row`, `column`) (0-based); cells come in row order, left to right.
    fn cell(&mut self, row: u32, column: u32, value: &DataRef, formula: bool) -> Result<(), Gone> {
        if self.current != Some(row) {
            self.close_row()?;
            self.current = Some(row);
            let building = self.row_in_progress();
            building.meta = crate::read::RowMeta { row: u64::from(row) + 1, broken: None };
            building.cells.clear();
            building.marks.clear();
        }
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let mark = render(value, formula, &mut text);
        let building = self.row_in_progress();
        let column = column as usize;
        if column < building.cells.len() {
            // Not in order (a file written by hand): keep the first value.
            self.text = text;
            return Ok(());
        }
        while building.cells.len() < column {
            building.cells.push_field(b"");
        }
        building.cells.push_field(text.as_bytes());
        if let Some(mark) = mark {
            building.marks.push((column as u32, mark));
        }
        self.text = text;
        Ok(())
    }

    fn finish(mut self) {
        if self.close_row().is_ok() && self.filled > 0 {
            let _ = self.send();
        }
    }

    fn fail(self, error: String) {
        let _ = self.sender.send(Err(error));
    }
}

/// Read the sheet's cells into `rows`, on the reading thread.
fn stream(book: Book, sheet: &str, mut rows: Assembler) {
    let outcome = match book {
        Book::Xlsx(book) => {
            let (mut book, context) = *book;
            stream_xlsx(&mut book, &context, sheet, &mut rows)
        }
        Book::Xlsb(mut book) => {
            let (values, formulas) = (book.worksheet_range(sheet), book.worksheet_formula(sheet));
            stream_loaded(values.map_err(|e| e.to_string()), formulas.ok(), &mut rows)
        }
        Book::Xls(mut book) => {
            let (values, formulas) = (book.worksheet_range(sheet), book.worksheet_formula(sheet));
            stream_loaded(values.map_err(|e| e.to_string()), formulas.ok(), &mut rows)
        }
        Book::Ods(mut book) => {
            let (values, formulas) = (book.worksheet_range(sheet), book.worksheet_formula(sheet));
            stream_loaded(values.map_err(|e| e.to_string()), formulas.ok(), &mut rows)
        }
    };
    match outcome {
        Ok(Ok(())) => rows.finish(),
        Ok(Err(error)) => rows.fail(error),
        Err(Gone) => {}
    }
}

fn stream_xlsx(
    book: &mut XlsxBook,
    context: &CellContext,
    sheet: &str,
    rows: &mut Assembler,
) -> Result<Result<(), String>, Gone> {
    let mut gone = false;
    let outcome =
        book.read_cells(sheet, context, |row, column, value, formula| match rows.cell(row, column, value, formula) {
            Ok(()) => ControlFlow::Continue(()),
            Err(Gone) => {
                gone = true;
                ControlFlow::Break(())
            }
        });
    if gone {
        return Err(Gone);
    }
    Ok(outcome)
}

fn stream_loaded(
    values: Result<calamine::Range<Data>, String>,
    formulas: Option<calamine::Range<String>>,
    rows: &mut Assembler,
) -> Result<Result<(), String>, Gone> {
    let values = match values {
        Ok(values) => values,
        Err(error) => return Ok(Err(error)),
    };
    let Some((top, left)) = values.start() else { return Ok(Ok(())) };
    for (offset, cells) in values.rows().enumerate() {
        let row = top + offset as u32;
        for (index, value) in cells.iter().enumerate() {
            let column = left + index as u32;
            let formula = || {
                formulas.as_ref().and_then(|formulas| formulas.get_value((row, column))).is_some_and(|f| !f.is_empty())
            };
            let blank = matches!(value, Data::Empty);
            if blank && !formula() {
                continue;
            }
            rows.cell(row, column, &data_ref(value), blank && formula())?;
        }
    }
    Ok(Ok(()))
}

/// A loaded cell as the streamed ones come.
fn data_ref(value: &Data) -> DataRef<'_> {
    match value {
        Data::Int(number) => DataRef::Int(*number),
        Data::Float(number) => DataRef::Float(*number),
        Data::String(text) => DataRef::SharedString(text),
        Data::Bool(value) => DataRef::Bool(*value),
        Data::DateTime(date) => DataRef::DateTime(*date),
        Data::DateTimeIso(iso) => DataRef::DateTimeIso(iso.clone()),
        Data::DurationIso(iso) => DataRef::DurationIso(iso.clone()),
        Data::Error(error) => DataRef::Error(error.clone()),
        Data::Empty => DataRef::Empty,
    }
}

/// Write the text Excel shows for `value` into `text`; the mark says what the text alone cannot.
/// `formula`: the cell holds a formula (its value is the cached result).
fn render(value: &DataRef, formula: bool, text: &mut String) -> Option<CellMark> {
    use std::fmt::Write;
    match value {
        DataRef::Empty if formula => return Some(CellMark::FormulaWithoutValue),
        DataRef::Empty => {}
        DataRef::String(string) => text.push_str(string),
        DataRef::SharedString(string) => text.push_str(string),
        DataRef::Bool(true) => text.push_str("TRUE"),
        DataRef::Bool(false) => text.push_str("FALSE"),
        DataRef::Int(number) => general_number(*number as f64, text),
        DataRef::Float(number) => general_number(*number, text),
        DataRef::Error(error) => {
            let _ = write!(text, "{error}");
            return Some(CellMark::Error);
        }
        DataRef::DateTime(date) if date.is_datetime() => match date.as_datetime() {
            Some(local) => {
                write_local(local, text);
                return Some(CellMark::Date);
            }
            None => general_number(date.as_f64(), text),
        },
        DataRef::DateTime(duration) => general_number(duration.as_f64(), text),
        DataRef::DateTimeIso(iso) => match iso_local(iso) {
            Some(local) => {
                write_local(local, text);
                return Some(CellMark::Date);
            }
            None => text.push_str(iso),
        },
        DataRef::DurationIso(iso) => text.push_str(iso),
    }
    None
}

/// A date-time cell as `YYYY-MM-DD HH:MM:SS`, rounded to the second, or `YYYY-MM-DD` at midnight
/// (a date with no time, which §4 reads as noon).
fn write_local(local: chrono::NaiveDateTime, text: &mut String) {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let rounded = local + chrono::Duration::milliseconds(500);
    let rounded = rounded.with_nanosecond_zero();
    // Written field by field: chrono's `format` reads its pattern again for every cell.
    let _ = write!(text, "{:04}-{:02}-{:02}", rounded.year(), rounded.month(), rounded.day());
    if rounded.time() != chrono::NaiveTime::MIN {
        let _ = write!(text, " {:02}:{:02}:{:02}", rounded.hour(), rounded.minute(), rounded.second());
    }
}

trait WithoutNanoseconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WithoutNanoseconds for chrono::NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

/// An OpenDocument date (`2024-06-01` or `2024-06-01T11:45:00`, maybe with fractions of a second).
fn iso_local(iso: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(iso, "%Y-%m-%dT%H:%M:%S%.f").ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d").ok().map(|date| date.and_time(chrono::NaiveTime::MIN))
    })
}

/// A number as Excel's General format shows it: at most 15 significant digits, so no float
/// artefacts (`0.1+0.2` is `0.3`); whole numbers of up to 15 digits as their digits; past that,
/// or below 1E-9, in Excel's exponent form (`1.23456789012346E+18`).
pub fn general_number(value: f64, text: &mut String) {
    use std::fmt::Write;
    if !value.is_finite() {
        text.push_str("#NUM!");
        return;
    }
    if value == 0.0 {
        text.push('0');
        return;
    }
    // Most numbers in a sheet (amounts, quantities) have a shortest form of 15 significant digits
    // or fewer: rounding them to 15 digits gives those digits back, so that form is what General
    // shows, when it needs no exponent. Written straight away, with no allocation.
    let start = text.len();
    let _ = write!(text, "{value}");
    if general_shows_as_is(&text[start..]) {
        return;
    }
    text.truncate(start);
    general_number_rounded(value, text);
}

/// Whether Rust's shortest form of a number (never with an exponent) is the one General shows.
fn general_shows_as_is(shortest: &str) -> bool {
    let digits = shortest.trim_start_matches('-');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole != "0" {
        return whole.len() + fraction.len() <= 15;
    }
    let significant = fraction.trim_start_matches('0');
    fraction.len() - significant.len() <= 8 && significant.len() <= 15
}

/// General's text by rounding to 15 significant digits, for any finite number but zero.
fn general_number_rounded(value: f64, text: &mut String) {
    use std::fmt::Write;
    // Rust rounds `{:.14e}` correctly: the 15 significant digits Excel keeps.
    let scientific = format!("{:.14e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e}'s exponent is a number");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if value < 0.0 {
        text.push('-');
    }
    if !(-9..15).contains(&exponent) {
        text.push_str(&digits[..1]);
        if digits.len() > 1 {
            text.push('.');
            text.push_str(&digits[1..]);
        }
        let _ = write!(text, "E{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs());
    } else if exponent >= 0 {
        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            text.push_str(digits);
            text.extend(std::iter::repeat_n('0', whole - digits.len()));
        } else {
            text.push_str(&digits[..whole]);
            text.push('.');
            text.push_str(&digits[whole..]);
        }
    } else {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
        text.push_str(digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(value: f64) -> String {
        let mut text = String::new();
        general_number(value, &mut text);
        text
    }

    #[test]
    fn the_quick_general_form_agrees_with_rounding_to_15_digits() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for round in 0..200_000 {
            let value = match round % 4 {
                0 => f64::from_bits(random()),
                1 => (random() % 100_000_000) as f64 / 100.0,
                2 => (random() % 1_000_000_000_000_000_000) as f64 / 10f64.powi((random() % 25) as i32),
                _ => (random() as f64 / u64::MAX as f64) * 10f64.powi((random() % 40) as i32 - 20),
            };
            if !value.is_finite() || value == 0.0 {
                continue;
            }
            let (mut quick, mut rounded) = (String::new(), String::new());
            general_number(value, &mut quick);
            general_number_rounded(value, &mut rounded);
            assert_eq!(quick, rounded, "{value:?}");
            checked += 1;
        }
        assert!(checked > 150_000);
    }

    #[test]
    fn numbers_read_as_excel_general_format_shows_them() {
        assert_eq!(general(0.1 + 0.2), "0.3");
        assert_eq!(general(12345.0), "12345");
        assert_eq!(general(-1234.5), "-1234.5");
        assert_eq!(general(10.0), "10");
        assert_eq!(general(0.000123), "0.000123");
        assert_eq!(general(123456789012345.0), "123456789012345");
        assert_eq!(general(1234567890123456.0), "1.23456789012346E+15");
        assert_eq!(general(1234567890123456789.0), "1.23456789012346E+18");
        assert_eq!(general(1e20), "1E+20");
        assert_eq!(general(1.5e-10), "1.5E-10");
        assert_eq!(general(99.99), "99.99");
    }

    #[test]
    fn files_are_told_apart_by_their_first_bytes() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Sniffed::Zip);
        assert_eq!(sniff(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]), Sniffed::Ole);
        assert_eq!(sniff(b"%PDF-1.7"), Sniffed::Other("a PDF document"));
        assert_eq!(sniff(b"Sale Date,Store"), Sniffed::Text);
        assert_eq!(sniff(b""), Sniffed::Text);
    }

    #[test]
    fn a_date_cell_is_its_local_time_and_midnight_is_a_date_alone() {
        let at = |text: &str| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        let mut text = String::new();
        write_local(at("2024-06-01 11:44:59.9996"), &mut text);
        assert_eq!(text, "2024-06-01 11:45:00");
        text.clear();
        write_local(at("2024-06-01 00:00:00.0002"), &mut text);
        assert_eq!(text, "2024-06-01");
    }

    #[test]
    fn the_sheet_is_the_first_visible_one_or_the_one_asked_for() {
        let sheet = |name: &str, visible| calamine::Sheet { name: name.to_owned(), typ: SheetType::WorkSheet, visible };
        let sheets = [
            sheet("Notes", SheetVisible::Hidden),
            sheet("Sales", SheetVisible::Visible),
            sheet("2024", SheetVisible::Visible),
        ];
        let path = Path::new("book.xlsx");
        assert_eq!(choose_sheet(&sheets, None, path).unwrap(), "Sales");
        assert_eq!(choose_sheet(&sheets, Some("notes"), path).unwrap(), "Notes");
        assert_eq!(choose_sheet(&sheets, Some("2024"), path).unwrap(), "2024");
        assert_eq!(choose_sheet(&sheets, Some("1"), path).unwrap(), "Notes");
        let error = choose_sheet(&sheets, Some("Stores"), path).unwrap_err().to_string();
        assert!(error.contains("no sheet \"Stores\"") && error.contains("\"Sales\""), "{error}");
    }
}
