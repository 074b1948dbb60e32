//! `replayer accounts add` and `replayer accounts list` (SPEC §8), as a user types them: the
//! table they print, in the embedded SQLite file or the database given.

mod support;

use support::replayer;

fn accounts(output_dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = replayer().arg("accounts").args(args).arg("--output-dir").arg(output_dir).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

#[test]
fn list_prints_the_accounts_as_an_aligned_table() {
    let directory = tempfile::tempdir().unwrap();
    let output_dir = directory.path().join("output");

    let (code, stdout, stderr) = accounts(&output_dir, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("no accounts in "), "{stdout}");
    assert!(stdout.contains("replayer accounts add --token"), "says how to add one: {stdout}");

    let add = ["add", "--token", "zz-t0k3n-0002", "--connection", "dcs-us-1"];
    let (code, stdout, stderr) = accounts(&output_dir, &add);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("added account zz-t0k3n-0002"), "{stdout}");
    let add = ["add", "--token", "ex4mpl3-t0k3n-0001", "--connection", "dcs-eu-1", "--label", "Example Ltd"];
    assert_eq!(accounts(&output_dir, &add).0, 0);
    assert!(output_dir.join("replayer.sqlite").exists(), "the embedded database is created by add");

    let (code, stdout, stderr) = accounts(&output_dir, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "TOKEN               CONNECTION  LABEL",
            "ex4mpl3-t0k3n-0001  dcs-eu-1    Example Ltd",
            "zz-t0k3n-0002       dcs-us-1",
        ],
        "ordered by token, columns aligned:\n{stdout}"
    );
    assert!(lines[3].starts_with("2 accounts in "), "{stdout}");
    assert_eq!(lines.len(), 4, "{stdout}");

    // The same table from an explicit --database-url naming the same file.
    let url = format!("sqlite:{}", output_dir.join("replayer.sqlite").display());
    let elsewhere = directory.path().join("unused");
    let (code, listed, stderr) = accounts(&elsewhere, &["list", "--database-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(listed.lines().take(3).collect::<Vec<_>>(), lines[..3]);
    assert!(!elsewhere.exists(), "with --database-url, the output directory is not touched");
}

#[test]
fn updating_an_account_says_what_changed() {
    let directory = tempfile::tempdir().unwrap();
    let output_dir = directory.path().join("output");
    let add = ["add", "--token", "ex4mpl3-t0k3n-0001", "--connection", "dcs-eu-1", "--label", "Example Ltd"];
    assert_eq!(accounts(&output_dir, &add).0, 0);
    let (code, stdout, _) = accounts(&output_dir, &add);
    assert_eq!(code, 0);
    assert!(stdout.contains("already in") && stdout.contains("nothing changed"), "{stdout}");
    let (code, stdout, _) =
        accounts(&output_dir, &["add", "--token", "ex4mpl3-t0k3n-0001", "--connection", "dcs-eu-2"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("updated account ex4mpl3-t0k3n-0001"), "{stdout}");
    assert!(stdout.contains(r#"connection "dcs-eu-1" → "dcs-eu-2""#), "{stdout}");
    assert!(!stdout.contains("label"), "the label was kept, not changed: {stdout}");
}
