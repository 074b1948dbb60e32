//! Public CSV conformance cases (tests/fixtures/conformance, see its README for their sources and
//! licences), read end to end through the binary with every column mapped as a `custom` key: the
//! cells sent are the cells the case's JSON expects (trimmed, empty ones left out, as SPEC §4
//! says), on the rows a spreadsheet shows them.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

fn conformance(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance").join(folder)
}

/// A mapping that sends every one of `headers` as custom key `k0`, `k1`, …; the required fields
/// and an identifier come from the defaults.
fn mapping_for(headers: &[String]) -> String {
    let custom: serde_json::Map<String, Value> =
        headers.iter().enumerate().map(|(index, header)| (format!("k{index}"), Value::from(header.as_str()))).collect();
    serde_json::json!({
        "account_token": TOKEN,
        "custom": custom,
        "defaults": { "event_name": "offline_sale", "event_time": "2024-06-01T12:00:00Z", "customer_id": "c-1" }
    })
    .to_string()
}

/// The header and the records a case's JSON expects, each record with its spreadsheet row.
fn expected_records(json: &Value) -> (Vec<String>, Vec<(u64, Vec<String>)>) {
    let items = json.as_array().expect("a JSON array");
    let text = |value: &Value| value.as_str().expect("cells are strings").to_owned();
    // csv-test-data: "header-" files have the header foo,bar,baz (its README), and may have no row.
    let Some(first) = items.first() else { return (["foo", "bar", "baz"].map(str::to_owned).to_vec(), Vec::new()) };
    match first {
        // Objects: one a data row, keyed by the header.
        Value::Object(first) => {
            let header: Vec<String> = first.keys().cloned().collect();
            let rows = items
                .iter()
                .enumerate()
                .map(|(index, item)| (index as u64 + 2, header.iter().map(|key| text(&item[key])).collect()))
                .collect();
            (header, rows)
        }
        // Arrays: the first is the header; a blank line is a record of one empty cell.
        _ => {
            let header: Vec<String> = items[0].as_array().unwrap().iter().map(text).collect();
            let rows = items[1..]
                .iter()
                .enumerate()
                .map(|(index, item)| (index as u64 + 2, item.as_array().unwrap().iter().map(text).collect()))
                .collect();
            (header, rows)
        }
    }
}

/// Run one case and compare what was sent with what its JSON expects.
fn check_case(csv: &Path, json: &Path) {
    let name = csv.file_name().unwrap().to_string_lossy().into_owned();
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let (header, records) = expected_records(&expected);
    let client = Client::new(&mapping_for(&header), std::fs::read(csv).unwrap());
    let run = dump(&client, &[]);
    run.expect_code(0);
    let sent: Vec<(u64, Vec<(String, String)>)> = run
        .dumps("fixture")
        .validated()
        .into_iter()
        .map(|(row, payload)| {
            let custom = payload.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
            (row, custom.into_iter().map(|(key, value)| (key, value.as_str().unwrap().to_owned())).collect())
        })
        .collect();
    let wanted: Vec<(u64, Vec<(String, String)>)> = records
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|cell| !cell.trim().is_empty()))
        .map(|(row, cells)| {
            let custom = cells
                .iter()
                .enumerate()
                .filter(|(_, cell)| !cell.trim().is_empty())
                .map(|(index, cell)| (format!("k{index}"), cell.trim().to_owned()))
                .collect();
            (row, custom)
        })
        .collect();
    assert_eq!(sent, wanted, "{name}");
}

fn cases(folder: &str, csvs: &str, jsons: &str) -> Vec<(PathBuf, PathBuf)> {
    let root = conformance(folder);
    let mut cases: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(root.join(csvs))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|csv| {
            let json = root.join(jsons).join(csv.file_stem().unwrap()).with_extension("json");
            json.exists().then_some((csv, json))
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn csv_spectrum_every_case() {
    let cases = cases("csv-spectrum", "csvs", "json");
    assert_eq!(cases.len(), 11);
    for (csv, json) in cases {
        check_case(&csv, &json);
    }
}

#[test]
fn csv_test_data_every_valid_case() {
    let cases = cases("csv-test-data", "csv", "json");
    assert_eq!(cases.len(), 18);
    for (csv, json) in cases {
        // Two blank lines and nothing else: no header, so nothing to map (checked below).
        if csv.ends_with("all-empty.csv") {
            continue;
        }
        check_case(&csv, &json);
    }
}

fn run_bad(case: &str) -> (Client, Run) {
    let csv = conformance("csv-test-data").join("csv").join(case);
    let header = ["foo", "bar", "baz"].map(str::to_owned);
    let client = Client::new(&mapping_for(&header), std::fs::read(csv).unwrap());
    let run = dump(&client, &[]);
    (client, run)
}

#[test]
fn csv_test_data_bad_cases_are_exceptions_or_stop_the_run() {
    for (case, message) in [
        ("bad-missing-quote.csv", r#"row 2, column "bar": the quoting is broken"#),
        ("bad-quotes-with-unescaped-quote.csv", r#"row 2, column "bar": the quoting is broken"#),
        ("bad-header-less-fields.csv", "row 2: 2 cells but the header has 3"),
        ("bad-header-more-fields.csv", "row 2: cell 4 is past the header's last column and not empty"),
    ] {
        let (_client, run) = run_bad(case);
        run.expect_code(1);
        let exceptions = run.dumps("fixture").lines("exceptions");
        assert!(exceptions.len() == 1 && exceptions[0].starts_with(message), "{case}: {exceptions:?}");
    }
    for (case, message) in [
        ("bad-header-wrong-header.csv", r#"from the header "foo", which the file does not have"#),
        ("bad-header-no-header.csv", "is empty"),
        ("all-empty.csv", "is empty"),
    ] {
        let (client, run) = run_bad(case);
        run.expect_code(2);
        assert!(run.stderr.contains(message), "{case}: {}", run.stderr);
        assert!(!client.output().exists(), "{case}");
    }
    // A quote inside an unquoted cell is a character, as spreadsheets and RFC 4180 readers take
    // it (`5" screen`): the cell is sent as written.
    let (_client, run) = run_bad("bad-unescaped-quote.csv");
    run.expect_code(0);
    assert_eq!(run.dumps("fixture").validated()[0].1["custom"]["k1"], r#"This "quotes" must be escaped"#);
}

/// frictionless's `blank-header` case: the middle column has no header but holds data. It is not
/// sent, and one file-level warning names it as a spreadsheet does, with its count (SPEC §11.2).
#[test]
fn frictionless_blank_header_is_one_warning_and_not_sent() {
    let csv = conformance("frictionless").join("headerless_columns.csv");
    let mapping = serde_json::json!({
        "account_token": TOKEN,
        "custom": { "k0": "id", "k2": "age" },
        "defaults": { "event_name": "offline_sale", "event_time": "2024-06-01T12:00:00Z", "customer_id": "c-1" }
    })
    .to_string();
    let client = Client::new(&mapping, std::fs::read(csv).unwrap());
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    let sent: Vec<(u64, Value)> =
        dumps.validated().into_iter().map(|(row, payload)| (row, payload["custom"].clone())).collect();
    assert_eq!(
        sent,
        [(2, serde_json::json!({"k0": "1101", "k2": "30"})), (3, serde_json::json!({"k0": "1102", "k2": "26"}))]
    );
    assert_eq!(
        dumps.lines("warnings"),
        [
            r#"file: column B holds data in 2 cells but has no header, so it is not sent; give it a header and map it in "columns" or "custom" if it matters, or delete it"#
        ]
    );
}
