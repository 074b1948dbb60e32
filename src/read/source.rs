//! A source of rows (SPEC §5, §11): what the pipeline asks of a file, whatever its format. CSV
//! and workbooks are the two sources; encoding and delimiter are the CSV source's own business,
//! sheets and typed cells the workbook's.

use std::path::Path;

use anyhow::Result;
use csv::ByteRecord;

use crate::read::columns::{resolve_columns, Columns};
use crate::read::mapping::Mapping;
use crate::read::records::RowMeta;

/// What a workbook cell was, when its text alone does not say it. CSV cells are all text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellMark {
    /// A date or date-time cell: its text is the local `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD`
    /// for a date with no time.
    Date,
    /// An error value (`#N/A`, …): its text is the value as Excel shows it.
    Error,
    /// A formula with no cached value: its text is empty.
    FormulaWithoutValue,
}

/// The marks of one row's cells: (cell index, mark), by cell index. Empty for CSV.
pub type CellMarks = Vec<(u32, CellMark)>;

/// The mark of cell `index`, if it has one.
pub fn mark_of(marks: &[(u32, CellMark)], index: usize) -> Option<CellMark> {
    marks.iter().find(|(cell, _)| *cell as usize == index).map(|(_, mark)| *mark)
}

/// One row as a source gives it: the spreadsheet row, the cells' text and their marks.
#[derive(Debug, Default)]
pub struct SourceRow {
    pub meta: RowMeta,
    pub cells: ByteRecord,
    pub marks: CellMarks,
}

/// What the summary says of how the file was read.
#[derive(Debug, Clone, Default)]
pub struct SourceDescription {
    /// CSV: the encoding and the delimiter read, and how they were found.
    pub encoding: String,
    pub delimiter: String,
    /// A workbook: its format and the sheet read.
    pub sheet: Option<String>,
}

/// The pipeline's view of a file: its header, then its rows in order.
pub trait RowSource {
    /// The header row's cells, trimmed.
    fn headers(&self) -> &[String];

    /// Fill `row` with the next row; false at the end of the file.
    fn next_row(&mut self, row: &mut SourceRow) -> Result<bool>;

    /// Whether messages name a cell as Excel does (`cell H12`) besides its header.
    fn names_cells(&self) -> bool {
        false
    }

    /// Warnings about the file as a whole, found while opening it (`file: …` lines).
    fn file_warnings(&self) -> &[String];

    fn description(&self) -> SourceDescription;

    fn path(&self) -> &Path;

    /// Rows left out by the page's edits (SPEC §12): neither sent nor exceptions.
    fn rows_excluded(&self) -> u64 {
        0
    }

    /// Check the header against the mapping: fail before any row is handled.
    fn columns(&self, mapping: &Mapping) -> Result<(Columns, Option<String>)> {
        resolve_columns(self.headers(), mapping).map_err(|error| anyhow::anyhow!("{}: {error}", self.path().display()))
    }
}

/// Excel's name of a column: `A`, `Z`, `AA`, … for the 0-based index.
pub fn column_letters(index: usize) -> String {
    let mut letters = Vec::new();
    let mut rest = index + 1;
    while rest > 0 {
        let digit = (rest - 1) % 26;
        letters.push(b'A' + digit as u8);
        rest = (rest - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_excel_does() {
        let named: Vec<String> = [0, 7, 25, 26, 27, 51, 52, 701, 702, 16383].map(column_letters).to_vec();
        assert_eq!(named, ["A", "H", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA", "XFD"]);
    }

    #[test]
    fn a_mark_is_found_by_its_cell() {
        let marks = vec![(2, CellMark::Date), (5, CellMark::Error)];
        assert_eq!(mark_of(&marks, 5), Some(CellMark::Error));
        assert_eq!(mark_of(&marks, 3), None);
    }
}
