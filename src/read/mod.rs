//! Reading the client's file: its mapping (SPEC §3), then the CSV itself (SPEC §5): encoding,
//! delimiter, records with the row numbers a spreadsheet shows, and the header against the
//! mapping. What comes out is text in cells and the columns that hold each field; what the
//! cells mean is `row`'s work.

pub mod columns;
mod delimiter;
mod encoding;
pub mod input;
pub mod mapping;
mod records;

pub use columns::{expected_headers, resolve_columns, Columns};
pub use encoding::{parse_encoding, Encoding};
pub use input::CsvInput;
pub use mapping::Mapping;
pub use records::{ReadError, RowMeta, MAX_RECORD_BYTES};
