//! `.xlsx` and `.xlsm` workbooks, read by this crate rather than by calamine's cell reader
//! (SPEC §11.1). calamine takes every cell through quick-xml's events, about half a microsecond
//! a cell, which made a workbook six times slower to check than the same rows as CSV. Here the
//! small parts (relationships, the workbook, the styles) still go through quick-xml, and the two
//! big ones (the sheet and its shared strings) through a scanner that finds a whole row (or a
//! whole shared string) in a buffer and reads its cells there, with no allocation a cell.
//!
//! The values come out as calamine's `DataRef`, as its cell reader gives them, so the rest of
//! the workbook reading is the same for every format; `tests/xlsx_reader.rs` reads the same
//! workbooks with both readers and requires the same cells.
//!
//! Limits, against a hostile or broken file: cell references inside Excel's grid (1,048,576
//! rows, 16,384 columns), a row's XML at most 64 MiB, the shared strings at most 1 GiB of text,
//! the small parts at most 64 MiB each.

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;

use calamine::{CellErrorType, DataRef, ExcelDateTime, ExcelDateTimeType, Sheet, SheetType, SheetVisible};
use memchr::memmem;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

/// Excel's last row and column (1-based).
const LAST_ROW: u32 = 1_048_576;
const LAST_COLUMN: u32 = 16_384;
const MAX_ROW_XML: usize = 64 << 20;
const MAX_SHARED_TEXT: usize = 1 << 30;
const MAX_SMALL_PART: u64 = 64 << 20;
/// Bytes read from a part at once.
const READ_AT_ONCE: usize = 256 << 10;

/// An Office Open XML workbook, opened: its sheets and where their parts are.
pub struct XlsxBook {
    zip: ZipArchive<BufReader<File>>,
    /// Each sheet as calamine describes it, with its part's name in the archive.
    sheets: Vec<(Sheet, String)>,
    /// The folder of the workbook part (`xl/`), where the shared strings and styles are.
    base: String,
    is_1904: bool,
    /// The workbook holds macros (a `.xlsm`).
    pub macros: bool,
}

/// What every sheet's cells are read with: the shared strings and which styles show dates.
pub struct CellContext {
    strings: SharedStrings,
    formats: Vec<Format>,
    is_1904: bool,
}

/// What a cell style's number format makes of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Other,
    DateTime,
    TimeDelta,
}

/// The shared strings, one text and where each string ends in it: 4 bytes a string besides its
/// text, where a `Vec<String>` takes 24 and an allocation.
#[derive(Default)]
struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before] as usize);
        Some(&self.text[start..end])
    }

    fn push(&mut self, string: &str) -> Result<(), String> {
        if self.text.len() + string.len() > MAX_SHARED_TEXT {
            return Err(format!(
                "its shared strings hold more than {} MiB of text, more than this tool reads from a workbook",
                MAX_SHARED_TEXT >> 20
            ));
        }
        self.text.push_str(string);
        self.ends.push(self.text.len() as u32);
        Ok(())
    }
}

/// One relationship of a `.rels` part.
struct Relationship {
    id: String,
    kind: String,
    target: String,
}

impl XlsxBook {
    /// Open `file` as an Office Open XML workbook; `None` when it is a ZIP archive holding no
    /// such workbook (an OpenDocument or binary workbook, a Word document, …).
    pub fn open(file: File) -> Result<Option<XlsxBook>, String> {
        let Ok(mut zip) = ZipArchive::new(BufReader::new(file)) else { return Ok(None) };
        let Some(root) = read_small(&mut zip, "_rels/.rels")? else { return Ok(None) };
        let document = relationships(&root)?
            .into_iter()
            .find(|relationship| relationship.kind.ends_with("/relationships/officeDocument"));
        let Some(document) = document else { return Ok(None) };
        let target = document.target.trim_start_matches('/');
        if !target.to_ascii_lowercase().ends_with(".xml") {
            return Ok(None);
        }
        let (base, name) = target.rsplit_once('/').map_or(("", target), |(folder, name)| (folder, name));
        let base = if base.is_empty() { String::new() } else { format!("{base}/") };
        let Some(workbook) = read_small(&mut zip, target)? else { return Ok(None) };
        let links = match read_small(&mut zip, &format!("{base}_rels/{name}.rels"))? {
            Some(links) => relationships(&links)?,
            None => Vec::new(),
        };
        let Some((sheets, is_1904)) = read_workbook(&workbook, &links, &base)? else { return Ok(None) };
        let macros = zip.file_names_raw().any(|name| name.ends_with(b"vbaProject.bin"));
        Ok(Some(XlsxBook { zip, sheets, base, is_1904, macros }))
    }

    pub fn sheets(&self) -> Vec<Sheet> {
        self.sheets.iter().map(|(sheet, _)| sheet.clone()).collect()
    }

    /// Read the shared strings and the styles.
    pub fn context(&mut self) -> Result<CellContext, String> {
        let formats = match read_small(&mut self.zip, &format!("{}styles.xml", self.base))? {
            Some(styles) => read_formats(&styles)?,
            None => Vec::new(),
        };
        let mut strings = SharedStrings::default();
        if let Some(index) = entry_index(&self.zip, &format!("{}sharedStrings.xml", self.base)) {
            let part =
                self.zip.by_index(index).map_err(|error| format!("its shared strings cannot be read ({error})"))?;
            read_shared_strings(Part::new(part), &mut strings)?;
        }
        Ok(CellContext { strings, formats, is_1904: self.is_1904 })
    }

    /// Hand each cell of sheet `name` to `each` in the order of the file, as (row, column)
    /// (0-based), its value and whether it holds a formula, until `each` breaks.
    pub fn read_cells(
        &mut self,
        name: &str,
        context: &CellContext,
        mut each: impl FnMut(u32, u32, &DataRef, bool) -> ControlFlow<()>,
    ) -> Result<(), String> {
        let path = self.sheets.iter().find(|(sheet, _)| sheet.name == name).map(|(_, path)| path.clone());
        let path = path.ok_or_else(|| format!("it has no sheet {name:?}"))?;
        let index =
            entry_index(&self.zip, &path).ok_or_else(|| format!("the part of sheet {name:?} ({path}) is missing"))?;
        let part = self.zip.by_index(index).map_err(|error| format!("sheet {name:?} cannot be read ({error})"))?;
        SheetReader { context, scratch: String::new(), run: String::new(), row: 0, column: 0 }
            .read(Part::new(part), &mut each)
    }
}

/// A part of the archive read in blocks, with a window of the bytes not consumed yet.
struct Part<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    ended: bool,
}

impl<R: Read> Part<R> {
    fn new(reader: R) -> Part<R> {
        Part { reader, buffer: Vec::new(), start: 0, end: 0, ended: false }
    }

    fn window(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    fn consume(&mut self, bytes: usize) {
        self.start += bytes;
    }

    /// Read more of the part into the window; false at its end.
    fn more(&mut self) -> Result<bool, String> {
        if self.ended {
            return Ok(false);
        }
        if self.end - self.start > MAX_ROW_XML {
            return Err(format!("one row (or one string) of it is over {} MiB of XML", MAX_ROW_XML >> 20));
        }
        if self.start > 0 && self.buffer.len() - self.end < READ_AT_ONCE {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buffer.len() - self.end < READ_AT_ONCE {
            let grown = (self.buffer.len() * 2).max(self.end + READ_AT_ONCE);
            self.buffer.resize(grown, 0);
        }
        let read = loop {
            match self.reader.read(&mut self.buffer[self.end..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(format!("it cannot be unpacked ({error})")),
            }
        };
        self.end += read;
        self.ended = read == 0;
        Ok(read > 0)
    }

    /// Where `needle` starts in the window, at `from` or after, reading on as needed.
    fn find(&mut self, needle: &memmem::Finder, from: usize) -> Result<Option<usize>, String> {
        let mut searched = from;
        loop {
            if let Some(found) = needle.find(&self.window()[searched.min(self.window().len())..]) {
                return Ok(Some(searched + found));
            }
            searched = searched.max(self.window().len().saturating_sub(needle.needle().len() - 1));
            if !self.more()? {
                return Ok(None);
            }
        }
    }

    /// Make the window hold at least `bytes` bytes, if the part has them.
    fn ensure(&mut self, bytes: usize) -> Result<(), String> {
        while self.window().len() < bytes && self.more()? {}
        Ok(())
    }
}

/// A tag of the XML, found in a slice.
struct Tag<'a> {
    /// The name without its namespace prefix.
    local: &'a [u8],
    attributes: &'a [u8],
    closing: bool,
    /// `<name/>`
    empty: bool,
    /// A comment, processing instruction or declaration: no element.
    other: bool,
    /// A CDATA section's text.
    cdata: Option<&'a [u8]>,
    /// The index just past the tag.
    end: usize,
}

const BROKEN: &str = "its XML is broken";
const NOT_UTF8: &str = "its XML is not UTF-8 text";

/// Where `byte` is first in a short `haystack`.
fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    haystack.iter().position(|found| *found == byte)
}

/// The tag starting at `at` (a `<`) of `xml`; `None` when it does not end in `xml`.
fn tag_at(xml: &[u8], at: usize) -> Option<Tag<'_>> {
    let rest = &xml[at..];
    let plain =
        |end: usize| Tag { local: b"", attributes: b"", closing: false, empty: false, other: true, cdata: None, end };
    let special = matches!(rest.get(1), Some(b'!' | b'?'));
    if special && rest.starts_with(b"<!--") {
        return memmem::find(&rest[4..], b"-->").map(|found| plain(at + 4 + found + 3));
    }
    if special && rest.starts_with(b"<![CDATA[") {
        let found = memmem::find(&rest[9..], b"]]>")?;
        return Some(Tag { cdata: Some(&rest[9..9 + found]), ..plain(at + 9 + found + 3) });
    }
    if special {
        return memchr::memchr(b'>', rest).map(|found| plain(at + found + 1));
    }
    let closing = rest.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 };
    let name_length =
        rest[name_start..].iter().position(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'))?;
    let name = &rest[name_start..name_start + name_length];
    // The tag's end, past any quoted attribute value (which may hold a `>`).
    // (Loops over bytes: a tag is a few bytes long, too few for memchr to pay.)
    let mut index = name_start + name_length;
    let close = loop {
        match *rest.get(index)? {
            b'>' => break index,
            quote @ (b'"' | b'\'') => {
                index += 1 + find_byte(&rest[index + 1..], quote)? + 1;
            }
            _ => index += 1,
        }
    };
    let empty = close > 0 && rest[close - 1] == b'/';
    let attributes_end = if empty { close - 1 } else { close };
    let local = name.iter().rposition(|byte| *byte == b':').map_or(name, |colon| &name[colon + 1..]);
    Some(Tag {
        local,
        attributes: &rest[(name_start + name_length).min(attributes_end)..attributes_end],
        closing,
        empty,
        other: false,
        cdata: None,
        end: at + close + 1,
    })
}

/// The raw value of attribute `key` (its full name, prefix included).
fn attribute<'a>(attributes: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut found = None;
    each_attribute(attributes, |name, value| {
        if name == key && found.is_none() {
            found = Some(value);
        }
    });
    found
}

/// Append XML text to `out`: entities decoded, line ends made `\n` (as XML 1.0 reads them).
fn decode_text(raw: &str, out: &mut String) -> Result<(), String> {
    let mut rest = raw;
    while let Some(at) = rest.bytes().position(|byte| byte == b'&' || byte == b'\r') {
        out.push_str(&rest[..at]);
        if rest.as_bytes()[at] == b'\r' {
            out.push('\n');
            rest = &rest[at + if rest.as_bytes().get(at + 1) == Some(&b'\n') { 2 } else { 1 }..];
            continue;
        }
        let semicolon = rest[at..].find(';').ok_or_else(|| BROKEN.to_owned())?;
        let entity = &rest[at + 1..at + semicolon];
        let character = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|decimal| decimal.parse().ok())
                };
                number
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("its XML has an unknown character reference &{entity};"))?
            }
        };
        out.push(character);
        rest = &rest[at + semicolon + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// Append `text` to `out` with Excel's `_xHHHH_` escapes (a UTF-16 unit each) decoded.
fn unescape_excel(text: &str, out: &mut String) {
    fn unit(bytes: &[u8], at: usize) -> Option<u16> {
        let escape = bytes.get(at..at + 7)?;
        if !escape.starts_with(b"_x") || escape[6] != b'_' || !escape[2..6].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&escape[2..6]).ok()?, 16).ok()
    }
    let bytes = text.as_bytes();
    let (mut copied, mut from) = (0, 0);
    while let Some(found) = find_byte(&bytes[from..], b'_') {
        let at = from + found;
        let Some(first) = unit(bytes, at) else {
            from = at + 1;
            continue;
        };
        out.push_str(&text[copied..at]);
        let mut next = at + 7;
        let character = match first {
            0xD800..=0xDBFF => match unit(bytes, next) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    next += 7;
                    char::from_u32(0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(low) - 0xDC00))
                }
                _ => None,
            },
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(u32::from(first)),
        };
        out.push(character.unwrap_or(char::REPLACEMENT_CHARACTER));
        copied = next;
        from = next;
    }
    out.push_str(&text[copied..]);
}

/// The text of a rich-text container (`<si>`, `<is>`) whose content starts at `from`, into
/// `out`: its `<t>` runs, phonetic guides left out; the index past its closing tag.
fn rich_text(text: &str, from: usize, container: &[u8], out: &mut String, run: &mut String) -> Result<usize, String> {
    let xml = text.as_bytes();
    out.clear();
    let mut phonetic = false;
    let mut at = from;
    loop {
        let lt = at + find_byte(&xml[at..], b'<').ok_or_else(|| BROKEN.to_owned())?;
        let tag = tag_at(xml, lt).ok_or_else(|| BROKEN.to_owned())?;
        at = tag.end;
        if tag.other {
            continue;
        }
        match (tag.closing, tag.local) {
            (true, local) if local == container => return Ok(at),
            (false, b"rPh") if !tag.empty => phonetic = true,
            (true, b"rPh") => phonetic = false,
            (false, b"t") if !phonetic && !tag.empty => {
                let preserve = attribute(tag.attributes, b"xml:space") == Some(b"preserve");
                run.clear();
                loop {
                    let lt = at + find_byte(&xml[at..], b'<').ok_or_else(|| BROKEN.to_owned())?;
                    decode_text(&text[at..lt], run)?;
                    let inner = tag_at(xml, lt).ok_or_else(|| BROKEN.to_owned())?;
                    at = inner.end;
                    if let Some(cdata) = inner.cdata {
                        decode_cdata(cdata, run);
                    } else if inner.closing && inner.local == b"t" {
                        break;
                    }
                }
                let text = if preserve { run.as_str() } else { run.trim_matches([' ', '\t', '\r', '\n']) };
                unescape_excel(text, out);
            }
            _ => {}
        }
    }
}

/// A CDATA section's text: no entities, line ends made `\n`.
fn decode_cdata(raw: &[u8], out: &mut String) {
    let text = String::from_utf8_lossy(raw);
    out.push_str(&text.replace("\r\n", "\n").replace('\r', "\n"));
}

fn read_shared_strings(mut part: Part<impl Read>, strings: &mut SharedStrings) -> Result<(), String> {
    let (mut text, mut run) = (String::new(), String::new());
    let less_than = memmem::Finder::new(b"<");
    let close = memmem::Finder::new(b"si>");
    // The `si` elements, whatever prefix the file gives them.
    loop {
        let Some(lt) = part.find(&less_than, 0)? else { return Ok(()) };
        part.consume(lt);
        let tag = loop {
            if let Some(tag) = tag_at(part.window(), 0) {
                break tag;
            }
            if !part.more()? {
                return Err(format!("its shared strings are cut short: {BROKEN}"));
            }
        };
        let (end, is_string, empty) = (tag.end, !tag.closing && !tag.other && tag.local == b"si", tag.empty);
        if !is_string {
            part.consume(end);
            continue;
        }
        if empty {
            strings.push("")?;
            part.consume(end);
            continue;
        }
        // The whole string in the window, then its text.
        let mut from = end;
        let finish = loop {
            let Some(found) = part.find(&close, from)? else {
                return Err(format!("its shared strings are cut short: {BROKEN}"));
            };
            if closes_element(&part.window()[..found]) {
                break found + 3;
            }
            from = found + 3;
        };
        let xml = std::str::from_utf8(&part.window()[..finish]).map_err(|_| NOT_UTF8.to_owned())?;
        rich_text(xml, end, b"si", &mut text, &mut run)?;
        strings.push(&text)?;
        part.consume(finish);
    }
}

/// Whether `before` ends with `</` and a namespace prefix, or none: the start of a closing tag
/// whose local name follows.
fn closes_element(before: &[u8]) -> bool {
    let name = before
        .iter()
        .rev()
        .take_while(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b':'))
        .count();
    let prefix = &before[before.len() - name..];
    before[..before.len() - name].ends_with(b"</") && (prefix.is_empty() || prefix.ends_with(b":"))
}

/// Reads a sheet's cells, one whole row at a time.
struct SheetReader<'c> {
    context: &'c CellContext,
    /// A cell's decoded text.
    scratch: String,
    /// One `<t>` run's text, before its escapes are decoded.
    run: String,
    /// The 0-based row and column a cell without a reference is at.
    row: u32,
    column: u32,
}

/// What a cell's children gave.
enum Found {
    Nothing,
    /// `<is>`: the text is in `scratch`.
    Inline,
    /// `<v>`: its raw text, at this range of the row.
    Value(usize, usize),
}

impl SheetReader<'_> {
    fn read(
        mut self,
        mut part: Part<impl Read>,
        each: &mut impl FnMut(u32, u32, &DataRef, bool) -> ControlFlow<()>,
    ) -> Result<(), String> {
        let prefix = match find_sheet_data(&mut part)? {
            Some(prefix) => prefix,
            None => return Ok(()),
        };
        let row_open = [b"<".as_slice(), &prefix, b"row"].concat();
        let row_close = memmem::Finder::new(&[b"</".as_slice(), &prefix, b"row>"].concat()).into_owned();
        let data_close = [b"</".as_slice(), &prefix, b"sheetData"].concat();
        let less_than = memmem::Finder::new(b"<");
        loop {
            let Some(lt) = part.find(&less_than, 0)? else {
                return Err(format!("the sheet ends early, after row {}: is the file cut short?", self.row));
            };
            part.consume(lt);
            part.ensure(row_open.len().max(data_close.len()) + 1)?;
            let window = part.window();
            if window.starts_with(&data_close) {
                return Ok(());
            }
            let is_row = window.starts_with(&row_open)
                && window
                    .get(row_open.len())
                    .is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'));
            let (end, empty, number) = loop {
                if let Some(tag) = tag_at(part.window(), 0) {
                    let number = if is_row { attribute(tag.attributes, b"r").map(row_number) } else { None };
                    break (tag.end, tag.empty, number);
                }
                if !part.more()? {
                    return Err(format!("the sheet ends early, after row {}: is the file cut short?", self.row));
                }
            };
            if !is_row {
                part.consume(end);
                continue;
            }
            if let Some(number) = number {
                self.row = number?;
            }
            if empty {
                part.consume(end);
                self.next_row();
                continue;
            }
            let Some(close) = part.find(&row_close, end)? else {
                return Err(format!("the sheet ends inside row {}: is the file cut short?", self.row + 1));
            };
            let flow = self.cells(&part.window()[end..close], each)?;
            if flow.is_break() {
                return Ok(());
            }
            part.consume(close + row_close.needle().len());
            self.next_row();
        }
    }

    fn next_row(&mut self) {
        self.row += 1;
        self.column = 0;
    }

    /// The cells of one row's XML.
    fn cells(
        &mut self,
        xml: &[u8],
        each: &mut impl FnMut(u32, u32, &DataRef, bool) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, String> {
        let broken = || format!("row {} of the sheet is broken XML", self.row + 1);
        let text = std::str::from_utf8(xml).map_err(|_| format!("row {} of the sheet: {NOT_UTF8}", self.row + 1))?;
        let mut at = 0;
        while let Some(found) = find_byte(&xml[at..], b'<') {
            let tag = tag_at(xml, at + found).ok_or_else(broken)?;
            at = tag.end;
            if tag.other || tag.closing || tag.local != b"c" {
                continue;
            }
            let (mut reference, mut style, mut kind, empty) = (None, None, None, tag.empty);
            each_attribute(tag.attributes, |name, value| match name {
                b"r" => reference = Some(value),
                b"s" => style = Some(value),
                b"t" => kind = Some(value),
                _ => {}
            });
            let (row, column) = match reference {
                Some(reference) => cell_reference(reference)?,
                None => (self.row, self.column),
            };
            self.column = column + 1;
            let (mut found, mut formula) = (Found::Nothing, false);
            if let Some((quick, end)) = if empty { None } else { quick_content(text, at, &mut self.scratch) } {
                found = quick;
                at = end;
            } else if !empty {
                loop {
                    let lt = at + find_byte(&xml[at..], b'<').ok_or_else(broken)?;
                    let child = tag_at(xml, lt).ok_or_else(broken)?;
                    at = child.end;
                    if child.other {
                        continue;
                    }
                    match (child.closing, child.local) {
                        (true, b"c") => break,
                        (false, b"f") => formula = true,
                        (false, b"v") if child.empty => found = Found::Nothing,
                        (false, b"v") => {
                            let end = at + find_byte(&xml[at..], b'<').ok_or_else(broken)?;
                            found = Found::Value(at, end);
                        }
                        (false, b"is") if child.empty => {
                            self.scratch.clear();
                            found = Found::Inline;
                        }
                        (false, b"is") => {
                            at = rich_text(text, at, b"is", &mut self.scratch, &mut self.run)?;
                            found = Found::Inline;
                        }
                        _ => {}
                    }
                }
            }
            let value = match found {
                Found::Nothing => DataRef::Empty,
                Found::Inline => DataRef::SharedString(&self.scratch),
                Found::Value(start, end) => {
                    let cell = || format!("cell {}{}", crate::read::source::column_letters(column as usize), row + 1);
                    value(self.context, &text[start..end], style, kind, &mut self.scratch, &mut self.run)
                        .map_err(|error| format!("{}: {error}", cell()))?
                }
            };
            if each(row, column, &value, formula).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// The content of most cells, read without the general loop: `<v>…</v>`, `<is><t>…</t></is>`
/// with text that needs no decoding, or nothing; `None` for any other (which the loop reads).
fn quick_content(text: &str, at: usize, scratch: &mut String) -> Option<(Found, usize)> {
    let xml = text.as_bytes();
    let rest = &xml[at..];
    if rest.starts_with(b"</c>") {
        return Some((Found::Nothing, at + 4));
    }
    if rest.starts_with(b"<v>") {
        let start = at + 3;
        let end = start + find_byte(&xml[start..], b'<')?;
        return xml[end..].starts_with(b"</v></c>").then_some((Found::Value(start, end), end + 8));
    }
    if rest.starts_with(b"<is><t>") {
        let start = at + 7;
        let end = start + find_byte(&xml[start..], b'<')?;
        let raw = &text[start..end];
        if !xml[end..].starts_with(b"</t></is></c>") || !needs_no_decoding(raw) {
            return None;
        }
        scratch.clear();
        scratch.push_str(raw);
        return Some((Found::Inline, end + 13));
    }
    None
}

/// Whether a `<t>`'s text is its value as it is: no entity, line end or `_x` escape, and
/// nothing to trim.
fn needs_no_decoding(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let blank = |byte: Option<&u8>| byte.is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n'));
    !blank(bytes.first()) && !blank(bytes.last()) && !bytes.iter().any(|byte| matches!(byte, b'&' | b'\r' | b'_'))
}

/// Call `each` with every attribute's name and raw value.
fn each_attribute<'a>(attributes: &'a [u8], mut each: impl FnMut(&'a [u8], &'a [u8])) {
    let mut rest = attributes;
    while let Some(equals) = find_byte(rest, b'=') {
        let name = rest[..equals].trim_ascii();
        let value = rest[equals + 1..].trim_ascii_start();
        let Some(&quote) = value.first().filter(|quote| matches!(quote, b'"' | b'\'')) else { return };
        let Some(length) = find_byte(&value[1..], quote) else { return };
        each(name, &value[1..1 + length]);
        rest = &value[length + 2..];
    }
}

/// The value of a cell's `<v>`, as calamine's cell reader gives it.
fn value<'s>(
    context: &'s CellContext,
    raw: &str,
    style: Option<&[u8]>,
    kind: Option<&[u8]>,
    scratch: &'s mut String,
    run: &mut String,
) -> Result<DataRef<'s>, String> {
    Ok(match kind {
        Some(b"s") if raw.is_empty() => DataRef::Empty,
        Some(b"s") => {
            let index: usize = raw.parse().map_err(|_| format!("the shared string {:?} is not a number", raw))?;
            let string = context.strings.get(index).ok_or_else(|| format!("there is no shared string {index}"))?;
            DataRef::SharedString(string)
        }
        Some(b"b") => match raw.trim_ascii() {
            "" => DataRef::Empty,
            "0" => DataRef::Bool(false),
            "1" => DataRef::Bool(true),
            other if other.eq_ignore_ascii_case("false") => DataRef::Bool(false),
            other if other.eq_ignore_ascii_case("true") => DataRef::Bool(true),
            _ => return Err(format!("{:?} is not a true/false value", raw)),
        },
        Some(b"e") => DataRef::Error(
            raw.parse::<CellErrorType>().map_err(|_| format!("{:?} is not an error value of Excel", raw))?,
        ),
        Some(b"d") => {
            scratch.clear();
            decode_text(raw, scratch)?;
            DataRef::DateTimeIso(scratch.clone())
        }
        Some(b"str") => {
            run.clear();
            decode_text(raw, run)?;
            scratch.clear();
            unescape_excel(run, scratch);
            DataRef::SharedString(scratch)
        }
        Some(b"inlineStr" | b"is") => DataRef::Empty,
        Some(b"n") | None if raw.is_empty() => DataRef::Empty,
        Some(b"n") | None => {
            let format = match style {
                Some(style) => {
                    let index = std::str::from_utf8(style).ok().and_then(|style| style.parse().ok()).unwrap_or(0usize);
                    context.formats.get(index).copied()
                }
                None => Some(Format::Other),
            };
            match raw.parse::<f64>() {
                Ok(number) => match format {
                    Some(Format::DateTime) => {
                        DataRef::DateTime(ExcelDateTime::new(number, ExcelDateTimeType::DateTime, context.is_1904))
                    }
                    Some(Format::TimeDelta) => {
                        DataRef::DateTime(ExcelDateTime::new(number, ExcelDateTimeType::TimeDelta, context.is_1904))
                    }
                    _ => DataRef::Float(number),
                },
                Err(_) if kind.is_none() => {
                    scratch.clear();
                    scratch.push_str(raw);
                    DataRef::SharedString(scratch)
                }
                Err(_) => return Err(format!("{:?} is not a number", raw)),
            }
        }
        Some(other) => return Err(format!("its type {:?} is not one Excel writes", String::from_utf8_lossy(other))),
    })
}

/// A row number (`r` of `<row>`), 0-based.
fn row_number(raw: &[u8]) -> Result<u32, String> {
    let digits = (!raw.is_empty() && raw.len() <= 7 && raw.iter().all(u8::is_ascii_digit)).then_some(raw);
    digits
        .map(|digits| digits.iter().fold(0u32, |number, digit| number * 10 + u32::from(digit - b'0')))
        .filter(|row| (1..=LAST_ROW).contains(row))
        .map(|row| row - 1)
        .ok_or_else(|| format!("its row number {:?} is not one of Excel's", String::from_utf8_lossy(raw)))
}

/// A cell reference (`H12`), 0-based (row, column).
fn cell_reference(raw: &[u8]) -> Result<(u32, u32), String> {
    let letters = raw.iter().take_while(|byte| byte.is_ascii_alphabetic()).count();
    let mut column = 0u32;
    for letter in &raw[..letters] {
        column = column.saturating_mul(26).saturating_add(u32::from(letter.to_ascii_uppercase() - b'A') + 1);
    }
    let row = &raw[letters..];
    let valid = (1..=LAST_COLUMN).contains(&column) && !row.is_empty() && row.iter().all(u8::is_ascii_digit);
    match valid.then(|| row_number(row)) {
        Some(Ok(row)) => Ok((row, column - 1)),
        _ => Err(format!("its cell reference {:?} is not one of Excel's", String::from_utf8_lossy(raw))),
    }
}

/// Read up to the sheet's `<sheetData>`; the prefix its elements have (`x:`, mostly none), or
/// `None` for a sheet with no data.
fn find_sheet_data(part: &mut Part<impl Read>) -> Result<Option<Vec<u8>>, String> {
    let name = memmem::Finder::new(b"sheetData");
    let mut from = 0;
    loop {
        let Some(found) = part.find(&name, from)? else { return Ok(None) };
        let window = part.window();
        let lt = window[..found].iter().rposition(|byte| *byte == b'<');
        let prefix = lt.map(|lt| &window[lt + 1..found]);
        let is_start = prefix.is_some_and(|prefix| {
            prefix.is_empty()
                || (prefix.ends_with(b":")
                    && prefix[..prefix.len() - 1].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'))
        });
        if !is_start {
            from = found + 1;
            continue;
        }
        let (lt, prefix) = (lt.expect("found with the prefix"), prefix.expect("found").to_vec());
        loop {
            if let Some(tag) = tag_at(part.window(), lt) {
                let empty = tag.empty;
                part.consume(tag.end);
                return Ok((!empty).then_some(prefix));
            }
            if !part.more()? {
                return Ok(None);
            }
        }
    }
}

/// The index of entry `name`, found as Excel would: exactly, else ignoring case and slashes' way.
fn entry_index(zip: &ZipArchive<BufReader<File>>, name: &str) -> Option<usize> {
    zip.index_for_name(name).or_else(|| {
        let wanted = name.replace('\\', "/").to_ascii_lowercase();
        zip.file_names_raw().position(|entry| {
            String::from_utf8_lossy(entry).replace('\\', "/").trim_start_matches('/').to_ascii_lowercase() == wanted
        })
    })
}

/// A small part's text; `None` when the archive does not hold it.
fn read_small(zip: &mut ZipArchive<BufReader<File>>, name: &str) -> Result<Option<String>, String> {
    let Some(index) = entry_index(zip, name) else { return Ok(None) };
    let part = zip.by_index(index).map_err(|error| format!("its part {name} cannot be read ({error})"))?;
    let mut bytes = Vec::new();
    part.take(MAX_SMALL_PART + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("its part {name} cannot be unpacked ({error})"))?;
    if bytes.len() as u64 > MAX_SMALL_PART {
        return Err(format!("its part {name} is over {} MiB", MAX_SMALL_PART >> 20));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("its part {name} is not UTF-8 text"))?;
    Ok(Some(text.trim_start_matches('\u{FEFF}').to_owned()))
}

/// An attribute's value, entities decoded.
fn attribute_value(element: &BytesStart, name: &str) -> Result<Option<String>, String> {
    let found = element.try_get_attribute(name).map_err(|error| format!("{BROKEN} ({error})"))?;
    found
        .map(|attribute| {
            let mut decoded = String::new();
            decode_text(&attribute.value, &mut decoded).map(|()| decoded)
        })
        .transpose()
}

/// The elements of a small part, by their local names: each start (`<x>` or `<x/>`) with the
/// element, each end (`</x>`) with `None`.
fn elements(xml: &str, mut each: impl FnMut(&str, Option<&BytesStart>) -> Result<(), String>) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(|error| format!("{BROKEN} ({error})"))? {
            Event::Start(element) | Event::Empty(element) => each(element.local_name().as_ref(), Some(&element))?,
            Event::End(end) => each(end.local_name().as_ref(), None)?,
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

fn relationships(xml: &str) -> Result<Vec<Relationship>, String> {
    let mut found = Vec::new();
    elements(xml, |local, element| {
        if let (Some(element), "Relationship") = (element, local) {
            let id = attribute_value(element, "Id")?.unwrap_or_default();
            let kind = attribute_value(element, "Type")?.unwrap_or_default();
            let target = attribute_value(element, "Target")?.unwrap_or_default();
            found.push(Relationship { id, kind, target });
        }
        Ok(())
    })?;
    Ok(found)
}

/// A workbook part's sheets (with their parts' names) and whether it counts dates from 1904.
type WorkbookPart = (Vec<(Sheet, String)>, bool);

/// The sheets and the date system of a workbook part; `None` when it is no workbook.
fn read_workbook(xml: &str, links: &[Relationship], base: &str) -> Result<Option<WorkbookPart>, String> {
    let (mut sheets, mut is_1904, mut root) = (Vec::new(), false, None);
    elements(xml, |local, element| {
        let Some(element) = element else { return Ok(()) };
        root.get_or_insert_with(|| local.to_owned());
        match local {
            "workbookPr" => {
                if let Some(value) = attribute_value(element, "date1904")? {
                    is_1904 = value == "1" || value == "true";
                }
            }
            "sheet" => {
                let name = attribute_value(element, "name")?.unwrap_or_default();
                let visible = match attribute_value(element, "state")?.as_deref() {
                    Some("hidden") => SheetVisible::Hidden,
                    Some("veryHidden") => SheetVisible::VeryHidden,
                    _ => SheetVisible::Visible,
                };
                let mut id = None;
                for attribute in element.attributes().flatten() {
                    if attribute.key.local_name().as_ref() == "id" {
                        id = Some(attribute.value.to_string());
                    }
                }
                let link = links.iter().find(|link| Some(&link.id) == id.as_ref());
                let Some(link) = link else { return Ok(()) };
                let typ = match link.kind.rsplit('/').next() {
                    Some("worksheet") => SheetType::WorkSheet,
                    Some("chartsheet") => SheetType::ChartSheet,
                    Some("dialogsheet") => SheetType::DialogSheet,
                    Some("xlMacrosheet") => SheetType::MacroSheet,
                    _ => return Ok(()),
                };
                let path = match link.target.strip_prefix('/') {
                    Some(absolute) => absolute.to_owned(),
                    None => format!("{base}{}", link.target),
                };
                sheets.push((Sheet { name, typ, visible }, path));
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((root.as_deref() == Some("workbook")).then_some((sheets, is_1904)))
}

/// Which cell styles (`cellXfs`) show numbers as dates or durations.
fn read_formats(xml: &str) -> Result<Vec<Format>, String> {
    let (mut codes, mut formats, mut in_cell_styles) = (Vec::<(String, String)>::new(), Vec::new(), false);
    elements(xml, |local, element| {
        match (local, element) {
            ("cellXfs", Some(_)) => in_cell_styles = true,
            ("cellXfs", None) => in_cell_styles = false,
            ("numFmt", Some(element)) => {
                if let (Some(id), Some(code)) =
                    (attribute_value(element, "numFmtId")?, attribute_value(element, "formatCode")?)
                {
                    codes.push((id, code));
                }
            }
            ("xf", Some(element)) if in_cell_styles => {
                let format = match attribute_value(element, "numFmtId")? {
                    None => Format::Other,
                    Some(id) => match codes.iter().rev().find(|(code_id, _)| *code_id == id) {
                        Some((_, code)) => format_of_code(code),
                        None => builtin_format(&id),
                    },
                };
                formats.push(format);
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(formats)
}

/// The built-in number formats that show dates, times or durations (ECMA-376 §18.8.30, and the
/// East Asian dates).
fn builtin_format(id: &str) -> Format {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" => Format::DateTime,
        "27" | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" => Format::DateTime,
        "50" | "51" | "52" | "53" | "54" | "55" | "56" | "57" | "58" => Format::DateTime,
        "46" => Format::TimeDelta,
        _ => Format::Other,
    }
}

/// What a custom number format code shows, from its first section: a duration when it opens
/// with an elapsed-time bracket (`[h]`, `[mm]`, `[ss]`), a date or time when it holds a date or
/// time letter (`d m y h s`, or `m p /` after an `a` as in AM/PM) outside quotes, brackets and
/// escapes; else a number.
fn format_of_code(code: &str) -> Format {
    let mut characters = code.chars().peekable();
    let (mut quoted, mut brackets, mut after_a) = (false, 0u32, false);
    // Within a bracket: the elapsed-time letter it opened with, while it repeats.
    let mut elapsed: Option<char> = None;
    let mut previous = ' ';
    while let Some(character) = characters.next() {
        let lower = character.to_ascii_lowercase();
        if matches!(character, '\\' | '_' | '*') {
            // The next character is shown as it is (or sets a width, or fills).
            characters.next();
            previous = character;
            continue;
        }
        if quoted {
            quoted = character != '"';
        } else if character == '"' {
            quoted = true;
        } else if character == ';' {
            return Format::Other;
        } else if character == '[' {
            brackets += 1;
        } else if character == ']' {
            if brackets == 1 && elapsed.is_some() {
                return Format::TimeDelta;
            }
            brackets = brackets.saturating_sub(1);
        } else if brackets == 0
            && ((!after_a && matches!(lower, 'd' | 'm' | 'h' | 'y' | 's'))
                || (after_a && matches!(lower, 'p' | 'm' | '/')))
        {
            return Format::DateTime;
        } else if brackets == 0 && !after_a && lower == 'a' {
            after_a = true;
        } else if elapsed.is_some_and(|letter| letter == lower) {
            // `[hh]`: still the elapsed-time letter.
        } else {
            elapsed = (previous == '[' && matches!(lower, 'h' | 'm' | 's')).then_some(lower);
        }
        previous = character;
    }
    Format::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_are_dates_times_durations_or_numbers() {
        for date in ["dd/mm/yyyy hh:mm", "DD/MM/YY", "H:MM:SS;@", "yyyy-mm-dd", "[$-409]d-mmm-yy", "h:mm AM/PM", "mmm"]
        {
            assert_eq!(format_of_code(date), Format::DateTime, "{date}");
        }
        for duration in ["[h]:mm:ss", "[mm]:ss", "[hh]:mm", "[ss].00"] {
            assert_eq!(format_of_code(duration), Format::TimeDelta, "{duration}");
        }
        for number in
            ["0.00", "#,##0", "General", "0.00\\ \"days\"", "\"hours\" 0", "[Red]0.00", "0;[Red]dd", "_-* #,##0"]
        {
            assert_eq!(format_of_code(number), Format::Other, "{number}");
        }
    }

    #[test]
    fn text_has_entities_line_ends_and_excel_escapes_decoded() {
        let mut out = String::new();
        decode_text("a &amp; b &lt;c&gt; &#233;&#x1F600; \r\n\r", &mut out).unwrap();
        assert_eq!(out, "a & b <c> é😀 \n\n");
        assert!(decode_text("&nbsp;", &mut String::new()).unwrap_err().contains("&nbsp;"));
        let mut out = String::new();
        unescape_excel("a_x000D_b _x005F_x0041_ _xD83D__xDE00_ _xD83D_ _x12_", &mut out);
        assert_eq!(out, "a\rb _x0041_ 😀 \u{FFFD} _x12_");
    }

    #[test]
    fn cell_references_stay_inside_excels_grid() {
        assert_eq!(cell_reference(b"A1").unwrap(), (0, 0));
        assert_eq!(cell_reference(b"xfd1048576").unwrap(), (1_048_575, 16_383));
        for wrong in [b"XFE1".as_slice(), b"A1048577", b"A0", b"12", b"A", b"A1B", b"ZZZZZZZZZZZZ1"] {
            assert!(cell_reference(wrong).is_err(), "{}", String::from_utf8_lossy(wrong));
        }
    }

    #[test]
    fn attributes_are_found_whatever_their_quotes() {
        let attributes = b" r=\"B2\" s='3'  t = \"s\" x:r=\"no\"";
        assert_eq!(attribute(attributes, b"s"), Some(b"3".as_slice()));
        assert_eq!(attribute(attributes, b"t"), Some(b"s".as_slice()));
        assert_eq!(attribute(attributes, b"x:r"), Some(b"no".as_slice()));
        assert_eq!(attribute(attributes, b"q"), None);
        let tag = tag_at(b"<x:c r=\"A1\" note='a > b'/>rest", 0).unwrap();
        assert!(tag.empty && !tag.closing && tag.local == b"c");
        assert_eq!(tag.end, 26);
    }
}
