//! Column matching and the clients' mappings in a real browser (SPEC §13): the example with two
//! headers renamed is uploaded anyway, its columns matched on the page with the suggested
//! choice, and checked (32 rows ready); then an operator saves that matching as the client's
//! mapping, adds an event name in the client's form, and sees the versions. Screenshots at 1280
//! and 390 px with REPLAYER_SCREENSHOTS=DIR; every page fits a phone.

#[path = "api/helpers.rs"]
mod helpers;
mod support;

#[path = "webdriver/mod.rs"]
mod webdriver;

use fantoccini::{Client, Locator};
use replayer::db::users::Role;

use helpers::{repo, spawn_app};
use webdriver::{assert_fits_a_phone, browser, screenshot, start_driver, wait_for_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_file_is_matched_and_its_matching_saved_as_the_mapping_in_a_real_browser() {
    let Some((webdriver, _driver)) = start_driver().await else { return };
    let app = spawn_app().await;
    app.add_user("olu@example.com", Role::Operator).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&webdriver, profile.path()).await;
    let outcome = run(&app, &browser).await;
    let _ = browser.close().await;
    outcome.unwrap();
}

/// The example with "Sale Date" and "Order Ref" renamed, as a client might write them.
fn renamed_example(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo("clients/example/example.csv")).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let header = header.replace("Sale Date", "Date of Sale").replace("Order Ref", "Order Reference");
    let path = dir.join("renamed.csv");
    std::fs::write(&path, format!("{header}\n{rest}")).unwrap();
    path
}

async fn value_of(browser: &Client, css: &str) -> Result<String, fantoccini::error::CmdError> {
    Ok(browser.find(Locator::Css(css)).await?.prop("value").await?.unwrap_or_default())
}

async fn run(app: &helpers::TestApp, browser: &Client) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/login")).await?;
    browser.find(Locator::Css("input[name=email]")).await?.send_keys("olu@example.com").await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(helpers::PASSWORD).await?;
    browser.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
    wait_for_text(browser, "header .who", |text| text.contains("olu@example.com")).await;

    // The browser names the headers that differ, and the upload goes on anyway.
    let dir = tempfile::tempdir().unwrap();
    let renamed = renamed_example(dir.path());
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    browser.find(Locator::Css("#file")).await?.send_keys(&renamed.display().to_string()).await?;
    let message = wait_for_text(browser, "#header-check", |text| text.contains("not there")).await;
    assert!(message.contains("\"Sale Date\"") && message.contains("after the upload"), "{message}");
    screenshot(browser, "renamed-chosen").await;
    browser.find(Locator::Css("#upload-button")).await?.click().await?;

    // The check fails on the headers, and the page leads to the matching.
    wait_for_text(browser, "#match-columns", |text| text.contains("Match the columns")).await;
    screenshot(browser, "renamed-checked").await;
    assert_fits_a_phone(browser).await;
    browser.find(Locator::Css("#match-columns")).await?.click().await?;

    // The best matches are chosen: by name, and by the first values (dates).
    wait_for_text(browser, "h1", |text| text.starts_with("Match the columns")).await;
    assert_eq!(value_of(browser, "#f-event_time").await?, "h:Date of Sale");
    assert_eq!(value_of(browser, "#f-order_id").await?, "h:Order Reference");
    assert_eq!(value_of(browser, "#f-revenue").await?, "h:Sale Value");
    let lacking = browser.find(Locator::Css("#lacking")).await?.text().await?;
    assert!(
        lacking.contains("\"Sale Date\" (event_time)") && lacking.contains("\"Order Ref\" (order_id)"),
        "{lacking}"
    );
    // The first rows, personal data masked.
    let preview = browser.find(Locator::Css("#preview")).await?.text().await?;
    assert!(preview.contains("EX-5001") && preview.contains("(e-mail address, not shown)"), "{preview}");
    assert!(!preview.contains("sam.1@example.com") && !preview.contains("7946"), "{preview}");
    screenshot(browser, "columns").await;
    assert_fits_a_phone(browser).await;

    // Confirmed: checked again with it, 32 rows ready as with the template's headers.
    browser.find(Locator::Css("#confirm-matching")).await?.click().await?;
    let valid = wait_for_text(browser, "#count-valid", |text| !text.is_empty()).await;
    assert_eq!(valid, "32");
    let version = browser.find(Locator::Css("#mapping-version")).await?.text().await?;
    assert!(version.contains("version 1, with this upload's own column matching"), "{version}");
    screenshot(browser, "columns-confirmed").await;

    saved_as_the_mapping(app, browser).await
}

async fn saved_as_the_mapping(app: &helpers::TestApp, browser: &Client) -> Result<(), fantoccini::error::CmdError> {
    // An operator saves the matching as the client's mapping: version 2, and the file checked
    // with it alone.
    browser.find(Locator::Css("#change-matching")).await?.click().await?;
    wait_for_text(browser, "h1", |text| text.starts_with("Match the columns")).await;
    assert_eq!(value_of(browser, "#f-event_time").await?, "h:Date of Sale");
    browser.find(Locator::Css("#save-as-mapping")).await?.click().await?;
    wait_for_text(browser, "#mapping-version", |text| text.contains("version 2")).await;
    let valid = wait_for_text(browser, "#count-valid", |text| !text.is_empty()).await;
    assert_eq!(valid, "32");
    let version = browser.find(Locator::Css("#mapping-version")).await?.text().await?;
    assert!(!version.contains("own column matching"), "{version}");

    // The clients, by their own names.
    browser.goto(&app.url("/clients")).await?;
    let clients = wait_for_text(browser, "#clients", |text| text.contains("Example Ltd")).await;
    assert!(clients.contains("example"), "{clients}");
    screenshot(browser, "clients").await;
    assert_fits_a_phone(browser).await;
    browser.find(Locator::Css("#clients a[href='/clients/example']")).await?.click().await?;
    wait_for_text(browser, "#client-version", |text| text.contains("version 2")).await;

    // A new event name, tried on the uploaded file first, then saved.
    browser.find(Locator::Css("#events")).await?.send_keys("\nphone_sale").await?;
    browser.find(Locator::Css("#preview-mapping")).await?.click().await?;
    let preview = wait_for_text(browser, "#mapping-preview", |text| !text.is_empty()).await;
    assert!(preview.contains("Every column this mapping reads is in renamed.csv"), "{preview}");
    assert!(preview.contains("EX-5001") && !preview.contains("sam.1@example.com"), "{preview}");
    let events = value_of(browser, "#events").await?;
    assert!(events.ends_with("phone_sale"), "what was typed is kept: {events}");
    screenshot(browser, "client-preview").await;
    browser.find(Locator::Css("#save-mapping")).await?.click().await?;
    wait_for_text(browser, "#saved", |text| text.contains("Saved as version 3")).await;

    // The versions: who, when, what changed.
    let mut changed = Vec::new();
    for cell in browser.find_all(Locator::Css("#history td.changed")).await? {
        changed.push(cell.text().await?);
    }
    assert_eq!(changed, ["events", "columns.event_time, columns.order_id", "the first version"]);
    let history = browser.find(Locator::Css("#history")).await?.text().await?;
    assert!(history.contains("olu@example.com") && history.contains("import"), "{history}");
    screenshot(browser, "client").await;
    assert_fits_a_phone(browser).await;
    Ok(())
}
