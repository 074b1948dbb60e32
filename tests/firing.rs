//! Live firing (SPEC §7) against a real local HTTP server, running the real binary.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{client, closed_port_url, dump_lines, dump_path, Dcs, Reply};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn replayer(csv: &Path, output: &Path, url: &str, extra: &[&str]) -> Run {
    let started = Instant::now();
    let result = support::replayer_to("fire-test", csv, output, url, extra).output().unwrap();
    Run {
        code: result.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&result.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn live(csv: &Path, output: &Path, url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--fire-tag", "--yes"];
    args.extend_from_slice(extra);
    replayer(csv, output, url, &args)
}

#[test]
fn a_503_then_200_is_sent_twice_and_accepted() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    let dcs = Dcs::start(|hit, _| if hit.attempt == 1 { Reply::Status(503) } else { Reply::Status(200) });
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(dcs.hit_count(), 2);
    let responses = dump_lines(&directory.path().join("out"), "responses");
    assert_eq!(responses.len(), 1);
    let response: serde_json::Value = serde_json::from_str(&responses[0]).unwrap();
    assert_eq!(
        (response["status"].as_u64(), response["attempts"].as_u64(), response["row"].as_u64()),
        (Some(200), Some(2), Some(2))
    );
    assert!(run.stdout.contains("accepted:           1"), "{}", run.stdout);
}

#[test]
fn a_429_with_retry_after_waits_at_least_that_long() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    let dcs = Dcs::start(|hit, _| if hit.attempt == 1 { Reply::RetryAfter(429, "1") } else { Reply::Status(200) });
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hits = dcs.hits();
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at - hits[0].at;
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
}

#[test]
fn a_400_is_sent_once_and_listed_in_exceptions() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 3);
    let dcs =
        Dcs::start(|hit, _| if hit.get("order_id") == Some("o-3") { Reply::Status(400) } else { Reply::Status(200) });
    let output = directory.path().join("out");
    let run = live(&csv, &output, &dcs.url, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(dcs.hit_count(), 3);
    let exceptions = dump_lines(&output, "exceptions");
    assert_eq!(exceptions.len(), 1);
    assert!(exceptions[0].starts_with("row 3: DCS answered 400"), "{}", exceptions[0]);
    assert!(run.stdout.contains("refused:            1"));
}

#[test]
fn a_timeout_is_retried() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    let dcs = Dcs::start(
        |hit, _| if hit.attempt == 1 { Reply::Slow(Duration::from_secs(3), 200) } else { Reply::Status(200) },
    );
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--timeout", "0.5"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(dcs.hit_count(), 2);
}

#[test]
fn a_401_stops_the_run_after_few_requests() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 300);
    let dcs = Dcs::start(|_, _| Reply::Status(401));
    let output = directory.path().join("out");
    let run = live(&csv, &output, &dcs.url, &["--concurrency", "4"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(dcs.hit_count() <= 20, "{} requests after a 401", dcs.hit_count());
    assert!(support::flat(&run.stderr).contains("refused the account"), "{}", run.stderr);
    assert_eq!(dump_lines(&output, "responses").len(), dcs.hit_count());
}

#[test]
fn a_dcs_that_is_down_ends_with_exit_3_in_bounded_time() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 100);
    let output = directory.path().join("out");
    let run = live(&csv, &output, &closed_port_url(), &["--max-retries", "1", "--concurrency", "4"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.elapsed < Duration::from_secs(30), "took {:?}", run.elapsed);
    let stderr = support::flat(&run.stderr);
    assert!(stderr.contains("looked down") && stderr.contains("Rerun the same command"), "{stderr}");
    let responses = dump_lines(&output, "responses");
    assert!(responses.len() >= 20 && responses.len() < 100, "{} responses", responses.len());
    assert!(responses.iter().all(|line| line.contains("\"error\"")));
}

#[test]
fn a_dry_run_sends_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 5);
    let dcs = Dcs::ok();
    let run = replayer(&csv, &directory.path().join("out"), &dcs.url, &["--dump-data"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(dcs.hit_count(), 0);
}

#[test]
fn without_a_terminal_and_without_yes_nothing_is_sent() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 5);
    let dcs = Dcs::ok();
    let output = directory.path().join("out");
    let run = replayer(&csv, &output, &dcs.url, &["--fire-tag"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(dcs.hit_count(), 0);
    assert!(!output.exists(), "a refused run writes nothing");
}

#[test]
fn limit_fires_only_the_first_rows() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 20);
    let dcs = Dcs::ok();
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--limit", "5"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut orders: Vec<String> = dcs.hits().iter().map(|hit| hit.get("order_id").unwrap().to_owned()).collect();
    orders.sort();
    assert_eq!(orders, ["o-2", "o-3", "o-4", "o-5", "o-6"]);
    assert!(run.stdout.contains("15 over --limit"), "{}", run.stdout);
}

#[test]
fn rate_is_respected() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 41);
    let dcs = Dcs::ok();
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--rate", "20", "--concurrency", "8"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hits = dcs.hits();
    assert_eq!(hits.len(), 41);
    // 41 requests at 20 a second: 40 intervals of 50 ms at least.
    let span = hits.last().unwrap().at - hits[0].at;
    assert!(span >= Duration::from_millis(1950), "41 requests in {span:?}");
    // Any window of 21 consecutive requests spans at least a second.
    for window in hits.windows(21) {
        assert!(window[20].at - window[0].at >= Duration::from_millis(950));
    }
}

#[test]
fn every_tag_has_exactly_the_parameters_of_its_payload() {
    let directory = tempfile::tempdir().unwrap();
    let folder = directory.path();
    std::fs::write(
        folder.join("mapping.json"),
        r#"{"account_token": "t3st-t0k3n-0001", "events": ["sale"], "custom": {"note": "Note"}}"#,
    )
    .unwrap();
    let csv = folder.join("tricky.csv");
    std::fs::write(
        &csv,
        "event_name,event_time,customer_id,utm_source,Note\n\
         sale,2024-06-01 10:00,c&1=2,a+b%20c&rid=evil,\"x\"\"y&z=1\"\n\
         sale,2024-06-01 11:00,c#2?,ünïcødé €,\"{\"\"k\"\":1}\"\n",
    )
    .unwrap();
    let dcs = Dcs::ok();
    let output = folder.join("out");
    let run = live(&csv, &output, &dcs.url, &["--dump-data"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let validated: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump_path(&output, "requests-validated").unwrap()).unwrap())
            .unwrap();
    let hits = dcs.hits();
    assert_eq!(hits.len(), 2);
    for entry in validated.as_array().unwrap() {
        let payload = entry["payload"].as_object().unwrap();
        let hit = hits.iter().find(|hit| hit.rid() == payload["rid"].as_str().unwrap()).expect("the row arrived");
        let expected: Vec<(String, String)> = payload
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())))
            .collect();
        assert_eq!(hit.query, expected);
    }
}

#[cfg(unix)]
#[test]
fn sigint_stops_finishes_in_flight_and_loses_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 400);
    let dcs = Dcs::start(|_, _| Reply::Slow(Duration::from_millis(100), 200));
    let output = directory.path().join("out");
    let mut child =
        support::replayer_to("sigint", &csv, &output, &dcs.url, &["--fire-tag", "--yes", "--concurrency", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    // Wait until firing is well under way, then interrupt.
    dcs.wait_for_hits(20);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let received = dcs.hits();
    assert!(received.len() >= 20 && received.len() < 400, "{} received", received.len());
    let responses = dump_lines(&output, "responses");
    let answered: Vec<String> = responses
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["rid"].as_str().unwrap().to_owned())
        .collect();
    for hit in &received {
        assert!(answered.contains(&hit.rid().to_owned()), "a request the server received is missing from responses");
    }
    assert_eq!(answered.len(), received.len());
}

#[test]
fn connections_are_kept_alive_one_a_sending_task() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 60);
    let dcs = Dcs::ok();
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--concurrency", "3"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let hits = dcs.hits();
    assert_eq!(hits.len(), 60);
    let connections: std::collections::HashSet<_> = hits.iter().map(|hit| hit.peer).collect();
    assert!(connections.len() <= 3, "60 tags over {} connections, for --concurrency 3", connections.len());
}

#[test]
fn a_server_closing_each_connection_gets_every_row_once() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 30);
    let dcs = Dcs::start(|_, _| Reply::Close(200));
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--concurrency", "4"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let hits = dcs.hits();
    assert_eq!(hits.len(), 30, "each row once: a closed connection is not a failed row");
    assert!(hits.iter().all(|hit| hit.attempt == 1));
    let connections: std::collections::HashSet<_> = hits.iter().map(|hit| hit.peer).collect();
    assert_eq!(connections.len(), 30, "the server closed every connection, so each tag had its own");
    assert!(run.stdout.contains("accepted:           30"), "{}", run.stdout);
    let responses = dump_lines(&directory.path().join("out"), "responses");
    let attempts: Vec<u64> = responses
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["attempts"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1; 30], "a connection the server closed costs no attempt");
}

/// The `--report` file a run wrote.
fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the report was written")).unwrap()
}

#[test]
fn the_report_of_a_dry_run_has_the_counts_and_no_separators() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1200);
    let path = directory.path().join("report.json");
    let run =
        replayer(&csv, &directory.path().join("out"), "http://127.0.0.1:9/tag", &["--report", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = report(&path);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["stop"], serde_json::Value::Null);
    assert_eq!((report["rows"]["read"].as_u64(), report["rows"]["valid"].as_u64()), (Some(1200), Some(1200)));
    assert_eq!(report["dates"]["first"], "2024-06-01");
    assert_eq!(report["accounts"]["t3st-t0k3n-0001"], 1200);
    assert_eq!(report["encoding"], "UTF-8");
    assert_eq!(report["account_tokens"]["checked"], false);
    assert_eq!(report["dump_files"], serde_json::json!([]));
    assert_eq!(report["fire"], serde_json::Value::Null);
    assert!(run.stdout.contains("1,200"), "the terminal has separators: {}", run.stdout);
}

#[test]
fn the_report_of_a_finished_live_run_has_its_figures() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 300);
    let dcs = Dcs::ok();
    let path = directory.path().join("report.json");
    let run = live(&csv, &directory.path().join("out"), &dcs.url, &["--report", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = report(&path);
    assert_eq!(report["exit_code"], 0);
    let fire = &report["fire"];
    assert_eq!(
        (fire["fired"].as_u64(), fire["accepted"].as_u64(), fire["failed"].as_u64()),
        (Some(300), Some(300), Some(0))
    );
    assert_eq!(fire["request_url"], dcs.url.as_str());
    assert!(fire["requests_per_second"].as_f64().unwrap() > 0.0);
    assert!(fire["latency_ms"]["max"].as_u64().unwrap() >= fire["latency_ms"]["p50"].as_u64().unwrap());
    let files = report["dump_files"].as_array().unwrap();
    assert!(files.iter().any(|file| file.as_str().unwrap().contains("-responses-")), "{files:?}");
}

#[test]
fn a_dcs_answering_500_stops_the_run_naming_the_status_and_the_report_says_why() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 5000);
    let dcs = Dcs::start(|_, _| Reply::Status(500));
    let path = directory.path().join("report.json");
    let run = live(
        &csv,
        &directory.path().join("out"),
        &dcs.url,
        &["--max-retries", "0", "--concurrency", "2", "--report", path.to_str().unwrap()],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let stderr = support::flat(&run.stderr);
    assert!(stderr.contains("20 requests in a row failed after every retry: 500 ×2"), "{stderr}");
    assert!(run.stdout.contains("not accepted, by cause: 500 ×"), "{}", run.stdout);
    let report = report(&path);
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["stop"]["reason"], "dcs_down");
    assert!(report["stop"]["message"].as_str().unwrap().contains("500 ×"), "{}", report["stop"]);
    let failures = report["fire"]["failures"]["500"].as_u64().unwrap();
    assert!((20..5000).contains(&failures), "{failures} failures");
    assert_eq!(report["fire"]["accepted"], 0);
}

#[test]
fn a_run_that_cannot_start_still_writes_its_report() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    std::fs::write(directory.path().join("mapping.json"), r#"{"account_token": "t3st-t0k3n-0001", "colums": {}}"#)
        .unwrap();
    let path = directory.path().join("report.json");
    let run =
        replayer(&csv, &directory.path().join("out"), "http://127.0.0.1:9/tag", &["--report", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = report(&path);
    assert_eq!(report["exit_code"], 2);
    assert_eq!(report["stop"]["reason"], "could_not_start");
    assert!(report["stop"]["message"].as_str().unwrap().contains("colums"), "{}", report["stop"]);
}
