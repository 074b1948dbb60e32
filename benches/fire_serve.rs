//! Firing through `replayer serve` against the command line's firing, on the same local nginx
//! (issue 14): the same synthetic client, `--concurrency 32`, all five dumps (the page's fire
//! writes them, so the command line is given `--dump-data`), the journal on SQLite in each one's
//! output directory, one after the other, three times each.
//!
//!     cargo bench --bench fire_serve              # 100,000 rows
//!     cargo bench --bench fire_serve -- 50000     # another number of rows
//!
//! The figure compared is each run's own "request rate" line of the summary of §9 (over its
//! firing only; the page shows the same summary), and beside it the wall time from the command
//! start / the API's fire to the end. Target: the server at least 0.9× the command line.
//! nginx and wrk come from Debian's packages (benches/fire.rs installs them); this benchmark
//! only needs nginx, started from bench/nginx.conf on a free loopback port.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only says how to run it.

mod client;

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

const CONCURRENCY: &str = "32";
const DEFAULT_ROWS: u64 = 100_000;
const TARGET_RATIO: f64 = 0.9;
/// Rounds of (command line, server), one after the other: the machine's load moves every figure.
const ROUNDS: usize = 3;
const BINARY: &str = env!("CARGO_BIN_EXE_replayer");

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A child process, killed when dropped (on a failure too).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn start_nginx(prefix: &Path) -> Result<(Killed, String)> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or("nginx is not installed: apt-get install nginx-light (or run cargo bench --bench fire once)")?;
    let template = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/nginx.conf"))
        .map_err(|e| format!("bench/nginx.conf: {e}"))?;
    let port = free_port();
    fs::create_dir_all(prefix.join("temp")).map_err(|e| e.to_string())?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, template.replace("@PORT@", &port.to_string())).map_err(|e| e.to_string())?;
    let child = Command::new(nginx)
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let nginx = Killed(child);
    wait_listening(port, "nginx")?;
    Ok((nginx, format!("http://127.0.0.1:{port}/tag")))
}

/// `request rate: 18,234/s over 5.48 s …` → 18234.
fn request_rate(summary: &str) -> Result<f64> {
    let line = summary
        .lines()
        .find(|line| line.trim_start().starts_with("request rate:"))
        .ok_or_else(|| format!("no request rate in:\n{summary}"))?;
    let number: String = line["request rate:".len() + line.find("request rate:").unwrap_or(0)..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    number.parse().map_err(|_| format!("cannot read {line:?}"))
}

struct Measure {
    rate: f64,
    wall: f64,
}

fn fire_cli(csv: &Path, output: &Path, url: &str) -> Result<Measure> {
    let _ = fs::remove_dir_all(output);
    let start = Instant::now();
    let run = Command::new(BINARY)
        .args(["--name", "bench", "--fire-tag", "--dump-data", "--yes", "--quiet", "--concurrency", CONCURRENCY])
        .args(["--request-url", url])
        .arg("--load-file")
        .arg(csv)
        .arg("--output-dir")
        .arg(output)
        .env_remove("REPLAYER_DATABASE_URL")
        .output()
        .map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() {
        return Err(format!("the command line failed: {stdout}{}", String::from_utf8_lossy(&run.stderr)));
    }
    Ok(Measure { rate: request_rate(&stdout)?, wall })
}

/// Starts `replayer serve` on a fresh directory, uploads the client's file through the API,
/// fires it and waits for the end.
async fn fire_server(clients: &Path, csv: &Path, directory: &Path, url: &str) -> Result<Measure> {
    let _ = fs::remove_dir_all(directory);
    fs::create_dir_all(directory).map_err(|e| e.to_string())?;
    let database = format!("sqlite:{}", directory.join("replayer.sqlite").display());
    let users = |args: &[&str]| -> Result<String> {
        let mut child = Command::new(BINARY)
            .arg("users")
            .args(args)
            .args(["--database-url", &database])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"bench password here\n").map_err(|e| e.to_string())?;
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    users(&["add", "--email", "bench@example.com", "--role", "operator", "--password-stdin"])?;
    let token = users(&["token", "--email", "bench@example.com"])?;
    let port = free_port();
    let server = Command::new(BINARY)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--request-url", url, "--concurrency", CONCURRENCY])
        .arg("--clients-dir")
        .arg(clients)
        .arg("--output-dir")
        .arg(directory.join("output"))
        .args(["--database-url", &database])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let _server = Killed(server);
    wait_listening(port, "replayer serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let bytes = fs::read(csv).map_err(|e| e.to_string())?;
    let form = reqwest::multipart::Form::new()
        .text("client", "bench")
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("bench.csv"));
    let created: serde_json::Value = http
        .post(format!("{base}/api/uploads"))
        .header("authorization", &auth)
        .multipart(form)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id = created["id"].as_str().ok_or_else(|| format!("no upload: {created}"))?.to_owned();
    let show = || async {
        http.get(format!("{base}/api/uploads/{id}"))
            .header("authorization", &auth)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json::<serde_json::Value>()
            .await
            .map_err(|e| e.to_string())
    };
    let checked = loop {
        let upload = show().await?;
        if upload["state"] != "checking" {
            break upload;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A fresh database: the rows to fire are the valid rows of the check.
    let rows = checked["counts"]["valid"].as_u64().unwrap_or(0);
    let start = Instant::now();
    let fired = http
        .post(format!("{base}/api/uploads/{id}/fire"))
        .header("authorization", &auth)
        .json(&serde_json::json!({ "confirm_rows": rows }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if fired.status() != 202 {
        return Err(format!("the fire was refused: {}", fired.text().await.unwrap_or_default()));
    }
    let start_fire = start;
    let upload = loop {
        let upload = show().await?;
        if upload["state"] != "firing" {
            break upload;
        }
        // Seldom: the server's answers to this take CPU from the fire on a 2-core machine.
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let wall = start_fire.elapsed().as_secs_f64();
    if upload["state"] != "finished" || upload["counts"]["accepted"] != upload["counts"]["valid"] {
        return Err(format!("the server's fire did not accept every row: {upload}"));
    }
    let page = http
        .get(format!("{base}/uploads/{id}"))
        .header("authorization", &auth)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Measure { rate: request_rate(&page)?, wall })
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if !arguments.iter().any(|argument| argument == "--bench") {
        println!("the firing benchmark of replayer serve: cargo bench --bench fire_serve [-- ROWS]");
        return;
    }
    let rows = arguments.iter().find_map(|argument| argument.parse().ok()).unwrap_or(DEFAULT_ROWS);
    if let Err(error) = bench(rows) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn bench(rows: u64) -> Result<()> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_nginx, url) = start_nginx(&scratch.path().join("nginx"))?;
    let clients = scratch.path().join("clients");
    let csv = client::generate(&clients.join("bench"), rows).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    println!("{rows} rows, --concurrency {CONCURRENCY}, nginx on {url}; journal on SQLite in each output directory");
    let (mut cli_rates, mut server_rates) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let cli = fire_cli(&csv, &scratch.path().join("cli"), &url)?;
        println!("round {round}: command line   {:>9.0} requests/s (whole run {:.2} s)", cli.rate, cli.wall);
        let server = runtime.block_on(fire_server(&clients, &csv, &scratch.path().join("server"), &url))?;
        println!(
            "round {round}: replayer serve {:>9.0} requests/s (fire to finished {:.2} s)",
            server.rate, server.wall
        );
        cli_rates.push(cli.rate);
        server_rates.push(server.rate);
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let ratio = mean(&server_rates) / mean(&cli_rates);
    println!(
        "mean: command line {:.0}/s, replayer serve {:.0}/s: {ratio:.2}× (target at least {TARGET_RATIO}×){}",
        mean(&cli_rates),
        mean(&server_rates),
        if ratio >= TARGET_RATIO { "" } else { " — BELOW TARGET" }
    );
    Ok(())
}
