//! `https:` (SPEC §7): the DCS's certificate is checked against the system's store plus
//! `--ca-cert`, and every way a connection fails says what failed. The TLS server runs in the
//! test on 127.0.0.1, with a CA and a certificate made by rcgen for this test alone.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{client, closed_port_url, dump_lines, Dcs, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A DCS behind TLS: answers 200 to every request on a kept-alive connection.
struct TlsDcs {
    url: String,
    /// The PEM of the CA that signed its certificate.
    ca_pem: String,
    requests: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsDcs {
    fn start() -> TlsDcs {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "replayer test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let certificate =
            CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![certificate.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("https://{}/tag", listener.local_addr().unwrap());
        let (requests, handshakes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (served, shaken) = (requests.clone(), handshakes.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, served, shaken) = (acceptor.clone(), served.clone(), shaken.clone());
                tokio::spawn(async move {
                    shaken.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut stream) = acceptor.accept(stream).await else { return };
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // One answer per request head: the client sends GETs without bodies.
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            buffer.drain(..end + 4);
                            served.fetch_add(1, Ordering::SeqCst);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                        }
                    }
                });
            }
        });
        TlsDcs { url, ca_pem: ca.pem(), requests, handshakes, _runtime: runtime }
    }
}

fn live(csv: &Path, output: &Path, url: &str, extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = support::replayer_to("tls", csv, output, url, &[&["--fire-tag", "--yes", "--quiet"], extra].concat())
        .output()
        .unwrap();
    (output, started.elapsed())
}

use support::text;

fn errors(output: &Path) -> Vec<String> {
    dump_lines(output, "responses")
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter_map(|value| value["error"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_dcs_whose_ca_is_given_with_ca_cert_is_trusted() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 50);
    let dcs = TlsDcs::start();
    let ca = directory.path().join("ca.pem");
    std::fs::write(&ca, &dcs.ca_pem).unwrap();
    let output = directory.path().join("out");
    let (run, _) = live(&csv, &output, &dcs.url, &["--ca-cert", ca.to_str().unwrap(), "--concurrency", "4"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("accepted:           50"), "{}", text(&run));
    assert_eq!(dcs.requests.load(Ordering::SeqCst), 50);
    assert!(dcs.handshakes.load(Ordering::SeqCst) <= 4, "connections are kept alive over TLS");
}

#[test]
fn an_untrusted_certificate_stops_the_run_at_once_with_exit_3_and_says_why() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 500);
    let dcs = TlsDcs::start();
    let output = directory.path().join("out");
    let (run, elapsed) = live(&csv, &output, &dcs.url, &["--concurrency", "4"]);
    let all = format!("{}{:?}", text(&run), errors(&output).first());
    assert_eq!(run.status.code(), Some(3), "{all}");
    assert!(all.contains("certificate of 127.0.0.1 is not trusted"), "{all}");
    assert!(all.contains("UnknownIssuer") && all.contains("--ca-cert"), "rustls's reason and the fix: {all}");
    assert!(all.contains("Retrying every row cannot fix this"), "{all}");
    // At once: no retries, no request got through, only the first connections were tried.
    assert_eq!(dcs.requests.load(Ordering::SeqCst), 0);
    assert!(dcs.handshakes.load(Ordering::SeqCst) <= 4, "{} handshakes", dcs.handshakes.load(Ordering::SeqCst));
    assert!(errors(&output).len() <= 4);
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[test]
fn a_host_name_that_does_not_resolve_stops_the_run_at_once_with_exit_3() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 200);
    let output = directory.path().join("out");
    // A label longer than 63 bytes: the system's resolver refuses it without asking any server.
    let url = format!("http://{}.invalid/tag", "a".repeat(64));
    let (run, _) = live(&csv, &output, &url, &["--concurrency", "2"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(text(&run).contains("does not resolve"), "{}", text(&run));
    let errors = errors(&output);
    assert!(!errors.is_empty() && errors.len() <= 2, "{errors:?}");
}

#[test]
fn a_refused_connection_and_a_timeout_say_so() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    let output = directory.path().join("refused");
    let (run, _) = live(&csv, &output, &closed_port_url(), &["--max-retries", "0"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(errors(&output)[0].starts_with("connection refused by 127.0.0.1:"), "{:?}", errors(&output));

    let slow = Dcs::start(|_, _| Reply::Slow(Duration::from_secs(5), 200));
    let output = directory.path().join("timeout");
    let (run, _) = live(&csv, &output, &slow.url, &["--max-retries", "0", "--timeout", "0.3"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert_eq!(errors(&output), ["timed out: no answer within 0.3 s"]);
}

#[test]
fn a_ca_cert_that_is_not_a_certificate_is_refused_before_any_work() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 1);
    let bad = directory.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let dcs = Dcs::ok();
    for (file, message) in [(bad.as_path(), "holds no certificate"), (Path::new("/nonexistent/ca.pem"), "cannot read")]
    {
        let output = directory.path().join("out");
        let (run, _) = live(&csv, &output, &dcs.url, &["--ca-cert", file.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(2), "{}", text(&run));
        assert!(text(&run).contains(message), "{}", text(&run));
        assert!(!output.exists(), "nothing written");
    }
    assert_eq!(dcs.hit_count(), 0);
}

#[test]
fn an_https_dcs_is_reached_through_the_proxy_by_a_connect_tunnel() {
    let directory = tempfile::tempdir().unwrap();
    let csv = client(directory.path(), 50);
    let dcs = TlsDcs::start();
    let proxy = support::ForwardProxy::start();
    let ca = directory.path().join("ca.pem");
    std::fs::write(&ca, &dcs.ca_pem).unwrap();
    let output = directory.path().join("out");
    let run = support::replayer_to(
        "tls",
        &csv,
        &output,
        &dcs.url,
        &["--fire-tag", "--yes", "--quiet", "--ca-cert", ca.to_str().unwrap(), "--concurrency", "4"],
    )
    .env("HTTPS_PROXY", &proxy.url)
    .output()
    .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(dcs.requests.load(Ordering::SeqCst), 50);
    // One tunnel a connection, TLS inside it to the DCS itself: the proxy sees no tag.
    let authority = dcs.url.trim_start_matches("https://").trim_end_matches("/tag").to_owned();
    let lines = proxy.request_lines();
    assert!(!lines.is_empty() && lines.len() <= 4, "{lines:?}");
    assert!(lines.iter().all(|line| *line == format!("CONNECT {authority} HTTP/1.1")), "{lines:?}");
    assert!(text(&run).contains(&format!("through the proxy {}", proxy.url)), "{}", text(&run));
}
