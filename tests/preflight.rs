//! Before and around a live run (SPEC §7, §8): the confirmation, the pre-flight's counts, the
//! option ranges, which database checks the account tokens, and passwords never printed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{answering, client, Dcs, Reply};

fn replayer(csv: &Path, output: &Path, url: &str, extra: &[&str]) -> Command {
    support::replayer_to("pre", csv, output, url, extra)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[cfg(unix)]
#[test]
fn answering_anything_but_yes_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 20);
    let dcs = Dcs::ok();
    for answer in ["n", "", "nope", "yes please"] {
        let output = directory.path().join("out");
        let run = answering(replayer(&csv, &output, &dcs.url, &["--fire-tag", "--dump-data"]), answer);
        assert_eq!(run.status.code(), Some(2), "{answer:?}: {}", text(&run));
        assert!(text(&run).contains("About to fire 20 tags"), "{}", text(&run));
        assert!(text(&run).contains("nothing was sent and nothing was written"), "{}", text(&run));
        assert!(!output.exists(), "{answer:?}: the output directory was made");
    }
    // An output directory that was there stays, empty: no dump, no replayer.sqlite.
    let output = directory.path().join("existing");
    std::fs::create_dir(&output).unwrap();
    let run = answering(replayer(&csv, &output, &dcs.url, &["--fire-tag", "--dump-data"]), "no");
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert_eq!(std::fs::read_dir(&output).unwrap().count(), 0, "files were left in the output directory");
    assert_eq!(dcs.hit_count(), 0);

    // And yes fires.
    let run = answering(replayer(&csv, &output, &dcs.url, &["--fire-tag"]), "yes");
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 20);
}

#[test]
fn option_values_out_of_range_are_refused_with_exit_2() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 2);
    let dcs = Dcs::ok();
    for (option, value, message) in [
        ("--timeout", "1e20", "at most 3600"),
        ("--timeout", "0", "above 0"),
        ("--timeout", "NaN", "above 0"),
        ("--rate", "1e-300", "from 0.01"),
        ("--rate", "inf", "from 0.01"),
        ("--max-retries", "1000000", "0..=100"),
        ("--concurrency", "0", "1..=1024"),
    ] {
        let output = directory.path().join("out");
        let run = replayer(&csv, &output, &dcs.url, &["--fire-tag", "--yes", option, value]).output().unwrap();
        assert_eq!(run.status.code(), Some(2), "{option} {value}: {}", text(&run));
        assert!(text(&run).contains(option) && text(&run).contains(message), "{option} {value}: {}", text(&run));
        assert!(!output.exists());
    }
    assert_eq!(dcs.hit_count(), 0);
}

/// A client of two events: the first `sales` rows are sales of 1 June, the rest store visits of 5 June.
fn two_event_client(directory: &Path, sales: usize, visits: usize) -> PathBuf {
    std::fs::write(
        directory.join("mapping.json"),
        r#"{"account_token": "t3st-t0k3n-0001", "timezone": "UTC", "events": ["offline_sale", "store_visit"],
            "columns": {"event_time": "Date"}}"#,
    )
    .unwrap();
    let mut csv = String::from("Date,event_name,customer_id\n");
    for index in 0..sales {
        csv.push_str(&format!("01/06/2024 10:00,offline_sale,s-{index}\n"));
    }
    for index in 0..visits {
        csv.push_str(&format!("05/06/2024 10:00,store_visit,v-{index}\n"));
    }
    let path = directory.join("two.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn with_limit_the_preflight_counts_only_the_rows_to_fire() {
    let directory = tempfile::tempdir().unwrap();
    let csv = two_event_client(directory.path(), 5, 7);
    let dcs = Dcs::ok();
    let run = replayer(&csv, &directory.path().join("out"), &dcs.url, &["--fire-tag", "--yes", "--limit", "3"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let preflight: Vec<&str> = stderr.lines().take_while(|line| !line.starts_with("rows read")).collect();
    let preflight = preflight.join("\n");
    assert!(preflight.contains("About to fire 3 tags"), "{preflight}");
    assert!(preflight.contains("events: offline_sale (3)\n"), "{preflight}");
    assert!(preflight.contains("accounts: t3st-t0k3n-0001 (3)\n"), "{preflight}");
    assert!(preflight.contains("backdate: 2024-06-01 to 2024-06-01 (1 day"), "{preflight}");
    assert!(!preflight.contains("store_visit"), "{preflight}");
    assert_eq!(dcs.hit_count(), 3);
}

#[test]
fn rows_the_dcs_refused_before_are_counted_in_the_preflight() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 10);
    let refused = ["o-3", "o-7"];
    let dcs = Dcs::start(move |hit, _| {
        if hit.attempt == 1 && refused.contains(&hit.get("order_id").unwrap()) {
            Reply::Status(400)
        } else {
            Reply::Status(200)
        }
    });
    let output = directory.path().join("out");
    let first = replayer(&csv, &output, &dcs.url, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let second = replayer(&csv, &output, &dcs.url, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let all = text(&second);
    assert!(all.contains("About to fire 2 tags"), "{all}");
    assert!(all.contains("2 were refused before and will be sent again"), "{all}");
    assert!(all.contains("already fired, skipped: 8"), "{all}");
}

fn accounts_add(output: &Path, token: &str) {
    let added = support::replayer()
        .args(["accounts", "add", "--token", token, "--connection", "dcs-test", "--output-dir"])
        .arg(output)
        .output()
        .unwrap();
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
}

#[test]
fn the_embedded_database_checks_the_tokens_once_it_has_accounts() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 3);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    let sqlite = output.join("replayer.sqlite");

    // An account for another token: the file's rows are exceptions naming it, nothing is sent.
    accounts_add(&output, "other-t0k3n-0001");
    for extra in [&["--dump-data"][..], &["--fire-tag", "--yes"]] {
        let run = replayer(&csv, &output, &dcs.url, extra).output().unwrap();
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let all = text(&run);
        assert!(all.contains("\"t3st-t0k3n-0001\" is not in attrib_account"), "{all}");
        assert!(all.contains(&format!("checked against attrib_account in sqlite:{}", sqlite.display())), "{all}");
        assert!(!all.contains("NOT checked"), "{all}");
    }
    assert_eq!(dcs.hit_count(), 0);

    accounts_add(&output, "t3st-t0k3n-0001");
    let run = replayer(&csv, &output, &dcs.url, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("checked against attrib_account in sqlite:"), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 3);
}

#[test]
fn an_embedded_database_without_accounts_checks_nothing_and_a_dry_run_never_creates_it() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 3);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    // A live run makes the embedded file (its journal) but adds no account.
    let run = replayer(&csv, &output, &dcs.url, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(output.join("replayer.sqlite").exists());
    let dry = replayer(&csv, &output, &dcs.url, &["--dump-data"]).output().unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(text(&dry).contains("NOT checked against attrib_account"), "{}", text(&dry));

    let elsewhere = directory.path().join("elsewhere");
    let dry = replayer(&csv, &elsewhere, &dcs.url, &[]).output().unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(!elsewhere.join("replayer.sqlite").exists());
}

#[test]
fn a_password_is_never_printed_whatever_form_the_url_takes() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 2);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dcs = Dcs::ok();
    let secret = "s3cr3t-pw";
    for url in [
        format!("mysql://replayer:{secret}@127.0.0.1:{port}/attrib"),
        format!("mysql:replayer:{secret}@127.0.0.1:{port}/attrib"),
        format!("mysql://127.0.0.1:{port}/attrib?user=replayer&password={secret}"),
        format!("postgres:replayer:{secret}@127.0.0.1:{port}/attrib"),
        format!("postgres://replayer@127.0.0.1:{port}/attrib?options=-c%20password%3D{secret}"),
        format!("postgres://replayer@127.0.0.1:{port}/attrib?options=-c+password={secret}"),
        format!("postgres://replayer@127.0.0.1:{port}/attrib?sslpassword={secret}"),
        format!("nosuchdb://replayer:{secret}@127.0.0.1:{port}/attrib"),
    ] {
        let run =
            replayer(&csv, &directory.path().join("out"), &dcs.url, &["--fire-tag", "--yes", "--database-url", &url])
                .output()
                .unwrap();
        assert_eq!(run.status.code(), Some(2), "{url}: {}", text(&run));
        assert!(!text(&run).contains(secret), "{url}: the password was printed: {}", text(&run));
        assert!(!text(&run).contains("s3cr3t"), "{url}: part of the password was printed: {}", text(&run));
    }
    assert_eq!(dcs.hit_count(), 0);
}
