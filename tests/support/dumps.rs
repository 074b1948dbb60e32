//! Finding and reading the dump files a run wrote: one reading of their names for every test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// The five dump types of SPEC §6.
pub const TYPES: [&str; 5] = ["requests", "requests-validated", "responses", "warnings", "exceptions"];

/// A dump file's name, `{name}-{type}-{token}-{date}.txt` (the server's problems dump: `.jsonl`),
/// in parts: the one reading of dump names every test uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpName<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub token: &'a str,
    pub date: &'a str,
    pub extension: &'a str,
}

impl<'a> DumpName<'a> {
    pub fn parse(file_name: &'a str) -> Option<DumpName<'a>> {
        let (rest, extension) = file_name.rsplit_once('.')?;
        let (rest, date) = rest.split_at(rest.len().checked_sub(11)?);
        let date = date.strip_prefix('-')?;
        let (rest, token) = rest.rsplit_once('-')?;
        // "requests-validated" before "requests": the longest type that ends the rest.
        let kind = ["requests-validated", "requests", "responses", "warnings", "exceptions", "problems"]
            .into_iter()
            .find(|kind| rest.ends_with(&format!("-{kind}")))?;
        let name = &rest[..rest.len() - kind.len() - 1];
        let kind = &rest[rest.len() - kind.len()..];
        Some(DumpName { name, kind, token, date, extension })
    }
}

/// The dump files in `dir`, with their parsed names; other files are left out.
fn dump_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.file_name().and_then(|name| name.to_str()).and_then(DumpName::parse).is_some())
        .collect();
    paths.sort();
    paths
}

/// The dump of `kind` written in `dir` by the run named `name` (any run when `name` is empty).
pub fn run_dump(dir: &Path, name: &str, kind: &str) -> Option<PathBuf> {
    dump_files(dir).into_iter().find(|path| {
        let parsed = DumpName::parse(path.file_name().unwrap().to_str().unwrap()).expect("filtered above");
        parsed.kind == kind && (name.is_empty() || parsed.name == name)
    })
}

/// The dump of `kind` in `dir`, of whichever run wrote one.
pub fn dump_path(dir: &Path, kind: &str) -> Option<PathBuf> {
    run_dump(dir, "", kind)
}

/// The lines of the dump of `kind` in `dir`; none when no such file was written.
pub fn dump_lines(dir: &Path, kind: &str) -> Vec<String> {
    match dump_path(dir, kind) {
        Some(path) => std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect(),
        None => Vec::new(),
    }
}

pub struct Dumps {
    pub token: String,
    pub files: BTreeMap<String, PathBuf>,
}

impl Dumps {
    pub fn kinds(&self) -> Vec<&str> {
        self.files.keys().map(String::as_str).collect()
    }

    pub fn text(&self, kind: &str) -> String {
        let path = self.files.get(kind).unwrap_or_else(|| panic!("no {kind} dump among {:?}", self.kinds()));
        std::fs::read_to_string(path).unwrap()
    }

    /// The lines of a dump; none when the file was not written.
    pub fn lines(&self, kind: &str) -> Vec<String> {
        match self.files.get(kind) {
            Some(path) => std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect(),
            None => Vec::new(),
        }
    }

    /// `requests-validated` parsed: the `row` of each entry, and its payload.
    pub fn validated(&self) -> Vec<(u64, serde_json::Map<String, serde_json::Value>)> {
        let value: serde_json::Value = serde_json::from_str(&self.text("requests-validated")).unwrap();
        value
            .as_array()
            .expect("requests-validated is a JSON array")
            .iter()
            .map(|entry| {
                let entry = entry.as_object().unwrap();
                let keys: Vec<&String> = entry.keys().collect();
                assert_eq!(keys, ["row", "payload"]);
                (entry["row"].as_u64().unwrap(), entry["payload"].as_object().unwrap().clone())
            })
            .collect()
    }

    pub fn validated_rows(&self) -> Vec<u64> {
        self.validated().into_iter().map(|(row, _)| row).collect()
    }
}

pub fn dumps_in(dir: &Path, name: &str, dates: &[NaiveDate]) -> Dumps {
    let mut token = None;
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let parsed = DumpName::parse(&file_name).filter(|parsed| parsed.name == name && parsed.extension == "txt");
        let DumpName { kind, token: file_token, date, .. } =
            parsed.unwrap_or_else(|| panic!("{file_name} is not a dump file name of {name}"));
        assert!(
            file_token.len() == 8 && file_token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{file_name}: token {file_token:?} is not 8 of [a-z0-9]"
        );
        assert!(
            dates.iter().any(|d| d.format("%Y-%m-%d").to_string() == date),
            "{file_name}: date is not the run's, {dates:?}"
        );
        match &token {
            None => token = Some(file_token.to_owned()),
            Some(token) => assert_eq!(token, file_token, "one token per run"),
        }
        files.insert(kind.to_owned(), path);
    }
    Dumps { token: token.unwrap_or_default(), files }
}
