//! Reading the client's file: its mapping (SPEC §3), then its rows through one source
//! interface (`source.rs`): a CSV (SPEC §5: encoding, delimiter, records with the row numbers a
//! spreadsheet shows) or a workbook (SPEC §11), and the header against the mapping. What comes
//! out is text in cells (and marks for what a workbook's cells were) and the columns that hold
//! each field; what the cells mean is `row`'s work.

pub mod columns;
mod delimiter;
mod encoding;
pub mod input;
pub mod mapping;
mod open;
pub mod overlay;
mod records;
pub mod source;
pub mod workbook;
pub mod xlsx;

pub use columns::{expected_headers, resolve_columns, Columns};
pub use encoding::{parse_encoding, Encoding};
pub use input::CsvInput;
pub use mapping::Mapping;
pub use open::{open, open_path, Reading};
pub use overlay::{Edits, Overlay, RowEdit};
pub use records::{ReadError, RowMeta, MAX_RECORD_BYTES};
pub use source::{CellMark, CellMarks, RowSource, SourceRow};
