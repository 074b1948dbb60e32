//! Ctrl-C before anything is fired: while a dry run or a live run checks a large file, and at a
//! live run's question. The run ends in bounded time with exit 130 and says so; the dump files it
//! was writing are removed (part of a file must not read as the whole of it), nothing is sent,
//! and the command run again does the whole file.

#![cfg(unix)]

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{client, dump_path, Dcs};

/// Rows of the large files: a debug build checks them for several seconds, so the signal
/// comes in the middle of the check.
const ROWS: usize = 200_000;
/// Longer than any stop may take; a run still going then has hung.
const BOUND: Duration = Duration::from_secs(90);

use support::text;

fn start(mut command: Command) -> Child {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn interrupt(child: &Child) {
    support::signal(child, libc::SIGINT);
}

fn finish(child: Child) -> Output {
    support::finish_within(child, BOUND).0
}

/// Waits until the run has written part of its requests dump: it is in the middle of the check.
fn wait_for_the_check(child: &mut Child, output: &Path) {
    let started = Instant::now();
    loop {
        let written =
            dump_path(output, "requests").and_then(|path| std::fs::metadata(path).ok()).map_or(0, |m| m.len());
        if written > 0 {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it wrote any request: the file is too small for this test");
        }
        assert!(started.elapsed() < BOUND, "no request dumped after {BOUND:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn files_in(directory: &Path) -> Vec<String> {
    match std::fs::read_dir(directory) {
        Ok(entries) => entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn ctrl_c_during_a_dry_run_removes_its_partial_dumps_and_exits_130() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let command = || support::replayer_to("dry", &csv, &output, "http://127.0.0.1:9/tag", &["--dump-data"]);
    let mut child = start(command());
    wait_for_the_check(&mut child, &output);
    interrupt(&child);
    let run = finish(child);
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains("interrupted after checking") && said.contains("dump files it was writing were removed"),
        "{said}"
    );
    // The number of rows checked is a real count, less than the file's.
    let rows: u64 =
        said.split("interrupted after checking ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(rows > 0 && rows < ROWS as u64, "{rows} rows checked");
    assert!(!said.contains("rows read"), "a summary of part of the file was printed: {said}");
    // The run made the output directory, so it goes too.
    assert!(!output.exists(), "left: {:?}", files_in(&output));

    // Run again, to the end: the whole file, in complete dumps.
    let run = command().output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let requests = std::fs::read_to_string(dump_path(&output, "requests").unwrap()).unwrap();
    assert_eq!(requests.lines().count(), ROWS);
}

#[test]
fn ctrl_c_while_a_live_run_checks_the_file_sends_nothing_and_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    let mut child =
        start(support::replayer_to("live", &csv, &output, &dcs.url, &["--fire-tag", "--yes", "--dump-data"]));
    wait_for_the_check(&mut child, &output);
    interrupt(&child);
    let run = finish(child);
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    assert!(text(&run).contains("before the firing: nothing was sent and nothing was written"), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 0);
    // The run made the output directory, so it goes too: no dump, no spool, no replayer.sqlite.
    assert!(!output.exists(), "left: {:?}", files_in(&output));
}

#[test]
fn ctrl_c_at_the_question_sends_nothing_writes_nothing_and_releases_the_lock() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 300);
    let output = directory.path().join("out");
    std::fs::create_dir(&output).unwrap();
    // A database of its own, so that the lock is taken before the question.
    let database = format!("sqlite://{}?mode=rwc", directory.path().join("journal.sqlite").display());
    support::accounts_add(&database, "t3st-t0k3n-0001", "dcs-test");
    let dcs = Dcs::ok();
    let arguments = ["--fire-tag", "--dump-data", "--database-url", &database];
    let (terminal, run_side) = support::pseudo_terminal();
    let mut command = support::replayer_to("ask", &csv, &output, &dcs.url, &arguments);
    let mut child = command.stdin(Stdio::from(run_side)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();

    // Read what the run says until it asks.
    let said = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let reader = {
        let said = said.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stderr.read(&mut buffer) {
                said.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        })
    };
    let started = Instant::now();
    while !said.lock().unwrap().contains("Type \"yes\"") {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its question: {}", said.lock().unwrap());
        assert!(started.elapsed() < BOUND, "no question after {BOUND:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    interrupt(&child);
    let run = finish(child);
    reader.join().unwrap();
    let said = said.lock().unwrap().clone();
    assert_eq!(run.status.code(), Some(130), "{said}");
    assert!(said.contains("interrupted before the firing: nothing was sent and nothing was written"), "{said}");
    assert_eq!(dcs.hit_count(), 0);
    assert_eq!(files_in(&output), Vec::<String>::new(), "files were left in the output directory");
    drop(terminal);

    // The lock was released, not left to be taken over: the next run fires every row.
    let run =
        support::replayer_to("ask", &csv, &output, &dcs.url, &[&arguments[..], &["--yes"]].concat()).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(!text(&run).contains("took over the lock"), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 300);
}

#[test]
fn a_quick_double_ctrl_c_is_one_request_to_stop() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    std::fs::create_dir(&output).unwrap();
    let mut child = start(support::replayer_to("twice", &csv, &output, "http://127.0.0.1:9/tag", &["--dump-data"]));
    wait_for_the_check(&mut child, &output);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(50));
    interrupt(&child);
    let run = finish(child);
    // Not killed by the second: the run ended itself, cleanly.
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    assert!(text(&run).contains("stopping before anything is sent"), "no notice at the first Ctrl-C: {}", text(&run));
    assert!(text(&run).contains("dump files it was writing were removed"), "{}", text(&run));
    // A folder that was there stays, empty.
    assert_eq!(files_in(&output), Vec::<String>::new(), "files were left");
}
