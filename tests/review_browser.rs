//! A real browser turns a wrong file into a right one in the page (SPEC §12): 5,000 rows of the
//! example client, 4,998 sharing one impossible date and two with a bad amount. One group of
//! 4,998 on the upload's page; one cell fixed in the grid, its row ready without a reload; the
//! date replaced in the column; the two rows downloaded, corrected as in Excel and uploaded back
//! as corrections; then an operator sends the file and the DCS receives the fixed values, each
//! rid once. Without chromedriver it is skipped, except under CI=true.

#[path = "api/helpers.rs"]
mod helpers;

mod support;

#[path = "webdriver/mod.rs"]
mod webdriver;

use std::collections::HashSet;

use fantoccini::{Client, Locator};
use replayer::db::users::Role;
use serde_json::json;

use helpers::spawn_app_with;
use webdriver::{assert_fits_a_phone, browser, screenshot, start_driver, wait_for_text};

const ROWS: usize = 5_000;
const BAD_DATE: &str = "31/02/2024 10:00";

/// The example's header, then 5,000 rows: 4,998 with February's 31st, the last two with an
/// amount written with a comma.
fn file() -> String {
    let example = std::fs::read_to_string(helpers::repo("clients/example/example.csv")).unwrap();
    let header = example.lines().next().unwrap();
    let mut csv = format!("{header}\n");
    for index in 0..ROWS {
        let bad_amount = index >= ROWS - 2;
        let date = if bad_amount { "20/06/2024 10:00" } else { BAD_DATE };
        let amount = if bad_amount { "\"12,50\"" } else { "10.00" };
        csv.push_str(&format!(
            "ex4mpl3-t0k3n-0001,offline_sale,{date},v-{index},CUST-{index},,,R-{index},{amount},GBP,1,,,,,,,,,,,ST01,Ann,\n"
        ));
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_file_is_fixed_in_the_page_and_sent_once() {
    let Some((webdriver, _driver)) = start_driver().await else { return };
    let dcs = std::thread::spawn(support::Dcs::ok).join().unwrap();
    let url = dcs.url.clone();
    let app = spawn_app_with(move |config| config.request_url = url).await;
    app.add_user("olga@example.com", Role::Operator).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&webdriver, profile.path()).await;
    let outcome = run(&app, &browser, &dcs).await;
    let _ = browser.close().await;
    dcs.go_away();
    outcome.unwrap();
}

async fn run(app: &helpers::TestApp, browser: &Client, dcs: &support::Dcs) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/")).await?;
    browser.find(Locator::Css("input[name=email]")).await?.send_keys("olga@example.com").await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(helpers::PASSWORD).await?;
    browser.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
    wait_for_text(browser, "header .who", |text| text.contains("olga@example.com")).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("june.csv");
    std::fs::write(&path, file()).unwrap();
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    browser.find(Locator::Css("#file")).await?.send_keys(&path.display().to_string()).await?;
    browser.find(Locator::Css("#upload-button")).await?.click().await?;
    wait_for_text(browser, "#count-exceptions", |text| text == "5,000").await;
    let id = browser.current_url().await?.path().trim_start_matches("/uploads/").to_owned();

    // One group of 4,998, its bad value shown.
    let verdict = browser.find(Locator::Css("#verdict-line")).await?.text().await?;
    assert!(verdict.contains("Nothing can be sent") && verdict.contains("5,000 rows need a fix"), "{verdict}");
    let groups = browser.find_all(Locator::Css("table#groups tbody tr")).await?;
    let mut first = Vec::new();
    for cell in groups[0].find_all(Locator::Css("td")).await? {
        first.push(cell.text().await?);
    }
    assert_eq!(first[0], "Sale Date");
    assert_eq!(first[2], "4,998", "{first:?}");
    assert!(first[4].contains(BAD_DATE), "{first:?}");
    screenshot(browser, "review-groups").await;
    assert_fits_a_phone(browser).await;

    // The grid: row 2's date fixed; the row turns ready without a reload.
    browser.find(Locator::Css("#fix-rows")).await?.click().await?;
    wait_for_text(browser, "#row-2 td.state", |text| text == "needs a fix").await;
    browser.execute("window.stillTheGrid = true;", vec![]).await?;
    let cell = browser.find(Locator::Css("#row-2 input[name='c:Sale Date']")).await?;
    cell.clear().await?;
    cell.send_keys("20/06/2024 10:00\t").await?;
    wait_for_text(browser, "#row-2 td.state", |text| text == "ready").await;
    let still = browser.execute("return window.stillTheGrid === true;", vec![]).await?;
    assert_eq!(still, json!(true), "the row was checked again without a reload");
    assert!(browser.find(Locator::Css("#row-2 td.cell.bad")).await.is_err(), "no cell of row 2 is marked");
    screenshot(browser, "review-grid").await;
    assert_fits_a_phone(browser).await;

    // Replace in column: the other 4,997 dates.
    browser.find(Locator::Css("#replace-form option[value='Sale Date']")).await?.click().await?;
    browser.find(Locator::Css("#replace-form input[name=from]")).await?.send_keys(BAD_DATE).await?;
    browser.find(Locator::Css("#replace-form input[name=to]")).await?.send_keys("21/06/2024 10:00").await?;
    browser.find(Locator::Css("#replace-button")).await?.click().await?;
    let said = wait_for_text(browser, "#grid-message", |text| !text.is_empty()).await;
    assert!(said.contains("4,997 cells"), "{said}");

    // The rows that need a fix, as CSV, corrected as in Excel and uploaded back.
    wait_checked(app, &id).await;
    let rejected = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);",
            vec![json!(format!("/api/uploads/{id}/rejected.csv"))],
        )
        .await?;
    let rejected = rejected.as_str().unwrap_or_default().to_owned();
    assert_eq!(rejected.lines().count(), 3, "the header and the two rows:\n{rejected}");
    assert!(rejected.lines().next().unwrap().starts_with("Row,"), "{rejected}");
    let corrected = rejected.replace("\"12,50\"", "12.50");
    assert_ne!(corrected, rejected, "the amounts are in the download:\n{rejected}");
    let corrections = dir.path().join("corrections.csv");
    std::fs::write(&corrections, corrected).unwrap();
    browser.goto(&app.url(&format!("/uploads/{id}/fix"))).await?;
    browser.find(Locator::Css("#corrections-file")).await?.send_keys(&corrections.display().to_string()).await?;
    browser.find(Locator::Css("#corrections-button")).await?.click().await?;
    let said = wait_for_text(browser, "#grid-message", |text| !text.is_empty()).await;
    assert!(said.starts_with("2 rows were replaced"), "{said}");

    // Every row ready: the operator sends them.
    wait_checked(app, &id).await;
    browser.goto(&app.url(&format!("/uploads/{id}"))).await?;
    wait_for_text(browser, "#count-valid", |text| text == "5,000").await;
    // The history of the changes: 1 in the grid, 4,997 replaced, 2 corrected, the newest first.
    let page = browser.find(Locator::Css("main")).await?.text().await?;
    // (Clearing the cell before typing is a change of its own.)
    let changes: u64 = page
        .lines()
        .find_map(|line| line.split_once(" changes.").map(|(count, _)| count.replace(',', "")))
        .and_then(|count| count.parse().ok())
        .unwrap_or_default();
    assert!((5_000..=5_001).contains(&changes), "{page}");
    let history = browser.find(Locator::Css("table#edits tbody tr")).await?.text().await?;
    assert!(history.contains("olga@example.com") && history.contains("12,50 12.50"), "{history}");
    browser.find(Locator::Css("#verdict-send")).await?.click().await?;
    let rows = wait_for_text(browser, "#rows-to-fire", |text| !text.is_empty()).await;
    assert_eq!(rows, "5,000");
    browser.find(Locator::Css("#confirm-rows")).await?.send_keys("5,000").await?;
    browser.find(Locator::Css("#fire-button")).await?.click().await?;
    wait_for_text(browser, "#fire-status", |text| text == "finished").await;

    let hits = dcs.hits();
    let rids: HashSet<&str> = hits.iter().map(|hit| hit.rid()).collect();
    assert_eq!((hits.len(), rids.len()), (ROWS, ROWS), "each rid once");
    let date_of = |customer: &str| {
        hits.iter().find(|hit| hit.get("customer_id") == Some(customer)).and_then(|hit| hit.get("event_time"))
    };
    assert_eq!(date_of("CUST-0"), Some("2024-06-20T09:00:00Z"), "the cell fixed in the grid");
    assert_eq!(date_of("CUST-1"), Some("2024-06-21T09:00:00Z"), "the column replaced");
    let amount = hits.iter().find(|hit| hit.get("customer_id") == Some("CUST-4999")).and_then(|hit| hit.get("revenue"));
    assert_eq!(amount, Some("12.50"), "the correction uploaded back");
    screenshot(browser, "review-sent").await;
    Ok(())
}

/// Waits for the upload's check (after edits, it is checked again) to end.
async fn wait_checked(app: &helpers::TestApp, id: &str) {
    let session = app.sign_in("olga@example.com").await;
    let upload = session.wait_checked(id).await;
    assert_ne!(upload["state"], "checking");
}
