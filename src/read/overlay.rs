//! Edits made in the page (SPEC §12), laid over a source of rows: the staged file is never
//! rewritten; its rows are read through this, with edited cells replaced and excluded rows
//! left out (neither sent nor exceptions, only counted).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use csv::ByteRecord;

use crate::read::source::{RowSource, SourceDescription, SourceRow};

/// What the edits of an upload make of one row: cells by header, and whether it is excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowEdit {
    /// (header, new value), one per header, the latest edit's.
    pub cells: Vec<(String, String)>,
    pub excluded: bool,
}

impl RowEdit {
    pub fn set(&mut self, header: &str, value: &str) {
        match self.cells.iter_mut().find(|(h, _)| h == header) {
            Some((_, old)) => value.clone_into(old),
            None => self.cells.push((header.to_owned(), value.to_owned())),
        }
    }

    /// The cells of a row (as `headers` name them) with this edit applied; missing cells are
    /// added empty as far as an edited one.
    pub fn apply(&self, headers: &[String], cells: &mut Vec<String>) {
        for (header, value) in &self.cells {
            if let Some(index) = headers.iter().position(|h| h == header) {
                if cells.len() <= index {
                    cells.resize(index + 1, String::new());
                }
                value.clone_into(&mut cells[index]);
            }
        }
    }
}

/// The edits of an upload, by spreadsheet row: the latest of each cell, and exclusion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    pub rows: BTreeMap<u64, RowEdit>,
}

impl Edits {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn row(&self, row: u64) -> Option<&RowEdit> {
        self.rows.get(&row)
    }

    pub fn is_excluded(&self, row: u64) -> bool {
        self.rows.get(&row).is_some_and(|edit| edit.excluded)
    }
}

/// A source with edits applied.
pub struct Overlay {
    inner: Box<dyn RowSource>,
    edits: std::sync::Arc<Edits>,
    excluded: u64,
}

impl Overlay {
    pub fn new(inner: Box<dyn RowSource>, edits: std::sync::Arc<Edits>) -> Overlay {
        Overlay { inner, edits, excluded: 0 }
    }
}

impl RowSource for Overlay {
    fn headers(&self) -> &[String] {
        self.inner.headers()
    }

    fn next_row(&mut self, row: &mut SourceRow) -> Result<bool> {
        loop {
            if !self.inner.next_row(row)? {
                return Ok(false);
            }
            let Some(edit) = self.edits.row(row.meta.row) else { return Ok(true) };
            if edit.excluded {
                self.excluded += 1;
                continue;
            }
            let headers = self.inner.headers();
            let indices: Vec<(usize, &str)> = edit
                .cells
                .iter()
                .filter_map(|(header, value)| Some((headers.iter().position(|h| h == header)?, value.as_str())))
                .collect();
            let width = indices.iter().map(|(index, _)| index + 1).max().unwrap_or(0).max(row.cells.len());
            let mut cells = ByteRecord::with_capacity(row.cells.as_slice().len() + 64, width);
            for index in 0..width {
                match indices.iter().find(|(edited, _)| *edited == index) {
                    Some((_, value)) => cells.push_field(value.as_bytes()),
                    None => cells.push_field(row.cells.get(index).unwrap_or_default()),
                }
            }
            row.cells = cells;
            // An edited cell is text as typed: what the workbook said of the old one is gone.
            row.marks.retain(|(cell, _)| !indices.iter().any(|(edited, _)| *edited == *cell as usize));
            if row.meta.broken.is_some_and(|broken| indices.iter().any(|(edited, _)| *edited == broken)) {
                row.meta.broken = None;
            }
            return Ok(true);
        }
    }

    fn names_cells(&self) -> bool {
        self.inner.names_cells()
    }

    fn file_warnings(&self) -> &[String] {
        self.inner.file_warnings()
    }

    fn description(&self) -> SourceDescription {
        self.inner.description()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn rows_excluded(&self) -> u64 {
        self.excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::source::CellMark;

    struct Rows {
        headers: Vec<String>,
        rows: std::vec::IntoIter<Vec<&'static str>>,
        next: u64,
    }

    impl RowSource for Rows {
        fn headers(&self) -> &[String] {
            &self.headers
        }
        fn next_row(&mut self, row: &mut SourceRow) -> Result<bool> {
            let Some(cells) = self.rows.next() else { return Ok(false) };
            self.next += 1;
            row.meta.row = self.next;
            row.cells = ByteRecord::from(cells);
            row.marks = vec![(0, CellMark::Date), (1, CellMark::Error)];
            Ok(true)
        }
        fn file_warnings(&self) -> &[String] {
            &[]
        }
        fn description(&self) -> SourceDescription {
            SourceDescription::default()
        }
        fn path(&self) -> &Path {
            Path::new("f.csv")
        }
    }

    #[test]
    fn edited_cells_are_replaced_and_excluded_rows_left_out() {
        let source = Rows {
            headers: vec!["A".into(), "B".into(), "C".into()],
            rows: vec![vec!["a2", "b2"], vec!["a3", "b3", "c3"], vec!["a4", "b4", "c4"]].into_iter(),
            next: 1,
        };
        let mut edits = Edits::default();
        edits.rows.entry(2).or_default().set("C", "new");
        edits.rows.entry(2).or_default().set("B", "x");
        edits.rows.entry(2).or_default().set("B", "b-new");
        edits.rows.entry(3).or_default().excluded = true;
        let mut overlay = Overlay::new(Box::new(source), std::sync::Arc::new(edits));
        let mut row = SourceRow::default();
        assert!(overlay.next_row(&mut row).unwrap());
        assert_eq!(row.meta.row, 2);
        assert_eq!(row.cells, ByteRecord::from(vec!["a2", "b-new", "new"]));
        assert_eq!(row.marks, vec![(0, CellMark::Date)]);
        assert!(overlay.next_row(&mut row).unwrap());
        assert_eq!((row.meta.row, row.marks.len()), (4, 2));
        assert!(!overlay.next_row(&mut row).unwrap());
        assert_eq!(overlay.rows_excluded(), 1);
    }
}
