//! A real browser on the pages of `replayer serve`: Debian's chromium driven through
//! chromedriver with fantoccini. The test starts chromedriver on a free port (or uses
//! CHROMEDRIVER_URL). Without chromedriver it is skipped, except under CI=true, where that is a
//! failure.

#[path = "api/helpers.rs"]
mod helpers;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use replayer::db::users::Role;
use serde_json::json;

use helpers::{repo, run_cli, spawn_app};

/// chromedriver, stopped when the test ends however it ends.
struct Driver(Option<Child>);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn chromedriver_path() -> Option<std::path::PathBuf> {
    let from_env = std::env::var_os("CHROMEDRIVER").map(std::path::PathBuf::from);
    from_env
        .into_iter()
        .chain(["/usr/bin/chromedriver".into(), "/usr/lib/chromium/chromedriver".into()])
        .find(|p| p.is_file())
}

/// The WebDriver URL and the driver process we started, if any; `None` to skip.
async fn start_driver() -> Option<(String, Driver)> {
    if let Ok(url) = std::env::var("CHROMEDRIVER_URL") {
        return Some((url, Driver(None)));
    }
    let Some(path) = chromedriver_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is not installed: .ci/run must install the chromium and chromium-driver packages"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(Some(child));
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not answer on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some((url, driver))
}

async fn browser(webdriver: &str, profile: &std::path::Path) -> Client {
    let chromium = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("chromium starts under chromedriver")
}

/// Waits until the element's text satisfies `ok`; returns that text.
async fn wait_for_text(browser: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if ok(&text) {
                    return text;
                }
            }
        }
        if start.elapsed() > Duration::from_secs(20) {
            let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = browser.source().await.unwrap_or_default();
            panic!("{css} never showed the text awaited; the page {url} is:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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

    // A wrong file: the missing headers are shown before anything is sent.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "Account Token,Event,Date,Visitor\nex4mpl3-t0k3n-0001,offline_sale,02/06/2024,v-1\n")
        .unwrap();
    browser.find(Locator::Css("#client option[value=example]")).await?.click().await?;
    browser.find(Locator::Css("#file")).await?.send_keys(&wrong.display().to_string()).await?;
    let message = wait_for_text(browser, "#header-check", |text| text.contains("lacks")).await;
    assert!(message.contains("\"Sale Date\"") && message.contains("\"Order Ref\""), "{message}");
    assert!(!browser.find(Locator::Css("#upload-button")).await?.is_enabled().await?);
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
    let cli = run_cli(&example, &repo("clients/example/mapping.json"));
    let cli_rows: Vec<String> = cli.dumps["exceptions"]
        .lines()
        .map(|line| line[4..].chars().take_while(char::is_ascii_digit).collect())
        .collect();
    let mut rows = Vec::new();
    for cell in browser.find_all(Locator::Css("table#exceptions td.row")).await? {
        rows.push(cell.text().await?);
    }
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
    wait_for_text(browser, "#state", |text| text == "deleted").await;
    assert!(browser.find(Locator::Css("#staged")).await?.text().await?.starts_with("no"));
    assert_eq!(app.chunks(&id).await, 0);
    Ok(())
}
