//! The committed example client (clients/example) through a dry run with `--dump-data`.

mod support;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use support::*;

const NAME: &str = "example";

fn dump_example(output_dir: &std::path::Path) -> Run {
    let run = run(NAME, &example_csv(), output_dir, &["--dump-data"]);
    run.expect_code(1);
    run
}

#[test]
fn summary_counts_and_exit_code() {
    let out = tempfile::tempdir().unwrap();
    let run = dump_example(out.path());
    assert_eq!(summary_value(&run.stdout, "rows read"), "38");
    assert_eq!(summary_value(&run.stdout, "valid"), "32");
    assert_eq!(summary_value(&run.stdout, "with exceptions"), "6 (not fired)");
    assert_eq!(summary_value(&run.stdout, "with warnings"), "2 (8 warnings)");
    assert_eq!(summary_value(&run.stdout, "dates to backdate"), "2024-06-01 to 2024-06-28 (28 days, Europe/London)");
    assert_eq!(summary_value(&run.stdout, "accounts"), "ex4mpl3-t0k3n-0001 (32)");
    assert_eq!(summary_value(&run.stdout, "events"), "offline_sale (26), store_visit (6)");
    // The summary lists the files it wrote.
    for path in run.dumps(NAME).files.values() {
        assert!(run.stdout.contains(&path.display().to_string()), "{} not in the summary", path.display());
    }
}

#[test]
fn four_dump_files_with_one_token_owner_only() {
    let out = tempfile::tempdir().unwrap();
    let run = dump_example(out.path());
    let dumps = run.dumps(NAME);
    // No responses without --fire-tag.
    assert_eq!(dumps.kinds(), ["exceptions", "requests", "requests-validated", "warnings"]);
    #[cfg(unix)]
    for path in dumps.files.values() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[test]
fn exceptions_and_warnings_lines() {
    let out = tempfile::tempdir().unwrap();
    let dumps = dump_example(out.path()).dumps(NAME);
    assert_eq!(
        dumps.lines("exceptions"),
        [
            r#"row 34, column "Account Token" (account_token): "wr0ng-t0k3n-9999" is not this client's account token "ex4mpl3-t0k3n-0001"; fix the cell, or empty it to use the mapping's token; row not fired"#,
            r#"row 35, column "Event" (event_name): "ofline_sale" is not one of this client's events (offline_sale, store_visit); did you mean "offline_sale"? fix the cell or add the event to the mapping's "events"; row not fired"#,
            r#"row 36, column "Sale Date" (event_time): "01/01/2999" is in the future (a date without a time is read as 12:00 local); only past events can be replayed; row not fired"#,
            r#"row 37, column "Order Ref" (order_id): order id "EX-5001" was already used in row 2; row not fired"#,
            r#"row 38, column "Sale Date" (event_time): is empty and the mapping has no default; fill it in; column "Sale Value" (revenue): "12,50" has a ',' that is not a thousands separator, and the mapping's decimal_separator is '.'; fix the cell, or set "decimal_separator" to ',' if the whole file uses it; row not fired"#,
            r#"row 39 (identifier): none of visitor_id, customer_id, email or phone has a usable value; a row needs one to be attributed; row not fired"#,
        ]
    );
    assert_eq!(
        dumps.lines("warnings"),
        [
            r#"file: 1 column(s) that nothing maps, not sent: "Notes"; map them in "columns" or "custom" if they matter"#,
            r#"row 32, column "Sale Date" (event_time): "45449" is an Excel serial date, read as 2024-06-06 local time; sent 2024-06-06T11:00:00Z"#,
            r#"row 32, column "Sale Value" (revenue): "£1,234.50" had a currency symbol and thousands separators; sent 1234.50"#,
            r#"row 32, column "Qty" (quantity): "0" is not a whole number of 1 or more; not sent"#,
            r#"row 33, column "Email" (email): the e-mail address has no @ (value not shown: personal data); not sent"#,
            r#"row 33, column "Phone" (phone): the phone number is not a valid number for its country (too short, too long, or a wrong prefix) (value not shown: personal data); not sent"#,
            r#"row 33, column "Landing Page" (page_url): "shop.example.com/p/9" is not an absolute http(s) URL; not sent"#,
            r#"row 33, column "IP" (ip): "300.1.2.3" is not an IPv4 or IPv6 address; not sent"#,
        ]
    );
}

#[test]
fn requests_validated_is_the_requests_as_a_json_array() {
    let out = tempfile::tempdir().unwrap();
    let dumps = dump_example(out.path()).dumps(NAME);
    let validated = dumps.validated();
    let requests = dumps.lines("requests");
    assert_eq!(validated.len(), 32);
    assert_eq!(requests.len(), 32);
    // The header is row 1; rows 2..=33 are the valid ones, in file order.
    assert_eq!(dumps.validated_rows(), (2..=33).collect::<Vec<u64>>());

    for ((row, payload), request) in validated.iter().zip(&requests) {
        assert!(request.starts_with(&format!("{REQUEST_URL}?")), "row {row}: {request}");
        let expected: Vec<(String, String)> = payload
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => (key.clone(), text.clone()),
                other => (key.clone(), serde_json::to_string(other).unwrap()),
            })
            .collect();
        assert_eq!(query_pairs(request), expected, "row {row}");
        assert_eq!(payload["replay"], "1");
        let rid = payload["rid"].as_str().unwrap();
        assert!(rid.len() == 32 && rid.bytes().all(|b| b.is_ascii_hexdigit()), "row {row}: rid {rid}");
    }

    let (_, first) = &validated[0];
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "account_token",
            "event_name",
            "event_time",
            "visitor_id",
            "customer_id",
            "email_sha256",
            "phone_sha256",
            "order_id",
            "revenue",
            "currency",
            "quantity",
            "custom",
            "replay",
            "rid"
        ]
    );
    assert_eq!(first["event_time"], "2024-06-02T09:07:00Z");
    assert_eq!(first["email_sha256"], hex(&Sha256::digest(b"sam.1@example.com")));
    assert_eq!(first["phone_sha256"], hex(&Sha256::digest(b"+442079460001")));
    assert_eq!(first["custom"], serde_json::json!({"store_id": "ST02", "salesperson": "Bob"}));
    // Row 32, corrected with warnings: Excel serial date, cleaned revenue, event spelled as listed.
    let (_, row_32) = validated.iter().find(|(row, _)| *row == 32).unwrap();
    assert_eq!(row_32["event_name"], "offline_sale");
    assert_eq!(row_32["revenue"], "1234.50");
    assert_eq!(row_32["currency"], "GBP");
    assert!(!row_32.contains_key("quantity"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn two_runs_write_the_same_bytes_and_never_overwrite() {
    let out = tempfile::tempdir().unwrap();
    let first = dump_example(out.path()).dumps(NAME);
    let first_contents: BTreeMap<String, Vec<u8>> =
        first.files.iter().map(|(kind, path)| (kind.clone(), std::fs::read(path).unwrap())).collect();

    // A second run into the same directory: a new token, four new files, the old ones untouched.
    let second_run = dump_example(out.path());
    let all: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(all.len(), 8, "{all:?}");
    for (kind, path) in &first.files {
        assert_eq!(std::fs::read(path).unwrap(), first_contents[kind], "{kind} was changed by the second run");
    }
    let second_paths: Vec<_> = all.into_iter().filter(|path| !first.files.values().any(|p| p == path)).collect();
    let second_dir = tempfile::tempdir().unwrap();
    for path in &second_paths {
        std::fs::copy(path, second_dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let second = dumps_in(second_dir.path(), NAME, &second_run.dates);
    assert_ne!(second.token, first.token);
    assert_eq!(second.kinds(), first.kinds());
    for (kind, content) in &first_contents {
        assert_eq!(&std::fs::read(&second.files[kind]).unwrap(), content, "{kind} differs between runs");
    }
}

#[test]
fn no_raw_email_or_phone_anywhere() {
    let mut reader = csv::Reader::from_path(example_csv()).unwrap();
    let headers = reader.headers().unwrap().clone();
    let email = headers.iter().position(|h| h == "Email").unwrap();
    let phone = headers.iter().position(|h| h == "Phone").unwrap();
    let mut secrets = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        for cell in [&record[email], &record[phone]] {
            let cell = cell.trim();
            if !cell.is_empty() {
                secrets.push(cell.to_owned());
                secrets.push(cell.to_lowercase());
                secrets.push(cell.replace(' ', ""));
                // Percent-encoded as in a tag URL.
                secrets.push(url::form_urlencoded::byte_serialize(cell.as_bytes()).collect());
            }
        }
    }
    assert!(secrets.len() > 20, "the example has e-mail addresses and phone numbers");

    let out = tempfile::tempdir().unwrap();
    let run = dump_example(out.path());
    let mut texts = vec![("stdout".to_owned(), run.stdout.clone()), ("stderr".to_owned(), run.stderr.clone())];
    for path in run.dumps(NAME).files.values() {
        texts.push((path.display().to_string(), std::fs::read_to_string(path).unwrap()));
    }
    for (place, text) in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret:?} appears in {place}");
        }
    }
}
