//! The command line (SPEC §2): bad options stop the run with exit 2 and nothing written.

mod support;

use assert_cmd::prelude::*;
use support::*;

const ROW: &str = "13/06/2024 10:00,C-1,O-1,10.00,,ST01";

#[test]
fn a_name_that_is_a_path_cannot_start() {
    for name in ["../evil", "a/b", "..", ".", "a..b", "-x", "", "/tmp/x", "a\\b"] {
        let client = Client::rows(&[ROW]);
        let output = client.dir.path().join("deep/output");
        let run = run(name, &client.csv(), &output, &["--dump-data"]);
        run.expect_code(2);
        assert!(run.stderr.contains("--name"), "{name:?}: {}", run.stderr);
        // Only the two files the test wrote: no dump anywhere, not even beside the output directory.
        assert_eq!(files_under(client.dir.path()).len(), 2, "{name:?} wrote {:?}", files_under(client.dir.path()));
        assert!(!client.dir.path().join("deep").exists(), "{name:?}");
    }
}

#[test]
fn a_long_name_cannot_start_and_100_characters_can() {
    let client = Client::rows(&[ROW]);
    run(&"a".repeat(101), &client.csv(), &client.output(), &["--dump-data"]).expect_code(2);
    assert!(!client.output().exists());
    let name = "a".repeat(100);
    let run = run(&name, &client.csv(), &client.output(), &["--dump-data"]);
    run.expect_code(0);
    assert_eq!(run.dumps(&name).kinds(), ["requests", "requests-validated"]);
}

// Whether or not firing is available, a live run without --yes and without a terminal to ask on
// must refuse before it sends or writes anything (SPEC §7).
#[test]
fn fire_tag_without_a_terminal_or_yes_refuses() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/tag", listener.local_addr().unwrap());
    let client = Client::rows(&[ROW]);
    let output = replayer()
        .args(["--name", "fixture", "--fire-tag", "--dump-data", "--request-url", &url, "--load-file"])
        .arg(client.csv())
        .arg("--output-dir")
        .arg(client.output())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--fire-tag"), "{stderr}");
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something reached the DCS: {other:?}"),
    }
    assert!(!client.output().exists());
}

#[test]
fn bad_delimiters_cannot_start() {
    for delimiter in [";;", "", "\"", "é"] {
        let client = Client::rows(&[ROW]);
        let run = dump(&client, &["--delimiter", delimiter]);
        run.expect_code(2);
        assert!(run.stderr.contains("--delimiter"), "{delimiter:?}: {}", run.stderr);
        assert!(!client.output().exists());
    }
}

#[test]
fn tab_can_be_named() {
    let tab_file = fixture("tab").join("input.csv");
    // The same columns with commas: read with a named tab, its header is one column.
    let comma_file = Client::rows(&[ROW]);
    for delimiter in ["tab", "\\t", "\t"] {
        let out = tempfile::tempdir().unwrap();
        let named = run("fixture", &tab_file, out.path(), &["--dump-data", "--delimiter", delimiter]);
        named.expect_code(0);
        let validated = named.dumps("fixture").validated();
        assert_eq!(validated.len(), 2, "{delimiter:?}");
        let payload = &validated[0].1;
        assert_eq!(payload["customer_id"], "C-1", "{delimiter:?}");
        assert_eq!(payload["utm_source"], "news,letter", "{delimiter:?}: a comma inside a tab-separated cell");
        assert_eq!(payload["custom"]["store_id"], "ST;01", "{delimiter:?}");

        let forced = dump(&comma_file, &["--delimiter", delimiter]);
        forced.expect_code(2);
        assert!(
            forced.stderr.contains("Sale Date,Customer"),
            "{delimiter:?}: the tab is used, not sniffed: {}",
            forced.stderr
        );
    }
}

#[test]
fn a_bad_encoding_cannot_start() {
    let client = Client::rows(&[ROW]);
    // Any WHATWG label is taken (latin1 is windows-1252); a made-up one is not.
    dump(&client, &["--encoding", "latin1"]).expect_code(0);
    let run = dump(&client, &["--encoding", "latin-9000"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--encoding") && run.stderr.contains("windows-1252"), "{}", run.stderr);
}

#[test]
fn a_missing_load_file_cannot_start() {
    let client = Client::rows(&[ROW]);
    let missing = client.dir.path().join("nope.csv");
    let run = run(
        "fixture",
        &missing,
        &client.output(),
        &["--dump-data", "--mapping", client.dir.path().join("mapping.json").to_str().unwrap()],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("nope.csv"), "{}", run.stderr);
    assert!(!client.output().exists());
}

#[test]
fn missing_required_options() {
    replayer().args(["--load-file", "x.csv"]).assert().code(2).stderr(predicates::str::contains("--name"));
    replayer().args(["--name", "x"]).assert().code(2).stderr(predicates::str::contains("--load-file"));
}

#[test]
fn request_url_is_the_prefix_of_every_request() {
    let client = Client::rows(&[ROW, "14/06/2024 10:00,C-2,O-2,20.00,,ST02"]);
    let run = dump(&client, &["--request-url", "http://127.0.0.1:9/dcs/tag"]);
    run.expect_code(0);
    for line in run.lines_of("fixture", "requests") {
        assert!(line.starts_with("http://127.0.0.1:9/dcs/tag?account_token="), "{line}");
    }

    // From the environment too.
    let client = Client::rows(&[ROW]);
    let before = chrono::Local::now().date_naive();
    let output = replayer()
        .env("REPLAYER_REQUEST_URL", "http://127.0.0.1:9/env/tag")
        .args(["--name", "fixture", "--dump-data", "--load-file"])
        .arg(client.csv())
        .arg("--output-dir")
        .arg(client.output())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let dumps = dumps_in(&client.output(), "fixture", &[before, chrono::Local::now().date_naive()]);
    assert!(dumps.text("requests").starts_with("http://127.0.0.1:9/env/tag?"), "{}", dumps.text("requests"));
}

#[test]
fn a_bad_request_url_cannot_start() {
    for url in [
        "127.0.0.1:8080/tag",
        "ftp://127.0.0.1/tag",
        "http://127.0.0.1:8080/tag#x",
        "not a url",
        // The url crate takes it (as punycode), an HTTP request line does not.
        "http://dcs.exämple.com/tag",
    ] {
        let client = Client::rows(&[ROW]);
        let run = dump(&client, &["--request-url", url]);
        run.expect_code(2);
        assert!(run.stderr.contains("--request-url"), "{url}: {}", run.stderr);
        assert!(!client.output().exists(), "{url}");
    }
}
