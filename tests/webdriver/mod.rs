//! A real browser for the tests of the pages: Debian's chromium driven through chromedriver with
//! fantoccini. `start_driver` starts chromedriver on a free port (or uses CHROMEDRIVER_URL);
//! without chromedriver the test is skipped, except under CI=true, where that is a failure.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// chromedriver, stopped when the test ends however it ends.
pub struct Driver(Option<Child>);

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
pub async fn start_driver() -> Option<(String, Driver)> {
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

pub async fn browser(webdriver: &str, profile: &std::path::Path) -> Client {
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

/// With REPLAYER_SCREENSHOTS=DIR, a PNG of the page as `DIR/name.png`, to look at.
pub async fn screenshot(browser: &Client, name: &str) {
    // At a desktop's width and at a phone's (SPEC §12: 390 px), then back to the desktop's.
    if let Some(dir) = std::env::var_os("REPLAYER_SCREENSHOTS") {
        for width in [390, 1280] {
            let _ = browser.set_window_size(width, 1000).await;
            if let Ok(png) = browser.screenshot().await {
                let _ = std::fs::write(std::path::Path::new(&dir).join(format!("{name}-{width}.png")), png);
            }
        }
    }
}

/// At a phone's width (390 px) the page does not scroll sideways (SPEC §12): only the tables
/// that say so (`.wide`) do, inside themselves. Panics naming the elements that stick out.
pub async fn assert_fits_a_phone(browser: &Client) {
    let _ = browser.set_window_size(390, 900).await;
    let script = r##"
        const width = document.documentElement.clientWidth;
        const out = [];
        for (const element of document.querySelectorAll("body *")) {
            const parent = element.parentElement;
            if (parent && (parent.closest(".wide") || parent.closest("pre"))) { continue; }
            const right = element.getBoundingClientRect().right;
            if (right > width + 1) { out.push(element.tagName + (element.id ? "#" + element.id : "") + " " + Math.round(right)); }
        }
        return [document.documentElement.scrollWidth, width, out.slice(0, 10)];
    "##;
    let measured = browser.execute(script, vec![]).await.expect("the page runs a script");
    let _ = browser.set_window_size(1280, 1000).await;
    let (scroll, width) = (measured[0].as_f64().unwrap_or(0.0), measured[1].as_f64().unwrap_or(0.0));
    // No element sticks out (a few pixels of a glyph's overhang aside).
    let out = measured[2].as_array().map_or(0, Vec::len);
    assert!(
        out == 0 && scroll <= width + 8.0,
        "at 390 px the page scrolls sideways ({scroll} > {width}): {}",
        measured[2]
    );
}

/// Waits until the element's text satisfies `ok`; returns that text.
pub async fn wait_for_text(browser: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
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
