//! A problem with a row or a cell, kept as data from the handler that found it to every place
//! that shows it: the terminal and the pre-flight (grouped), the dumps (one line a row, SPEC §6),
//! the page, its API and the exceptions CSV. Nothing downstream parses a message back.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Whether the row still fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The row is not fired.
    Exception,
    /// The row fires, without the cell or with a corrected value.
    Warning,
}

/// What kind of problem it is: a stable code for scripts and for grouping, never reworded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    // The row as a whole.
    BrokenQuoting,
    MissingCells,
    ExtraCells,
    NotUtf8,
    ReplacementCharacter,
    DuplicateRow,
    DuplicateOrderId,
    NoIdentifier,
    UrlTooLong,
    // A cell.
    MissingValue,
    EmailOutsideEmail,
    NotAnAccountToken,
    WrongAccountToken,
    UnknownAccount,
    UnknownEvent,
    NotADate,
    DateDoesNotExist,
    DateInTheFuture,
    YearOutOfRange,
    OffsetOutOfRange,
    ExcelSerialDate,
    DateAdjusted,
    NotAnEmail,
    NotAPhone,
    PhoneExtension,
    NotANumber,
    AmountCleaned,
    UnknownCurrency,
    NotAQuantity,
    NotAUrl,
    NotAnIp,
    FormulaWithoutValue,
    // Excel's damage (SPEC §11.2).
    ScientificNotation,
    ExcelError,
    FormulaText,
    UnusableHash,
    /// File-level: a column without a header holds data.
    HeaderlessColumn,
    /// File-level: every date could be read with day and month swapped.
    DayMonthAmbiguous,
    /// File-level: e-mail or phone cells already hashed by the client.
    AlreadyHashed,
    /// A problem with the file, not one row (`file: …` in the warnings dump).
    File,
}

impl Kind {
    /// The stable code: `not_a_date`, `duplicate_row`, …
    pub fn code(self) -> &'static str {
        match self {
            Kind::BrokenQuoting => "broken_quoting",
            Kind::MissingCells => "missing_cells",
            Kind::ExtraCells => "extra_cells",
            Kind::NotUtf8 => "not_utf8",
            Kind::ReplacementCharacter => "replacement_character",
            Kind::DuplicateRow => "duplicate_row",
            Kind::DuplicateOrderId => "duplicate_order_id",
            Kind::NoIdentifier => "no_identifier",
            Kind::UrlTooLong => "url_too_long",
            Kind::MissingValue => "missing_value",
            Kind::EmailOutsideEmail => "email_outside_email",
            Kind::NotAnAccountToken => "not_an_account_token",
            Kind::WrongAccountToken => "wrong_account_token",
            Kind::UnknownAccount => "unknown_account",
            Kind::UnknownEvent => "unknown_event",
            Kind::NotADate => "not_a_date",
            Kind::DateDoesNotExist => "date_does_not_exist",
            Kind::DateInTheFuture => "date_in_the_future",
            Kind::YearOutOfRange => "year_out_of_range",
            Kind::OffsetOutOfRange => "offset_out_of_range",
            Kind::ExcelSerialDate => "excel_serial_date",
            Kind::DateAdjusted => "date_adjusted",
            Kind::NotAnEmail => "not_an_email",
            Kind::NotAPhone => "not_a_phone",
            Kind::PhoneExtension => "phone_extension",
            Kind::NotANumber => "not_a_number",
            Kind::AmountCleaned => "amount_cleaned",
            Kind::UnknownCurrency => "unknown_currency",
            Kind::NotAQuantity => "not_a_quantity",
            Kind::NotAUrl => "not_a_url",
            Kind::NotAnIp => "not_an_ip",
            Kind::FormulaWithoutValue => "formula_without_value",
            Kind::ScientificNotation => "scientific_notation",
            Kind::ExcelError => "excel_error",
            Kind::FormulaText => "formula_text",
            Kind::UnusableHash => "unusable_hash",
            Kind::HeaderlessColumn => "headerless_column",
            Kind::DayMonthAmbiguous => "day_month_ambiguous",
            Kind::AlreadyHashed => "already_hashed",
            Kind::File => "file",
        }
    }

    /// A few words for a person: the heading of a group of problems.
    pub fn title(self) -> &'static str {
        match self {
            Kind::BrokenQuoting => "broken quoting",
            Kind::MissingCells => "fewer cells than the header",
            Kind::ExtraCells => "more cells than the header",
            Kind::NotUtf8 => "not valid UTF-8",
            Kind::ReplacementCharacter => "damaged characters",
            Kind::DuplicateRow => "duplicate row",
            Kind::DuplicateOrderId => "order id used before",
            Kind::NoIdentifier => "no identifier",
            Kind::UrlTooLong => "tag URL too long",
            Kind::MissingValue => "missing",
            Kind::EmailOutsideEmail => "an e-mail address outside the email column",
            Kind::NotAnAccountToken => "not an account token",
            Kind::WrongAccountToken => "another client's account token",
            Kind::UnknownAccount => "account unknown to the DCS",
            Kind::UnknownEvent => "unknown event",
            Kind::NotADate => "not a date",
            Kind::DateDoesNotExist => "a date that does not exist",
            Kind::DateInTheFuture => "in the future",
            Kind::YearOutOfRange => "year out of range",
            Kind::OffsetOutOfRange => "offset out of range",
            Kind::ExcelSerialDate => "Excel serial date",
            Kind::DateAdjusted => "time adjusted",
            Kind::NotAnEmail => "not an e-mail address",
            Kind::NotAPhone => "not a phone number",
            Kind::PhoneExtension => "phone extension dropped",
            Kind::NotANumber => "not a number",
            Kind::AmountCleaned => "amount cleaned up",
            Kind::UnknownCurrency => "unknown currency",
            Kind::NotAQuantity => "not a quantity",
            Kind::NotAUrl => "not a URL",
            Kind::NotAnIp => "not an IP address",
            Kind::FormulaWithoutValue => "formula without a saved value",
            Kind::ScientificNotation => "digits lost to scientific notation",
            Kind::ExcelError => "Excel error value",
            Kind::FormulaText => "formula instead of its value",
            Kind::UnusableHash => "a hash that cannot be used",
            Kind::HeaderlessColumn => "data in a column without a header",
            Kind::DayMonthAmbiguous => "day and month could be swapped",
            Kind::AlreadyHashed => "already hashed by the client",
            Kind::File => "the file",
        }
    }
}

/// What a handler found wrong with a cell: its kind and what to tell the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub kind: Kind,
    pub text: String,
}

impl Issue {
    pub fn new(kind: Kind, text: impl Into<String>) -> Issue {
        Issue { kind, text: text.into() }
    }
}

/// One problem of one row (or of the file, with no row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The spreadsheet row; `None` for the file as a whole.
    pub row: Option<u64>,
    /// The header of the cell's column, when it has one.
    pub column: Option<String>,
    /// How a message names the cell: `cell 7` when it has no header, and in a workbook
    /// `cell H12` as Excel names it, besides its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// The field (`event_time`, `custom.store_id`, `identifier`), or none for the row.
    pub field: Option<String>,
    pub kind: Kind,
    pub severity: Severity,
    /// The cell as written; `None` for personal data, and when there is no one cell.
    pub value: Option<String>,
    /// What was wrong and what to do, as the dumps say it after the cell's name.
    pub message: String,
}

impl Problem {
    /// A problem of the whole row, with no cell.
    pub fn row(row: u64, kind: Kind, message: impl Into<String>) -> Problem {
        Problem {
            row: Some(row),
            column: None,
            cell: None,
            field: None,
            kind,
            severity: Severity::Exception,
            value: None,
            message: message.into(),
        }
    }

    /// A file-level warning.
    pub fn file(message: impl Into<String>) -> Problem {
        Problem::file_of(Kind::File, message)
    }

    /// A file-level warning of a kind of its own.
    pub fn file_of(kind: Kind, message: impl Into<String>) -> Problem {
        Problem { row: None, severity: Severity::Warning, ..Problem::row(0, kind, message) }
    }

    /// `column "Header" (field): message`, `(field): message`, or the message alone.
    pub fn describe(&self) -> String {
        match (&self.column, &self.cell, &self.field) {
            (Some(column), Some(cell), Some(field)) => format!("column {column:?} ({field}), {cell}: {}", self.message),
            (Some(column), Some(cell), None) => format!("column {column:?}, {cell}: {}", self.message),
            (Some(column), None, Some(field)) => format!("column {column:?} ({field}): {}", self.message),
            (Some(column), None, None) => format!("column {column:?}: {}", self.message),
            (None, Some(cell), Some(field)) => format!("{cell} ({field}): {}", self.message),
            (None, Some(cell), None) => format!("{cell}: {}", self.message),
            (None, None, Some(field)) => format!("({field}): {}", self.message),
            (None, None, None) => self.message.clone(),
        }
    }

    /// What joins `row N` to `describe()`.
    fn joiner(&self) -> &'static str {
        match (&self.column, &self.cell, &self.field) {
            (Some(_), _, _) | (None, Some(_), _) => ", ",
            (None, None, Some(_)) => " ",
            (None, None, None) => ": ",
        }
    }

    /// The line of the warnings dump: `row N, column "Header" (field): …`, or `file: …`.
    pub fn line(&self) -> String {
        match self.row {
            Some(row) => format!("row {row}{}{}", self.joiner(), self.describe()),
            None => format!("file: {}", self.message),
        }
    }
}

/// The line of the exceptions dump for a row's problems (SPEC §6): one line a row, its problems
/// joined, `; row not fired` at the end.
pub fn exception_line(problems: &[Problem]) -> String {
    let Some(first) = problems.first() else { return String::new() };
    let parts: Vec<String> = problems.iter().map(Problem::describe).collect();
    let row = first.row.unwrap_or_default();
    format!("row {row}{}{}; row not fired", first.joiner(), parts.join("; "))
}

/// Groups of the same problem (same severity, column, field and kind) across rows: what the
/// terminal and the pre-flight print, bounded in memory whatever the file.
#[derive(Debug, Default, Clone)]
pub struct Groups {
    groups: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    /// Problems past `MAX_GROUPS` distinct groups: counted only.
    pub ungrouped: u64,
}

type GroupKey = (Severity, Option<String>, Option<String>, Kind);

/// One group: its first problem stands for all of them.
#[derive(Debug, Clone)]
pub struct Group {
    pub first: Problem,
    pub count: u64,
    /// The first rows, in file order.
    pub rows: Vec<u64>,
}

/// Distinct groups kept; a file with more gets the rest counted as other problems.
const MAX_GROUPS: usize = 1000;
/// Rows kept for each group.
pub const ROWS_SHOWN: usize = 3;

impl Groups {
    pub fn add(&mut self, problem: &Problem) {
        let key: GroupKey = (problem.severity, problem.column.clone(), problem.field.clone(), problem.kind);
        let at = match self.index.get(&key) {
            Some(&at) => at,
            None if self.groups.len() < MAX_GROUPS => {
                self.groups.push(Group { first: problem.clone(), count: 0, rows: Vec::new() });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
            None => {
                self.ungrouped += 1;
                return;
            }
        };
        let group = &mut self.groups[at];
        group.count += 1;
        if let Some(row) = problem.row {
            if group.rows.len() < ROWS_SHOWN && group.rows.last() != Some(&row) {
                group.rows.push(row);
            }
        }
    }

    /// The groups, most problems first (then in the order they were first seen).
    pub fn sorted(&self) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self.groups.iter().collect();
        groups.sort_by_key(|group| std::cmp::Reverse(group.count));
        groups
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.ungrouped == 0
    }
}

impl Group {
    /// `column "Sale Date" (event_time)`, or `the row` for a row-level problem.
    pub fn place(&self) -> Cow<'static, str> {
        match (&self.first.column, &self.first.field) {
            (Some(column), Some(field)) => format!("column {column:?} ({field})").into(),
            (Some(column), None) => format!("column {column:?}").into(),
            (None, Some(field)) => format!("({field})").into(),
            (None, None) if self.first.row.is_none() => "the file".into(),
            (None, None) => "the row".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(row: u64, column: &str, kind: Kind, message: &str) -> Problem {
        Problem {
            column: Some(column.to_owned()),
            field: Some("event_time".to_owned()),
            value: Some("x".to_owned()),
            ..Problem::row(row, kind, message)
        }
    }

    #[test]
    fn dump_lines_keep_the_text_of_spec_6() {
        let date = cell(7, "Sale Date", Kind::NotADate, "\"x\" is not a date");
        assert_eq!(date.line(), "row 7, column \"Sale Date\" (event_time): \"x\" is not a date");
        let identifier = Problem { field: Some("identifier".into()), ..Problem::row(3, Kind::NoIdentifier, "none") };
        assert_eq!(exception_line(&[identifier]), "row 3 (identifier): none; row not fired");
        let duplicate = Problem::row(9, Kind::DuplicateRow, "duplicate of row 3 (the same payload)");
        assert_eq!(exception_line(&[duplicate]), "row 9: duplicate of row 3 (the same payload); row not fired");
        let other = cell(7, "Value", Kind::NotANumber, "not a number");
        assert_eq!(
            exception_line(&[date, other]),
            "row 7, column \"Sale Date\" (event_time): \"x\" is not a date; column \"Value\" (event_time): not a number; row not fired"
        );
        assert_eq!(Problem::file("headers nothing maps").line(), "file: headers nothing maps");
    }

    #[test]
    fn the_same_problem_in_many_rows_is_one_group_with_its_count_and_first_rows() {
        let mut groups = Groups::default();
        for row in 2..5002 {
            groups.add(&cell(row, "Date", Kind::NotADate, "m"));
        }
        groups.add(&cell(9000, "Date", Kind::DateInTheFuture, "m"));
        let sorted = groups.sorted();
        assert_eq!(sorted.len(), 2);
        assert_eq!((sorted[0].count, sorted[0].rows.as_slice()), (5000, &[2, 3, 4][..]));
        assert_eq!(sorted[0].place(), "column \"Date\" (event_time)");
        assert_eq!(sorted[1].count, 1);
    }

    #[test]
    fn groups_stay_bounded() {
        let mut groups = Groups::default();
        for row in 0..5000u64 {
            groups.add(&cell(row, &format!("c{row}"), Kind::NotADate, "m"));
        }
        assert_eq!(groups.sorted().len(), MAX_GROUPS);
        assert_eq!(groups.ungrouped, 5000 - MAX_GROUPS as u64);
    }

    #[test]
    fn kinds_serialize_as_their_codes() {
        for kind in [Kind::NotADate, Kind::DuplicateRow, Kind::EmailOutsideEmail, Kind::ScientificNotation, Kind::File]
        {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.code());
        }
    }
}
