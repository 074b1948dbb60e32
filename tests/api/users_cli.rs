//! `replayer users add|list|token|remove` on the embedded SQLite file.

use std::io::Write;
use std::process::Stdio;

fn replayer(output_dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = crate::support::replayer()
        .arg("users")
        .args(args)
        .arg("--output-dir")
        .arg(output_dir)
        .env_remove("REPLAYER_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits before reading: a closed pipe is no failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let output = child.wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let add = ["add", "--email", "Ann@Example.com", "--role", "operator", "--password-stdin"];
    let (code, stdout, stderr) = replayer(out, &add, "correct horse battery\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("added ann@example.com as operator"), "{stdout}");
    let (code, _, stderr) = replayer(out, &add, "short\n");
    assert_eq!(code, 2);
    assert!(stderr.contains("shorter than 10 characters"), "{stderr}");
    let (code, _, stderr) = replayer(out, &["add", "--email", "ann", "--role", "analyst", "--password-stdin"], "x");
    assert_eq!(code, 2);
    assert!(stderr.contains("not an e-mail address"), "{stderr}");
    // Without a terminal and without --password-stdin: refused, not stuck.
    let (code, _, stderr) = replayer(out, &["add", "--email", "bob@example.com", "--role", "analyst"], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("--password-stdin"), "{stderr}");

    let (_, stdout, _) = replayer(out, &["list"], "");
    assert!(stdout.contains("operator  ann@example.com") && stdout.contains("1 user in"), "{stdout}");
    let (code, token, _) = replayer(out, &["token", "--email", "ann@example.com"], "");
    assert_eq!(code, 0);
    assert_eq!(token.trim().len(), 64);
    let database = replayer::db::Database::connect(&replayer::db::default_sqlite_url(out)).await.unwrap();
    let user = database.api_token_user(token.trim()).await.unwrap().expect("the token signs in");
    assert_eq!(user.email.as_str(), "ann@example.com");
    database.close().await;
    let (code, stdout, _) = replayer(out, &["remove", "--email", "ann@example.com"], "");
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = replayer(out, &["remove", "--email", "ann@example.com"], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("there is no user"), "{stderr}");
}
