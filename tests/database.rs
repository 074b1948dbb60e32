//! The database layer (SPEC §8): accounts, the journal and the run lock. Every behaviour runs
//! against SQLite (a temporary file), against MariaDB (REPLAYER_TEST_MYSQL_URL, printed by
//! `bash scripts/start-mariadb.sh`) and against PostgreSQL (REPLAYER_TEST_POSTGRES_URL, printed by
//! `bash scripts/start-postgres.sh`); `.ci/run` starts both. In CI a missing URL is a failure, not
//! a skip. The server tests share one database each, so each test uses account tokens of its own.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use replayer::db::{default_sqlite_url, redact_url, AccountChange, Database, JournalEntry, JournalState, RunInfo};
use sqlx::Executor as _;
use tempfile::TempDir;

const MYSQL_URL_VAR: &str = "REPLAYER_TEST_MYSQL_URL";
const POSTGRES_URL_VAR: &str = "REPLAYER_TEST_POSTGRES_URL";

struct TestDb {
    db: Database,
    url: String,
    _dir: Option<TempDir>,
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = default_sqlite_url(dir.path());
    let db = Database::connect(&url).await.unwrap();
    TestDb { db, url, _dir: Some(dir) }
}

/// The MariaDB of `scripts/start-mariadb.sh`, or None (after saying so loudly) when it is not
/// configured; in CI that is a failure.
async fn mysql_db(test: &str) -> Option<TestDb> {
    server_db(MYSQL_URL_VAR, "start-mariadb.sh", test).await
}

/// The PostgreSQL of `scripts/start-postgres.sh`, likewise.
async fn postgres_db(test: &str) -> Option<TestDb> {
    server_db(POSTGRES_URL_VAR, "start-postgres.sh", test).await
}

async fn server_db(variable: &str, script: &str, test: &str) -> Option<TestDb> {
    let url = server_url(variable, script, test)?;
    let db = Database::connect(&url).await.unwrap_or_else(|e| panic!("{variable} is set but: {e:#}"));
    Some(TestDb { db, url, _dir: None })
}

/// The URL a start script printed, or None when it is not set here; with CI set, a panic: a test
/// whose server is missing must fail, not pass without running.
fn server_url(variable: &str, script: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) => {
            panic!("{variable} is not set, and CI is: .ci/run must start the server (bash scripts/{script}) and export its URL")
        }
        _ => {
            // Straight to stderr: the test harness captures eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: set {variable} (bash scripts/{script}) ***");
            None
        }
    }
}

/// Each behaviour as a module with a `sqlite`, a `mysql` and a `postgres` test.
macro_rules! on_every_backend {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$behaviour(super::sqlite_db().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                if let Some(db) = super::mysql_db(concat!(stringify!($behaviour), "::mysql")).await {
                    super::$behaviour(db).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::postgres_db(concat!(stringify!($behaviour), "::postgres")).await {
                    super::$behaviour(db).await;
                }
            }
        }
    )*};
}

on_every_backend!(
    accounts_add_list_update,
    account_tokens_are_checked,
    accounts_table_is_created_or_required,
    journal_mark_sent_then_lookup,
    journal_mark_done_records_state_and_status,
    journal_batch_of_5000_rows,
    lock_refuses_a_second_run_until_released,
    stale_lock_is_taken_over,
    lock_race_between_two_processes_has_one_winner,
    journal_concurrent_writers_do_not_trip_over_each_other,
);

/// A token no other test (or earlier run against the same MariaDB) uses.
fn unique_token(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}-{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn rid(n: u64) -> String {
    format!("{n:032x}")
}

fn run(name: &str) -> RunInfo {
    RunInfo {
        name: name.to_owned(),
        token: unique_token("r").chars().rev().take(8).collect(),
        started_at_ms: 1_717_242_300_000, // 2024-06-01 11:45:00 UTC
    }
}

/// SQL the library has no reason to offer, straight through sqlx.
async fn raw_sql(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let result = pool.execute(sql).await;
        pool.close().await;
        result.map(|_| ())
    } else if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        let result = pool.execute(sql).await;
        pool.close().await;
        result.map(|_| ())
    } else {
        let pool = sqlx::MySqlPool::connect(url).await?;
        let result = pool.execute(sql).await;
        pool.close().await;
        result.map(|_| ())
    }
}

async fn accounts_add_list_update(t: TestDb) {
    let db = &t.db;
    db.ensure_accounts_table().await.unwrap();
    let first = unique_token("acct-b");
    let second = unique_token("acct-a");
    assert_eq!(db.add_account(&first, "dcs-eu-1", "Norton UK").await.unwrap(), AccountChange::Added);
    assert_eq!(db.add_account(&second, "dcs-eu-2", "").await.unwrap(), AccountChange::Added);

    let ours: Vec<_> =
        db.accounts().await.unwrap().into_iter().filter(|a| a.token == first || a.token == second).collect();
    assert_eq!(ours.len(), 2);
    assert_eq!(ours[0].token, second, "ordered by token");
    assert_eq!((ours[1].connection.as_str(), ours[1].label.as_str()), ("dcs-eu-1", "Norton UK"));

    match db.add_account(&first, "dcs-us-1", "Norton US").await.unwrap() {
        AccountChange::Updated { previous } => assert_eq!(previous.connection, "dcs-eu-1"),
        other => panic!("expected an update, got {other:?}"),
    }
    assert_eq!(db.add_account(&first, "dcs-us-1", "Norton US").await.unwrap(), AccountChange::Unchanged);
    let account = db.account(&first).await.unwrap().unwrap();
    assert_eq!((account.connection.as_str(), account.label.as_str()), ("dcs-us-1", "Norton US"));
    assert_eq!(db.accounts().await.unwrap().iter().filter(|a| a.token == first).count(), 1, "updated, not added twice");
}

async fn account_tokens_are_checked(t: TestDb) {
    let db = &t.db;
    db.ensure_accounts_table().await.unwrap();
    for bad in ["short", "has space 123", "semi;colon-1234", &"x".repeat(65), "ünïcode-token"] {
        let error = db.add_account(bad, "dcs-eu-1", "").await.unwrap_err().to_string();
        assert!(error.contains("not an account token") && error.contains("8 to 64"), "{bad}: {error}");
        assert!(db.account(bad).await.unwrap().is_none());
    }
    let token = unique_token("ok");
    let error = db.add_account(&token, "  ", "").await.unwrap_err().to_string();
    assert!(error.contains("--connection"), "{error}");
    assert!(db.account(&token).await.unwrap().is_none());
    assert!(db.add_account(&"y".repeat(64), "dcs-eu-1", "").await.is_ok(), "64 characters is allowed");
}

async fn accounts_table_is_created_or_required(t: TestDb) {
    if t.db.is_sqlite() {
        t.db.ensure_accounts_table().await.unwrap();
        t.db.ensure_accounts_table().await.unwrap();
        assert!(t.db.accounts().await.is_ok());
        return;
    }
    // A second database on the same server, without attrib_account.
    let (server, database) = t.url.split('?').next().unwrap().rsplit_once('/').unwrap();
    let bare_name = format!("{database}_bare");
    // PostgreSQL has no CREATE DATABASE IF NOT EXISTS: "already exists" is fine.
    let _ = raw_sql(&t.url, &format!("CREATE DATABASE {bare_name}")).await;
    let bare = Database::connect(&format!("{server}/{bare_name}")).await.unwrap();
    let error = format!("{:#}", bare.ensure_accounts_table().await.unwrap_err());
    assert!(error.contains("no attrib_account table") && error.contains("DBA"), "{error}");
    assert!(error.contains("CREATE TABLE attrib_account") && error.contains("account_token VARCHAR(64)"), "{error}");
    assert!(error.contains(":****@"), "names the redacted URL: {error}");
    let password = server.rsplit_once('@').unwrap().0.split_once("://").unwrap().1.split_once(':').unwrap().1;
    assert!(!error.contains(password), "{error}");
}

/// The journal's state of these keys: their accounts' log folded in first, as a run does.
async fn folded_lookup(db: &Database, keys: &[(String, String)]) -> HashMap<(String, String), JournalEntry> {
    let mut accounts: Vec<String> = keys.iter().map(|(account, _)| account.clone()).collect();
    accounts.sort();
    accounts.dedup();
    db.fold_journal(&accounts).await.unwrap();
    db.journal_lookup(keys).await.unwrap()
}

async fn journal_mark_sent_then_lookup(t: TestDb) {
    let db = &t.db;
    db.ensure_journal().await.unwrap();
    db.ensure_journal().await.unwrap();
    let account = unique_token("jrnl");
    let other_account = unique_token("jrnl-other");
    let first_run = run("norton-june");
    db.mark_sent(
        &first_run,
        &[(account.clone(), rid(1), 2), (account.clone(), rid(2), 3), (other_account.clone(), rid(1), 2)],
    )
    .await
    .unwrap();

    let keys = vec![
        (account.clone(), rid(1)),
        (account.clone(), rid(2)),
        (other_account.clone(), rid(1)),
        (account.clone(), rid(99)),
    ];
    let found = folded_lookup(db, &keys).await;
    assert_eq!(found.len(), 3, "the never-sent rid is absent");
    let entry = &found[&(account.clone(), rid(2))];
    assert_eq!(entry.state, JournalState::Sent);
    assert_eq!((entry.run_name.as_str(), entry.run_token.as_str()), ("norton-june", first_run.token.as_str()));
    assert_eq!((entry.row, entry.status), (3, None));
    assert!(entry.updated_at_ms > 1_700_000_000_000);

    // A later run (a rerun after a crash, or --refire) sends the row again: the journal says so.
    let second_run = run("norton-june-again");
    db.mark_sent(&second_run, &[(account.clone(), rid(2), 3)]).await.unwrap();
    let entry = &folded_lookup(db, &[(account.clone(), rid(2))]).await[&(account.clone(), rid(2))];
    assert_eq!((entry.state, entry.run_token.as_str()), (JournalState::Sent, second_run.token.as_str()));

    // One key twice in one batch: the last one counts (PostgreSQL would refuse it otherwise).
    db.mark_sent(&second_run, &[(account.clone(), rid(5), 6), (account.clone(), rid(5), 7)]).await.unwrap();
    assert_eq!(folded_lookup(db, &[(account.clone(), rid(5))]).await[&(account.clone(), rid(5))].row, 7);
    db.mark_sent::<String, String>(&second_run, &[]).await.unwrap();
    assert!(folded_lookup(db, &[]).await.is_empty());
}

async fn journal_mark_done_records_state_and_status(t: TestDb) {
    let db = &t.db;
    db.ensure_journal().await.unwrap();
    let account = unique_token("done");
    let the_run = run("norton-june");
    let rows: Vec<_> = (1..=4).map(|n| (account.clone(), rid(n), n + 1)).collect();
    db.mark_sent(&the_run, &rows).await.unwrap();
    db.mark_done(
        &the_run,
        &[
            (account.clone(), rid(1), 2, JournalState::Accepted, Some(200)),
            (account.clone(), rid(2), 3, JournalState::Failed, Some(400)),
            (account.clone(), rid(3), 4, JournalState::Failed, None),
            (account.clone(), rid(4), 5, JournalState::Accepted, Some(204)),
        ],
    )
    .await
    .unwrap();
    let keys: Vec<_> = (1..=4).map(|n| (account.clone(), rid(n))).collect();
    let found = folded_lookup(db, &keys).await;
    let seen: Vec<_> = keys.iter().map(|k| (found[k].state, found[k].status, found[k].row)).collect();
    assert_eq!(
        seen,
        [
            (JournalState::Accepted, Some(200), 2),
            (JournalState::Failed, Some(400), 3),
            (JournalState::Failed, None, 4),
            (JournalState::Accepted, Some(204), 5)
        ]
    );
    assert!(found.values().all(|e| e.run_name == "norton-june" && e.run_token == the_run.token));

    // Rerunning resends the failed row: mark_sent clears the old status.
    db.mark_sent(&run("rerun"), &[(account.clone(), rid(2), 3)]).await.unwrap();
    let entry = &folded_lookup(db, &keys[1..2]).await[&keys[1]];
    assert_eq!((entry.state, entry.status, entry.run_name.as_str()), (JournalState::Sent, None, "rerun"));
}

async fn journal_batch_of_5000_rows(t: TestDb) {
    let db = &t.db;
    db.ensure_journal().await.unwrap();
    let account = unique_token("bulk");
    let the_run = run("bulk-run");
    let rows: Vec<_> = (0..5000u64).map(|n| (account.clone(), rid(n), n + 2)).collect();

    let started = Instant::now();
    for batch in rows.chunks(1000) {
        db.mark_sent(&the_run, batch).await.unwrap();
    }
    let sent_elapsed = started.elapsed();

    let keys: Vec<_> = rows.iter().map(|(a, r, _)| (a.clone(), r.clone())).collect();
    let started = Instant::now();
    let found = folded_lookup(db, &keys).await;
    let lookup_elapsed = started.elapsed();
    assert_eq!(found.len(), 5000);
    assert!(found.values().all(|e| e.state == JournalState::Sent && e.run_name == "bulk-run"));
    assert_eq!(found[&(account.clone(), rid(4321))].row, 4323);

    let results: Vec<_> = rows
        .iter()
        .map(|(a, r, n)| {
            if n % 10 == 0 {
                (a.clone(), r.clone(), *n, JournalState::Failed, Some(503))
            } else {
                (a.clone(), r.clone(), *n, JournalState::Accepted, Some(200))
            }
        })
        .collect();
    let started = Instant::now();
    for batch in results.chunks(1000) {
        db.mark_done(&the_run, batch).await.unwrap();
    }
    let done_elapsed = started.elapsed();
    let found = folded_lookup(db, &keys).await;
    assert_eq!(found.values().filter(|e| e.state == JournalState::Accepted).count(), 4500);
    assert_eq!(found.values().filter(|e| e.status == Some(503)).count(), 500);

    // Small batches: one commit (one fsync on SQLite) per 100 rows.
    let small_batches: Vec<_> = (5000..10_000u64).map(|n| (account.clone(), rid(n), n + 2)).collect();
    let started = Instant::now();
    for batch in small_batches.chunks(100) {
        db.mark_sent(&the_run, batch).await.unwrap();
    }
    let small_elapsed = started.elapsed();

    let rate = |elapsed: Duration| 5000.0 / elapsed.as_secs_f64();
    let _ = writeln!(
        std::io::stderr(),
        "journal throughput on {:?}: mark_sent {:.0} rows/s in batches of 1000, {:.0} rows/s in batches of 100; \
         journal_lookup {:.0} rows/s; mark_done {:.0} rows/s in batches of 1000",
        db.backend(),
        rate(sent_elapsed),
        rate(small_elapsed),
        rate(lookup_elapsed),
        rate(done_elapsed)
    );
    let small_keys: Vec<_> = small_batches.iter().map(|(a, r, _)| (a.clone(), r.clone())).collect();
    let found = folded_lookup(db, &small_keys).await;
    assert_eq!(found.len(), 5000, "every row of the small batches was recorded");
    assert!(found.values().all(|e| e.state == JournalState::Sent && e.status.is_none()));
    assert_eq!(found[&(account.clone(), rid(9999))].row, 10_001);
}

async fn lock_refuses_a_second_run_until_released(t: TestDb) {
    let db = &t.db;
    db.ensure_journal().await.unwrap();
    let (a, b, c) = (unique_token("lock-a"), unique_token("lock-b"), unique_token("lock-c"));
    let first = run("first-run");
    let lock = db.acquire_lock(&[a.clone(), b.clone()], &first).await.unwrap();
    assert_eq!(lock.took_over(), None);
    lock.heartbeat().await.unwrap();

    let second = run("second-run");
    let error = db.acquire_lock(&[c.clone(), b.clone()], &second).await.err().expect("the second run must be refused");
    let message = format!("{error:#}");
    assert!(message.contains("first-run") && message.contains(&first.token), "names the first run: {message}");
    assert!(message.contains("2024-06-01 11:45:00 UTC"), "says when it started: {message}");
    assert!(message.contains(&b) && message.contains("3 minutes"), "{message}");
    // Nothing of the refused run stays locked: a third run can take C.
    let third = db.acquire_lock(std::slice::from_ref(&c), &run("third-run")).await.unwrap();
    third.release().await.unwrap();

    lock.release().await.unwrap();
    let lock = db.acquire_lock(&[c, b], &second).await.unwrap();
    assert_eq!(lock.took_over(), None);
    // The same run asking again (e.g. a second account list) is not refused by itself.
    db.acquire_lock(lock.accounts(), &second).await.unwrap();
    lock.release().await.unwrap();
}

async fn stale_lock_is_taken_over(t: TestDb) {
    let db = &t.db;
    db.ensure_journal().await.unwrap();
    let account = unique_token("stale");
    let dead = run("dead-run");
    let dead_lock = db.acquire_lock(std::slice::from_ref(&account), &dead).await.unwrap();
    // Its heartbeat stopped 4 minutes ago.
    raw_sql(
        &t.url,
        &format!("UPDATE replayer_lock SET heartbeat_at = heartbeat_at - 240000 WHERE account_token = '{account}'"),
    )
    .await
    .unwrap();

    let next = run("next-run");
    let lock = db.acquire_lock(std::slice::from_ref(&account), &next).await.unwrap();
    let note = lock.took_over().expect("a note about the stale lock");
    assert!(note.contains("dead-run") && note.contains(&dead.token) && note.contains(&account), "{note}");
    assert!(note.contains("4 min ago"), "{note}");

    // The dead run, if it was only asleep, learns it lost the lock.
    let error = dead_lock.heartbeat().await.unwrap_err().to_string();
    assert!(error.contains("lost its lock"), "{error}");
    lock.heartbeat().await.unwrap();
    // Releasing the old lock does not free the new owner's.
    dead_lock.release().await.unwrap();
    assert!(db.acquire_lock(std::slice::from_ref(&account), &run("third")).await.is_err());
    lock.release().await.unwrap();
}

/// Two processes (two pools) start at once, many times: exactly one gets the lock each time.
async fn lock_race_between_two_processes_has_one_winner(t: TestDb) {
    t.db.ensure_journal().await.unwrap();
    let other_process = Database::connect(&t.url).await.unwrap();
    for round in 0..20 {
        let account = unique_token(&format!("race{round}"));
        let accounts = [account];
        let (run_one, run_two) = (run("one"), run("two"));
        let (one, two) =
            tokio::join!(t.db.acquire_lock(&accounts, &run_one), other_process.acquire_lock(&accounts, &run_two));
        assert!(
            one.is_ok() != two.is_ok(),
            "round {round}: exactly one winner (one: {:?}, two: {:?})",
            one.is_ok(),
            two.is_ok()
        );
        let winner = one.or(two).unwrap();
        winner.release().await.unwrap();
    }
}

/// The firing code writes from several tasks at once, and a second process may share the file.
async fn journal_concurrent_writers_do_not_trip_over_each_other(t: TestDb) {
    t.db.ensure_journal().await.unwrap();
    let other_process = Database::connect(&t.url).await.unwrap();
    let account = unique_token("busy");
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8u64 {
        let db = if writer % 2 == 0 { t.db.clone() } else { other_process.clone() };
        let account = account.clone();
        writers.spawn(async move {
            let the_run = run(&format!("writer-{writer}"));
            for round in 0..10u64 {
                let rows: Vec<_> =
                    (0..200).map(|n| (account.clone(), rid(writer << 32 | round << 16 | n), n)).collect();
                db.mark_sent(&the_run, &rows).await?;
                let results: Vec<_> = rows
                    .iter()
                    .map(|(a, r, n)| (a.clone(), r.clone(), *n, JournalState::Accepted, Some(200)))
                    .collect();
                db.mark_done(&the_run, &results).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = writers.join_next().await {
        result.unwrap().unwrap();
    }
    let keys: Vec<_> = (0..8u64)
        .flat_map(|w| (0..10u64).flat_map(move |r| (0..200).map(move |n| rid(w << 32 | r << 16 | n))))
        .map(|r| (account.clone(), r))
        .collect();
    let found = folded_lookup(&t.db, &keys).await;
    assert_eq!(found.len(), 16_000);
    assert!(found.values().all(|e| e.state == JournalState::Accepted));
}

#[tokio::test]
async fn unreachable_mysql_fails_without_the_password() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("mysql://attrib:Sup3r%2FS3cret-pw@127.0.0.1:{closed_port}/attrib");
    // A generous bound: what is tested is that a refused connection is an error, not a wait.
    let error = tokio::time::timeout(Duration::from_secs(60), Database::connect(&url))
        .await
        .expect("connecting to a closed port hung for a minute")
        .expect_err("nothing listens there");
    let pool_debug = format!("{:?}", Database::connect("sqlite::memory:").await.unwrap());
    assert_eq!(pool_debug, "Database { url: \"sqlite::memory:\", .. }");
    for text in [format!("{error}"), format!("{error:#}"), format!("{error:?}")] {
        assert!(!text.contains("Sup3r") && !text.contains("S3cret"), "{text}");
        assert!(
            text.contains(&format!("mysql://attrib:****@127.0.0.1:{closed_port}/attrib")),
            "names the redacted URL: {text}"
        );
        assert!(text.contains("check that the server is running"), "says what to do: {text}");
    }
}

#[tokio::test]
async fn bad_urls_are_clear_errors_without_the_password() {
    for url in
        ["oracle://u:Sup3rS3cret@h/db", "mysql://u:Sup3rS3cret@h:notaport/db", "postgres://u:Sup3rS3cret@[::1/db"]
    {
        let error = format!("{:#}", Database::connect(url).await.err().unwrap());
        assert!(!error.contains("Sup3rS3cret"), "{error}");
        assert!(error.contains("****"), "{error}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_on_both_servers() {
    for (variable, script) in [(MYSQL_URL_VAR, "start-mariadb.sh"), (POSTGRES_URL_VAR, "start-postgres.sh")] {
        let Some(url) = server_url(variable, script, "a_wrong_password_is_a_clear_error_on_both_servers") else {
            continue;
        };
        let (before, after) = url.split_once("://").unwrap();
        let (user, host) = after.split_once(':').unwrap();
        let (_, rest) = host.rsplit_once('@').unwrap();
        let wrong = format!("{before}://{user}:Not-The-Pw-4711@{rest}");
        let error = format!("{:#}", Database::connect(&wrong).await.err().unwrap());
        assert!(!error.contains("Not-The-Pw-4711") && error.contains("****"), "{variable}: {error}");
        assert!(error.contains("check the user, password and database name"), "{variable}: {error}");
    }
}

#[test]
fn redact_url_never_shows_the_password() {
    for (url, password) in [
        ("mysql://attrib:hunter2hunter2@db.internal:3306/attrib", "hunter2hunter2"),
        ("postgres://attrib:p%40ss%2Fword@db/attrib?sslmode=require", "p%40ss%2Fword"),
        ("mysql://attrib:un@encoded/pa?ss@db/attrib", "un@encoded/pa?ss"),
        ("mysql://db/attrib?user=attrib&password=hunter2hunter2", "hunter2hunter2"),
    ] {
        let redacted = redact_url(url);
        assert!(!redacted.contains(password) && redacted.contains("****"), "{url} → {redacted}");
    }
    assert_eq!(redact_url("sqlite:output/replayer.sqlite"), "sqlite:output/replayer.sqlite");
}

#[tokio::test]
async fn sqlite_default_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = default_sqlite_url(dir.path());
    let db = Database::connect(&url).await.unwrap();
    assert!(db.is_sqlite());
    assert!(dir.path().join("replayer.sqlite").exists(), "the file is created when missing");
    db.ensure_journal().await.unwrap();
    #[cfg(unix)]
    for file in ["replayer.sqlite", "replayer.sqlite-wal"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file} holds account tokens: owner only");
    }
    db.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
    assert_eq!(mode.0, "wal");

    let missing_folder = default_sqlite_url(&dir.path().join("no/such/folder"));
    let error = format!("{:#}", Database::connect(&missing_folder).await.err().unwrap());
    assert!(error.contains("folder exists"), "{error}");
}

#[tokio::test]
async fn accounts_command_uses_the_default_sqlite_file() {
    use replayer::accounts::run_accounts;
    use replayer::cli::commands::AccountsCommand;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("new-output");
    let add = AccountsCommand::Add {
        token: "ex4mpl3-t0k3n-0001".into(),
        connection: "dcs-eu-1".into(),
        label: Some("Example Ltd".into()),
    };
    run_accounts(add, None, &output).await.unwrap();
    // Updating the connection keeps the label when none is given.
    let update =
        AccountsCommand::Add { token: "ex4mpl3-t0k3n-0001".into(), connection: "dcs-eu-2".into(), label: None };
    run_accounts(update, None, &output).await.unwrap();
    run_accounts(AccountsCommand::List, None, &output).await.unwrap();
    assert!(output.join("replayer.sqlite").exists());
    let db = Database::connect(&default_sqlite_url(&output)).await.unwrap();
    let accounts: HashMap<_, _> = db.accounts().await.unwrap().into_iter().map(|a| (a.token.clone(), a)).collect();
    let account = &accounts["ex4mpl3-t0k3n-0001"];
    assert_eq!((account.connection.as_str(), account.label.as_str()), ("dcs-eu-2", "Example Ltd"));
}
