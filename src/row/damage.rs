//! Excel's damage (SPEC §11.2), caught on the text of a cell whatever the file's format: digits
//! lost to scientific notation, error values and formulas written as text, hashes the client
//! made; and what needs the whole file (columns without a header that hold data, dates that
//! could be read with day and month swapped), counted by the workers a batch at a time.
//!
//! Every check looks at a cell's first byte (or its length) before anything else: most cells
//! cost one comparison.

use chrono::{Datelike, NaiveDate};
use csv::ByteRecord;

use crate::field::capped_list;
use crate::problem::{Issue, Kind, Problem};
use crate::read::Columns;

/// The mantissa's significant digits when `text` is written as Excel writes a long number in
/// General format (`1.23457E+12`, `4.56E+15`, `1.23456789012346E+18`; `e` too, with or without
/// signs). A point or an exponent sign is needed: `1E5` is as likely a code as a number.
pub fn scientific_digits(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if !matches!(bytes.first(), Some(b'0'..=b'9' | b'+' | b'-')) {
        return None;
    }
    let at = bytes.iter().position(|&byte| byte == b'e' || byte == b'E')?;
    let (mantissa, exponent) = (&bytes[..at], &bytes[at + 1..]);
    let mantissa = mantissa.strip_prefix(b"-").or_else(|| mantissa.strip_prefix(b"+")).unwrap_or(mantissa);
    let (whole, fraction) = match mantissa.iter().position(|&byte| byte == b'.') {
        Some(point) => (&mantissa[..point], Some(&mantissa[point + 1..])),
        None => (mantissa, None),
    };
    let (signed, exponent) = match exponent.first() {
        Some(b'+' | b'-') => (true, &exponent[1..]),
        _ => (false, exponent),
    };
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    let shape = matches!(whole, [b'1'..=b'9'])
        && fraction.is_none_or(digits)
        && digits(exponent)
        && exponent.len() <= 3
        && (signed || fraction.is_some());
    shape.then(|| 1 + fraction.map_or(0, <[u8]>::len))
}

/// Why an identifier (or custom) cell in exponent form cannot be trusted.
pub fn scientific_issue(text: &str, digits: usize) -> Issue {
    Issue::new(
        Kind::ScientificNotation,
        format!(
            "{text:?}: Excel wrote this number in scientific notation and kept only {digits} of its digits; \
             format the column as Text in the template and export again"
        ),
    )
}

/// Excel's error values, with what each says went wrong.
const ERROR_VALUES: [(&str, &str); 10] = [
    ("#N/A", "a look-up found nothing"),
    ("#VALUE!", "a formula got a value of the wrong type"),
    ("#REF!", "a formula refers to a cell that was deleted"),
    ("#DIV/0!", "a formula divided by zero"),
    ("#NAME?", "a formula uses a name Excel does not know"),
    ("#NUM!", "a formula's number is out of range"),
    ("#NULL!", "a formula's ranges do not meet"),
    ("#SPILL!", "a formula's result has no room to spill"),
    ("#CALC!", "a formula could not be calculated"),
    ("#GETTING_DATA", "the cell was still loading its data"),
];

/// An Excel error value or the text of a formula in a cell (trimmed): the row cannot be sent.
pub fn excel_damage(cell: &str) -> Option<Issue> {
    match cell.as_bytes().first()? {
        b'#' => {
            let (name, meaning) = ERROR_VALUES.iter().find(|(name, _)| name.eq_ignore_ascii_case(cell))?;
            Some(Issue::new(
                Kind::ExcelError,
                format!(
                    "holds Excel's error value {name} ({meaning}), not data; fix the formula in Excel \
                     (or paste the column as values) and export again"
                ),
            ))
        }
        b'=' if is_formula(cell) => Some(Issue::new(
            Kind::FormulaText,
            "holds the text of an Excel formula, not its value; fix the formula in Excel, or copy the column and \
             paste it as values, and export again",
        )),
        _ => None,
    }
}

/// `=SUM(A1:A3)`, `=VLOOKUP(…`, `=A1+B2`, `=Sheet1!B2`, `=-3`, `=("x")`: a formula's text. A
/// cell that only starts with `=` (`==`, `=)`, `= note`) is left alone.
fn is_formula(cell: &str) -> bool {
    let rest = &cell.as_bytes()[1..];
    match rest.first() {
        Some(b'0'..=b'9' | b'(' | b'+' | b'-' | b'"' | b'\'' | b'$') => true,
        Some(byte) if byte.is_ascii_alphabetic() || *byte == b'_' => {
            let name = rest.iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')).count();
            match rest.get(name) {
                // A function, or a reference into another sheet.
                Some(b'(' | b'!') => true,
                // A cell reference (letters then digits), alone or in an expression.
                None | Some(b'+' | b'-' | b'*' | b'/' | b'^' | b'&' | b':' | b'<' | b'>' | b'=' | b' ') => {
                    is_cell_reference(&rest[..name])
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// `A1`, `XFD1048576`: one to three letters, then digits.
fn is_cell_reference(name: &[u8]) -> bool {
    let letters = name.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    (1..=3).contains(&letters) && name.len() > letters && name[letters..].iter().all(u8::is_ascii_digit)
}

/// What an `email` or `phone` cell that is a hash holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// 64 hex digits: a SHA-256 the client made, sent lower-cased.
    Sha256,
    /// Another hash (named), which the DCS cannot match.
    Unusable(&'static str),
}

/// The hash an `email` or `phone` cell (trimmed) holds instead of an address or a number.
pub fn hash_of(cell: &str) -> Option<Hash> {
    let bytes = cell.as_bytes();
    let all_hex = |digits: &[u8]| digits.iter().all(u8::is_ascii_hexdigit);
    // A long number is not taken for a hash: a real one has letters too (all but surely).
    let hex = |digits: &[u8]| all_hex(digits) && digits.iter().any(u8::is_ascii_alphabetic);
    match bytes.len() {
        64 if all_hex(bytes) => return Some(Hash::Sha256),
        32 | 40 | 96 | 128 if hex(bytes) => return Some(Hash::Unusable(hex_name(bytes.len()))),
        34 | 42 | 66 | 98 | 130 if bytes[..2].eq_ignore_ascii_case(b"0x") && hex(&bytes[2..]) => {
            return Some(Hash::Unusable(hex_name(bytes.len() - 2)))
        }
        _ => {}
    }
    if bytes.last() == Some(&b'=') && is_padded_base64(bytes) {
        return Some(Hash::Unusable("a base64-encoded hash"));
    }
    None
}

fn hex_name(digits: usize) -> &'static str {
    match digits {
        32 => "an MD5 hash (32 hex digits)",
        40 => "a SHA-1 hash (40 hex digits)",
        64 => "a SHA-256 written with 0x",
        96 => "a SHA-384 hash (96 hex digits)",
        _ => "a SHA-512 hash (128 hex digits)",
    }
}

/// Base64 with its `=` padding, as long as a hash's (16 bytes or more).
fn is_padded_base64(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"==").or_else(|| bytes.strip_suffix(b"=")).unwrap_or(bytes);
    bytes.len().is_multiple_of(4)
        && bytes.len() >= 24
        && body.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Why a hashed `email` or `phone` cell is dropped (the value is not shown).
pub fn unusable_hash_issue(name: &'static str) -> Issue {
    Issue::new(
        Kind::UnusableHash,
        format!(
            "holds {name} instead of the address or number (value not shown: personal data), which the DCS cannot \
             match; send the address or number itself (it is hashed here), or its SHA-256 in hex"
        ),
    )
}

/// How a row's event time was read, for the day and month check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventDate {
    /// Not from the cell: empty (the mapping's default), or the row is not sent.
    #[default]
    NotRead,
    /// Read with a day-first format: the date as written.
    DayFirst(NaiveDate),
    /// Read otherwise: ISO 8601, month first, an Excel serial.
    Other,
}

/// What one valid row adds to the file's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowDamage {
    pub event_date: EventDate,
    pub email_hashed: bool,
    pub phone_hashed: bool,
}

/// The dates of the event-time column: whether every one was read day first with a day of 12
/// or less, and the first whose day and month differ (its row and cell), to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DayFirstDates {
    read: u64,
    /// A date read otherwise, or with a day over 12: no doubt.
    settled: bool,
    example: Option<(u64, String, NaiveDate)>,
}

/// The counts of a batch, added up by the main thread for the file (in row order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cells holding data in each column without a header, in `Columns::headerless` order.
    headerless: Vec<u64>,
    emails_hashed: u64,
    phones_hashed: u64,
    dates: DayFirstDates,
}

impl Tally {
    pub fn clear(&mut self) {
        self.headerless.iter_mut().for_each(|count| *count = 0);
        self.emails_hashed = 0;
        self.phones_hashed = 0;
        self.dates = DayFirstDates::default();
    }

    /// Count the cells of a non-blank record that hold data under no header.
    pub fn headerless_cells(&mut self, headerless: &[usize], record: &ByteRecord) {
        if headerless.is_empty() {
            return;
        }
        self.headerless.resize(headerless.len(), 0);
        for (count, &index) in self.headerless.iter_mut().zip(headerless) {
            if record.get(index).is_some_and(|cell| !cell.trim_ascii().is_empty()) {
                *count += 1;
            }
        }
    }

    /// Count a row that `format_data` read (`sent` when it is valid: only then do its hashes
    /// count; its date counts either way, a date of the column all the same). `event_cell`
    /// gives its event-time cell, asked only for an example.
    pub fn row<'a>(&mut self, row: u64, damage: RowDamage, sent: bool, event_cell: impl FnOnce() -> &'a str) {
        if sent {
            self.emails_hashed += u64::from(damage.email_hashed);
            self.phones_hashed += u64::from(damage.phone_hashed);
        }
        let dates = &mut self.dates;
        match damage.event_date {
            EventDate::NotRead => {}
            EventDate::Other => dates.settled = true,
            EventDate::DayFirst(date) => {
                dates.read += 1;
                if date.day() > 12 {
                    dates.settled = true;
                } else if !dates.settled && dates.example.is_none() && date.day() != date.month() {
                    dates.example = Some((row, event_cell().to_owned(), date));
                }
            }
        }
    }

    /// Add a later batch's counts.
    pub fn add(&mut self, later: &Tally) {
        if self.headerless.len() < later.headerless.len() {
            self.headerless.resize(later.headerless.len(), 0);
        }
        for (count, more) in self.headerless.iter_mut().zip(&later.headerless) {
            *count += more;
        }
        self.emails_hashed += later.emails_hashed;
        self.phones_hashed += later.phones_hashed;
        self.dates.read += later.dates.read;
        self.dates.settled |= later.dates.settled;
        if self.dates.example.is_none() {
            self.dates.example.clone_from(&later.dates.example);
        }
    }

    /// The file-level warnings of the whole file, once it is read.
    pub fn warnings(&self, columns: &Columns) -> Vec<Problem> {
        let mut warnings = Vec::new();
        let holding: Vec<(usize, u64)> = columns
            .headerless
            .iter()
            .zip(&self.headerless)
            .filter(|(_, &count)| count > 0)
            .map(|(&index, &count)| (index, count))
            .collect();
        if !holding.is_empty() {
            warnings.push(headerless_warning(&holding));
        }
        if let Some(warning) = self.hashed_warning() {
            warnings.push(warning);
        }
        if let (false, Some((row, cell, date))) = (self.dates.settled, &self.dates.example) {
            let column = columns.of(crate::field::Field::EventTime).map(|index| columns.header(index).to_owned());
            warnings.push(Problem {
                column,
                field: Some("event_time".to_owned()),
                ..Problem::file_of(Kind::DayMonthAmbiguous, day_month_message(self.dates.read, *row, cell, *date))
            });
        }
        warnings
    }

    fn hashed_warning(&self) -> Option<Problem> {
        let counted = |count: u64, what: &str| (count > 0).then(|| format!("{count} {what}"));
        let parts: Vec<String> =
            [counted(self.emails_hashed, "email cell(s)"), counted(self.phones_hashed, "phone cell(s)")]
                .into_iter()
                .flatten()
                .collect();
        if parts.is_empty() {
            return None;
        }
        Some(Problem::file_of(
            Kind::AlreadyHashed,
            format!(
                "{} held 64 hex digits, taken as SHA-256 hashes the client made and sent as they are (lower-cased), \
                 not hashed again; they match only if the values were normalised before hashing as the ad platforms \
                 do (e-mail trimmed and lower-cased, without mailto:; phone in E.164, like +442079460958): check \
                 with the client",
                parts.join(" and ")
            ),
        ))
    }
}

/// `column F holds data in 3 cells but has no header, so it is not sent; …`.
fn headerless_warning(holding: &[(usize, u64)]) -> Problem {
    let cells = |count: u64| if count == 1 { "1 cell".to_owned() } else { format!("{count} cells") };
    let message = match holding {
        [(index, count)] => format!(
            "column {} holds data in {} but has no header, so it is not sent; give it a header and map it in \
             \"columns\" or \"custom\" if it matters, or delete it",
            crate::read::source::column_letters(*index),
            cells(*count)
        ),
        _ => format!(
            "{} columns hold data but have no header, so they are not sent: {}; give them a header and map them in \
             \"columns\" or \"custom\" if they matter, or delete them",
            holding.len(),
            capped_list(holding.iter().map(|(index, count)| format!(
                "column {} ({})",
                crate::read::source::column_letters(*index),
                cells(*count)
            )))
        ),
    };
    Problem::file_of(Kind::HeaderlessColumn, message)
}

fn day_month_message(read: u64, row: u64, cell: &str, date: NaiveDate) -> String {
    let swapped = NaiveDate::from_ymd_opt(date.year(), date.day(), date.month()).expect("day and month are 1 to 12");
    let dates = match read {
        1 => "the only date of the event time was read day first and its day is not over 12, so it could also be \
              read month first"
            .to_owned(),
        _ => format!(
            "all {read} dates of the event time were read day first and none has a day over 12, so each could also \
             be read month first"
        ),
    };
    format!(
        "{dates}: {cell} (row {row}) was read as {}, not {}; if the client writes the month first, put a \
         month-first format like \"%m/%d/%Y\" in the mapping's \"date_formats\"",
        date.format("%-d %B %Y"),
        swapped.format("%-d %B")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_forms_and_their_digits() {
        for (text, digits) in [
            ("1.23457E+12", 6),
            ("4.56E+15", 3),
            ("4.56e+15", 3),
            ("1.23456789012346E+18", 15),
            ("1E+12", 1),
            ("1.5E12", 2),
            ("-1.2E+05", 2),
            ("+7.1e-3", 2),
        ] {
            assert_eq!(scientific_digits(text), Some(digits), "{text}");
        }
        for text in [
            "",
            "123456",
            "1E5",
            "1e5",
            "E+12",
            "CUST-1E+5",
            "12.3E+4",
            "1.E+12",
            "1.2E+",
            "1.2E+1234",
            "0.5E+3",
            "1.2E+1x",
            "abc",
        ] {
            assert_eq!(scientific_digits(text), None, "{text}");
        }
        let issue = scientific_issue("1.23457E+12", 6);
        assert_eq!(issue.kind, Kind::ScientificNotation);
        assert!(issue.text.contains("kept only 6 of its digits; format the column as Text"), "{}", issue.text);
    }

    #[test]
    fn error_values_and_formulas() {
        for cell in [
            "#N/A",
            "#n/a",
            "#VALUE!",
            "#REF!",
            "#DIV/0!",
            "#NAME?",
            "#NUM!",
            "#NULL!",
            "#SPILL!",
            "#CALC!",
            "#GETTING_DATA",
        ] {
            let issue = excel_damage(cell).unwrap_or_else(|| panic!("{cell}"));
            assert_eq!(issue.kind, Kind::ExcelError, "{cell}");
            assert!(issue.text.contains("fix the formula in Excel"), "{}", issue.text);
        }
        for cell in [
            "=SUM(A1:A3)",
            "=VLOOKUP(B2,Sheet2!A:B,2,FALSE)",
            "=A1+B2",
            "=a1",
            "=$A$1",
            "=Sheet1!B2",
            "=-3",
            "=(1+2)",
            "=\"x\"&A1",
            "=IF(A1>0,1,0)",
            "=_xlfn.XLOOKUP(A1)",
            "=AB12*2",
        ] {
            assert_eq!(excel_damage(cell).map(|issue| issue.kind), Some(Kind::FormulaText), "{cell}");
        }
        for cell in
            ["", "#", "#1", "#hashtag", "N/A", "=", "==", "=)", "= note", "=abc", "=total", "SUM(A1)", "a=b", "=ABCD1"]
        {
            assert_eq!(excel_damage(cell), None, "{cell}");
        }
    }

    #[test]
    fn hashes_in_personal_columns() {
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_of(sha256), Some(Hash::Sha256));
        assert_eq!(hash_of(&sha256.to_uppercase()), Some(Hash::Sha256));
        assert_eq!(hash_of("900150983cd24fb0d6963f7d28e17f72"), Some(Hash::Unusable("an MD5 hash (32 hex digits)")));
        assert_eq!(
            hash_of("a9993e364706816aba3e25717850c26c9cd0d89d"),
            Some(Hash::Unusable("a SHA-1 hash (40 hex digits)"))
        );
        assert!(matches!(hash_of(&format!("0x{sha256}")), Some(Hash::Unusable(_))));
        assert!(matches!(hash_of(&"ab".repeat(64)), Some(Hash::Unusable(_))));
        // SHA-256 of "abc" in base64, and MD5 in base64.
        assert!(matches!(hash_of("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="), Some(Hash::Unusable(_))));
        assert!(matches!(hash_of("kAFQmDzST7DWlj99KOF/cg=="), Some(Hash::Unusable(_))));
        for cell in [
            "jane@example.com",
            "+44 20 7946 0958",
            "442079460958",
            "abc=",
            &"1".repeat(32),
            &sha256[1..],
            "x".repeat(64).as_str(),
            "a=b=c=d=",
        ] {
            assert_eq!(hash_of(cell), None, "{cell}");
        }
    }

    fn date(day: u32, month: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, month, day).unwrap()
    }

    fn row(event_date: EventDate) -> RowDamage {
        RowDamage { event_date, ..RowDamage::default() }
    }

    fn columns(headers: &[&str]) -> Columns {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        Columns {
            headerless: (0..headers.len()).filter(|&i| headers[i].is_empty()).collect(),
            headers,
            ..Columns::default()
        }
    }

    #[test]
    fn day_and_month_could_be_swapped_only_when_every_date_allows_it() {
        let mut first = Tally::default();
        first.row(2, row(EventDate::DayFirst(date(5, 5))), true, || "05/05/2024");
        first.row(3, row(EventDate::NotRead), true, || unreachable!());
        first.row(4, row(EventDate::DayFirst(date(1, 2))), true, || "01/02/2024");
        first.row(5, row(EventDate::DayFirst(date(3, 4))), true, || unreachable!("an example is kept already"));
        let mut later = Tally::default();
        later.row(600, row(EventDate::DayFirst(date(12, 11))), true, || "12/11/2024");
        let mut file = Tally::default();
        file.add(&first);
        file.add(&later);
        let warnings = file.warnings(&columns(&["Date"]));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, Kind::DayMonthAmbiguous);
        assert!(
            warnings[0].message.contains("01/02/2024 (row 4) was read as 1 February 2024, not 2 January"),
            "{}",
            warnings[0].message
        );
        assert!(warnings[0].message.starts_with("all 4 dates"), "{}", warnings[0].message);

        for breaking in [EventDate::DayFirst(date(13, 11)), EventDate::Other] {
            let mut last = Tally::default();
            last.row(700, row(breaking), true, || "13/11/2024");
            let mut whole = file.clone();
            whole.add(&last);
            assert!(whole.warnings(&columns(&["Date"])).is_empty(), "{breaking:?}");
        }
        // Day and month the same in every date: both readings agree.
        let mut same = Tally::default();
        same.row(2, row(EventDate::DayFirst(date(7, 7))), true, || "07/07/2024");
        assert!(same.warnings(&columns(&["Date"])).is_empty());
    }

    #[test]
    fn headerless_cells_are_counted_per_column_and_empty_ones_stay_silent() {
        let columns = columns(&["a", "", "c", "", ""]);
        let mut batch = Tally::default();
        for cells in [vec!["1", "x", "3", "", ""], vec!["1", " ", "3", "", "y"], vec!["1", "z"]] {
            batch.headerless_cells(&columns.headerless, &ByteRecord::from(cells));
        }
        let mut file = Tally::default();
        file.add(&batch);
        let warnings = file.warnings(&columns);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, Kind::HeaderlessColumn);
        assert!(
            warnings[0].message.starts_with(
                "2 columns hold data but have no header, so they are not sent: column B (2 cells), column E (1 cell);"
            ),
            "{}",
            warnings[0].message
        );
        batch.clear();
        let mut empty = Tally::default();
        empty.add(&batch);
        assert!(empty.warnings(&columns).is_empty());
    }

    #[test]
    fn hashed_cells_are_counted_in_one_warning() {
        let mut tally = Tally::default();
        for _ in 0..3 {
            tally.row(2, RowDamage { email_hashed: true, ..RowDamage::default() }, true, || "");
        }
        tally.row(5, RowDamage { phone_hashed: true, ..RowDamage::default() }, true, || "");
        // A row not sent sends no hash.
        tally.row(6, RowDamage { email_hashed: true, ..RowDamage::default() }, false, || "");
        let warnings = tally.warnings(&columns(&["email"]));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, Kind::AlreadyHashed);
        assert!(
            warnings[0].message.starts_with("3 email cell(s) and 1 phone cell(s) held 64 hex digits"),
            "{}",
            warnings[0].message
        );
        assert!(warnings[0].message.contains("normalised"));
    }
}
