//! Which encoding the file's bytes are in (SPEC §5): a byte-order mark, UTF-16's zero bytes,
//! UTF-8 (with its stray bytes left for the rows to report), or a legacy encoding that
//! chardetng is sure of. Anything else stops the run asking for `--encoding`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{bail, Result};

/// What `--encoding` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Detected (SPEC §5).
    Auto,
    /// A WHATWG label that encoding_rs knows.
    Named(&'static encoding_rs::Encoding),
}

/// `--encoding`: `auto`, or any WHATWG label (`utf-8`, `latin1`, `macintosh`, `shift_jis`, …).
pub fn parse_encoding(text: &str) -> Result<Encoding, String> {
    let label = text.trim();
    if label.eq_ignore_ascii_case("auto") {
        return Ok(Encoding::Auto);
    }
    match encoding_rs::Encoding::for_label(label.as_bytes()) {
        // The "replacement" labels name encodings whose text is never read, only refused.
        Some(encoding) if encoding != encoding_rs::REPLACEMENT => Ok(Encoding::Named(encoding)),
        _ => Err(format!(
            "{text:?} is not an encoding label; give auto, or a WHATWG label such as utf-8, windows-1252, macintosh, \
             iso-8859-2, shift_jis, utf-16le"
        )),
    }
}

/// How the file is read.
#[derive(Debug, Clone)]
pub struct Decision {
    pub encoding: &'static encoding_rs::Encoding,
    /// Bytes of byte-order mark to skip.
    pub skip: u64,
    /// For the summary: `UTF-8`, `windows-1252 (detected)`, …
    pub described: String,
    pub warning: Option<String>,
}

impl Decision {
    fn new(encoding: &'static encoding_rs::Encoding, skip: u64, how: &str) -> Decision {
        let name = encoding.name();
        let described = if how.is_empty() { name.to_owned() } else { format!("{name} ({how})") };
        Decision { encoding, skip, described, warning: None }
    }
}

/// How much of the file's start tells UTF-16 and NUL bytes.
const SAMPLE_BYTES: usize = 64 * 1024;
/// How much of a file that is not UTF-8 chardetng reads.
const DETECT_BYTES: u64 = 16 << 20;

pub fn decide(file: &File, path: &Path, asked: Encoding) -> Result<Decision> {
    let mut sample = vec![0u8; SAMPLE_BYTES];
    let length = read_up_to(file, &mut sample, 0)?;
    sample.truncate(length);
    let bom = encoding_rs::Encoding::for_bom(&sample);
    if let Some((encoding, skip)) = bom {
        // A byte-order mark tells the encoding, whatever --encoding says.
        return Ok(Decision::new(encoding, skip as u64, "byte-order mark"));
    }
    if let Encoding::Named(encoding) = asked {
        return Ok(Decision::new(encoding, 0, "--encoding"));
    }
    if !sample.is_empty() && sample.iter().all(|&byte| byte == 0) {
        bail!(
            "{} starts with {} NUL (zero) bytes and nothing else: it is not a CSV export (a damaged or preallocated file?); export the client's sheet again",
            path.display(),
            sample.len()
        );
    }
    if let Some(encoding) = utf16_by_zero_bytes(&sample) {
        return Ok(Decision::new(encoding, 0, "no byte-order mark, recognised by its zero bytes"));
    }
    if first_invalid_utf8(file)?.is_none() {
        return Ok(Decision::new(encoding_rs::UTF_8, 0, ""));
    }
    let counts = utf8_counts(file)?;
    if counts.multibyte > 0 && counts.invalid <= counts.multibyte {
        let mut decision = Decision::new(encoding_rs::UTF_8, 0, "with bytes that are not UTF-8");
        decision.warning = Some(format!(
            "file: UTF-8, but {} byte sequence(s) are not UTF-8 (a cell pasted from another encoding?); the rows holding them are exceptions",
            counts.invalid
        ));
        return Ok(decision);
    }
    if counts.multibyte > 0 {
        bail!(
            "{}: cannot tell its encoding: it holds {} UTF-8 characters but also {} byte sequences that are not UTF-8, \
             as if pasted together from two encodings. Save it again as \"CSV UTF-8\", or pass --encoding utf-8 \
             (the rows with other bytes become exceptions) or the encoding it was saved in (e.g. --encoding windows-1252)",
            path.display(),
            counts.multibyte,
            counts.invalid
        );
    }
    let (guess, sure) = detect_legacy(file)?;
    if !sure {
        bail!(
            "{}: cannot tell its encoding: it is not UTF-8, and it might be {} but that guess is not sure. \
             Save it again as \"CSV UTF-8\", or pass the encoding it was saved in, e.g. --encoding windows-1252, \
             --encoding macintosh (old Mac exports), --encoding iso-8859-2",
            path.display(),
            guess.name()
        );
    }
    let mut decision = Decision::new(guess, 0, "detected");
    decision.warning = Some(format!(
        "file: not UTF-8; read as {} (detected). If letters look wrong in the dumps, pass --encoding, or save the file as \"CSV UTF-8\"",
        guess.name()
    ));
    Ok(decision)
}

/// UTF-16 without a byte-order mark: text in Latin letters, digits and delimiters has a zero
/// byte in nearly every pair, always on the same side.
fn utf16_by_zero_bytes(sample: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    let mostly = |zeros: usize| zeros * 10 >= pairs * 4;
    let hardly = |zeros: usize| zeros * 20 <= pairs;
    if mostly(odd) && hardly(even) {
        Some(encoding_rs::UTF_16LE)
    } else if mostly(even) && hardly(odd) {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// chardetng's guess over the file's start, and whether it is sure.
fn detect_legacy(file: &File) -> io::Result<(&'static encoding_rs::Encoding, bool)> {
    let mut detector = chardetng::EncodingDetector::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    let size = file.metadata()?.len();
    let mut plausible = true;
    while offset < size.min(DETECT_BYTES) {
        let read = read_up_to(file, &mut buffer, offset)?;
        if read == 0 {
            break;
        }
        offset += read as u64;
        detector.feed(&buffer[..read], offset >= size);
        plausible &= plausible_windows_1252(&buffer[..read]);
    }
    let (guess, sure) = detector.guess_assess(None, false);
    Ok((guess, sure && (guess != encoding_rs::WINDOWS_1252 || plausible)))
}

/// False when `bytes` read as Windows-1252 would hold a control character, or a sign of
/// 0x80–0x9F right after a letter: where Mac Roman (which chardetng does not know) has its
/// accented small letters (`Müller` would become `MŸller`, `Café` `CafŽ`). After a letter only
/// the quotes, `…`, `™`, `€`, the dashes and `œ` are taken, and inside a word only `‘ ’ œ`.
fn plausible_windows_1252(bytes: &[u8]) -> bool {
    const CONTROLS: [u8; 5] = [0x81, 0x8D, 0x8F, 0x90, 0x9D];
    const AFTER_LETTERS: [u8; 11] = [0x80, 0x85, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0x99, 0x9B, 0x9C];
    const IN_WORDS: [u8; 3] = [0x91, 0x92, 0x9C];
    let letter = |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_alphabetic() || *b >= 0xC0);
    for (at, &byte) in bytes.iter().enumerate() {
        if !(0x80..=0x9F).contains(&byte) {
            continue;
        }
        if CONTROLS.contains(&byte) {
            return false;
        }
        if at > 0 && letter(bytes.get(at - 1)) {
            let allowed = if letter(bytes.get(at + 1)) { &IN_WORDS[..] } else { &AFTER_LETTERS[..] };
            if !allowed.contains(&byte) {
                return false;
            }
        }
    }
    true
}

/// Fill `buffer` from `offset`, short only at the end of the file.
pub fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
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

#[derive(Debug, Default, PartialEq, Eq)]
struct Utf8Counts {
    /// Characters of more than one byte.
    multibyte: u64,
    /// Byte sequences that are not UTF-8.
    invalid: u64,
}

/// Count, over the whole file, the UTF-8 characters of several bytes and the sequences that are
/// not UTF-8 (only read for a file that is not valid UTF-8).
fn utf8_counts(file: &File) -> io::Result<Utf8Counts> {
    let mut counts = Utf8Counts::default();
    let mut buffer = vec![0u8; 1 << 20];
    let mut carried = 0;
    let mut offset = 0u64;
    loop {
        let read = read_up_to(file, &mut buffer[carried..], offset)?;
        offset += read as u64;
        let filled = carried + read;
        let last = read == 0;
        let mut rest = &buffer[..filled];
        carried = 0;
        loop {
            let (valid, error) = match std::str::from_utf8(rest) {
                Ok(text) => (text, None),
                Err(error) => (std::str::from_utf8(&rest[..error.valid_up_to()]).expect("valid up to"), Some(error)),
            };
            counts.multibyte += valid.bytes().filter(|&byte| byte >= 0xC0).count() as u64;
            let Some(error) = error else { break };
            let after = error.valid_up_to();
            match error.error_len() {
                Some(length) => {
                    counts.invalid += 1;
                    rest = &rest[after + length..];
                }
                None if last => {
                    counts.invalid += 1;
                    break;
                }
                None => {
                    // A character cut at the chunk's end: read it whole with the next chunk.
                    carried = rest.len() - after;
                    let start = filled - carried;
                    buffer.copy_within(start..filled, 0);
                    break;
                }
            }
        }
        if last {
            return Ok(counts);
        }
    }
}

/// Files from this size are checked in parts on all cores: reading a file from the page cache
/// costs about as much as checking it, so one core alone would hold the start of a run back.
const PARALLEL_CHECK_BYTES: u64 = 8 << 20;

/// The offset of the first byte that is not UTF-8, or `None` when the whole file is UTF-8.
pub fn first_invalid_utf8(file: &File) -> io::Result<Option<u64>> {
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
    Ok(firsts.into_iter().flatten().min())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("f.csv");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        (directory, file)
    }

    #[test]
    fn every_whatwg_label_is_an_encoding() {
        for (label, name) in [
            ("utf-8", "UTF-8"),
            ("UTF8", "UTF-8"),
            ("latin1", "windows-1252"),
            ("macintosh", "macintosh"),
            ("iso-8859-2", "ISO-8859-2"),
            ("shift_jis", "Shift_JIS"),
            ("utf-16", "UTF-16LE"),
            ("gbk", "GBK"),
        ] {
            assert_eq!(
                parse_encoding(label).map(|e| match e {
                    Encoding::Named(encoding) => encoding.name(),
                    Encoding::Auto => "auto",
                }),
                Ok(name),
                "{label}"
            );
        }
        assert_eq!(parse_encoding("Auto"), Ok(Encoding::Auto));
        assert!(parse_encoding("klingon").is_err());
        assert!(parse_encoding("iso-2022-kr").is_err(), "a replacement label");
    }

    #[test]
    fn counts_utf8_characters_and_stray_bytes_across_chunks() {
        let mut bytes = vec![b'a'; (1 << 20) - 1];
        bytes.extend_from_slice("é".as_bytes());
        bytes.extend_from_slice(b"caf\xe9 \xff\xfe ok \xe2\x82");
        let (_directory, file) = file_of(&bytes);
        assert_eq!(utf8_counts(&file).unwrap(), Utf8Counts { multibyte: 1, invalid: 4 });
    }

    #[test]
    fn finds_the_first_invalid_byte_across_chunks() {
        // "é" (two bytes) straddles the 1 MiB chunk boundary: still valid UTF-8.
        let mut content = vec![b'a'; (1 << 20) - 1];
        content.extend_from_slice("é\nline three\n".as_bytes());
        let (_directory, file) = file_of(&content);
        assert_eq!(first_invalid_utf8(&file).unwrap(), None);
        let at = content.len() as u64 + 3;
        content.extend_from_slice(b"caf\xe9\n");
        let (_directory, file) = file_of(&content);
        assert_eq!(first_invalid_utf8(&file).unwrap(), Some(at));
    }

    #[test]
    fn the_check_in_parts_agrees_with_one_pass() {
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
            let expected = std::str::from_utf8(&bytes).err().map(|error| error.valid_up_to() as u64);
            let (_directory, file) = file_of(&bytes);
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
    fn windows_1252_is_implausible_where_mac_roman_has_its_letters() {
        assert!(plausible_windows_1252(b"Caf\xe9 \x805, don\x92t \x93quoted\x94 a \x96 b, c\x9cur, etc\x85 Brand\x99"));
        assert!(!plausible_windows_1252(b"M\x9fller"));
        assert!(!plausible_windows_1252(b"Caf\x8e"));
        assert!(!plausible_windows_1252(b"Cr\x8fme"));
        assert!(!plausible_windows_1252(b"\x81"));
        assert!(!plausible_windows_1252(b"Espa\x96a"));
    }

    #[test]
    fn utf16_is_recognised_by_its_zero_bytes() {
        let text = "Date,Customer\r\n01/06/2024,Müller\r\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_by_zero_bytes(&le), Some(encoding_rs::UTF_16LE));
        assert_eq!(utf16_by_zero_bytes(&be), Some(encoding_rs::UTF_16BE));
        assert_eq!(utf16_by_zero_bytes(text.as_bytes()), None);
        assert_eq!(utf16_by_zero_bytes(b"a,b\0\0\0\0\0\0\0\0"), None);
    }
}
