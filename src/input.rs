//! Opening the client's CSV (SPEC §5): encoding, delimiter, header checks and spreadsheet row numbers.

mod delimiter;
mod encoding;
mod records;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use csv::ByteRecord;

use crate::field::{closest, Field};
use crate::mapping::Mapping;

pub use encoding::{parse_encoding, Encoding};
pub use records::{ReadError, RowMeta, MAX_RECORD_BYTES};

/// Which column holds what, from the header and the mapping.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The file's headers, trimmed.
    pub headers: Vec<String>,
    pub fields: [Option<usize>; Field::COUNT],
    pub custom: Vec<(String, usize)>,
    /// Cells past this index must be empty: trailing unnamed columns.
    pub width: usize,
}

impl Columns {
    pub fn header(&self, index: usize) -> &str {
        &self.headers[index]
    }

    /// The header of cell `index`, or `cell N` past the last header.
    pub fn cell_name(&self, index: usize) -> String {
        match self.headers.get(index) {
            Some(header) if !header.is_empty() => format!("column {header:?}"),
            _ => format!("cell {}", index + 1),
        }
    }

    /// The field (or `custom.<key>`) read from cell `index`, if any.
    pub fn field_name(&self, index: usize) -> Option<String> {
        if let Some(field) = Field::ALL.into_iter().find(|&field| self.of(field) == Some(index)) {
            return Some(field.name().to_owned());
        }
        self.custom.iter().find(|(_, column)| *column == index).map(|(key, _)| format!("custom.{key}"))
    }

    pub fn of(&self, field: Field) -> Option<usize> {
        self.fields[field.index()]
    }

    /// `, column "Header"` for a message about `field`, or nothing when no column holds it.
    pub fn label(&self, field: Field) -> String {
        self.of(field).map(|index| format!(", column {:?}", self.header(index))).unwrap_or_default()
    }
}

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

/// The headers the mapping reads: the mapped ones, the fields' own names, the custom ones.
pub fn expected_headers(mapping: &Mapping) -> Vec<String> {
    let mut expected: Vec<String> =
        Field::ALL.iter().map(|&field| mapping.header_for(field).unwrap_or(field.name()).to_owned()).collect();
    expected.extend(mapping.custom.iter().map(|(_, header)| header.clone()));
    expected
}

impl CsvInput {
    /// Open the file; without a mapping the delimiter is found by consistency alone.
    pub fn open(path: &Path, encoding: Encoding, delimiter: Option<u8>) -> Result<CsvInput> {
        CsvInput::open_for(path, encoding, delimiter, &[])
    }

    /// Open the file; `expected`: the headers the mapping reads, which tell the delimiter.
    pub fn open_for(path: &Path, encoding: Encoding, delimiter: Option<u8>, expected: &[String]) -> Result<CsvInput> {
        let cannot_read = || format!("cannot read {}", path.display());
        let mut file = File::open(path)
            .with_context(|| format!("cannot open {}; check the path given to --load-file", path.display()))?;
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
        let Some(meta) = input.next_row(&mut header)? else {
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next record, with its spreadsheet row number (the header is row 1, or later after blank lines).
    pub fn next_row(&mut self, record: &mut ByteRecord) -> Result<Option<RowMeta>> {
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

    /// Check the header against the mapping: fail before any row is handled.
    pub fn columns(&self, mapping: &Mapping) -> Result<(Columns, Option<String>)> {
        resolve_columns(&self.headers, mapping).map_err(|error| anyhow::anyhow!("{}: {error}", self.path.display()))
    }
}

/// The file's headers by their lower case, for look-ups in linear time however many there are.
struct HeaderIndex {
    first: std::collections::HashMap<String, usize>,
}

impl HeaderIndex {
    /// Index the headers; `Err` names the first header that appears twice (ignoring case).
    fn new(headers: &[String]) -> Result<HeaderIndex, String> {
        let mut first = std::collections::HashMap::with_capacity(headers.len());
        for (index, header) in headers.iter().enumerate() {
            if header.is_empty() {
                continue;
            }
            if let Some(&earlier) = first.get(&header.to_lowercase()) {
                return Err(format!(
                    "the header {header:?} appears twice (columns {} and {}); rename or remove one. The file's headers are: {}",
                    earlier + 1,
                    index + 1,
                    quoted_list(headers)
                ));
            }
            first.insert(header.to_lowercase(), index);
        }
        Ok(HeaderIndex { first })
    }

    fn find(&self, wanted: &str) -> Option<usize> {
        self.first.get(&wanted.trim().to_lowercase()).copied()
    }
}

fn missing_header(headers: &[String], wanted: &str, what: &str) -> String {
    let hint = closest(wanted, headers.iter().map(String::as_str))
        .map(|found| format!(" The closest is {found:?}: fix the mapping or rename the column."))
        .unwrap_or_default();
    format!(
        "the mapping reads {what} from the header {wanted:?}, which the file does not have.{hint} The file's headers are: {}",
        quoted_list(headers)
    )
}

/// The file's headers for a message: the first 50, and how many more.
fn quoted_list(headers: &[String]) -> String {
    crate::field::capped_list(headers.iter().filter(|h| !h.is_empty()).map(|h| format!("{h:?}")))
}

/// Map fields and custom keys to columns. `Ok` carries the warning about unmapped headers, if any.
pub fn resolve_columns(headers: &[String], mapping: &Mapping) -> Result<(Columns, Option<String>), String> {
    let index = HeaderIndex::new(headers)?;
    let mut columns = Columns {
        headers: headers.to_vec(),
        width: headers.iter().rposition(|h| !h.is_empty()).map_or(0, |last| last + 1),
        ..Columns::default()
    };
    let mut used = vec![false; headers.len()];
    for field in Field::ALL {
        let found = match mapping.header_for(field) {
            Some(header) => Some(index.find(header).ok_or_else(|| missing_header(headers, header, field.name()))?),
            None => index.find(field.name()),
        };
        if let Some(found) = found {
            used[found] = true;
        }
        columns.fields[field.index()] = found;
    }
    for (key, header) in &mapping.custom {
        let found = index.find(header).ok_or_else(|| missing_header(headers, header, &format!("custom.{key}")))?;
        used[found] = true;
        columns.custom.push((key.clone(), found));
    }

    let available = |field: Field| columns.of(field).is_some() || mapping.default_for(field).is_some();
    for field in [Field::EventName, Field::EventTime] {
        if !available(field) {
            return Err(format!(
                "no column holds {field}: map its header in the mapping's \"columns\" (or give it in \"defaults\"). The file's headers are: {}",
                quoted_list(headers)
            ));
        }
    }
    if !available(Field::AccountToken) && mapping.account_token.is_none() {
        return Err("no column holds account_token and the mapping has no \"account_token\"; add the client's token to the mapping".to_owned());
    }
    if !Field::IDENTIFIERS.into_iter().any(available) {
        return Err(format!(
            "no column holds an identifier (visitor_id, customer_id, email or phone), so no row could be attributed; map one in \"columns\". The file's headers are: {}",
            quoted_list(headers)
        ));
    }

    let unmapped: Vec<&String> =
        headers.iter().zip(&used).filter(|(h, used)| !h.is_empty() && !**used).map(|(h, _)| h).collect();
    let warning = (!unmapped.is_empty()).then(|| {
        format!(
            "file: {} column(s) that nothing maps, not sent: {}; map them in \"columns\" or \"custom\" if they matter",
            unmapped.len(),
            crate::field::capped_list(unmapped.iter().map(|h| format!("{h:?}")))
        )
    });
    Ok((columns, warning))
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
        while let Some(meta) = input.next_row(&mut record).unwrap() {
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
        assert_eq!(input.next_row(&mut record).unwrap().unwrap().row, 2);
        assert_eq!(&record[1], b"a,b");
    }

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn resolves_mapped_and_same_named_headers() {
        let mapping = Mapping::parse(r#"{"account_token": "ex4mpl3-t0k3n-0001", "columns": {"event_time": "Sale Date"}, "custom": {"store": "Store"}}"#).unwrap();
        let (columns, warning) =
            resolve_columns(&headers(&["sale date", "Event_Name", "email", "Store", "Notes", ""]), &mapping).unwrap();
        assert_eq!(columns.of(Field::EventTime), Some(0));
        assert_eq!(columns.of(Field::EventName), Some(1));
        assert_eq!(columns.of(Field::Email), Some(2));
        assert_eq!(columns.custom, vec![("store".to_owned(), 3)]);
        assert_eq!(columns.width, 5);
        assert!(warning.unwrap().contains("\"Notes\""));
    }

    #[test]
    fn missing_and_duplicate_headers_stop_the_run() {
        let mapping =
            Mapping::parse(r#"{"account_token": "ex4mpl3-t0k3n-0001", "columns": {"event_time": "Sale Date"}}"#)
                .unwrap();
        let error = resolve_columns(&headers(&["Sale Dat", "event_name", "email"]), &mapping).unwrap_err();
        assert!(error.contains("\"Sale Date\"") && error.contains("closest is \"Sale Dat\""), "{error}");
        let error = resolve_columns(&headers(&["Sale Date", "event_name", "Email", "EMAIL"]), &mapping).unwrap_err();
        assert!(error.contains("appears twice (columns 3 and 4)"), "{error}");
        let error = resolve_columns(&headers(&["Sale Date", "event_name"]), &mapping).unwrap_err();
        assert!(error.contains("no column holds an identifier"), "{error}");
    }
}
