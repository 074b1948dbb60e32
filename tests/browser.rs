//! A real browser on the pages of `replayer serve`: Debian's chromium driven through
//! chromedriver with fantoccini. The test starts chromedriver on a free port (or uses
//! CHROMEDRIVER_URL). Without chromedriver it is skipped, except under CI=true, where that is a
//! failure.

#[path = "api/helpers.rs"]
mod helpers;
mod support;

#[path = "webdriver/mod.rs"]
mod webdriver;

use fantoccini::{Client, Locator};
use replayer::db::users::Role;
use serde_json::json;

use helpers::{repo, run_cli, spawn_app};
use webdriver::{assert_fits_a_phone, browser, screenshot, start_driver, wait_for_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_upload_check_download_and_delete_in_a_real_browser() {
    let Some((webdriver, _driver)) = start_driver().await else { return };
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&webdriver, profile.path()).await;
    let outcome = run(&app, &browser).await;
    let _ = browser.close().await;
    outcome.unwrap();
}

async fn run(app: &helpers::TestApp, browser: &Client) -> Result<(), fantoccini::error::CmdError> {
    // Signed out, every page leads to the sign-in page.
    browser.goto(&app.url("/")).await?;
    assert!(browser.current_url().await?.path().ends_with("/login"));
    browser.find(Locator::Css("input[name=email]")).await?.send_keys("ann@example.com").await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(helpers::PASSWORD).await?;
    browser.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
    wait_for_text(browser, "header .who", |text| text.contains("ann@example.com")).await;

    // A file with other headers: they are named before anything is sent, and the upload can go
    // on (its columns are matched after it, SPEC §13; tests/mapping_browser.rs).
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "Account Token,Event,Date,Visitor\nex4mpl3-t0k3n-0001,offline_sale,02/06/2024,v-1\n")
        .unwrap();
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    browser.find(Locator::Css("#file")).await?.send_keys(&wrong.display().to_string()).await?;
    let message = wait_for_text(browser, "#header-check", |text| text.contains("not there")).await;
    assert!(message.contains("\"Sale Date\"") && message.contains("\"Order Ref\""), "{message}");
    assert!(message.contains("match its columns to the mapping after the upload"), "{message}");
    assert!(browser.find(Locator::Css("#upload-button")).await?.is_enabled().await?);
    screenshot(browser, "missing-headers").await;
    assert!(app.db.uploads(10).await.unwrap().is_empty(), "nothing was uploaded");

    // The example: every header there, uploaded with a progress bar, checked live.
    browser.refresh().await?;
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    let example = repo("clients/example/example.csv");
    browser.find(Locator::Css("#file")).await?.send_keys(&example.display().to_string()).await?;
    wait_for_text(browser, "#header-check", |text| text.contains("Every header")).await;
    browser.find(Locator::Css("#upload-button")).await?.click().await?;
    let valid = wait_for_text(browser, "#count-valid", |text| !text.is_empty()).await;
    assert_eq!(valid, "32");
    assert_eq!(browser.find(Locator::Css("#count-exceptions")).await?.text().await?, "6");
    screenshot(browser, "checked").await;
    assert_fits_a_phone(browser).await;
    let cli = run_cli(&example, &repo("clients/example/mapping.json"));
    let cli_rows: Vec<String> = cli.dumps["exceptions"]
        .lines()
        .map(|line| line[4..].chars().take_while(char::is_ascii_digit).collect())
        .collect();
    let mut rows = Vec::new();
    for cell in browser.find_all(Locator::Css("table#exceptions td.row")).await? {
        rows.push(cell.text().await?);
    }
    // One line a problem: a row with two problems is listed twice.
    rows.dedup();
    assert_eq!(rows, cli_rows);
    let id = browser.current_url().await?.path().trim_start_matches("/uploads/").to_owned();
    assert_eq!(app.chunks(&id).await, 1);

    // A dump, downloaded with the browser's session.
    let link = browser.find(Locator::Css("#downloads a[href$='/dumps/requests']")).await?;
    let href = link.attr("href").await?.expect("a link");
    let text = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);",
            vec![json!(href)],
        )
        .await?;
    assert_eq!(text.as_str(), Some(cli.dumps["requests"].as_str()));

    // Delete: the staged rows leave the database, the history stays.
    browser.find(Locator::Css("#delete-button")).await?.click().await?;
    // A page says what is deleted and what is kept, and asks.
    let asked = wait_for_text(browser, "main", |text| text.contains("Kept:")).await;
    assert!(asked.contains("Deleted:") && asked.contains("history"), "{asked}");
    screenshot(browser, "delete-confirm").await;
    assert_fits_a_phone(browser).await;
    browser.find(Locator::Css("#confirm-delete")).await?.click().await?;
    wait_for_text(browser, "#state", |text| text == "deleted").await;
    assert!(browser.find(Locator::Css("#staged")).await?.text().await?.starts_with("no"));
    assert_eq!(app.chunks(&id).await, 0);

    // The example as the workbook a client's Excel holds: the same counts as its CSV.
    let xlsx = dir.path().join("example.xlsx");
    support::workbook::from_csv(
        &example,
        &xlsx,
        &[("Sale Date", support::workbook::Typed::Date), ("Qty", support::workbook::Typed::Number)],
    );
    browser.goto(&app.url("/")).await?;
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    browser.find(Locator::Css("#file")).await?.send_keys(&xlsx.display().to_string()).await?;
    let message = wait_for_text(browser, "#header-check", |text| !text.is_empty()).await;
    assert!(message.contains("headers are checked after the upload"), "{message}");
    screenshot(browser, "workbook-chosen").await;
    browser.find(Locator::Css("#upload-button")).await?.click().await?;
    let valid = wait_for_text(browser, "#count-valid", |text| !text.is_empty()).await;
    assert_eq!(valid, "32");
    assert_eq!(browser.find(Locator::Css("#count-exceptions")).await?.text().await?, "6");
    screenshot(browser, "workbook-checked").await;
    Ok(())
}
