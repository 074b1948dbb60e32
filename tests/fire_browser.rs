//! A real browser fires from the pages of `replayer serve` (SPEC §10): chromium through
//! chromedriver (fantoccini), as in tests/browser.rs. An operator signs in, uploads the example
//! client, confirms the pre-flight, watches the progress pushed by server-sent events reach
//! 32/32 against an in-process DCS, and sees the results; the same file again fires nothing.
//! Without chromedriver it is skipped, except under CI=true.

#[path = "api/helpers.rs"]
mod helpers;

mod support;

#[path = "webdriver/mod.rs"]
mod webdriver;

use std::collections::HashMap;

use fantoccini::{Client, Locator};
use replayer::db::users::Role;

use helpers::{repo, spawn_app_with};
use webdriver::{browser, screenshot, start_driver, wait_for_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_fires_the_example_from_the_page_and_watches_it_reach_32_of_32() {
    let Some((webdriver, _driver)) = start_driver().await else { return };
    let dcs = std::thread::spawn(support::Dcs::ok).join().unwrap();
    let url = dcs.url.clone();
    // 10 a second: the fire lasts about three seconds, long enough to watch.
    let app = spawn_app_with(move |config| {
        config.request_url = url;
        config.firing.rate = Some("10".into());
    })
    .await;
    app.add_user("olga@example.com", Role::Operator).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(&webdriver, profile.path()).await;
    let outcome = run(&app, &browser, &dcs).await;
    let _ = browser.close().await;
    dcs.go_away();
    outcome.unwrap();
}

async fn upload_example(browser: &Client) -> Result<String, fantoccini::error::CmdError> {
    browser.find(Locator::Css("a.brand")).await?.click().await?;
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    let example = repo("clients/example/example.csv");
    browser.find(Locator::Css("#file")).await?.send_keys(&example.display().to_string()).await?;
    wait_for_text(browser, "#header-check", |text| text.contains("Every header")).await;
    browser.find(Locator::Css("#upload-button")).await?.click().await?;
    assert_eq!(wait_for_text(browser, "#count-valid", |text| !text.is_empty()).await, "32");
    Ok(browser.current_url().await?.path().trim_start_matches("/uploads/").to_owned())
}

async fn confirm(browser: &Client, rows: &str) -> Result<(), fantoccini::error::CmdError> {
    wait_for_text(browser, "#fire-link", |text| text.starts_with("Send")).await;
    browser.find(Locator::Css("#fire-link")).await?.click().await?;
    assert_eq!(wait_for_text(browser, "#rows-to-fire", |text| !text.is_empty()).await, rows);
    browser.find(Locator::Css("#confirm-rows")).await?.send_keys(rows).await?;
    browser.find(Locator::Css("#fire-button")).await?.click().await?;
    Ok(())
}

async fn run(app: &helpers::TestApp, browser: &Client, dcs: &support::Dcs) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/")).await?;
    browser.find(Locator::Css("input[name=email]")).await?.send_keys("olga@example.com").await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(helpers::PASSWORD).await?;
    browser.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
    wait_for_text(browser, "header .who", |text| text.contains("olga@example.com")).await;

    let id = upload_example(browser).await?;
    let preflight = {
        wait_for_text(browser, "#fire-link", |text| text.starts_with("Send")).await;
        browser.find(Locator::Css("#fire-link")).await?.click().await?;
        wait_for_text(browser, "#preflight", |text| text.contains("About to fire 32 tags")).await
    };
    assert!(preflight.contains("dates the nightly jobs will backdate"), "{preflight}");
    screenshot(browser, "fire-confirmation").await;
    browser.back().await?;
    confirm(browser, "32").await?;

    // The counts move on the page without a reload (server-sent events), then the results. A
    // mark left on the page tells a reload apart: at the end the page is loaded again.
    browser.execute("window.stillTheFiringPage = true;", vec![]).await?;
    let read = "var text = function (id) { var e = document.getElementById(id); return e ? e.textContent : null; };\
                return [window.stillTheFiringPage === true, text('fire-done'), text('fire-total')];";
    let started = std::time::Instant::now();
    let (midway, total) = loop {
        let seen: (bool, Option<String>, Option<String>) =
            serde_json::from_value(browser.execute(read, vec![]).await?)?;
        let done = seen.1.as_deref().and_then(|text| text.parse::<u32>().ok());
        assert!(seen.0, "the page was loaded again before the counts moved on it (last seen {done:?}/32)");
        if let Some(done @ 1..=31) = done {
            break (done, seen.2);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the counts never moved: {done:?}/32");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    };
    assert_eq!(total.as_deref(), Some("32"), "at {midway}/32");
    screenshot(browser, "fire-progress").await;
    wait_for_text(browser, "#fire-status", |text| text == "finished").await;
    screenshot(browser, "fire-finished").await;
    assert_eq!(browser.find(Locator::Css("#fire-fired")).await?.text().await?, "32");
    assert_eq!(browser.find(Locator::Css("#fire-accepted")).await?.text().await?, "32");
    let summary = browser.find(Locator::Css("#summary")).await?.prop("textContent").await?.unwrap_or_default();
    assert!(summary.contains("accepted"), "the summary of §9: {summary}");
    for kind in ["requests", "requests-validated", "responses", "exceptions"] {
        browser.find(Locator::Css(&format!("#downloads a[href$='/dumps/{kind}']"))).await?;
    }
    let mut rids: HashMap<String, usize> = HashMap::new();
    for hit in dcs.hits() {
        *rids.entry(hit.rid().to_owned()).or_insert(0) += 1;
    }
    assert_eq!(rids.len(), 32);
    assert!(rids.values().all(|&count| count == 1), "each rid once: {rids:?}");
    // Six rows still need a fix, so the file is kept for them (SPEC §12).
    assert_eq!(app.chunks(&id).await, 1, "the staged file is kept beside its 6 exceptions");
    assert!(browser.find(Locator::Css("#staged")).await?.text().await?.starts_with("yes"));
    let verdict = browser.find(Locator::Css("#verdict-line")).await?.text().await?;
    assert!(verdict.starts_with("Sent: 32 rows accepted.") && verdict.contains("6 rows need a fix"), "{verdict}");

    // The same file again: every row already fired, none sent.
    upload_example(browser).await?;
    confirm(browser, "0").await?;
    wait_for_text(browser, "#fire-status", |text| text == "finished").await;
    assert_eq!(browser.find(Locator::Css("#fire-already")).await?.text().await?, "32");
    assert_eq!(browser.find(Locator::Css("#fire-fired")).await?.text().await?, "0");
    assert_eq!(dcs.hit_count(), 32);
    Ok(())
}
