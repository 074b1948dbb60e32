//! The records of the CSV text and the rows a spreadsheet shows them on (SPEC §5).
//!
//! A line ends with LF, CRLF or a lone CR, each line for itself, anywhere in the file. Outside
//! quotes a line end ends the record, and a line with nothing on it is a blank row; inside
//! quotes it is part of the cell. Broken quoting (a quote in a quoted cell that is not doubled,
//! text after a closing quote, a quote never closed) is reported with the record, never
//! repaired silently. A quote inside an unquoted cell (`5" screen`) is a character, as in
//! RFC 4180 readers and spreadsheets.

use std::io::{self, Read};

use csv::ByteRecord;

/// Longest record: past it the reading stops instead of filling memory (a quote never closed,
/// or not a CSV file).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// What a read gives beside the record's cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowMeta {
    /// The spreadsheet row (the first line of the file is row 1).
    pub row: u64,
    /// The first cell (0-based) whose quoting is broken.
    pub broken: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the record starting in row {row} is longer than 1 MiB")]
    TooLong { row: u64, quoted: bool },
}

/// Reads records from text that is UTF-8 (or bytes that should be).
pub struct Records<R> {
    text: R,
    buffer: Vec<u8>,
    /// The unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    delimiter: u8,
    /// The row of the next line.
    next_row: u64,
    scratch: Vec<u8>,
}

/// What one parse of the buffered bytes found.
enum Parsed {
    Record {
        consumed: usize,
        broken: Option<usize>,
    },
    Blank {
        consumed: usize,
    },
    /// The record goes on past the buffered bytes; `quoted`: inside a quoted cell.
    NeedMore {
        quoted: bool,
    },
}

const BUFFER_BYTES: usize = 256 * 1024;

impl<R: Read> Records<R> {
    /// `first_row`: the row of the text's first line.
    pub fn new(text: R, delimiter: u8, first_row: u64) -> Records<R> {
        Records {
            text,
            buffer: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            eof: false,
            delimiter,
            next_row: first_row,
            scratch: Vec::new(),
        }
    }

    /// The next record into `record` and where it is, or `None` at the end of the text.
    pub fn read(&mut self, record: &mut ByteRecord) -> Result<Option<RowMeta>, ReadError> {
        loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            let unread = &self.buffer[self.start..self.end];
            match parse(unread, self.eof, self.delimiter, record, &mut self.scratch) {
                Parsed::Blank { consumed } => {
                    self.start += consumed;
                    self.next_row += 1;
                }
                Parsed::Record { consumed, broken } => {
                    self.start += consumed;
                    let row = self.next_row;
                    self.next_row += 1;
                    return Ok(Some(RowMeta { row, broken }));
                }
                Parsed::NeedMore { quoted } => {
                    if self.end - self.start > MAX_RECORD_BYTES {
                        return Err(ReadError::TooLong { row: self.next_row, quoted });
                    }
                    self.fill()?;
                }
            }
        }
    }

    /// Read more text after the unread bytes, moving them to the buffer's start first, and
    /// growing the buffer when they fill it (a record never outgrows `MAX_RECORD_BYTES` much).
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        loop {
            match self.text.read(&mut self.buffer[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// Where the line end at `at` ends, or `None` when a CR is the last byte buffered (an LF may follow).
fn line_end(text: &[u8], at: usize, eof: bool) -> Option<usize> {
    if text[at] == b'\n' {
        return Some(at + 1);
    }
    match text.get(at + 1) {
        Some(b'\n') => Some(at + 2),
        Some(_) => Some(at + 1),
        None if eof => Some(at + 1),
        None => None,
    }
}

/// Parse one line (blank, or a record that may span lines in quoted cells) from the start of
/// `text`, which is not empty. The record's cells go to `record`, cleared first.
fn parse(text: &[u8], eof: bool, delimiter: u8, record: &mut ByteRecord, scratch: &mut Vec<u8>) -> Parsed {
    if matches!(text[0], b'\r' | b'\n') {
        return match line_end(text, 0, eof) {
            Some(consumed) => Parsed::Blank { consumed },
            None => Parsed::NeedMore { quoted: false },
        };
    }
    record.clear();
    let mut broken = None;
    let mut cell = 0;
    let mut at = 0;
    let record_end = |end: usize, broken| match line_end(text, end, eof) {
        Some(consumed) => Parsed::Record { consumed, broken },
        None => Parsed::NeedMore { quoted: false },
    };
    loop {
        if text.get(at) != Some(&b'"') {
            // Unquoted: the cell is the bytes up to the next delimiter or line end, as they stand.
            match memchr::memchr3(delimiter, b'\r', b'\n', &text[at..]) {
                Some(length) => {
                    let end = at + length;
                    record.push_field(&text[at..end]);
                    if text[end] == delimiter {
                        at = end + 1;
                        cell += 1;
                        continue;
                    }
                    return record_end(end, broken);
                }
                None if eof => {
                    record.push_field(&text[at..]);
                    return Parsed::Record { consumed: text.len(), broken };
                }
                None => return Parsed::NeedMore { quoted: false },
            }
        }
        // Quoted: up to the quote that is not doubled.
        scratch.clear();
        let mut from = at + 1;
        loop {
            let Some(length) = memchr::memchr(b'"', &text[from..]) else {
                if !eof {
                    return Parsed::NeedMore { quoted: true };
                }
                // Never closed: the rest of the file is this cell.
                scratch.extend_from_slice(&text[from..]);
                record.push_field(scratch);
                return Parsed::Record { consumed: text.len(), broken: broken.or(Some(cell)) };
            };
            scratch.extend_from_slice(&text[from..from + length]);
            let after = from + length + 1;
            match text.get(after) {
                None if !eof => return Parsed::NeedMore { quoted: true },
                None => {
                    record.push_field(scratch);
                    return Parsed::Record { consumed: text.len(), broken };
                }
                Some(b'"') => {
                    scratch.push(b'"');
                    from = after + 1;
                }
                Some(&byte) if byte == delimiter => {
                    record.push_field(scratch);
                    at = after + 1;
                    cell += 1;
                    break;
                }
                Some(b'\r' | b'\n') => {
                    record.push_field(scratch);
                    return record_end(after, broken);
                }
                Some(_) => {
                    // Text after the closing quote: the cell is kept whole for the message's
                    // sake, quote included, and the row is reported.
                    broken = broken.or(Some(cell));
                    scratch.push(b'"');
                    match memchr::memchr3(delimiter, b'\r', b'\n', &text[after..]) {
                        Some(length) => {
                            let end = after + length;
                            scratch.extend_from_slice(&text[after..end]);
                            record.push_field(scratch);
                            if text[end] == delimiter {
                                at = end + 1;
                                cell += 1;
                                break;
                            }
                            return record_end(end, broken);
                        }
                        None if eof => {
                            scratch.extend_from_slice(&text[after..]);
                            record.push_field(scratch);
                            return Parsed::Record { consumed: text.len(), broken };
                        }
                        None => return Parsed::NeedMore { quoted: false },
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives at most `step` bytes a read, as a decoder may.
    struct Trickle<'a> {
        text: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let length = self.text.len().min(self.step).min(buffer.len());
            buffer[..length].copy_from_slice(&self.text[..length]);
            self.text = &self.text[length..];
            Ok(length)
        }
    }

    fn read_all(text: &[u8], step: usize) -> Vec<(RowMeta, Vec<String>)> {
        let mut records = Records::new(Trickle { text, step }, b',', 1);
        let mut record = ByteRecord::new();
        let mut rows = Vec::new();
        while let Some(meta) = records.read(&mut record).unwrap() {
            rows.push((meta, record.iter().map(|cell| String::from_utf8_lossy(cell).into_owned()).collect()));
        }
        rows
    }

    fn rows(text: &str) -> Vec<(u64, Vec<String>)> {
        let whole = read_all(text.as_bytes(), usize::MAX);
        for step in [1, 2, 3, 7] {
            assert_eq!(read_all(text.as_bytes(), step), whole, "{text:?} read {step} bytes at a time");
        }
        whole.into_iter().map(|(meta, cells)| (meta.row, cells)).collect()
    }

    fn numbers(text: &str) -> Vec<u64> {
        rows(text).into_iter().map(|(row, _)| row).collect()
    }

    #[test]
    fn every_kind_of_line_end_ends_a_row_wherever_it_is() {
        assert_eq!(numbers("h\r\na\nb\rc\r\nd"), [1, 2, 3, 4, 5]);
        assert_eq!(numbers("h\r\n01,C2\n99,C3\n"), [1, 2, 3]);
        assert_eq!(numbers("h\n\r\n\r\n\ra\r\rb\n\nc"), [1, 5, 7, 9]);
        // CR then LF is one line end; LF then CR are two.
        assert_eq!(numbers("h\n\ra"), [1, 3]);
        assert_eq!(numbers("\n\nh\na"), [3, 4]);
    }

    #[test]
    fn line_ends_inside_quotes_belong_to_the_cell() {
        let read = rows("h,i\r\"a\nb\",\"c\r\nd\re\"\r\n\rx,y\n");
        assert_eq!(read[1], (2, vec!["a\nb".to_owned(), "c\r\nd\re".to_owned()]));
        assert_eq!(read[2].0, 4);
    }

    #[test]
    fn cells_are_read_as_rfc_4180_says() {
        let read = rows("a,\"b,c\",\"d\"\"e\",,\"\"\n5\" tv,x\"y,\n");
        assert_eq!(read[0].1, ["a", "b,c", "d\"e", "", ""]);
        assert_eq!(read[1].1, ["5\" tv", "x\"y", ""]);
        assert_eq!(rows("a")[0].1, ["a"]);
        assert_eq!(rows("\"a\"")[0].1, ["a"]);
    }

    #[test]
    fn broken_quoting_names_the_cell() {
        let broken =
            |text: &str| read_all(text.as_bytes(), usize::MAX).into_iter().map(|(m, _)| m.broken).collect::<Vec<_>>();
        assert_eq!(broken("1,\"Hey, I missed \" it\",3\n4,5,6"), [Some(1), None]);
        assert_eq!(broken("\"a\"b,c"), [Some(0)]);
        assert_eq!(broken("a,\"never closed\n,b\n"), [Some(1)]);
        assert_eq!(broken("a,\"ok\"\"\",\"fine\""), [None]);
    }

    #[test]
    fn a_record_over_the_limit_stops_the_reading() {
        let text = [b"h\nx,\"".to_vec(), vec![b'a'; MAX_RECORD_BYTES + 10]].concat();
        let mut records = Records::new(Trickle { text: &text, step: 4096 }, b',', 1);
        let mut record = ByteRecord::new();
        assert_eq!(records.read(&mut record).unwrap().unwrap().row, 1);
        assert!(matches!(records.read(&mut record), Err(ReadError::TooLong { row: 2, quoted: true })));
    }

    #[test]
    fn agrees_with_the_csv_crate_on_well_formed_text() {
        // The csv crate reads CR, LF and CRLF as line ends too, and skips blank lines.
        let cases = [
            "a,b\r\nc,d\ne,f\rg,h",
            "\"q,1\",\"q\"\"2\"\r\n\"multi\nline\",x\n\n\ny,z\n",
            ",,\n,\n\"\",\"\"\r",
            "é,東,😀\n\"é\r\n\",\"\"\"\"\n",
        ];
        for text in cases {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
            let expected: Vec<Vec<String>> = reader
                .byte_records()
                .map(|r| r.unwrap().iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect())
                .collect();
            let got: Vec<Vec<String>> = rows(text).into_iter().map(|(_, cells)| cells).collect();
            assert_eq!(got, expected, "{text:?}");
        }
    }
}
