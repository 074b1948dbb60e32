//! Opening the client's file as the source of rows its content says it is (SPEC §5, §11.1).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::read::encoding::Encoding;
use crate::read::input::CsvInput;
use crate::read::source::RowSource;
use crate::read::workbook::{self, Sniffed, WorkbookInput};

/// How to read the file, from the command line and the mapping.
pub struct Reading<'a> {
    pub encoding: Encoding,
    pub delimiter: Option<u8>,
    /// `--sheet`, else the mapping's `sheet`.
    pub sheet: Option<&'a str>,
    /// The headers the mapping reads, which tell a CSV's delimiter.
    pub expected: &'a [String],
}

/// Open `file` as the source its content says it is: a workbook, or else CSV; a file that is
/// neither (a PDF, an image, a password-protected workbook) stops here with what it is and what
/// to do. `path` is the name messages show.
pub fn open(path: &Path, mut file: File, reading: &Reading) -> Result<Box<dyn RowSource>> {
    let cannot_read = || format!("cannot read {}", path.display());
    let mut head = [0u8; 8];
    file.seek(SeekFrom::Start(0)).with_context(cannot_read)?;
    let length = read_up_to(&mut file, &mut head).with_context(cannot_read)?;
    file.seek(SeekFrom::Start(0)).with_context(cannot_read)?;
    match workbook::sniff(&head[..length]) {
        Sniffed::Text => {
            Ok(Box::new(CsvInput::open_file_for(path, file, reading.encoding, reading.delimiter, reading.expected)?))
        }
        Sniffed::Other(what) => bail!(
            "{} is {what}, not a CSV file or a workbook; save the client's sheet as .xlsx (Excel Workbook) or as CSV UTF-8 and load that",
            path.display()
        ),
        workbook => Ok(Box::new(WorkbookInput::open(path, file, workbook, reading.sheet)?)),
    }
}

/// Open the file `path` names.
pub fn open_path(path: &Path, reading: &Reading) -> Result<Box<dyn RowSource>> {
    let file = File::open(path)
        .with_context(|| format!("cannot open {}; check the path given to --load-file", path.display()))?;
    open(path, file, reading)
}

fn read_up_to(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}
