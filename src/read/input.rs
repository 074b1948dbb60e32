//! The CSV source of rows (SPEC §5): encoding, delimiter, header line and spreadsheet row numbers.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use csv::ByteRecord;

use crate::read::delimiter;
use crate::read::encoding::{self, Encoding};
use crate::read::records::{self, ReadError, RowMeta};
use crate::read::source::{RowSource, SourceDescription, SourceRow};

/// The open CSV: its rows come with the numbers a spreadsheet shows.
pub struct CsvInput {
    path: PathBuf,
    records: records::Records<Box<dyn Read>>,
    pub headers: Vec<String>,
    pub file_warnings: Vec<String>,
    /// For the summary: the encoding and the delimiter read, and how they were found.
    pub encoding_read: String,
    pub delimiter_read: String,
}

/// How much of the text is read to find the delimiter.
const HEAD_BYTES: usize = 64 * 1024;

/// `;` as the summary shows a delimiter.
fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_owned(),
        byte => format!("{:?}", byte as char),
    }
}

impl CsvInput {
    /// Open the file; without a mapping the delimiter is found by consistency alone.
    pub fn open(path: &Path, encoding: Encoding, delimiter: Option<u8>) -> Result<CsvInput> {
        CsvInput::open_for(path, encoding, delimiter, &[])
    }

    /// Open the file; `expected`: the headers the mapping reads, which tell the delimiter.
    pub fn open_for(path: &Path, encoding: Encoding, delimiter: Option<u8>, expected: &[String]) -> Result<CsvInput> {
        let file = File::open(path)
            .with_context(|| format!("cannot open {}; check the path given to --load-file", path.display()))?;
        CsvInput::open_file_for(path, file, encoding, delimiter, expected)
    }

    /// As `open_for`, on a file already open; `path` is the name its messages show.
    pub fn open_file_for(
        path: &Path,
        mut file: File,
        encoding: Encoding,
        delimiter: Option<u8>,
        expected: &[String],
    ) -> Result<CsvInput> {
        let cannot_read = || format!("cannot read {}", path.display());
        file.seek(SeekFrom::Start(0)).with_context(cannot_read)?;
        let decision = encoding::decide(&file, path, encoding).with_context(cannot_read)?;
        file.seek(SeekFrom::Start(decision.skip)).with_context(cannot_read)?;
        let mut text: Box<dyn Read> = if decision.encoding == encoding_rs::UTF_8 {
            // Read as it stands: bytes that are not UTF-8 are refused by the rows holding them.
            Box::new(file)
        } else {
            Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(decision.encoding))
                    .bom_sniffing(false)
                    .build(file),
            )
        };

        let mut head = Vec::with_capacity(HEAD_BYTES);
        text.by_ref().take(HEAD_BYTES as u64).read_to_end(&mut head).with_context(cannot_read)?;
        let sep = delimiter::sep_line(&head);
        let (delimiter, delimiter_read) = match (delimiter, sep) {
            (Some(given), _) => (given, format!("{} (--delimiter)", delimiter_name(given))),
            (None, Some((found, _))) => (found, format!("{} (the file's sep= line)", delimiter_name(found))),
            (None, None) => {
                let found = delimiter::sniff(&head, expected);
                (found, delimiter_name(found))
            }
        };
        // Excel hides its sep= line: the header after it is row 1.
        let skipped = sep.map_or(0, |(_, length)| length);
        let text: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(text));
        let mut text = text;
        if skipped > 0 {
            io::copy(&mut text.by_ref().take(skipped as u64), &mut io::sink()).with_context(cannot_read)?;
        }

        let mut file_warnings = Vec::new();
        file_warnings.extend(decision.warning.clone());
        let mut input = CsvInput {
            path: path.to_owned(),
            records: records::Records::new(text, delimiter, 1),
            headers: Vec::new(),
            file_warnings,
            encoding_read: decision.described.clone(),
            delimiter_read,
        };
        let mut header = ByteRecord::new();
        let Some(meta) = input.next_record(&mut header)? else {
            bail!("{} is empty: it has no header row; export the client's sheet again", path.display());
        };
        if let Some(cell) = meta.broken {
            bail!(
                "{}: the header's quoting is broken in cell {} (row {}): a quote inside a quoted header is not doubled, or text follows a closing quote; fix the header",
                path.display(),
                cell + 1,
                meta.row
            );
        }
        input.headers = header
            .iter()
            .enumerate()
            .map(|(index, cell)| match std::str::from_utf8(cell) {
                Ok(text) if !text.contains('\u{FFFD}') => Ok(text.trim().to_owned()),
                _ => Err(anyhow::anyhow!(
                    "{}: the header in column {} is not valid {}; save the file as \"CSV UTF-8\" or pass --encoding",
                    path.display(),
                    index + 1,
                    decision.encoding.name()
                )),
            })
            .collect::<Result<_>>()?;
        Ok(input)
    }

    /// The next record, with its spreadsheet row number (the header is row 1, or later after blank lines).
    pub fn next_record(&mut self, record: &mut ByteRecord) -> Result<Option<RowMeta>> {
        self.records.read(record).map_err(|error| match error {
            ReadError::Io(error) => anyhow::Error::new(error).context(format!("cannot read {}", self.path.display())),
            ReadError::TooLong { row, quoted } => {
                let why = if quoted {
                    "a quote opened there is probably never closed: close it, or double a quote meant as a character (\"\")"
                } else {
                    "is this a CSV export? Its line ends may be missing"
                };
                anyhow::anyhow!(
                    "{}: the record starting in row {row} is longer than 1 MiB, so the reading stopped; {why}",
                    self.path.display()
                )
            }
        })
    }
}

impl RowSource for CsvInput {
    fn headers(&self) -> &[String] {
        &self.headers
    }

    fn next_row(&mut self, row: &mut SourceRow) -> Result<bool> {
        match self.next_record(&mut row.cells)? {
            Some(meta) => {
                row.meta = meta;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn file_warnings(&self) -> &[String] {
        &self.file_warnings
    }

    fn description(&self) -> SourceDescription {
        SourceDescription { encoding: self.encoding_read.clone(), delimiter: self.delimiter_read.clone(), sheet: None }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(content: &[u8]) -> Vec<(u64, String)> {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("rows.csv");
        std::fs::write(&path, content).unwrap();
        let mut input = CsvInput::open(&path, Encoding::Auto, None).unwrap();
        let mut record = ByteRecord::new();
        let mut rows = Vec::new();
        while let Some(meta) = input.next_record(&mut record).unwrap() {
            rows.push((meta.row, String::from_utf8_lossy(&record[0]).into_owned()));
        }
        rows
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_shows_them() {
        for terminator in ["\n", "\r\n", "\r"] {
            let content =
                ["h1,h2", "a,1", "\"multi", "line\",2", "", "b,3", "", "", "\"x\ny\nz\",4", "c,5"].join(terminator);
            let rows = rows_of(content.as_bytes());
            let numbers: Vec<u64> = rows.iter().map(|(row, _)| *row).collect();
            assert_eq!(numbers, [2, 3, 5, 8, 9], "terminator {terminator:?}");
            assert!(rows[1].1.starts_with("multi") && rows[3].1.starts_with('x'));
        }
    }

    #[test]
    fn a_sep_line_gives_the_delimiter_and_is_not_a_row() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("sep.csv");
        std::fs::write(&path, "\u{feff}sep=;\r\nDate;Note, long\r\n01/06/2024;a,b\r\n").unwrap();
        let mut input = CsvInput::open(&path, Encoding::Auto, None).unwrap();
        assert_eq!(input.headers, ["Date", "Note, long"]);
        assert_eq!(input.delimiter_read, "';' (the file's sep= line)");
        assert_eq!(input.encoding_read, "UTF-8 (byte-order mark)");
        let mut record = ByteRecord::new();
        assert_eq!(input.next_record(&mut record).unwrap().unwrap().row, 2);
        assert_eq!(&record[1], b"a,b");
    }
}
