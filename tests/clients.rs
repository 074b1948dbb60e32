//! `replayer clients list|show|import|export` and the main job's `--client` (SPEC §2, §13): the
//! example's mapping moved into a SQLite database and back, and a run on the stored mapping
//! giving the same tags as a run on the file.

mod support;

use std::path::{Path, PathBuf};

use support::{accounts_add, example_csv, replayer, run};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn clients(database: &str, args: &[&str]) -> (i32, String, String) {
    let output = replayer().arg("clients").args(args).args(["--database-url", database]).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

fn rids(dir: &Path, name: &str, args: &[&str]) -> Vec<String> {
    let ran = run(name, &example_csv(), dir, args);
    ran.expect_code(1); // the example's six rows with exceptions
    ran.dumps(name).validated().into_iter().map(|(_, payload)| payload["rid"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_example_is_imported_listed_shown_exported_and_run_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", dir.path().join("replayer.sqlite").display());
    import_list_show_export_run(&database, dir.path());
}

#[test]
fn the_same_on_mariadb() {
    if let Some(database) = server_database("REPLAYER_TEST_MYSQL_URL") {
        import_list_show_export_run(&database, tempfile::tempdir().unwrap().path());
    }
}

#[test]
fn the_same_on_postgres() {
    if let Some(database) = server_database("REPLAYER_TEST_POSTGRES_URL") {
        import_list_show_export_run(&database, tempfile::tempdir().unwrap().path());
    }
}

/// A database of its own on the server of `variable` (set by `.ci/run`), with the platform's
/// attrib_account (which the tool creates only on SQLite); `None` (skipped) when it is not set.
fn server_database(variable: &str) -> Option<String> {
    let url = match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must set {variable}");
            eprintln!("SKIPPED: set {variable} to run this test");
            return None;
        }
    };
    let (server, database) = url.rsplit_once('/').unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("{database}_clients_{}_{:x}", std::process::id(), nanos);
    let fresh = format!("{server}/{name}");
    let id = if url.starts_with("mysql") { "INTEGER PRIMARY KEY AUTO_INCREMENT" } else { "SERIAL PRIMARY KEY" };
    let ddl = format!(
        "CREATE TABLE attrib_account (id {id}, account_token VARCHAR(64) NOT NULL UNIQUE, \
         connection VARCHAR(255) NOT NULL DEFAULT '', label VARCHAR(255) NOT NULL DEFAULT '')"
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        if url.starts_with("mysql") {
            let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
            let pool = sqlx::MySqlPool::connect(&fresh).await.unwrap();
            sqlx::query(&ddl).execute(&pool).await.unwrap();
        } else {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
            let pool = sqlx::PgPool::connect(&fresh).await.unwrap();
            sqlx::query(&ddl).execute(&pool).await.unwrap();
        }
    });
    Some(fresh)
}

fn import_list_show_export_run(database: &str, dir: &Path) {
    let database = database.to_owned();

    let (code, stdout, stderr) = clients(&database, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("no clients in "), "{stdout}");

    // A clients folder: each subfolder with a mapping.json.
    let (code, stdout, stderr) = clients(&database, &["import", repo("clients").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("example: imported ") && stdout.contains("as version 1"), "{stdout}");
    // One client's folder, unchanged: no new version.
    let (code, stdout, stderr) = clients(&database, &["import", repo("clients/example").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("example: unchanged (version 1)"), "{stdout}");

    let (code, stdout, stderr) = clients(&database, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("example  \"Example Ltd\"  version 1  saved by import"), "{stdout}");

    let (code, stdout, stderr) = clients(&database, &["show", "example"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("client example: \"Example Ltd\", version 1"), "{stdout}");
    assert!(
        stdout.contains("  1  saved by import at ") && stdout.contains("\"account_token\": \"ex4mpl3-t0k3n-0001\"")
    );

    let file = std::fs::read_to_string(repo("clients/example/mapping.json")).unwrap();
    let (code, stdout, stderr) = clients(&database, &["export", "example"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, file, "export gives the file's mapping");
    let exported = dir.join("exported.json");
    let (code, _, stderr) = clients(&database, &["export", "example", "--output", exported.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&exported).unwrap(), file);
    let (code, _, stderr) = clients(&database, &["export", "example", "--output", exported.to_str().unwrap()]);
    assert_eq!(code, 2, "never over an existing file");
    assert!(stderr.contains("never overwritten"), "{stderr}");

    // The same rows, the same rids, from the stored mapping as from the file.
    // Both runs check the tokens against the same database.
    accounts_add(&database, "ex4mpl3-t0k3n-0001", "dcs-eu-1");
    let mapping = repo("clients/example/mapping.json");
    let from_file = rids(
        &dir.join("file"),
        "file",
        &["--dump-data", "--mapping", mapping.to_str().unwrap(), "--database-url", &database],
    );
    let stored =
        rids(&dir.join("stored"), "stored", &["--dump-data", "--client", "example", "--database-url", &database]);
    assert_eq!(from_file.len(), 32);
    assert_eq!(stored, from_file);
}

#[test]
fn wrong_names_and_missing_databases_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", dir.path().join("replayer.sqlite").display());
    let output = dir.path().join("output");

    let (code, _, stderr) = clients(&database, &["show", "nobody"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("there is no client nobody") && stderr.contains("replayer clients import"), "{stderr}");
    let (code, _, stderr) = clients(&database, &["export", "../x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a client's name"), "{stderr}");

    // A folder with a wrong mapping: nothing imported, the key named.
    let bad = dir.path().join("clients/typo");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("mapping.json"), r#"{"client": "Typo", "colums": {}}"#).unwrap();
    let (code, _, stderr) = clients(&database, &["import", dir.path().join("clients").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nothing imported") && stderr.contains("did you mean \"columns\""), "{stderr}");

    let ran = run("c", &example_csv(), &output, &["--client", "example", "--mapping", "m.json"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("--client") && ran.stderr.contains("--mapping"), "{}", ran.stderr);
    let ran = run("c", &example_csv(), &output, &["--client", "example"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("give --database-url"), "{}", ran.stderr);
    let ran = run("c", &example_csv(), &output, &["--client", "nobody", "--database-url", &database]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("there is no client nobody"), "{}", ran.stderr);
}
