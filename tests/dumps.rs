//! The dump files (SPEC §6): names, modes, content, and never overwriting.

mod support;

use sha2::{Digest, Sha256};
use support::*;

const ONE_ROW: &str = "13/06/2024 10:00,C-1,O-1,10.00,news letter,ST01";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_clean_file_writes_exactly_the_request_dumps() {
    let client = Client::rows(&[ONE_ROW]);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    // No warnings or exceptions file when there is none to write.
    assert_eq!(dumps.kinds(), ["requests", "requests-validated"]);

    // The rid, computed here from §4: SHA-256 over the compact JSON without rid, first 32 hex digits.
    let json = r#"{"account_token":"f1xtur3-t0k3n-0001","event_name":"offline_sale","event_time":"2024-06-13T09:00:00Z","customer_id":"C-1","order_id":"O-1","revenue":"10.00","currency":"GBP","utm_source":"news letter","custom":{"store_id":"ST01"},"replay":"1"}"#;
    let rid = &hex(&Sha256::digest(json.as_bytes()))[..32];
    assert_eq!(
        dumps.text("requests"),
        format!(
            "http://127.0.0.1:8080/tag?account_token=f1xtur3-t0k3n-0001&event_name=offline_sale&event_time=2024-06-13T09%3A00%3A00Z\
             &customer_id=C-1&order_id=O-1&revenue=10.00&currency=GBP&utm_source=news%20letter\
             &custom=%7B%22store_id%22%3A%22ST01%22%7D&replay=1&rid={rid}\n"
        )
    );

    let validated = dumps.text("requests-validated");
    let mut expected: serde_json::Value = serde_json::from_str(json).unwrap();
    expected["rid"] = rid.into();
    let expected = serde_json::json!([{"row": 2, "payload": expected}]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&validated).unwrap(), expected);
    // Pretty-printed, keys in payload order.
    assert_eq!(validated, serde_json::to_string_pretty(&expected).unwrap() + "\n");
}

#[test]
fn file_names_modes_and_one_token() {
    let client = Client::rows(&[ONE_ROW, "13/06/2024 10:00,C-2,O-2,£5,,ST02", "bad date,C-3,O-3,1,,"]);
    let name = "c-a.norton_uk-2";
    let run = run(name, &client.csv(), &client.output(), &["--dump-data"]);
    run.expect_code(1);
    let dumps = run.dumps(name);
    assert_eq!(dumps.kinds(), ["exceptions", "requests", "requests-validated", "warnings"]);
    for (kind, path) in &dumps.files {
        let file_name = path.file_name().unwrap().to_str().unwrap();
        let expected: Vec<String> = run
            .dates
            .iter()
            .map(|date| format!("{name}-{kind}-{}-{}.txt", dumps.token, date.format("%Y-%m-%d")))
            .collect();
        assert!(expected.iter().any(|e| e == file_name), "{file_name} is not one of {expected:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{file_name}");
        }
    }
    assert_eq!(
        dumps.lines("warnings"),
        [r#"row 3, column "Sale Value" (revenue): "£5" had a currency symbol; sent 5"#]
    );
    assert_eq!(dumps.lines("exceptions").len(), 1);
    assert!(
        dumps.lines("exceptions")[0].starts_with(r#"row 4, column "Sale Date" (event_time): "bad date" is not a date"#)
    );
    assert!(dumps.lines("exceptions")[0].ends_with("; row not fired"));
}

#[test]
fn the_output_directory_is_created_when_missing() {
    let client = Client::rows(&[ONE_ROW]);
    let nested = client.dir.path().join("a/b/c");
    let run = run("fixture", &client.csv(), &nested, &["--dump-data"]);
    run.expect_code(0);
    assert_eq!(run.dumps("fixture").kinds(), ["requests", "requests-validated"]);
}

#[test]
fn an_output_directory_that_is_a_file_cannot_start() {
    let client = Client::rows(&[ONE_ROW]);
    let not_a_dir = client.dir.path().join("output");
    std::fs::write(&not_a_dir, "x").unwrap();
    let run = run("fixture", &client.csv(), &not_a_dir, &["--dump-data"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("output directory") && run.stderr.contains(&not_a_dir.display().to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&not_a_dir).unwrap(), "x");
}

#[test]
fn other_files_in_the_output_directory_are_left_alone() {
    let client = Client::rows(&[ONE_ROW]);
    std::fs::create_dir(client.output()).unwrap();
    let other = client.output().join("fixture-requests-notes.txt");
    std::fs::write(&other, "mine").unwrap();
    let before = support::run("fixture", &client.csv(), &client.output(), &["--dump-data"]);
    before.expect_code(0);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine");
    let written: Vec<_> = files_under(&client.output()).into_iter().filter(|path| *path != other).collect();
    assert_eq!(written.len(), 2);
}

#[test]
fn runs_with_different_names_share_a_directory() {
    let client = Client::rows(&[ONE_ROW]);
    dump(&client, &[]).expect_code(0);
    let other = run("other", &client.csv(), &client.output(), &["--dump-data"]);
    other.expect_code(0);
    let files = files_under(&client.output());
    assert_eq!(files.len(), 4);
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("other-")).count(), 2, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("fixture-")).count(), 2, "{names:?}");
}

#[test]
fn two_runs_give_identical_bytes() {
    let client = Client::rows(&[ONE_ROW, "13/06/2024 10:00,C-2,O-2,£5,,ST02", "bad date,C-3,O-3,1,,", ONE_ROW]);
    let first = dump(&client, &[]);
    first.expect_code(1);
    let first = first.dumps("fixture");
    let second_out = client.dir.path().join("second");
    let second_run = run("fixture", &client.csv(), &second_out, &["--dump-data"]);
    second_run.expect_code(1);
    let second = second_run.dumps("fixture");
    assert_eq!(first.kinds(), second.kinds());
    for kind in first.kinds() {
        assert_eq!(std::fs::read(&first.files[kind]).unwrap(), std::fs::read(&second.files[kind]).unwrap(), "{kind}");
    }
}

#[test]
fn a_full_disk_names_the_file_removes_the_dumps_and_exits_2() {
    // A 256 KiB tmpfs for the output directory (root only: elsewhere the test says so and passes;
    // the unit test dump::tests::a_full_disk_names_the_file_and_removes_every_dump covers it with /dev/full).
    let client = Client::rows(
        &(0..20_000)
            .map(|row| format!("13/06/2024 10:00,C-{row},O-{row},10.00,,ST01"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let output = client.dir.path().join("tiny");
    std::fs::create_dir(&output).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&output)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    let run = run("fixture", &client.csv(), &output, &["--dump-data"]);
    let left: Vec<_> = std::fs::read_dir(&output).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    let _ = std::process::Command::new("umount").arg(&output).status();
    run.expect_code(2);
    assert!(run.stderr.contains("cannot write ") && run.stderr.contains("fixture-requests"), "{}", run.stderr);
    assert!(run.stderr.contains("the output disk is full") && run.stderr.contains("were removed"), "{}", run.stderr);
    assert!(left.is_empty(), "{left:?}");
}
