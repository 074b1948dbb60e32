//! Helpers shared by the integration tests: run the real binary on a client folder and read what
//! it wrote.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{Local, NaiveDate};
use tempfile::TempDir;

pub const TOKEN: &str = "f1xtur3-t0k3n-0001";
pub const REQUEST_URL: &str = "http://127.0.0.1:8080/tag";

/// The mapping of the small fixtures: the header below, every column mapped.
pub const MAPPING: &str = r#"{
  "client": "Fixture Ltd",
  "account_token": "f1xtur3-t0k3n-0001",
  "timezone": "Europe/London",
  "currency": "GBP",
  "events": ["offline_sale"],
  "date_formats": ["%d/%m/%Y %H:%M", "%d/%m/%Y"],
  "columns": { "event_time": "Sale Date", "customer_id": "Customer", "order_id": "Order Ref", "revenue": "Sale Value" },
  "custom": { "store_id": "Store" },
  "defaults": { "event_name": "offline_sale" }
}
"#;
pub const HEADER: &str = "Sale Date,Customer,Order Ref,Sale Value,utm_source,Store";

pub fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(case)
}

pub fn example_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/example/example.csv")
}

/// A client folder in a tempdir: `mapping.json` and `input.csv` with exactly these bytes.
pub struct Client {
    pub dir: TempDir,
}

impl Client {
    pub fn new(mapping: &str, csv: impl AsRef<[u8]>) -> Client {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mapping.json"), mapping).unwrap();
        std::fs::write(dir.path().join("input.csv"), csv).unwrap();
        Client { dir }
    }

    /// The fixture mapping and header, then these lines, each ended by `\n`.
    pub fn rows(lines: &[&str]) -> Client {
        let mut csv = format!("{HEADER}\n");
        for line in lines {
            csv.push_str(line);
            csv.push('\n');
        }
        Client::new(MAPPING, csv)
    }

    pub fn csv(&self) -> PathBuf {
        self.dir.path().join("input.csv")
    }

    /// An output directory that does not exist yet.
    pub fn output(&self) -> PathBuf {
        self.dir.path().join("output")
    }
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output_dir: PathBuf,
    /// The local dates of the start and end of the run: the file name holds one of them.
    pub dates: [NaiveDate; 2],
}

pub fn replayer() -> Command {
    let mut command = Command::cargo_bin("replayer").unwrap();
    command.env_remove("REPLAYER_REQUEST_URL").env_remove("REPLAYER_DATABASE_URL");
    // Never a terminal on stdin, even under an interactive `cargo test`.
    command.write_stdin("");
    command
}

/// Run `replayer --name <name> --load-file <csv> --output-dir <output_dir> <args…>`.
pub fn run(name: &str, csv: &Path, output_dir: &Path, args: &[&str]) -> Run {
    let before = Local::now().date_naive();
    let output = replayer()
        .arg("--name")
        .arg(name)
        .arg("--load-file")
        .arg(csv)
        .arg("--output-dir")
        .arg(output_dir)
        .args(args)
        .output()
        .unwrap();
    let after = Local::now().date_naive();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        output_dir: output_dir.to_owned(),
        dates: [before, after],
    };
    assert!(!run.stderr.contains("panicked"), "the tool panicked:\n{}", run.stderr);
    run
}

/// `--dump-data` run of a client folder into its own output directory.
pub fn dump(client: &Client, args: &[&str]) -> Run {
    let mut all = vec!["--dump-data"];
    all.extend_from_slice(args);
    run("fixture", &client.csv(), &client.output(), &all)
}

impl Run {
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// The dump files of this run, by type. Panics unless every file in the output directory is
    /// named `{name}-{type}-{token}-{date}.txt` with one token and this run's date.
    pub fn dumps(&self, name: &str) -> Dumps {
        dumps_in(&self.output_dir, name, &self.dates)
    }

    pub fn lines_of(&self, name: &str, kind: &str) -> Vec<String> {
        self.dumps(name).lines(kind)
    }
}

pub const TYPES: [&str; 5] = ["requests", "requests-validated", "responses", "warnings", "exceptions"];

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

/// Split `{name}-{type}-{token}-{date}.txt` into type, token and date.
pub fn split_dump_name<'a>(file_name: &'a str, name: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = file_name.strip_prefix(name)?.strip_prefix('-')?.strip_suffix(".txt")?;
    let (rest, date) = rest.split_at(rest.len().checked_sub(11)?);
    let date = date.strip_prefix('-')?;
    let (kind, token) = rest.rsplit_once('-')?;
    Some((kind, token, date))
}

pub fn dumps_in(dir: &Path, name: &str, dates: &[NaiveDate]) -> Dumps {
    let mut token = None;
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (kind, file_token, date) =
            split_dump_name(&file_name, name).unwrap_or_else(|| panic!("{file_name} is not a dump file name"));
        assert!(TYPES.contains(&kind), "{file_name}: unknown type {kind}");
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

/// The query of a tag URL as (key, value) pairs, percent-decoded, in order.
pub fn query_pairs(tag_url: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(tag_url).unwrap_or_else(|error| panic!("{tag_url}: {error}"));
    assert_eq!(url.fragment(), None, "{tag_url} has a fragment");
    url.query_pairs().map(|(key, value)| (key.into_owned(), value.into_owned())).collect()
}

/// The pairs of a tag URL as a map, after checking that no key appears twice.
pub fn query_map(tag_url: &str) -> BTreeMap<String, String> {
    let pairs = query_pairs(tag_url);
    let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
    assert_eq!(map.len(), pairs.len(), "a key appears twice in {tag_url}");
    map
}

pub fn custom_of(pairs: &BTreeMap<String, String>) -> serde_json::Map<String, serde_json::Value> {
    let custom: serde_json::Value = serde_json::from_str(&pairs["custom"]).unwrap();
    custom.as_object().unwrap().clone()
}

/// Every file under a directory, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The value after `label:` on the summary line that starts with it, spaces collapsed.
pub fn summary_value(stdout: &str, label: &str) -> String {
    let line = stdout
        .lines()
        .find(|line| line.trim_start().strip_prefix(label).is_some_and(|rest| rest.starts_with(':')))
        .unwrap_or_else(|| panic!("no {label:?} line in the summary:\n{stdout}"));
    let value = line.trim_start()[label.len() + 1..].trim();
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A pseudo-terminal: (the side the test reads and types on, the side the run has as its terminal).
#[cfg(unix)]
pub fn pseudo_terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let opened =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(opened, 0, "cannot open a pseudo-terminal");
    unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) }
}
