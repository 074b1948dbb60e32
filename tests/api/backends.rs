//! The server's tables on MariaDB (REPLAYER_TEST_MYSQL_URL) and PostgreSQL
//! (REPLAYER_TEST_POSTGRES_URL), both started and set by `.ci/run`: users, sessions, the upload
//! staged as BLOB chunks, checked, deleted. Under CI a missing server fails the test.

use replayer::db::users::Role;

use crate::helpers::{repo, spawn_app_with};

fn url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must set {variable}");
            eprintln!("SKIPPED: set {variable} to run this test");
            None
        }
    }
}

async fn upload_check_delete(database_url: String) {
    let app = spawn_app_with(|config| config.database_url = database_url).await;
    let email = format!("backend-{}@example.com", std::process::id());
    app.add_user(&email, Role::Operator).await;
    let browser = app.sign_in(&email).await;
    // Past one chunk, so the order of the chunks matters.
    let example = std::fs::read_to_string(repo("clients/example/example.csv")).unwrap();
    let mut lines = example.lines();
    let mut csv = format!("{}\n", lines.next().unwrap());
    let rows: Vec<&str> = lines.collect();
    let mut count = 0;
    while csv.len() < (1 << 20) + 4096 {
        for row in &rows {
            csv.push_str(row);
            csv.push('\n');
            count += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.csv");
    std::fs::write(&path, &csv).unwrap();
    let id = browser.upload_and_check("example", &path).await;
    let upload = browser.api(&id).await;
    assert_eq!(upload["error"], serde_json::Value::Null, "{upload}");
    assert_eq!(upload["counts"]["rows"], count, "{upload}");
    assert_eq!(upload["size_bytes"], csv.len(), "{upload}");
    assert_eq!(app.chunks(&id).await, 2);
    let response = browser.post_form(&format!("/uploads/{id}/delete"), &[("csrf", &browser.csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.chunks(&id).await, 0);
    assert_eq!(browser.api(&id).await["state"], "deleted");
}

#[tokio::test]
async fn uploads_are_staged_checked_and_deleted_on_mariadb() {
    if let Some(url) = url("REPLAYER_TEST_MYSQL_URL") {
        upload_check_delete(url).await;
    }
}

#[tokio::test]
async fn uploads_are_staged_checked_and_deleted_on_postgres() {
    if let Some(url) = url("REPLAYER_TEST_POSTGRES_URL") {
        upload_check_delete(url).await;
    }
}
