//! The five dump files of SPEC §6: `{name}-{type}-{token}-{date}.txt`, owner-only, never overwritten.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpType {
    Requests,
    RequestsValidated,
    Responses,
    Warnings,
    Exceptions,
    /// Not one of SPEC §6's five: the warnings and exceptions as JSON lines, one problem a line
    /// (`crate::problem::Problem`), for the server's pages; written when asked for.
    Problems,
}

impl DumpType {
    pub const ALL: [DumpType; 5] = [
        DumpType::Requests,
        DumpType::RequestsValidated,
        DumpType::Responses,
        DumpType::Warnings,
        DumpType::Exceptions,
    ];

    /// The five of SPEC §6 and the problems.
    pub const EVERY: [DumpType; 6] = [
        DumpType::Requests,
        DumpType::RequestsValidated,
        DumpType::Responses,
        DumpType::Warnings,
        DumpType::Exceptions,
        DumpType::Problems,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DumpType::Requests => "requests",
            DumpType::RequestsValidated => "requests-validated",
            DumpType::Responses => "responses",
            DumpType::Warnings => "warnings",
            DumpType::Exceptions => "exceptions",
            DumpType::Problems => "problems",
        }
    }
}

/// 8 random lowercase letters and digits, drawn once per run.
pub fn random_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..8).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

struct DumpFile {
    writer: BufWriter<File>,
}

/// The dump files of one run. Files are created when first written, except `requests` and
/// `requests-validated`, which are created at the start so a bad output directory fails early.
pub struct Dumps {
    directory: PathBuf,
    name: String,
    token: String,
    date: NaiveDate,
    files: [Option<DumpFile>; 6],
    validated_rows: u64,
    written: Vec<PathBuf>,
    /// The folders this run created for its dumps, deepest first: `discard` removes them too.
    made: Vec<PathBuf>,
}

fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl Dumps {
    pub fn create(directory: &Path, name: &str, date: NaiveDate, dump_data: bool) -> Result<Dumps> {
        let made = directory.ancestors().take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists());
        let made: Vec<PathBuf> = made.map(Path::to_path_buf).collect();
        std::fs::create_dir_all(directory).with_context(|| {
            format!("cannot create the output directory {}; choose another with --output-dir", directory.display())
        })?;
        let mut dumps = Dumps {
            directory: directory.to_owned(),
            name: name.to_owned(),
            token: random_token(),
            date,
            files: Default::default(),
            validated_rows: 0,
            written: Vec::new(),
            made,
        };
        // A token whose files already exist is drawn again: a dump is never overwritten.
        while DumpType::EVERY.iter().any(|&kind| dumps.path(kind).exists()) {
            dumps.token = random_token();
        }
        if dump_data {
            dumps.open(DumpType::Requests)?;
            dumps.open(DumpType::RequestsValidated)?.write_all(b"[")?;
        }
        Ok(dumps)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn path(&self, kind: DumpType) -> PathBuf {
        let extension = if kind == DumpType::Problems { "jsonl" } else { "txt" };
        self.directory.join(format!(
            "{}-{}-{}-{}.{extension}",
            self.name,
            kind.name(),
            self.token,
            self.date.format("%Y-%m-%d")
        ))
    }

    fn open(&mut self, kind: DumpType) -> Result<&mut BufWriter<File>> {
        let slot = kind as usize;
        if self.files[slot].is_none() {
            let path = self.path(kind);
            let file = create_new(&path)
                .with_context(|| format!("cannot create {}; check the output directory", path.display()))?;
            self.written.push(path.clone());
            self.files[slot] = Some(DumpFile { writer: BufWriter::with_capacity(256 * 1024, file) });
        }
        Ok(&mut self.files[slot].as_mut().expect("opened above").writer)
    }

    /// Write `parts` to the dump of `kind`. A failure (a full disk) removes every dump of the run,
    /// so that nobody fires from a truncated `requests` file, and names the file and the fix.
    fn write(&mut self, kind: DumpType, parts: &[&[u8]]) -> Result<()> {
        let writer = self.open(kind)?;
        let written = parts.iter().try_for_each(|part| writer.write_all(part));
        written.map_err(|error| self.failed(kind, error))
    }

    /// The error of a failed write, after removing the run's dump files.
    fn failed(&mut self, kind: DumpType, error: io::Error) -> anyhow::Error {
        let path = self.path(kind);
        let removed = self.discard();
        let why = if error.raw_os_error() == Some(28) {
            "the output disk is full; free some space on it or choose another --output-dir, then run the same command again"
        } else {
            "check the output directory (--output-dir), then run the same command again"
        };
        anyhow::anyhow!(
            "cannot write {}: {error}: {why}. The incomplete dump files of this run were removed ({removed} file(s)), so none of them can be fired from",
            path.display()
        )
    }

    /// Close and remove every dump file written so far, and the folders made for them when
    /// nothing else is in them (after a failed write, Ctrl-C before the firing, or a live run
    /// that was not confirmed: it leaves nothing); returns how many files were removed.
    pub fn discard(&mut self) -> usize {
        for file in self.files.iter_mut() {
            // Closed without flushing what is buffered: the file goes anyway.
            if let Some(file) = file.take() {
                let (_, _) = file.writer.into_parts();
            }
        }
        let written = std::mem::take(&mut self.written);
        let removed = written.iter().filter(|path| std::fs::remove_file(path).is_ok()).count();
        for folder in std::mem::take(&mut self.made) {
            // Fails, and keeps the folder, when something else is in it (the embedded database).
            let _ = std::fs::remove_dir(folder);
        }
        removed
    }

    fn write_line(&mut self, kind: DumpType, line: &str) -> Result<()> {
        self.write(kind, &[line.as_bytes(), b"\n"])
    }

    /// Tag URLs for `requests`, each line ending with a newline.
    pub fn requests(&mut self, lines: &[u8]) -> Result<()> {
        self.write(DumpType::Requests, &[lines])
    }

    /// Entries for `requests-validated`, each `,\n  {\n    "row": N,\n    "payload": {…}\n  }`:
    /// the comma of the file's first entry is dropped.
    pub fn validated(&mut self, entries: &[u8]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let first = self.validated_rows == 0;
        self.validated_rows += 1;
        self.write(DumpType::RequestsValidated, &[if first { &entries[1..] } else { entries }])
    }

    pub fn response(&mut self, line: &str) -> Result<()> {
        self.write_line(DumpType::Responses, line)
    }

    pub fn warning(&mut self, line: &str) -> Result<()> {
        self.write_line(DumpType::Warnings, line)
    }

    pub fn exception(&mut self, line: &str) -> Result<()> {
        self.write_line(DumpType::Exceptions, line)
    }

    /// One problem, as a line of JSON, to the problems dump.
    pub fn problem(&mut self, problem: &crate::problem::Problem) -> Result<()> {
        let line = serde_json::to_string(problem).expect("a problem serializes");
        self.write_line(DumpType::Problems, &line)
    }

    /// Hand what is written so far to the operating system: a process killed now leaves it whole.
    /// A failure removes the run's dumps, as a failed write does.
    pub fn flush(&mut self) -> Result<()> {
        for kind in DumpType::EVERY {
            let flushed = match &mut self.files[kind as usize] {
                Some(file) => file.writer.flush(),
                None => Ok(()),
            };
            flushed.map_err(|error| self.failed(kind, error))?;
        }
        Ok(())
    }

    /// Close every file; returns the paths written, in the order they were created.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        if self.files[DumpType::RequestsValidated as usize].is_some() {
            let closing: &[u8] = if self.validated_rows == 0 { b"]\n" } else { b"\n]\n" };
            self.write(DumpType::RequestsValidated, &[closing])?;
        }
        self.flush()?;
        Ok(std::mem::take(&mut self.written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::payload::Payload;

    #[test]
    fn names_modes_and_json_array() {
        let directory = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let mut dumps = Dumps::create(directory.path(), "c-a-test", date, true).unwrap();
        let token = dumps.token().to_owned();
        assert_eq!(token.len(), 8);
        assert!(token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let payload = Payload::new(vec![(crate::field::Field::VisitorId, "v1".into())], Vec::new());
        for row in [2, 3] {
            let mut entry = format!(",\n  {{\n    \"row\": {row},\n    \"payload\": ").into_bytes();
            payload.write_pretty(&mut entry);
            entry.extend_from_slice(b"\n  }");
            dumps.validated(&entry).unwrap();
        }
        dumps.warning("row 2: w").unwrap();
        let written = dumps.finish().unwrap();
        assert_eq!(written.len(), 3);
        let validated = directory.path().join(format!("c-a-test-requests-validated-{token}-2024-06-01.txt"));
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&validated).unwrap()).unwrap();
        assert_eq!(value[1]["row"], 3);
        assert_eq!(value[0]["payload"]["visitor_id"], "v1");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&validated).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_full_disk_names_the_file_and_removes_every_dump() {
        let directory = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let mut dumps = Dumps::create(directory.path(), "full", date, true).unwrap();
        dumps.warning("row 2: w").unwrap();
        // The requests dump's file is swapped for /dev/full, where every write fails with ENOSPC.
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let slot = dumps.files[DumpType::Requests as usize].as_mut().unwrap();
        slot.writer = BufWriter::with_capacity(16, full);
        let error = dumps.requests(&[b'x'; 64]).unwrap_err().to_string();
        assert!(error.contains("full-requests-") && error.contains("the output disk is full"), "{error}");
        assert!(error.contains("(3 file(s))"), "{error}");
        assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_empty_run_writes_an_empty_array() {
        let directory = tempfile::tempdir().unwrap();
        let dumps = Dumps::create(directory.path(), "n", NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), true).unwrap();
        let written = dumps.finish().unwrap();
        let validated = written.iter().find(|p| p.to_string_lossy().contains("validated")).unwrap();
        assert_eq!(std::fs::read_to_string(validated).unwrap(), "[]\n");
    }
}
