//! The check runs the command line's code: the same counts, rows, messages and dumps as
//! `replayer --dump-data` on the same file, for the example client and the reading fixtures.

use replayer::db::users::Role;

use crate::helpers::{repo, run_cli, spawn_app, spawn_app_with, summary_count, CliRun, TestApp};

/// The API's counts and the dumps of an upload equal the command line's.
fn assert_same_as_cli(app: &TestApp, id: &str, upload: &serde_json::Value, cli: &CliRun, case: &str) {
    assert_eq!(upload["error"], serde_json::Value::Null, "{case}: {upload}");
    let counts = &upload["counts"];
    assert_eq!(counts["rows"], summary_count(&cli.stdout, "rows read"), "{case}");
    assert_eq!(counts["valid"], summary_count(&cli.stdout, "valid"), "{case}");
    assert_eq!(counts["exceptions"], summary_count(&cli.stdout, "with exceptions"), "{case}");
    assert_eq!(counts["warnings"], summary_count(&cli.stdout, "with warnings"), "{case}");
    let web = app.dumps_of(id);
    assert_eq!(web.keys().collect::<Vec<_>>(), cli.dumps.keys().collect::<Vec<_>>(), "{case}: the dumps written");
    for (kind, text) in &cli.dumps {
        assert!(web[kind] == *text, "{case}: the {kind} dump differs:\n{}\n---\n{text}", web[kind]);
    }
    // One entry a problem: a row with two problems is listed twice, the dump's line holds both.
    let mut rows: Vec<u64> =
        upload["exceptions"].as_array().unwrap().iter().map(|e| e["row"].as_u64().unwrap()).collect();
    rows.dedup();
    let cli_rows: Vec<u64> = cli
        .dumps
        .get("exceptions")
        .map(|text| {
            let row =
                |line: &str| line[4..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
            text.lines().map(row).collect()
        })
        .unwrap_or_default();
    assert_eq!(rows, cli_rows, "{case}: the exception rows");
}

#[tokio::test]
async fn the_example_checks_as_the_command_line_does() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let csv = repo("clients/example/example.csv");
    let id = browser.upload_and_check("example", &csv).await;
    let upload = browser.api(&id).await;
    let cli = run_cli(&csv, &repo("clients/example/mapping.json"));
    assert_eq!(cli.code, 1, "{}", cli.stderr);
    assert_eq!((upload["counts"]["valid"].as_i64(), upload["counts"]["exceptions"].as_i64()), (Some(32), Some(6)));
    assert_eq!(upload["state"], "checked");
    assert_eq!(upload["staged"], true);
    assert_same_as_cli(&app, &id, &upload, &cli, "example");
    let first = &upload["exceptions"][0];
    assert!(first["column"].is_string() && first["field"].is_string() && first["message"].is_string(), "{first}");

    // The page: the summary, the counts and every exception with its row.
    let page = browser.get(&format!("/uploads/{id}")).await.text().await.unwrap();
    assert!(page.contains("<td id=\"count-valid\">32</td>"), "{page}");
    assert!(page.contains("<td id=\"count-exceptions\">6</td>"), "{page}");
    // Coverage per account: the 32 valid rows of the one account.
    assert!(
        page.contains("id=\"coverage\"") && page.contains("<td>ex4mpl3-t0k3n-0001</td><td class=\"count\">32</td>"),
        "{page}"
    );
    for exception in upload["exceptions"].as_array().unwrap() {
        assert!(page.contains(&format!("<td class=\"row\">{}</td>", exception["row"])), "{page}");
    }
    let file = std::fs::read_to_string(&csv).unwrap();
    for email in file.split([',', '\n']).filter(|cell| cell.contains('@')) {
        assert!(!page.contains(email.trim()), "the file's e-mail address {email} is on the page");
    }
    assert!(page.contains("rows read:"), "the command line's summary");

    // The downloads: each dump written, and the exceptions report.
    for kind in ["requests", "requests-validated", "warnings", "exceptions"] {
        let response = browser.get(&format!("/uploads/{id}/dumps/{kind}")).await;
        assert_eq!(response.status(), 200, "{kind}");
        assert_eq!(response.text().await.unwrap(), cli.dumps[kind], "{kind}");
    }
    assert_eq!(browser.get(&format!("/api/uploads/{id}/dumps/requests")).await.status(), 200);
    assert_eq!(browser.get(&format!("/uploads/{id}/dumps/responses")).await.status(), 404);
    assert_eq!(browser.get(&format!("/uploads/{id}/dumps/passwd")).await.status(), 404);
    let report = browser.get(&format!("/uploads/{id}/dumps/exceptions-report")).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["row", "column", "field", "kind", "value", "message"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), upload["exceptions"].as_array().unwrap().len(), "one record a problem");
    let kinds: Vec<&str> = records.iter().map(|record| &record[3]).collect();
    assert!(kinds.contains(&"wrong_account_token") && kinds.contains(&"duplicate_order_id"), "{kinds:?}");
    let file = std::fs::read_to_string(&csv).unwrap();
    for email in file.split([',', '\n']).filter(|cell| cell.contains('@')) {
        assert!(!report.contains(email.trim()), "the file's e-mail address {email} is in the report");
    }
    assert_eq!(records[0][0], *upload["exceptions"][0]["row"].to_string());
}

#[tokio::test]
async fn exceptions_are_paged() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let example = std::fs::read_to_string(repo("clients/example/example.csv")).unwrap();
    let mut lines = example.lines();
    let mut csv = format!("{}\n", lines.next().unwrap());
    // A day over 12, so no day-and-month warning joins the one warning (SPEC §11.2).
    let row = lines.next().unwrap().replacen("02/06/2024", "20/06/2024", 1);
    for _ in 0..151 {
        csv.push_str(&row);
        csv.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeats.csv");
    std::fs::write(&path, csv).unwrap();
    let id = browser.upload_and_check("example", &path).await;
    let upload = browser.api(&id).await;
    assert_eq!((upload["counts"]["valid"].as_i64(), upload["counts"]["exceptions"].as_i64()), (Some(1), Some(150)));
    let first = browser.get(&format!("/uploads/{id}")).await.text().await.unwrap();
    assert_eq!(first.matches("<td class=\"row\">").count(), 100 + 1, "100 exceptions and the warning");
    assert!(first.contains(&format!("href=\"/uploads/{id}?ep=2&amp;wp=1#problems\"")), "{first}");
    assert!(first.contains("page 1 of 2 (150 problems)"), "{first}");
    let second = browser.get(&format!("/uploads/{id}?ep=2")).await.text().await.unwrap();
    assert!(second.contains("<td class=\"row\">152</td>") && !second.contains("<td class=\"row\">101</td>"));
    assert_eq!(second.matches("<td class=\"row\">").count(), 50 + 1);
}

#[tokio::test]
async fn the_reading_fixtures_check_as_the_command_line_does() {
    let app = spawn_app_with(|config| config.clients_dir = repo("tests/fixtures")).await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let mut cases: Vec<String> = std::fs::read_dir(repo("tests/fixtures"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().join("input.csv").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "{cases:?}");
    for case in &cases {
        let folder = repo("tests/fixtures").join(case);
        let csv = folder.join("input.csv");
        let id = browser.upload_and_check(case, &csv).await;
        let upload = browser.api(&id).await;
        let cli = run_cli(&csv, &folder.join("mapping.json"));
        if cli.code == 2 {
            // Could not start: the same message, naming the uploaded file.
            let error = upload["error"].as_str().unwrap_or_else(|| panic!("{case}: no error: {upload}"));
            let cli_error = cli.stderr.replace(&csv.display().to_string(), "input.csv");
            assert!(cli_error.contains(error), "{case}:\n{error}\n---\n{cli_error}");
            assert!(app.dumps_of(&id).is_empty() || app.dumps_of(&id) == cli.dumps, "{case}");
        } else {
            assert_same_as_cli(&app, &id, &upload, &cli, case);
        }
    }
}

#[tokio::test]
async fn a_workbook_upload_checks_as_the_command_line_does_on_it() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("example.xlsx");
    let typed =
        [("Sale Date", crate::support::workbook::Typed::Date), ("Qty", crate::support::workbook::Typed::Number)];
    crate::support::workbook::from_csv(&repo("clients/example/example.csv"), &xlsx, &typed);
    let id = browser.upload_and_check("example", &xlsx).await;
    let upload = browser.api(&id).await;
    let cli = run_cli(&xlsx, &repo("clients/example/mapping.json"));
    assert_eq!(cli.code, 1, "{}", cli.stderr);
    assert_eq!((upload["counts"]["valid"].as_i64(), upload["counts"]["exceptions"].as_i64()), (Some(32), Some(6)));
    assert_same_as_cli(&app, &id, &upload, &cli, "example.xlsx");
    // The workbook's messages name the cell as Excel does.
    let first = upload["exceptions"][0]["message"].as_str().unwrap_or_default().to_owned();
    let dump = &app.dumps_of(&id)["exceptions"];
    assert!(dump.contains(", cell "), "{first}\n{dump}");
}
