//! The journal and accounts on a real database (SPEC §8), through the real binary: every test
//! runs on SQLite, on MariaDB (REPLAYER_TEST_MYSQL_URL) and on PostgreSQL
//! (REPLAYER_TEST_POSTGRES_URL); `.ci/run` starts both servers and sets both.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{dump_lines, Dcs, Gate, Reply};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Mysql,
    Postgres,
}

/// The database URL for a backend, or `None` when its server is not available here (a failure
/// in CI, where `.ci/run` starts both servers).
fn database_url(backend: Backend, directory: &Path) -> Option<String> {
    let (variable, script) = match backend {
        Backend::Sqlite => return Some(format!("sqlite://{}?mode=rwc", directory.join("attrib.sqlite").display())),
        Backend::Mysql => ("REPLAYER_TEST_MYSQL_URL", "start-mariadb.sh"),
        Backend::Postgres => ("REPLAYER_TEST_POSTGRES_URL", "start-postgres.sh"),
    };
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must set {variable} (bash scripts/{script})");
            eprintln!("SKIPPED on {backend:?}: set {variable} (bash scripts/{script} prints it)");
            None
        }
    }
}

/// A token no other test (or earlier run of this one) uses: the MySQL database is shared.
fn unique_token(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos % 0xffff_ffff)
}

fn client(directory: &Path, token: &str, rows: usize) -> PathBuf {
    std::fs::write(
        directory.join("mapping.json"),
        format!(r#"{{"account_token": "{token}", "events": ["sale"], "defaults": {{"event_name": "sale"}}}}"#),
    )
    .unwrap();
    let mut csv = String::from("event_time,customer_id,order_id,revenue\n");
    for index in 0..rows {
        csv.push_str(&format!("2024-06-01 10:{:02},c-{index},o-{},{}.00\n", index % 60, index + 2, index % 700));
    }
    let path = directory.join("sales.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn command(csv: &Path, output: &Path, url: &str, database: &str, extra: &[&str]) -> Command {
    named("journal-test", csv, output, url, database, extra)
}

fn named(name: &str, csv: &Path, output: &Path, url: &str, database: &str, extra: &[&str]) -> Command {
    support::replayer_to(name, csv, output, url, &[&["--database-url", database], extra].concat())
}

/// A runtime and a connection to `database`, for the tests' own SQL.
fn connect(database: &str) -> (tokio::runtime::Runtime, sqlx::AnyPool) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    sqlx::any::install_default_drivers();
    let pool = runtime.block_on(sqlx::AnyPool::connect(database)).unwrap();
    (runtime, pool)
}

/// The tests' SQL is written with `?` for its one bound value; PostgreSQL numbers them.
fn bound(database: &str, sql: &str) -> String {
    if database.starts_with("postgres") {
        sql.replace('?', "$1")
    } else {
        sql.to_owned()
    }
}

/// Run one statement with one bound value, as a person would by hand in the database.
fn execute(database: &str, sql: &str, value: &str) {
    let (runtime, pool) = connect(database);
    runtime.block_on(async {
        sqlx::query(&bound(database, sql)).bind(value).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

fn count(database: &str, sql: &str, value: &str) -> i64 {
    let (runtime, pool) = connect(database);
    runtime.block_on(async {
        let found: i64 = sqlx::query_scalar(&bound(database, sql)).bind(value).fetch_one(&pool).await.unwrap();
        pool.close().await;
        found
    })
}

/// `accounts add` refuses an empty connection, but the table can hold one (added by hand).
fn insert_account_without_connection(database: &str, token: &str) {
    execute(
        database,
        "INSERT INTO attrib_account (account_token, connection, label) VALUES (?, '', 'added by hand')",
        token,
    );
}

use support::text;

fn every_backend(test: fn(Backend)) {
    test(Backend::Sqlite);
    test(Backend::Mysql);
    test(Backend::Postgres);
}

#[test]
fn kill_9_mid_run_then_rerun_completes_without_double_counting() {
    every_backend(kill_9_then_rerun);
}

fn kill_9_then_rerun(backend: Backend) {
    let directory = tempfile::tempdir().unwrap();
    let Some(database) = database_url(backend, directory.path()) else { return };
    let token = unique_token("kill");
    support::accounts_add(&database, &token, "dcs-test");
    let rows = 600;
    let csv = client(directory.path(), &token, rows);
    let output = directory.path().join("out");
    let dcs = Dcs::start(|_, _| Reply::Slow(Duration::from_millis(15), 200));

    let mut child = command(&csv, &output, &dcs.url, &database, &["--fire-tag", "--yes", "--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    dcs.wait_for_hits(150);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    let at_kill = dcs.hit_count();
    assert_eq!(status.code(), None, "{backend:?}: the run finished before the kill landed");
    assert!((150..rows).contains(&at_kill), "{backend:?}: killed after {at_kill} requests, not mid-run");
    let log_rows = "SELECT COUNT(*) FROM replayer_journal_log WHERE account_token = ?";
    assert!(count(&database, log_rows, &token) > 0, "{backend:?}: the killed run's records wait in the log");

    let rerun =
        command(&csv, &output, &dcs.url, &database, &["--fire-tag", "--yes", "--concurrency", "4"]).output().unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{backend:?}: {}", text(&rerun));

    let hits = dcs.hits();
    let mut per_rid: HashMap<&str, Vec<&str>> = HashMap::new();
    for hit in &hits {
        per_rid.entry(hit.rid()).or_default().push(hit.raw_query.as_str());
    }
    assert_eq!(per_rid.len(), rows, "{backend:?}: every valid row arrived");
    for queries in per_rid.values() {
        assert!(queries.iter().all(|query| *query == queries[0]), "a repeat carries exactly the same tag and rid");
    }
    let repeats = hits.len() - rows;
    // Only rows journaled `sent` but not yet `accepted` at the kill can go twice: those in flight
    // and those whose answers were not yet written, at most a journal batch and the concurrency.
    assert!(repeats <= replayer::fire::BATCH + 4, "{backend:?}: {repeats} rows sent twice");
    assert!(text(&rerun).contains("already fired"), "{}", text(&rerun));
    // The rerun folded the dead run's records and its own into the journal.
    assert_eq!(count(&database, log_rows, &token), 0, "{backend:?}: records left in the log");
    let accepted = "SELECT COUNT(*) FROM replayer_journal WHERE account_token = ? AND state = 'accepted'";
    assert_eq!(count(&database, accepted, &token), rows as i64, "{backend:?}: every row accepted in the journal");

    // A third run over the finished file sends nothing.
    let before = dcs.hit_count();
    let third = command(&csv, &output, &dcs.url, &database, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    assert_eq!(dcs.hit_count(), before, "{backend:?}: the finished file was sent again");
    assert!(text(&third).contains(&format!("already fired:        {rows}")), "{}", text(&third));
}

#[test]
fn refire_sends_accepted_rows_again() {
    every_backend(refire);
}

fn refire(backend: Backend) {
    let directory = tempfile::tempdir().unwrap();
    let Some(database) = database_url(backend, directory.path()) else { return };
    let token = unique_token("refire");
    support::accounts_add(&database, &token, "dcs-test");
    let csv = client(directory.path(), &token, 5);
    let output = directory.path().join("out");
    let dcs = Dcs::ok();
    for _ in 0..2 {
        let run = command(&csv, &output, &dcs.url, &database, &["--fire-tag", "--yes"]).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    }
    assert_eq!(dcs.hit_count(), 5, "{backend:?}: the second run skips accepted rows");
    let run = command(&csv, &output, &dcs.url, &database, &["--fire-tag", "--yes", "--refire"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 10, "{backend:?}: --refire sends them again");
}

#[test]
fn unknown_tokens_are_exceptions_with_a_suggestion() {
    every_backend(unknown_token);
}

fn unknown_token(backend: Backend) {
    let directory = tempfile::tempdir().unwrap();
    let Some(database) = database_url(backend, directory.path()) else { return };
    let known = unique_token("known");
    support::accounts_add(&database, &known, "dcs-test");
    let no_connection = unique_token("noconn");
    insert_account_without_connection(&database, &no_connection);
    std::fs::write(directory.path().join("mapping.json"), r#"{"events": ["sale"]}"#).unwrap();
    // The second token is the known one with its last character changed: a typo.
    let mut typo = known.clone();
    typo.pop();
    typo.push(if known.ends_with('0') { '1' } else { '0' });
    let csv = directory.path().join("tokens.csv");
    std::fs::write(
        &csv,
        format!(
            "account_token,event_name,event_time,customer_id\n{known},sale,2024-06-01 10:00,c1\n{typo},sale,2024-06-01 10:00,c2\n{no_connection},sale,2024-06-01 10:00,c3\n"
        ),
    )
    .unwrap();
    let output = directory.path().join("out");
    let run = command(&csv, &output, "http://127.0.0.1:9/tag", &database, &["--dump-data"]).output().unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let exceptions = dump_lines(&output, "exceptions");
    assert_eq!(exceptions.len(), 2, "{exceptions:?}");
    assert!(exceptions[0].starts_with("row 3, column \"account_token\" (account_token):"), "{}", exceptions[0]);
    assert!(exceptions[0].contains(&format!("did you mean \"{known}\"")), "{}", exceptions[0]);
    assert!(exceptions[0].contains("replayer accounts add --token"), "{}", exceptions[0]);
    assert!(exceptions[1].starts_with("row 4") && exceptions[1].contains("without a connection"), "{}", exceptions[1]);
    assert!(!text(&run).contains("NOT checked"));
}

#[test]
fn without_a_database_the_summary_says_tokens_were_not_checked() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), "t0k3n-n0-db-0001", 2);
    let output = directory.path().join("out");
    let run = support::replayer_on("nodb", &csv, &output, &["--dump-data"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("NOT checked against attrib_account"), "{}", text(&run));
    // A dry run without a database touches none: no SQLite file appears.
    assert!(!output.join("replayer.sqlite").exists());
}

#[test]
fn an_unreachable_database_stops_before_sending_and_hides_its_password() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), "t0k3n-unreach-01", 2);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dcs = Dcs::ok();
    let url = format!("mysql://replayer:s3cr3t-pw@127.0.0.1:{port}/attrib");
    let started = Instant::now();
    let run = command(&csv, &directory.path().join("out"), &dcs.url, &url, &["--fire-tag", "--yes"]).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(!text(&run).contains("s3cr3t-pw"), "the password was printed: {}", text(&run));
    assert!(text(&run).contains("127.0.0.1"), "{}", text(&run));
    assert_eq!(dcs.hit_count(), 0);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_second_live_run_for_the_same_account_refuses_to_start() {
    every_backend(overlapping_runs);
}

fn overlapping_runs(backend: Backend) {
    let directory = tempfile::tempdir().unwrap();
    let Some(database) = database_url(backend, directory.path()) else { return };
    let token = unique_token("lock");
    support::accounts_add(&database, &token, "dcs-test");
    let csv = client(directory.path(), &token, 200);
    // The DCS holds its answers until the second run is over: the first is firing all along,
    // however slow the machine.
    let gate = Gate::shut();
    let held = gate.clone();
    let dcs = Dcs::start(move |_, _| Reply::Held(held.clone(), 200));
    let first_output = directory.path().join("first");
    let first = command(
        &csv,
        &first_output,
        &dcs.url,
        &database,
        &["--fire-tag", "--yes", "--concurrency", "2", "--timeout", "600"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    dcs.wait_for_hits(2);
    let second =
        named("second-run", &csv, &directory.path().join("second"), &dcs.url, &database, &["--fire-tag", "--yes"])
            .output()
            .unwrap();
    let hits_while_second_ran = dcs.hit_count();
    gate.open();
    let first = first.wait_with_output().unwrap();
    assert_eq!(second.status.code(), Some(2), "{backend:?}: {}", text(&second));
    assert!(text(&second).contains("journal-test"), "names the first run: {}", text(&second));
    assert!(text(&second).contains(&token), "names the locked account: {}", text(&second));
    assert!(!text(&second).contains("error: the argument"), "{}", text(&second));
    assert_eq!(hits_while_second_ran, 2, "{backend:?}: the refused run sent nothing");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(dcs.hit_count(), 200, "{backend:?}: only the first run sent");
}

#[test]
fn a_run_that_loses_its_lock_stops() {
    every_backend(lock_lost);
}

fn lock_lost(backend: Backend) {
    let directory = tempfile::tempdir().unwrap();
    let Some(database) = database_url(backend, directory.path()) else { return };
    let token = unique_token("lost");
    support::accounts_add(&database, &token, "dcs-test");
    let csv = client(directory.path(), &token, 400);
    let dcs = Dcs::start(|_, _| Reply::Slow(Duration::from_millis(20), 200));
    let mut child = command(
        &csv,
        &directory.path().join("out"),
        &dcs.url,
        &database,
        &["--fire-tag", "--yes", "--concurrency", "2"],
    )
    .env("REPLAYER_HEARTBEAT_SECONDS", "0.3")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    dcs.wait_for_hits(10);
    // Another run takes the lock over, as it would a stale one.
    execute(
        &database,
        "UPDATE replayer_lock SET run_name = 'thief', run_token = 'th1ef000' WHERE account_token = ?",
        &token,
    );
    let hits_at_takeover = dcs.hit_count();
    let output = {
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break child.wait_with_output().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{backend:?}: the run went on without its lock");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(output.status.code(), Some(3), "{backend:?}: {}", text(&output));
    assert!(text(&output).contains("lost its lock"), "{}", text(&output));
    assert!(dcs.hit_count() < 400 && dcs.hit_count() >= hits_at_takeover, "{backend:?}: it stopped sending");
}
