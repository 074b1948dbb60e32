//! Opening the client's CSV (SPEC §5): encoding, delimiter, header checks and spreadsheet row numbers.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use csv::ByteRecord;

use crate::field::{closest, Field};
use crate::mapping::Mapping;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// UTF-8, or Windows-1252 (Excel's export) when the file is not valid UTF-8.
    Auto,
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "windows-1252")]
    Windows1252,
}

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
    reader: csv::Reader<Box<dyn Read>>,
    /// The reader's line count after the last record, and that record's row.
    last_line: u64,
    last_row: u64,
    pub headers: Vec<String>,
    pub file_warnings: Vec<String>,
}

impl CsvInput {
    pub fn open(path: &Path, encoding: Encoding, delimiter: Option<u8>) -> Result<CsvInput> {
        let mut file = File::open(path)
            .with_context(|| format!("cannot open {}; check the path given to --load-file", path.display()))?;
        let mut file_warnings = Vec::new();
        let mut bom = [0u8; 3];
        let bom_len = read_up_to(&file, &mut bom, 0).with_context(|| format!("cannot read {}", path.display()))?;
        let bom = &bom[..bom_len];

        let decoded: Box<dyn Read> = if bom.starts_with(&[0xFF, 0xFE]) || bom.starts_with(&[0xFE, 0xFF]) {
            // A UTF-16 byte-order mark means UTF-16, whatever --encoding says.
            Box::new(encoding_rs_io::DecodeReaderBytesBuilder::new().bom_sniffing(true).build(file))
        } else if bom.starts_with(&[0xEF, 0xBB, 0xBF]) || encoding == Encoding::Utf8 {
            file.seek(SeekFrom::Start(if bom.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 }))?;
            Box::new(file)
        } else {
            let windows_1252 = match encoding {
                Encoding::Windows1252 => true,
                _ => match first_invalid_utf8(&file).with_context(|| format!("cannot read {}", path.display()))? {
                    Some(line) => {
                        file_warnings.push(format!(
                            "file: not valid UTF-8 (first at line {line}); read as Windows-1252, Excel's export. \
                             If accented letters look wrong, save the file as \"CSV UTF-8\" or pass --encoding"
                        ));
                        true
                    }
                    None => false,
                },
            };
            file.seek(SeekFrom::Start(0))?;
            if windows_1252 {
                Box::new(
                    encoding_rs_io::DecodeReaderBytesBuilder::new()
                        .encoding(Some(encoding_rs::WINDOWS_1252))
                        .bom_override(true)
                        .build(file),
                )
            } else {
                Box::new(file)
            }
        };

        // The start of the text, read whole (a decoder gives a few bytes a read), tells the
        // delimiter and the line ends; it is then read again ahead of the rest.
        let mut decoded = decoded;
        let head = read_head(&mut decoded).with_context(|| format!("cannot read {}", path.display()))?;
        let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&head));
        // Old Mac exports end lines with a lone CR. csv reads those as line ends, but counts LFs
        // only, so the blank rows of such a file would go uncounted: its line ends are read as LFs.
        let lone_cr = head.contains(&b'\r') && !head.contains(&b'\n');
        let text = io::Cursor::new(head).chain(decoded);
        let text: Box<dyn Read> = if lone_cr { Box::new(LineEndsAsLf::new(text, delimiter)) } else { Box::new(text) };
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(text);

        let mut input =
            CsvInput { path: path.to_owned(), reader, last_line: 1, last_row: 0, headers: Vec::new(), file_warnings };
        let mut header = ByteRecord::new();
        if input.next_row(&mut header)?.is_none() {
            bail!("{} is empty: it has no header row; export the client's sheet again", path.display());
        }
        input.headers = header
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                std::str::from_utf8(cell).map(|text| text.trim().to_owned()).map_err(|_| {
                    anyhow::anyhow!(
                        "{}: the header in column {} is not valid UTF-8; save the file as \"CSV UTF-8\" or pass --encoding windows-1252",
                        path.display(),
                        index + 1
                    )
                })
            })
            .collect::<Result<_>>()?;
        Ok(input)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next record and its spreadsheet row number (the header is row 1).
    pub fn next_row(&mut self, record: &mut ByteRecord) -> Result<Option<u64>> {
        let more =
            self.reader.read_byte_record(record).with_context(|| format!("cannot read {}", self.path.display()))?;
        if !more {
            return Ok(None);
        }
        // csv skips blank lines without a record; they still are rows in a spreadsheet. The newlines
        // read for this record are the blank lines before it, its quoted newlines, and one
        // terminator (its own with LF, the previous record's with CRLF).
        let line = self.reader.position().line();
        let read = line.saturating_sub(self.last_line);
        // One newline read (nearly every row): no blank line before it, nothing to count.
        let blank = if self.last_row == 0 || read <= 1 {
            0
        } else {
            let quoted = record.as_slice().iter().filter(|&&byte| byte == b'\n').count() as u64;
            read.saturating_sub(quoted + 1)
        };
        let row = self.last_row + 1 + blank;
        self.last_line = line;
        self.last_row = row;
        Ok(Some(row))
    }

    /// Check the header against the mapping: fail before any row is handled.
    pub fn columns(&self, mapping: &Mapping) -> Result<(Columns, Option<String>)> {
        resolve_columns(&self.headers, mapping).map_err(|error| anyhow::anyhow!("{}: {error}", self.path.display()))
    }
}

/// How much of the text is read to sniff the delimiter and the line ends.
const HEAD_BYTES: usize = 64 * 1024;

/// Up to `HEAD_BYTES` of `text`, and one byte more when they end with a CR, so that a CRLF is
/// never cut in two.
fn read_head(text: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES + 1);
    text.by_ref().take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    if head.last() == Some(&b'\r') {
        text.by_ref().take(1).read_to_end(&mut head)?;
    }
    Ok(head)
}

/// Reads the line ends of a file whose lines end with a lone CR as LFs; a CR inside a quoted
/// cell stays as it is, so the cell is sent unchanged. Quotes are followed as csv reads them: a
/// quote opens a quoted cell only at the cell's start, and `""` inside one is a quote. (0x0D is
/// never part of a longer character in UTF-8, nor in Windows-1252.)
struct LineEndsAsLf<R> {
    text: R,
    delimiter: u8,
    state: Quoting,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// Outside quotes; `true` at a cell's start.
    Unquoted(bool),
    Quoted,
    /// A quote inside a quoted cell: its end, or the first half of `""`.
    QuoteInQuoted,
}

impl<R> LineEndsAsLf<R> {
    fn new(text: R, delimiter: u8) -> LineEndsAsLf<R> {
        LineEndsAsLf { text, delimiter, state: Quoting::Unquoted(true) }
    }
}

impl<R: Read> Read for LineEndsAsLf<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.text.read(buffer)?;
        for byte in &mut buffer[..read] {
            let ends_cell = *byte == self.delimiter || *byte == b'\r' || *byte == b'\n';
            self.state = match (self.state, *byte) {
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) => Quoting::Quoted,
                (Quoting::QuoteInQuoted, b'"') | (Quoting::Unquoted(true), b'"') => Quoting::Quoted,
                _ => Quoting::Unquoted(ends_cell),
            };
            if *byte == b'\r' && self.state != Quoting::Quoted {
                *byte = b'\n';
            }
        }
        Ok(read)
    }
}

/// Fill `buffer` from `offset`, short only at the end of the file.
fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64)? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

/// What `std::str::from_utf8` says of `bytes`, found with vector instructions when they are valid
/// (nearly always), which is several times faster.
fn utf8_error(bytes: &[u8]) -> Option<std::str::Utf8Error> {
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return None;
    }
    std::str::from_utf8(bytes).err()
}

/// Files from this size are checked in parts on all cores: reading a file from the page cache
/// costs about as much as checking it, so one core alone would hold the start of a run back.
const PARALLEL_CHECK_BYTES: u64 = 8 << 20;

/// The line of the first byte that is not UTF-8, or `None` when the whole file is UTF-8.
fn first_invalid_utf8(file: &File) -> io::Result<Option<u64>> {
    let size = file.metadata()?.len();
    let parts = if size < PARALLEL_CHECK_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
    };
    first_invalid_utf8_in_parts(file, size, parts)
}

fn first_invalid_utf8_in_parts(file: &File, size: u64, parts: usize) -> io::Result<Option<u64>> {
    // Each part starts where a character does (past any continuation bytes at an even split),
    // so a character is checked whole by the part holding its first byte, and the file is
    // UTF-8 exactly when every part is.
    let mut starts = vec![0u64];
    for part in 1..parts as u64 {
        let mut start = size * part / parts as u64;
        let mut head = [0u8; 4];
        let read = read_up_to(file, &mut head, start)?;
        start += head[..read].iter().take_while(|&&byte| byte & 0xC0 == 0x80).count() as u64;
        // Within the size first seen, even if the file grows meanwhile (what it grows by is not
        // checked here; the rows reading it still refuse bytes that are not UTF-8).
        starts.push(start.min(size).max(*starts.last().expect("one start at least")));
    }
    let mut ends: Vec<u64> = starts[1..].to_vec();
    ends.push(size);
    let firsts = std::thread::scope(|scope| {
        let checks: Vec<_> = starts
            .iter()
            .zip(&ends)
            .map(|(&start, &end)| scope.spawn(move || first_invalid_byte(file, start, end)))
            .collect();
        checks
            .into_iter()
            .map(|check| check.join().expect("the UTF-8 check does not panic"))
            .collect::<io::Result<Vec<_>>>()
    })?;
    let Some(bad) = firsts.into_iter().flatten().min() else { return Ok(None) };

    // Only for the message: the line of the bad byte, counted on a second read of what precedes it.
    let mut buffer = vec![0u8; 1 << 20];
    // A line ends with LF, CRLF or a lone CR (old Mac exports).
    let mut lines = 1u64;
    let mut offset = 0u64;
    let mut after_cr = false;
    while offset < bad {
        let want = (bad - offset).min(buffer.len() as u64) as usize;
        let read = file.read_at(&mut buffer[..want], offset)?;
        if read == 0 {
            break;
        }
        for &byte in &buffer[..read] {
            lines += u64::from(byte == b'\n' || after_cr);
            after_cr = byte == b'\r';
        }
        offset += read as u64;
    }
    Ok(Some(lines + u64::from(after_cr)))
}

/// The offset of the first byte of `start..end` that is not UTF-8, reading from `start`, which
/// is where a character starts.
fn first_invalid_byte(file: &File, start: u64, end: u64) -> io::Result<Option<u64>> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut carried = 0;
    // The file's offset of `buffer[0]`.
    let mut offset = start;
    loop {
        let want = (buffer.len() - carried).min((end - offset - carried as u64) as usize);
        let read =
            if want == 0 { 0 } else { file.read_at(&mut buffer[carried..carried + want], offset + carried as u64)? };
        let filled = carried + read;
        if filled == 0 {
            return Ok(None);
        }
        match utf8_error(&buffer[..filled]) {
            None => {
                offset += filled as u64;
                carried = 0;
            }
            Some(error) if error.error_len().is_none() && read > 0 => {
                // A character cut at the end of the chunk: carry it to the next read.
                let valid = error.valid_up_to();
                buffer.copy_within(valid..filled, 0);
                offset += valid as u64;
                carried = filled - valid;
            }
            Some(error) => return Ok(Some(offset + error.valid_up_to() as u64)),
        }
    }
}

/// The one of `,` `;` tab `|` that splits the header line into the most fields (`,` on a tie).
pub fn sniff_delimiter(start: &[u8]) -> u8 {
    // A lone CR ends a line too (old Mac exports): without it the whole file would be one line.
    let line = start.split(|&b| b == b'\n' || b == b'\r').next().unwrap_or(&[]);
    let mut best = (b',', 0usize);
    for candidate in [b',', b';', b'\t', b'|'] {
        let mut in_quotes = false;
        let mut count = 0;
        for &byte in line {
            match byte {
                b'"' => in_quotes = !in_quotes,
                byte if byte == candidate && !in_quotes => count += 1,
                _ => {}
            }
        }
        if count > best.1 {
            best = (candidate, count);
        }
    }
    best.0
}

fn find_header(headers: &[String], wanted: &str) -> Option<usize> {
    let wanted = wanted.trim();
    headers
        .iter()
        .position(|header| header.eq_ignore_ascii_case(wanted) || header.to_lowercase() == wanted.to_lowercase())
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

fn quoted_list(headers: &[String]) -> String {
    headers.iter().filter(|h| !h.is_empty()).map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
}

/// Map fields and custom keys to columns. `Ok` carries the warning about unmapped headers, if any.
pub fn resolve_columns(headers: &[String], mapping: &Mapping) -> Result<(Columns, Option<String>), String> {
    for (index, header) in headers.iter().enumerate() {
        if header.is_empty() {
            continue;
        }
        if let Some(first) = headers[..index].iter().position(|other| other.to_lowercase() == header.to_lowercase()) {
            return Err(format!(
                "the header {header:?} appears twice (columns {} and {}); rename or remove one. The file's headers are: {}",
                first + 1,
                index + 1,
                quoted_list(headers)
            ));
        }
    }
    let mut columns = Columns {
        headers: headers.to_vec(),
        width: headers.iter().rposition(|h| !h.is_empty()).map_or(0, |last| last + 1),
        ..Columns::default()
    };
    let mut used = vec![false; headers.len()];
    for field in Field::ALL {
        let index = match mapping.header_for(field) {
            Some(header) => {
                Some(find_header(headers, header).ok_or_else(|| missing_header(headers, header, field.name()))?)
            }
            None => find_header(headers, field.name()),
        };
        if let Some(index) = index {
            used[index] = true;
        }
        columns.fields[field.index()] = index;
    }
    for (key, header) in &mapping.custom {
        let index =
            find_header(headers, header).ok_or_else(|| missing_header(headers, header, &format!("custom.{key}")))?;
        used[index] = true;
        columns.custom.push((key.clone(), index));
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
            unmapped.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
        )
    });
    Ok((columns, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives one byte a read, as a decoder may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else { return Ok(0) };
            buffer[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn the_head_is_read_whole_and_never_cuts_a_crlf() {
        for line in [HEAD_BYTES - 2, HEAD_BYTES - 1, HEAD_BYTES] {
            let text = [vec![b'a'; line], b"\r\nb\r\n".to_vec()].concat();
            let mut reader = Trickle(&text);
            let head = read_head(&mut reader).unwrap();
            assert!(head.len() >= HEAD_BYTES.min(text.len()), "{line}: {} bytes", head.len());
            assert_ne!(head.last(), Some(&b'\r'), "{line}: ends between CR and LF");
            // Nothing is lost or repeated: the head and the rest are the text.
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            assert_eq!([head, rest].concat(), text);
        }
    }

    #[test]
    fn lone_cr_line_ends_become_lf_outside_quotes_only() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"a,b\rc,d\r", b"a,b\nc,d\n"),
            (b"a,\"x\ry\"\r", b"a,\"x\ry\"\n"),
            // An escaped quote does not end the quoted cell.
            (b"\"x\"\"\ry\",b\r", b"\"x\"\"\ry\",b\n"),
            // A quote inside an unquoted cell is a character, as csv reads it.
            (b"5\" tv,b\rc\r", b"5\" tv,b\nc\n"),
            // Text after a closing quote is outside quotes.
            (b"\"x\"y\r\"z\r\"\r", b"\"x\"y\n\"z\r\"\n"),
        ];
        for (text, expected) in cases {
            let mut read = Vec::new();
            LineEndsAsLf::new(Trickle(text), b',').read_to_end(&mut read).unwrap();
            assert_eq!(read, expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    fn rows_of(content: &[u8]) -> Vec<(u64, String)> {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("rows.csv");
        std::fs::write(&path, content).unwrap();
        let mut input = CsvInput::open(&path, Encoding::Auto, None).unwrap();
        let mut record = ByteRecord::new();
        let mut rows = Vec::new();
        while let Some(row) = input.next_row(&mut record).unwrap() {
            rows.push((row, String::from_utf8_lossy(&record[0]).into_owned()));
        }
        rows
    }

    #[test]
    fn finds_the_line_of_the_first_invalid_byte_across_chunks() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("big.csv");
        // "é" (two bytes) straddles the 1 MiB chunk boundary: still valid UTF-8.
        let mut content = vec![b'a'; (1 << 20) - 1];
        content[10] = b'\n';
        content.extend_from_slice("é\nline three\n".as_bytes());
        std::fs::write(&path, &content).unwrap();
        assert_eq!(first_invalid_utf8(&File::open(&path).unwrap()).unwrap(), None);
        content.extend_from_slice(b"caf\xe9\n");
        std::fs::write(&path, &content).unwrap();
        assert_eq!(first_invalid_utf8(&File::open(&path).unwrap()).unwrap(), Some(4));
    }

    #[test]
    fn the_check_in_parts_agrees_with_one_pass() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("parts.csv");
        // Characters of 1 to 4 bytes, so that even splits fall inside characters too.
        let line = "ab,é,€,𝄞,\n".repeat(7);
        let valid: Vec<u8> = line.repeat(40).into_bytes();
        let mut cases = vec![valid.clone()];
        for bad_at in [0, 1, 37, valid.len() / 2, valid.len() / 2 + 1, valid.len() - 2, valid.len() - 1] {
            let mut bytes = valid.clone();
            bytes[bad_at] = 0xFF;
            cases.push(bytes);
        }
        let mut cut = valid.clone();
        cut.extend_from_slice(&"€".as_bytes()[..2]);
        cases.push(cut);
        let mut stray = valid.clone();
        stray.insert(valid.len() / 3, 0x80);
        cases.push(stray);
        for bytes in cases {
            std::fs::write(&path, &bytes).unwrap();
            let expected = std::str::from_utf8(&bytes)
                .err()
                .map(|error| 1 + bytes[..error.valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64);
            let file = File::open(&path).unwrap();
            for parts in 1..=7 {
                assert_eq!(
                    first_invalid_utf8_in_parts(&file, bytes.len() as u64, parts).unwrap(),
                    expected,
                    "{parts} parts"
                );
            }
        }
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_shows_them() {
        for terminator in ["\n", "\r\n"] {
            let content =
                ["h1,h2", "a,1", "\"multi", "line\",2", "", "b,3", "", "", "\"x\ny\nz\",4", "c,5"].join(terminator);
            let rows = rows_of(content.as_bytes());
            let numbers: Vec<u64> = rows.iter().map(|(row, _)| *row).collect();
            assert_eq!(numbers, [2, 3, 5, 8, 9], "terminator {terminator:?}");
            assert!(rows[1].1.starts_with("multi") && rows[3].1.starts_with('x'));
        }
    }

    #[test]
    fn sniffs_the_delimiter_from_the_header_line() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1,2;3"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter(b"a|b"), b'|');
        assert_eq!(sniff_delimiter(b"\"a;x\",b,c"), b',');
        assert_eq!(sniff_delimiter(b"single"), b',');
        assert_eq!(sniff_delimiter(b"a;b\r1,2,3,4,5\r"), b';');
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
