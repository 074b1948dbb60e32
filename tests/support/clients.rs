//! Client folders for the tests: the fixtures' mapping and header, a folder from given lines,
//! a file of many valid rows; and what a tag URL holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// A client folder with `rows` valid rows (order ids o-2, o-3, … by spreadsheet row).
pub fn client(directory: &Path, rows: usize) -> PathBuf {
    std::fs::write(
        directory.join("mapping.json"),
        r#"{"client": "Test", "account_token": "t3st-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
            "events": ["offline_sale"], "columns": {"event_time": "Date"}, "defaults": {"event_name": "offline_sale"}}"#,
    )
    .unwrap();
    let mut csv = String::from("Date,customer_id,order_id,revenue\n");
    for index in 0..rows {
        csv.push_str(&format!("01/06/2024 10:{:02},c-{index},o-{},{}.50\n", index % 60, index + 2, index % 500));
    }
    let path = directory.join("sales.csv");
    std::fs::write(&path, csv).unwrap();
    path
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
