//! The rows that need a fix, to correct in Excel (SPEC §12): `Row`, the file's own columns and
//! `Problem`, as CSV (cells neutralised against formula injection) and as `.xlsx` (problem
//! cells highlighted). Personal-data cells are left empty: they can be retyped, never shown; an
//! empty one in the corrections keeps the file's value.

use std::collections::HashSet;

use rust_xlsxwriter::{Color, Format, Workbook, XlsxError};

use super::rows::{CheckedRow, RowChecker};
use crate::web::report::neutralise;

pub const ROW_HEADER: &str = "Row";
pub const PROBLEM_HEADER: &str = "Problem";

/// One rejected row: its cells as the file shows them (masked ones empty), which are bad, and
/// its problems in words.
struct Line {
    row: u64,
    cells: Vec<String>,
    bad: HashSet<usize>,
    problem: String,
}

fn lines(checker: &RowChecker, rows: &[CheckedRow]) -> Vec<Line> {
    rows.iter()
        .map(|checked| {
            let masked = checker.masked(&checked.problems);
            let cells = (0..checker.headers.len())
                .map(|index| match checked.cells.get(index) {
                    Some(_) if masked[index] => String::new(),
                    Some(value) => value.clone(),
                    None => String::new(),
                })
                .collect();
            let bad = checked
                .problems
                .iter()
                .filter_map(|problem| checker.headers.iter().position(|h| Some(h) == problem.column.as_ref()))
                .collect();
            let problem = checked.problems.iter().map(|problem| problem.describe()).collect::<Vec<_>>().join("; ");
            Line { row: checked.row, cells, bad, problem }
        })
        .collect()
}

fn header(checker: &RowChecker) -> Vec<String> {
    let mut header = vec![ROW_HEADER.to_owned()];
    header.extend(checker.headers.iter().cloned());
    header.push(PROBLEM_HEADER.to_owned());
    header
}

pub fn csv(checker: &RowChecker, rows: &[CheckedRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(header(checker).iter().map(|cell| neutralise(cell)));
    for line in lines(checker, rows) {
        let mut record = vec![line.row.to_string()];
        record.extend(line.cells.iter().map(|cell| neutralise(cell)));
        record.push(neutralise(&line.problem));
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}

pub fn xlsx(checker: &RowChecker, rows: &[CheckedRow]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Rows to fix")?;
    let bold = Format::new().set_bold();
    let highlighted = Format::new().set_background_color(Color::RGB(0xFFC7CE)).set_font_color(Color::RGB(0x9C0006));
    for (col, cell) in header(checker).iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, cell, &bold)?;
    }
    for (index, line) in lines(checker, rows).iter().enumerate() {
        let at = index as u32 + 1;
        sheet.write_number(at, 0, line.row as f64)?;
        for (col, cell) in line.cells.iter().enumerate() {
            // Text as written: Excel would read "00123" as a number and a date as a serial.
            if line.bad.contains(&col) {
                sheet.write_string_with_format(at, col as u16 + 1, cell, &highlighted)?;
            } else {
                sheet.write_string(at, col as u16 + 1, cell)?;
            }
        }
        sheet.write_string(at, line.cells.len() as u16 + 1, &line.problem)?;
    }
    workbook.save_to_buffer()
}
