//! Upload-and-check benchmark of `replayer serve`: the synthetic client of the dry-run
//! benchmark, uploaded through the API (Bearer token) and checked by the server, against the
//! command line's dry run (`--dump-data`) of the same file; and the server's peak memory.
//!
//!     cargo bench --bench serve                 # 1,000,000 rows
//!     cargo bench --bench serve -- 100000       # another size
//!     cargo bench --bench serve -- --runs 3 --compare /path/to/other/replayer
//!                                               # rounds of this build and another, by turns
//!
//! Targets (issue 13): the upload and check within 2× the command line's time; the server's
//! memory flat, under 128 MiB.

mod client;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use client::generate;

fn peak_and_current_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One round of one build: the command line's dry run, then the server's upload and check.
struct Round {
    cli_seconds: f64,
    upload_seconds: f64,
    total_seconds: f64,
    idle_kib: u64,
    peak_kib: u64,
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("serve: a benchmark; run it with `cargo bench --bench serve`");
        return;
    }
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let after = |flag: &str| arguments.iter().position(|arg| arg == flag).and_then(|at| arguments.get(at + 1));
    let rows: u64 = arguments
        .iter()
        .enumerate()
        .filter(|(at, _)| *at == 0 || !matches!(arguments[at - 1].as_str(), "--compare" | "--runs"))
        .find_map(|(_, arg)| arg.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = after("--runs").and_then(|runs| runs.parse().ok()).unwrap_or(1);
    // This build, then the one given with --compare: each round runs them by turns, so that the
    // machine's load weighs on them alike.
    let mut binaries = vec![env!("CARGO_BIN_EXE_replayer").to_owned()];
    binaries.extend(after("--compare").cloned());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-serve");
    let _ = fs::remove_dir_all(&root);
    let clients = root.join("clients");
    let csv = generate(&clients.join("bench"), rows).expect("generate the synthetic client");
    let size = fs::metadata(&csv).unwrap().len();
    println!("{rows} rows, {:.1} MB, {runs} round(s) of {} build(s) by turns", size as f64 / 1e6, binaries.len());
    let _ = std::io::copy(&mut fs::File::open(&csv).unwrap(), &mut std::io::sink());
    let mut rounds: Vec<Vec<Round>> = binaries.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        for (index, binary) in binaries.iter().enumerate() {
            let measured = measure(binary, rows, &csv, &clients, &root);
            println!(
                "round {} {binary}: cli {:.2} s, server {:.2} s (upload {:.2} s), {:.2}×, peak {:.1} MiB",
                round + 1,
                measured.cli_seconds,
                measured.total_seconds,
                measured.upload_seconds,
                measured.total_seconds / measured.cli_seconds,
                measured.peak_kib as f64 / 1024.0
            );
            rounds[index].push(measured);
        }
    }
    let _ = fs::remove_dir_all(&root);
    for (binary, rounds) in binaries.iter().zip(&rounds) {
        let median = |value: &dyn Fn(&Round) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let (cli, total, upload) =
            (median(&|r| r.cli_seconds), median(&|r| r.total_seconds), median(&|r| r.upload_seconds));
        println!("{binary} (medians of {} rounds):", rounds.len());
        println!("  command line dry run:      {cli:.2} s");
        println!(
            "  server upload + check:     {total:.2} s (upload {upload:.2} s, check {:.2} s): {:.2}× the command line",
            total - upload,
            total / cli
        );
        println!(
            "  server memory:             {:.1} MiB idle, {:.1} MiB peak resident",
            median(&|r| r.idle_kib as f64) / 1024.0,
            median(&|r| r.peak_kib as f64) / 1024.0
        );
    }
}

fn measure(binary: &str, rows: u64, csv: &Path, clients: &Path, root: &Path) -> Round {
    // The command line's dry run.
    let cli_output = root.join("cli-output");
    let started = Instant::now();
    let status = Command::new(binary)
        .args(["--name", "bench", "--dump-data", "--quiet", "--load-file"])
        .arg(csv)
        .arg("--output-dir")
        .arg(&cli_output)
        .stdout(Stdio::null())
        .status()
        .expect("run replayer");
    let cli_seconds = started.elapsed().as_secs_f64();
    assert!(status.success(), "the dry run failed");
    let _ = fs::remove_dir_all(&cli_output);

    // The server: a user, a token, then the upload and its check.
    let output = root.join("serve-output");
    let _ = fs::remove_dir_all(&output);
    let mut add = Command::new(binary)
        .args(["users", "add", "--email", "bench@example.com", "--role", "analyst", "--password-stdin", "--output-dir"])
        .arg(&output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"bench password 1\n").unwrap();
    assert!(add.wait().unwrap().success());
    let token = Command::new(binary)
        .args(["users", "token", "--email", "bench@example.com", "--output-dir"])
        .arg(&output)
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--max-upload", "4GiB", "--clients-dir"])
        .arg(clients)
        .arg("--output-dir")
        .arg(&output)
        .env_remove("REPLAYER_DATABASE_URL")
        .stderr(Stdio::null())
        .spawn()
        .expect("start replayer serve");
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (upload_seconds, total_seconds, idle_kib, upload) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let start = Instant::now();
        while http.get(format!("{base}/login")).send().await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let idle_kib = peak_and_current_kib(pid).1;
        let bytes = fs::read(csv).unwrap();
        let started = Instant::now();
        let form = reqwest::multipart::Form::new()
            .text("client", "bench")
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("bench.csv"));
        let response =
            http.post(format!("{base}/api/uploads")).bearer_auth(&token).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let upload_seconds = started.elapsed().as_secs_f64();
        let created: serde_json::Value = response.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        loop {
            let upload: serde_json::Value = http
                .get(format!("{base}/api/uploads/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if upload["state"] != "checking" {
                return (upload_seconds, started.elapsed().as_secs_f64(), idle_kib, upload);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (peak_kib, _) = peak_and_current_kib(pid);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(upload["error"], serde_json::Value::Null, "{upload}");
    assert_eq!(upload["counts"]["valid"], rows, "{upload}");
    let _ = fs::remove_dir_all(&output);
    Round { cli_seconds, upload_seconds, total_seconds, idle_kib, peak_kib }
}
