//! A bad mapping stops the run before the CSV is read (SPEC §3): exit 2, a message naming the
//! key, nothing written.

mod support;

use support::*;

/// The fixture mapping with `from` replaced by `to`.
fn mapping_with(from: &str, to: &str) -> String {
    assert!(MAPPING.contains(from), "{from}");
    MAPPING.replacen(from, to, 1)
}

fn fails_with(mapping: &str, expected: &[&str]) {
    let client = Client::new(mapping, format!("{HEADER}\n01/06/2024 10:00,C-1,O-1,10.00,,ST01\n"));
    let run = dump(&client, &[]);
    run.expect_code(2);
    for text in expected {
        assert!(run.stderr.contains(text), "{text:?} not in:\n{}", run.stderr);
    }
    assert!(run.stderr.contains("mapping.json"), "the file is named:\n{}", run.stderr);
    assert!(!client.output().exists(), "something was written");
    assert!(run.stdout.is_empty(), "no summary when the run could not start:\n{}", run.stdout);
}

#[test]
fn an_unknown_key_names_the_likely_one() {
    fails_with(&mapping_with(r#""columns""#, r#""colums""#), &[r#"unknown key "colums" (did you mean "columns"?)"#]);
}

#[test]
fn an_unknown_field_names_the_likely_one() {
    fails_with(
        &mapping_with(r#""event_time": "Sale Date""#, r#""evnt_time": "Sale Date""#),
        &[r#""columns" names an unknown field "evnt_time" (did you mean "event_time"?)"#],
    );
    fails_with(
        &mapping_with(r#""event_name": "offline_sale""#, r#""event": "offline_sale""#),
        &[r#""defaults" names an unknown field "event""#],
    );
}

#[test]
fn a_bad_timezone() {
    fails_with(
        &mapping_with("Europe/London", "Europe/Londn"),
        &[r#""timezone" "Europe/Londn" is not an IANA time zone (did you mean "Europe/London"?)"#],
    );
}

#[test]
fn a_bad_currency() {
    fails_with(&mapping_with(r#""GBP""#, r#""XYZ""#), &[r#""currency" "XYZ" is not an ISO 4217 code"#]);
}

#[test]
fn a_bad_date_format() {
    fails_with(&mapping_with(r#""%d/%m/%Y""#, r#""%d/%m/%Q""#), &[r#""date_formats" has "%d/%m/%Q""#]);
    fails_with(
        &mapping_with(r#""%d/%m/%Y""#, r#""%H:%M""#),
        &[r#""date_formats" has "%H:%M", which does not give a year, month and day"#],
    );
}

#[test]
fn a_bad_default() {
    fails_with(
        &mapping_with(r#""event_name": "offline_sale""#, r#""event_name": "store_visit""#),
        &["the mapping's default for event_name", "store_visit"],
    );
}

#[test]
fn a_bad_account_token() {
    fails_with(&mapping_with(r#""f1xtur3-t0k3n-0001""#, r#""short""#), &[r#""account_token" "short" is not a token"#]);
}

#[test]
fn invalid_json() {
    fails_with(&mapping_with(r#""currency": "GBP","#, r#""currency": "GBP""#), &["not valid JSON", "line 6"]);
}

#[test]
fn a_missing_mapping_file() {
    let client = Client::rows(&["01/06/2024 10:00,C-1,O-1,10.00,,ST01"]);
    std::fs::remove_file(client.dir.path().join("mapping.json")).unwrap();
    let run = dump(&client, &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot read the mapping") && run.stderr.contains("mapping.json"), "{}", run.stderr);
    assert!(run.stderr.contains("--mapping"), "says how to give it: {}", run.stderr);
    assert!(!client.output().exists());

    // --mapping points elsewhere.
    let elsewhere = client.dir.path().join("client-mapping.json");
    std::fs::write(&elsewhere, MAPPING).unwrap();
    dump(&client, &["--mapping", elsewhere.to_str().unwrap()]).expect_code(0);
}
