//! Every stop of a live run (SPEC §7, §8) on files of real size, with the real binary against a
//! local DCS: the run ends in bounded time with its summary, complete dumps and the right exit
//! code, and rerunning the same command completes the file with every rid accepted once.
//!
//! The time bounds are generous: they are there only because a hang is what is tested.

#![cfg(unix)]

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::{client, run_dump, signal, Dcs, Reply};

/// Rows of the large files: beyond what fills every channel of the pipeline many times over.
const ROWS: usize = 30_000;
/// Longer than any stop may take; a run still going then has hung.
const BOUND: Duration = Duration::from_secs(90);

fn start(name: &str, csv: &Path, output: &Path, url: &str, extra: &[&str]) -> Child {
    support::replayer_to(name, csv, output, url, &[&["--fire-tag", "--yes", "--quiet"], extra].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the run to end, at most `BOUND`: a run still going then is killed and the test fails.
fn finish(child: Child) -> (Output, Duration) {
    support::finish_within(child, BOUND)
}

use support::text;

/// The `responses` lines of a run, by rid: its status (None for an error) for each.
fn responses(output: &Path, name: &str) -> HashMap<String, Option<u64>> {
    let Some(path) = run_dump(output, name, "responses") else { return HashMap::new() };
    let mut by_rid = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let rid = value["rid"].as_str().unwrap().to_owned();
        assert!(by_rid.insert(rid, value["status"].as_u64()).is_none(), "a row twice in one responses dump");
    }
    by_rid
}

fn accepted(responses: &HashMap<String, Option<u64>>) -> HashSet<String> {
    responses.iter().filter(|(_, status)| **status == Some(200)).map(|(rid, _)| rid.clone()).collect()
}

/// How many times each rid reached a DCS, over all of them.
fn hits_per_rid(servers: &[&Dcs]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for server in servers {
        for hit in server.hits() {
            *counts.entry(hit.rid().to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn ctrl_c_on_a_large_file_stops_in_bounded_time_and_the_rerun_completes_it() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    let child = start("int-1", &csv, &output, &dcs.url, &[]);
    dcs.wait_for_hits(3000);
    signal(&child, libc::SIGINT);
    let interrupted = Instant::now();
    let (run, _) = finish(child);
    let stopped_after = interrupted.elapsed();
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    assert!(text(&run).contains("fired:") && text(&run).contains("Rerun the same command"), "{}", text(&run));
    // The requests in flight were finished, not waited for beyond their timeout.
    assert!(stopped_after < Duration::from_secs(30), "stopped {stopped_after:?} after Ctrl-C");

    // The responses dump holds exactly what the DCS answered, all accepted.
    let answered = responses(&output, "int-1");
    let received: HashSet<String> = dcs.hits().iter().map(|hit| hit.rid().to_owned()).collect();
    assert!(received.len() >= 3000 && received.len() < ROWS, "{} received", received.len());
    assert_eq!(answered.keys().cloned().collect::<HashSet<_>>(), received);
    assert_eq!(accepted(&answered).len(), received.len());

    let (rerun, _) = finish(start("int-2", &csv, &output, &dcs.url, &[]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    assert!(String::from_utf8_lossy(&rerun.stdout)
        .contains(&format!("already fired:        {}", support::separated(received.len()))));
    let per_rid = hits_per_rid(&[&dcs]);
    assert_eq!(per_rid.len(), ROWS, "every row reached the DCS");
    assert!(per_rid.values().all(|&count| count == 1), "a row the DCS had accepted was sent again");
}

#[test]
fn a_dcs_that_goes_away_mid_run_stops_it_with_exit_3_and_the_rerun_completes_it() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let gone = Dcs::ok();
    let child = start("gone-1", &csv, &output, &gone.url, &["--max-retries", "2"]);
    gone.wait_for_hits(3000);
    gone.go_away();
    let (run, elapsed) = finish(child);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(elapsed < BOUND);
    let all = text(&run);
    assert!(all.contains("looked down") && all.contains("Rerun the same command") && all.contains("fired:"), "{all}");

    // Every request the DCS received is in the responses dump: answered, or the error it ended on.
    let answered = responses(&output, "gone-1");
    let received: HashSet<String> = gone.hits().iter().map(|hit| hit.rid().to_owned()).collect();
    assert!(received.iter().all(|rid| answered.contains_key(rid)), "a request the DCS received is missing");
    assert!(accepted(&answered).iter().all(|rid| received.contains(rid)));
    let errors = answered.values().filter(|status| status.is_none()).count();
    assert!(errors >= 20, "{errors} errors in the responses dump");
    let exceptions = std::fs::read_to_string(run_dump(&output, "gone-1", "exceptions").unwrap()).unwrap();
    assert!(exceptions.lines().count() >= 20, "the exceptions dump lists the rows that failed");

    // The DCS is back (on another port): the rerun sends the rest, and nothing it had accepted.
    let back = Dcs::ok();
    let (rerun, _) = finish(start("gone-2", &csv, &output, &back.url, &[]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    let first_accepted = accepted(&answered);
    let second: HashSet<String> = back.hits().iter().map(|hit| hit.rid().to_owned()).collect();
    assert!(first_accepted.is_disjoint(&second), "a row accepted before the DCS went away was sent again");
    assert_eq!(first_accepted.len() + second.len(), ROWS, "every row accepted once");
    assert!(back.hits().iter().all(|hit| hit.attempt == 1));
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    // Answers that take longer than the whole bound below: only a run that waits for nothing ends.
    let dcs = Dcs::start(
        |_, total| if total <= 2000 { Reply::Status(200) } else { Reply::Slow(Duration::from_secs(60), 200) },
    );
    let child = start("twice", &csv, &output, &dcs.url, &["--timeout", "50"]);
    dcs.wait_for_hits(2000 + 8);
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let second = Instant::now();
    let (run, _) = finish(child);
    assert!(second.elapsed() < Duration::from_secs(20), "took {:?} after the second Ctrl-C", second.elapsed());
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    assert!(text(&run).contains("interrupted twice") && text(&run).contains("fired:"), "{}", text(&run));
    // What was answered is recorded: the rerun sends only the rest, the unanswered ones again.
    let answered = accepted(&responses(&output, "twice"));
    assert_eq!(answered.len(), 2000);
    let fast = Dcs::ok();
    let (rerun, _) = finish(start("twice-2", &csv, &output, &fast.url, &[]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    let second_hits: HashSet<String> = fast.hits().iter().map(|hit| hit.rid().to_owned()).collect();
    assert!(answered.is_disjoint(&second_hits));
    assert_eq!(answered.len() + second_hits.len(), ROWS);
}

/// The run token in a dump file's name: `{name}-responses-{token}-{date}.txt`.
fn run_token(output: &Path, name: &str) -> String {
    let path = run_dump(output, name, "responses").expect("the run wrote its responses dump");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    file[format!("{name}-responses-").len()..].split('-').next().unwrap().to_owned()
}

/// The rids the journal (its log and its table) says were accepted by the run with this token.
fn journal_accepted(output: &Path, token: &str) -> HashSet<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}", output.join("replayer.sqlite").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let sql = "SELECT rid FROM replayer_journal_log WHERE run_token = ? AND state = 'accepted' \
                   UNION SELECT rid FROM replayer_journal WHERE run_token = ? AND state = 'accepted'";
        let rids: Vec<String> = sqlx::query_scalar(sql).bind(token).bind(token).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rids.into_iter().collect()
    })
}

#[test]
fn kill_9_three_times_then_a_rerun_fires_again_only_the_last_answers() {
    const CONCURRENCY: usize = 8;
    // What SPEC §8 allows to be fired again: the answers of the last 100 ms before the kill and
    // those in flight. The margin is for a loaded machine, on which a journal commit is slow.
    const WINDOW: Duration = Duration::from_millis(100);
    const MARGIN: Duration = Duration::from_millis(150);
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    // (first hit, hits after the kill, when it was killed) of each killed run.
    let mut kills = Vec::new();
    for kill in 0..3 {
        let name = format!("kill-{kill}");
        let first = dcs.hit_count();
        // At a steady rate, "the last 100 ms" is a known number of answers (200).
        let mut child =
            start(&name, &csv, &output, &dcs.url, &["--concurrency", &CONCURRENCY.to_string(), "--rate", "2000"]);
        dcs.wait_for_hits(first + 2000);
        signal(&child, libc::SIGKILL);
        let killed = Instant::now();
        assert_eq!(child.wait().unwrap().code(), None, "the run ended before the kill landed");
        // Every connection of the killed run is closed once the kernel has reaped it.
        std::thread::sleep(Duration::from_millis(200));
        kills.push((first, dcs.hit_count(), killed));
        // The killed run's responses dump holds every answer its journal holds.
        let in_journal = journal_accepted(&output, &run_token(&output, &name));
        let dumped = accepted(&responses(&output, &name));
        assert!(!in_journal.is_empty(), "the killed run journaled nothing");
        let missing = in_journal.difference(&dumped).count();
        assert_eq!(missing, 0, "{missing} answers are in the journal but not in the responses dump of {name}");
    }
    let (rerun, _) = finish(start("kill-last", &csv, &output, &dcs.url, &[]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));

    let hits = dcs.hits();
    let per_rid = hits_per_rid(&[&dcs]);
    assert_eq!(per_rid.len(), ROWS, "every row reached the DCS");
    let mut report = Vec::new();
    for (index, &(first, last, killed)) in kills.iter().enumerate() {
        let later: HashSet<&str> = hits[last..].iter().map(|hit| hit.rid()).collect();
        let repeated: Vec<_> = hits[first..last].iter().filter(|hit| later.contains(hit.rid())).collect();
        let since = |hit: &&support::Hit| killed.saturating_duration_since(hit.at);
        let oldest = repeated.iter().map(since).max().unwrap_or_default();
        let answered_in = |window: Duration| hits[first..last].iter().filter(|hit| since(hit) <= window).count();
        report.push(format!(
            "kill {}: {} repeats, the oldest answered {} ms before the kill; {} answers in the last 100 ms",
            index + 1,
            repeated.len(),
            oldest.as_millis(),
            answered_in(WINDOW)
        ));
        assert!(
            repeated.len() <= answered_in(WINDOW + MARGIN) + CONCURRENCY,
            "kill {}: {} rows fired again, more than the {} answered in the last {:?} and those in flight",
            index + 1,
            repeated.len(),
            answered_in(WINDOW + MARGIN),
            WINDOW + MARGIN
        );
    }
    eprintln!("{}", report.join("\n"));
    // Every row accepted: no row is left unsent.
    let last: HashSet<String> = responses(&output, "kill-last").keys().cloned().collect();
    assert!(last.iter().all(|rid| per_rid.contains_key(rid)));
}

/// Runs `sql` on the embedded SQLite file of `output`.
fn execute(output: &Path, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}", output.join("replayer.sqlite").display());
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.busy_timeout(Duration::from_secs(10))).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

#[test]
fn a_database_error_mid_run_stops_it_with_exit_3_and_the_rerun_completes_it() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    // A first run of one row makes the journal's tables.
    let (first, _) = finish(start("db-0", &csv, &output, &dcs.url, &["--limit", "1"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    // From its 5,000th record on, the journal cannot be written: as a full disk or a lost server.
    execute(
        &output,
        "CREATE TRIGGER journal_fails BEFORE INSERT ON replayer_journal_log \
         WHEN (SELECT count(*) FROM replayer_journal_log) >= 5000 \
         BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END",
    );
    let (run, _) = finish(start("db-1", &csv, &output, &dcs.url, &[]));
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    let all = text(&run);
    assert!(all.contains("the journal could not be written") && all.contains("simulated disk failure"), "{all}");
    assert!(all.contains("fired:") && all.contains("rerun"), "{all}");
    let answered = responses(&output, "db-1");
    let received = dcs.hit_count() - 1;
    assert!(received < ROWS - 1, "the run went on after the journal failed");
    assert_eq!(answered.len(), received, "every answer is in the responses dump");

    execute(&output, "DROP TRIGGER journal_fails");
    let (rerun, _) = finish(start("db-2", &csv, &output, &dcs.url, &[]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    assert_eq!(hits_per_rid(&[&dcs]).len(), ROWS, "every row accepted");
}

#[test]
fn a_lost_lock_mid_run_stops_it_with_exit_3() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::start(|_, _| Reply::Slow(Duration::from_millis(2), 200));
    let mut child = support::replayer_to("lock-1", &csv, &output, &dcs.url, &["--fire-tag", "--yes", "--quiet"]);
    child.env("REPLAYER_HEARTBEAT_SECONDS", "0.2").stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = child.spawn().unwrap();
    dcs.wait_for_hits(2000);
    // Another run takes the lock over, as one would after believing this one dead.
    execute(&output, "UPDATE replayer_lock SET run_token = 'someone', heartbeat_at = heartbeat_at + 1");
    let (run, _) = finish(child);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(text(&run).contains("could not keep its lock") && text(&run).contains("fired:"), "{}", text(&run));
    assert!(dcs.hit_count() < ROWS);
    assert_eq!(responses(&output, "lock-1").len(), dcs.hit_count());
}

#[test]
fn a_401_on_a_large_file_stops_it_with_exit_3() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::start(|_, total| if total <= 3000 { Reply::Status(200) } else { Reply::Status(403) });
    let (run, _) = finish(start("refused", &csv, &output, &dcs.url, &[]));
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(text(&run).contains("refused the account") && text(&run).contains("fired:"), "{}", text(&run));
    // The first 403 stops the sending: only the requests already in flight follow it.
    assert!(dcs.hit_count() <= 3000 + 8, "{} requests", dcs.hit_count());
    assert_eq!(responses(&output, "refused").len(), dcs.hit_count());
}

/// A count the pre-flight prints after `label`, thousands separators removed; 0 when absent.
fn preflight_count(stderr: &str, label: &str) -> usize {
    let Some(at) = stderr.find(label) else { return 0 };
    let digits: String = stderr[at + label.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("no count after {label:?} in\n{stderr}"))
}

/// Rows of the resume tests: many journal batches ahead of the sending, whatever the timing.
const RESUME_ROWS: usize = 40_000;

#[test]
fn after_ctrl_c_the_rerun_preflight_counts_exactly_what_the_dcs_received() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), RESUME_ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    let child = start("honest-1", &csv, &output, &dcs.url, &[]);
    dcs.wait_for_hits(4000);
    signal(&child, libc::SIGINT);
    let (run, _) = finish(child);
    assert_eq!(run.status.code(), Some(130), "{}", text(&run));
    let received: HashSet<String> = dcs.hits().iter().map(|hit| hit.rid().to_owned()).collect();
    assert!(received.len() < RESUME_ROWS, "the whole file was sent before Ctrl-C landed");

    // The rerun, refused at the question: only its pre-flight is read.
    let rerun = support::answering(support::replayer_to("honest-2", &csv, &output, &dcs.url, &["--fire-tag"]), "no");
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert_eq!(preflight_count(&stderr, "already fired, skipped: "), received.len(), "{stderr}");
    assert!(!stderr.contains("may have been sent"), "rows never sent are said to be maybe sent:\n{stderr}");
    assert_eq!(preflight_count(&stderr, "About to fire "), RESUME_ROWS - received.len(), "{stderr}");
}

#[test]
fn after_kill_9_the_rerun_preflight_says_which_rows_may_have_been_sent() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), RESUME_ROWS);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    let mut child = start("died-1", &csv, &output, &dcs.url, &["--concurrency", "8"]);
    dcs.wait_for_hits(4000);
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let received: HashSet<String> = dcs.hits().iter().map(|hit| hit.rid().to_owned()).collect();

    let rerun = support::answering(support::replayer_to("died-2", &csv, &output, &dcs.url, &["--fire-tag"]), "no");
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    let skipped = preflight_count(&stderr, "already fired, skipped: ");
    let maybe = preflight_count(&stderr, "up to ");
    assert!(stderr.contains("may have been sent by a run that died"), "{stderr}");
    // Accepted rows were received; every received row is accepted or among the "may".
    assert!(skipped <= received.len() && received.len() <= skipped + maybe, "{skipped} + {maybe}: {stderr}");
    // The "may" are the answers not journaled and the batches marked ahead of the sending: a few
    // batches of 1,024 and the requests in flight, not the whole rest of the file.
    assert!(maybe <= received.len() - skipped + 3 * 1024 + 8, "{maybe} may, {} received", received.len());
}
