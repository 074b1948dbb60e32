//! Firing through an HTTP proxy (SPEC §7): a real forwarding proxy started here on 127.0.0.1
//! carries every request when HTTP_PROXY names it, none when NO_PROXY names the DCS, and
//! `--proxy` works without the variables; the summary names the proxy, its password masked.

mod support;

use support::{client, Dcs, ForwardProxy};

const ROWS: usize = 200;

/// A live run of `ROWS` rows with these variables set (all others removed).
fn fire(dcs: &Dcs, variables: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), ROWS);
    let mut command = support::replayer_to(
        "proxied",
        &csv,
        &directory.path().join("out"),
        &dcs.url,
        &[&["--fire-tag", "--yes", "--concurrency", "4"], extra].concat(),
    );
    command.envs(variables.iter().copied());
    command.output().unwrap()
}

fn tag_requests(proxy: &ForwardProxy) -> usize {
    proxy
        .request_lines()
        .iter()
        .filter(|line| line.starts_with("GET http://127.0.0.1:") && line.contains("/tag?"))
        .count()
}

#[test]
fn with_http_proxy_every_request_goes_through_the_proxy() {
    let (dcs, proxy) = (Dcs::ok(), ForwardProxy::start());
    let run = fire(&dcs, &[("HTTP_PROXY", &proxy.url)], &[]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(dcs.hit_count(), ROWS);
    assert_eq!(tag_requests(&proxy), ROWS, "{:?}", &proxy.request_lines()[..3]);
    assert!(stdout.contains(&format!("through the proxy:  {}", proxy.url)), "{stdout}");
}

#[test]
fn no_proxy_naming_the_dcs_sends_nothing_through_the_proxy() {
    let (dcs, proxy) = (Dcs::ok(), ForwardProxy::start());
    let run = fire(&dcs, &[("HTTP_PROXY", &proxy.url), ("NO_PROXY", "example.com,127.0.0.1")], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(dcs.hit_count(), ROWS);
    assert_eq!(proxy.request_lines(), Vec::<String>::new());
    assert!(!String::from_utf8_lossy(&run.stdout).contains("proxy"));
}

#[test]
fn the_proxy_option_is_used_without_the_variables_and_its_password_is_masked() {
    let (dcs, proxy) = (Dcs::ok(), ForwardProxy::start());
    let with_user = proxy.url.replace("http://", "http://ann:s3cret@");
    let run = fire(&dcs, &[], &["--proxy", &with_user]);
    let all = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{all}");
    assert_eq!(tag_requests(&proxy), ROWS);
    // Basic ann:s3cret, on every request.
    assert!(proxy.authorizations().iter().all(|value| value.as_deref() == Some("Basic YW5uOnMzY3JldA==")));
    assert!(!all.contains("s3cret"), "the password is printed:\n{all}");
    assert!(all.contains(&proxy.url.replace("http://", "http://ann:****@")), "{all}");
}

#[test]
fn a_proxy_that_cannot_be_reached_is_named_in_the_failures() {
    let dcs = Dcs::ok();
    let closed = support::closed_port_url().replace("/tag", "");
    let run = fire(&dcs, &[("HTTP_PROXY", &closed)], &["--max-retries", "0"]);
    let all =
        support::flat(&format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr)));
    assert_eq!(run.status.code(), Some(3), "{all}");
    assert_eq!(dcs.hit_count(), 0);
    assert!(all.contains("proxy ×"), "{all}");
}
