//! Firing benchmark (issues 3 and 4, "Performance"): the replayer's requests a second against a
//! local nginx standing in for the DCS, next to wrk's against the same server, in one run.
//!
//!     cargo bench --bench fire                 # 200,000 rows
//!     cargo bench --bench fire -- 50000        # another number of rows
//!
//! What it does, all on 127.0.0.1:
//! 1. installs nginx (nginx-light) and wrk from Debian's packages when missing (needs root);
//! 2. starts nginx with `bench/nginx.conf` on a free loopback port, in a temporary prefix
//!    directory, as a child of this process (stopped at the end, on failure too);
//! 3. generates a synthetic client of N rows and times its dry run (`--dump-data`, no firing);
//! 4. runs `wrk -t1 -c32 -d10s` on the first tag URL of that dry run (a real tag, ~620 bytes),
//!    before the replayer's runs and again after them (the ratios use the mean of the two);
//! 5. fires the N rows with `replayer --fire-tag --yes --quiet --concurrency 32`:
//!    (a) journal on SQLite in the output directory, as a user runs it;
//!    (b) the same with the output directory, so the journal, on tmpfs (/dev/shm): no fsync cost;
//!    (c) in this process, the library's firing engine (`fire::fire_all`) with no journal at all,
//!    on the same tags, writing the same `responses` lines: what the journal costs.
//!
//! Each run prints requests a second over its firing phase (the replayer's own "request rate"
//! line for a and b), its CPU seconds, and at the end its ratio to wrk's. Target: (a) at least
//! 50% of wrk. The whole-run time of (a) minus the dry run's is what firing adds to a run.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only says how to run it.
//! `REPLAYER_BENCH_BINARY=PATH` runs another build of the tool in (a) and (b): two builds are
//! compared by turns, in alternate runs of one session.

mod client;

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{generate, ACCOUNT};
use replayer::fire::{fire_all, FireSettings, Fired, Firer, Hooks, Job, Stop, Verdict};

type Result<T> = std::result::Result<T, String>;

const CONCURRENCY: usize = 32;
const WRK_SECONDS: u32 = 10;
const DEFAULT_ROWS: u64 = 200_000;
const TARGET_RATIO: f64 = 0.5;

// ---------------------------------------------------------------------------------------------
// Tools

/// A program on PATH or in the sbin folders (nginx lives in /usr/sbin, which a user's PATH may lack).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn apt_has_candidate(package: &str) -> bool {
    let output = Command::new("apt-cache").args(["policy", package]).output();
    let Ok(output) = output else { return false };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.trim_start().starts_with("Candidate:") && !line.contains("(none)"))
}

fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let status = command.status().map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {status}"))
    }
}

/// nginx and wrk, installed from Debian's packages when missing (apt-get update once).
fn ensure_tools() -> Result<(PathBuf, PathBuf)> {
    if let (Some(nginx), Some(wrk)) = (find_program("nginx"), find_program("wrk")) {
        return Ok((nginx, wrk));
    }
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "nginx or wrk is missing and this is not root: install them with `sudo apt-get install nginx-light wrk`"
                .into(),
        );
    }
    eprintln!("installing nginx and wrk from Debian's packages…");
    run_checked(Command::new("apt-get").args(["update", "-q"]).stdout(Stdio::null()), "apt-get update")?;
    let mut packages = Vec::new();
    if find_program("nginx").is_none() {
        packages.push(if apt_has_candidate("nginx-light") { "nginx-light" } else { "nginx" });
    }
    if find_program("wrk").is_none() {
        packages.push("wrk");
    }
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null()),
        &format!("apt-get install {}", packages.join(" ")),
    )?;
    match (find_program("nginx"), find_program("wrk")) {
        (Some(nginx), Some(wrk)) => Ok((nginx, wrk)),
        _ => Err(format!("installed {} but nginx or wrk is still not found", packages.join(" "))),
    }
}

// ---------------------------------------------------------------------------------------------
// nginx

/// The local DCS: nginx in the foreground, a child of this process, in its own prefix directory.
/// Stopped when dropped (so on a panic too); it also dies with this process (PR_SET_PDEATHSIG),
/// and Ctrl-C reaches it as a member of the same process group.
struct Nginx {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Nginx {
    fn start(nginx: &Path, template: &str, prefix: &Path) -> Result<Nginx> {
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port()?;
            let _ = fs::remove_dir_all(prefix);
            fs::create_dir_all(prefix.join("temp")).map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
            let conf = prefix.join("nginx.conf");
            fs::write(&conf, template.replace("@PORT@", &port.to_string()))
                .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
            let mut command = Command::new(nginx);
            command
                .arg("-p")
                .arg(format!("{}/", prefix.display()))
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            die_with_parent(&mut command);
            let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", nginx.display()))?;
            let mut server = Nginx { child, port, prefix: prefix.to_owned() };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_error = format!("nginx exited at start ({status}): {}", server.error_log());
                    break;
                }
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    server.probe()?;
                    return Ok(server);
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "nginx did not listen on 127.0.0.1:{port} within 10 s: {}",
                        server.error_log()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last_error.contains("in use") {
                return Err(last_error);
            }
        }
        Err(last_error)
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default().trim().to_owned()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/tag", self.port)
    }

    /// One GET by hand: the server answers 200 on /tag.
    fn probe(&self) -> Result<()> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET /tag?probe=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(format!("nginx on port {} did not answer 200 to GET /tag: {:?}", self.port, answer.lines().next()))
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: fast shutdown of the master and its worker.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = fs::remove_dir_all(&self.prefix);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.prefix);
    }
}

/// The child gets SIGTERM if this process dies, even by SIGKILL: no nginx, wrk or replayer is left
/// running after an interrupted benchmark.
fn die_with_parent(command: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        })
    }
}

/// Prefix directories of nginx servers whose benchmark process is gone (killed before cleaning up).
fn remove_stale_prefixes(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("nginx-")) else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// User + system CPU seconds of the children waited for so far.
fn children_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// This process's user + system CPU seconds (for the in-process run).
fn own_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

struct Measure {
    label: String,
    requests: u64,
    per_second: f64,
    seconds: f64,
    cpu: f64,
    note: String,
}

/// Runs a command to its end; its stdout, wall seconds and CPU seconds. Fails on a non-zero exit.
fn run_timed(command: &mut Command, what: &str) -> Result<(String, f64, f64)> {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let output =
        die_with_parent(command).stdin(Stdio::null()).output().map_err(|e| format!("cannot run {what}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().take(20).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok((stdout, seconds, cpu))
}

/// The number after `label` on the line that starts with it (after trimming), e.g. "accepted:".
fn number_after(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().map(str::trim_start).find(|line| line.starts_with(label))?;
    let rest = line[label.len()..].trim_start();
    // The terminal's thousands separators (`35,835/s`) are skipped.
    let number: String =
        rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').filter(|c| *c != ',').collect();
    number.parse().ok()
}

fn wrk(wrk: &Path, url: &str) -> Result<Measure> {
    let (stdout, _, cpu) = run_timed(
        Command::new(wrk).args(["-t1", &format!("-c{CONCURRENCY}"), &format!("-d{WRK_SECONDS}s"), "--latency", url]),
        "wrk",
    )?;
    let per_second =
        number_after(&stdout, "Requests/sec:").ok_or_else(|| format!("no Requests/sec in wrk's output:\n{stdout}"))?;
    let requests = stdout
        .lines()
        .find(|line| line.contains("requests in"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut note = String::new();
    for bad in ["Non-2xx or 3xx responses:", "Socket errors:"] {
        if let Some(line) = stdout.lines().find(|line| line.trim_start().starts_with(bad)) {
            note = format!("wrk saw errors: {}", line.trim());
        }
    }
    if note.is_empty() {
        let p50 = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("50%"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned());
        let p99 = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("99%"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned());
        note = format!("latency p50 {}, p99 {}", p50.unwrap_or_default(), p99.unwrap_or_default());
    }
    Ok(Measure {
        label: format!("wrk -t1 -c{CONCURRENCY} -d{WRK_SECONDS}s"),
        requests,
        per_second,
        seconds: WRK_SECONDS as f64,
        cpu,
        note,
    })
}

fn fire_binary(binary: &str, csv: &Path, output: &Path, url: &str, rows: u64, label: &str) -> Result<Measure> {
    let _ = fs::remove_dir_all(output);
    let (stdout, wall, cpu) = run_timed(
        Command::new(binary)
            .args([
                "--name",
                "bench",
                "--fire-tag",
                "--yes",
                "--quiet",
                "--concurrency",
                &CONCURRENCY.to_string(),
                "--request-url",
                url,
                "--load-file",
            ])
            .arg(csv)
            .arg("--output-dir")
            .arg(output),
        label,
    )?;
    let accepted = number_after(&stdout, "accepted:").unwrap_or(0.0) as u64;
    if accepted != rows {
        return Err(format!("{label}: {accepted} of {rows} rows accepted:\n{stdout}"));
    }
    let rate_line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("request rate:"))
        .ok_or_else(|| format!("no request rate in:\n{stdout}"))?;
    let per_second = number_after(rate_line, "request rate:").ok_or_else(|| format!("cannot read {rate_line:?}"))?;
    let seconds = rate_line
        .split(" over ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let latency = rate_line.split("; ").nth(1).unwrap_or("").to_owned();
    let _ = fs::remove_dir_all(output);
    Ok(Measure {
        label: label.to_owned(),
        requests: accepted,
        per_second,
        seconds,
        cpu,
        note: format!("whole run {wall:.1} s; {latency}"),
    })
}

/// No journal at all: `prepare` and `complete` do nothing.
#[derive(Clone)]
struct NoJournal;

impl Hooks for NoJournal {
    async fn prepare(&mut self, _batch: &mut Vec<Job>) -> std::result::Result<(), anyhow::Error> {
        Ok(())
    }
    async fn complete(&mut self, _results: &[Fired]) -> std::result::Result<(), anyhow::Error> {
        Ok(())
    }
}

/// The library's firing engine, as `live.rs` drives it (jobs read from the file in batches, a
/// `responses` line written per row and flushed per batch), with no journal.
fn fire_in_process(requests_dump: &Path, output: &Path, rows: u64) -> Result<Measure> {
    fs::create_dir_all(output).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cpu_before = own_cpu();
    let reader = BufReader::with_capacity(256 * 1024, fs::File::open(requests_dump).map_err(|e| e.to_string())?);
    let mut responses = BufWriter::with_capacity(
        256 * 1024,
        fs::File::create(output.join("responses.txt")).map_err(|e| e.to_string())?,
    );
    let (fired, accepted, seconds) = runtime.block_on(async {
        let firer = Arc::new(
            Firer::new(
                FireSettings {
                    concurrency: CONCURRENCY,
                    rate: None,
                    timeout: Duration::from_secs(30),
                    max_retries: 5,
                    ca_certs: Vec::new(),
                    proxies: Arc::default(),
                },
                Arc::new(Stop::default()),
            )
            .map_err(|e| e.to_string())?,
        );
        let jobs = reader.lines().enumerate().map(|(index, line)| {
            let url = line?;
            let rid = url.rsplit("rid=").next().unwrap_or_default().to_owned();
            Ok(Job { row: index as u64 + 2, account: ACCOUNT.to_owned(), rid, url })
        });
        let started = Instant::now();
        let (mut fired, mut accepted) = (0u64, 0u64);
        let mut latencies: Vec<u32> = Vec::with_capacity(rows as usize);
        fire_all(firer, jobs, NoJournal, |batch: &[Fired]| {
            for result in batch {
                fired += 1;
                if result.verdict == Verdict::Accepted {
                    accepted += 1;
                }
                latencies.push(result.elapsed.as_millis() as u32);
                writeln!(responses, "{}", result.response_line())?;
            }
            responses.flush()?;
            Ok(())
        })
        .await
        .map_err(|e| format!("{e:#}"))?;
        let seconds = started.elapsed().as_secs_f64();
        Ok::<_, String>((fired, accepted, seconds))
    })?;
    responses.flush().map_err(|e| e.to_string())?;
    drop(runtime);
    let cpu = own_cpu() - cpu_before;
    let _ = fs::remove_dir_all(output);
    if accepted != rows {
        return Err(format!("in-process firing: {accepted} of {fired} accepted, {rows} expected"));
    }
    Ok(Measure {
        label: "(c) fire_all in process, no journal".into(),
        requests: fired,
        per_second: fired as f64 / seconds,
        seconds,
        cpu,
        note: "library engine + responses lines; no spool, no journal".into(),
    })
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    if !args.iter().any(|arg| arg == "--bench") {
        println!("fire benchmark: not run under cargo test; run it with `cargo bench --bench fire [-- ROWS]`");
        return;
    }
    let rows = args.iter().find_map(|arg| arg.replace(['_', ','], "").parse::<u64>().ok()).unwrap_or(DEFAULT_ROWS);
    if let Err(error) = bench(rows) {
        eprintln!("fire benchmark failed: {error}");
        std::process::exit(1);
    }
}

fn bench(rows: u64) -> Result<()> {
    // REPLAYER_BENCH_BINARY: another build of the tool, to compare two builds by turns.
    let chosen = std::env::var("REPLAYER_BENCH_BINARY").ok();
    let binary = chosen.as_deref().unwrap_or(env!("CARGO_BIN_EXE_replayer"));
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-fire");
    let template_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/nginx.conf");
    let template =
        fs::read_to_string(&template_path).map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    let (nginx_path, wrk_path) = ensure_tools()?;

    let folder = root.join(format!("client-{rows}"));
    let csv = generate(&folder, rows).map_err(|e| format!("cannot generate the synthetic client: {e}"))?;
    // Warm the page cache, streamed: the figures are the tool's, not the disk's.
    let _ = fs::File::open(&csv).and_then(|mut file| std::io::copy(&mut file, &mut std::io::sink()));

    remove_stale_prefixes(&root);
    let nginx = Nginx::start(&nginx_path, &template, &root.join(format!("nginx-{}", std::process::id())))?;
    let url = nginx.url();
    println!(
        "local DCS: nginx on {url} (1 worker); {rows} rows; concurrency {CONCURRENCY}; {} cores, load average {}",
        num_cores(),
        load_average()
    );

    // The dry run: the work before firing, and the tag URLs for wrk and for (c).
    let dry_output = folder.join("output-dry");
    let _ = fs::remove_dir_all(&dry_output);
    let (_, dry_seconds, dry_cpu) = run_timed(
        Command::new(binary)
            .args(["--name", "bench", "--dump-data", "--quiet", "--request-url", &url, "--load-file"])
            .arg(&csv)
            .arg("--output-dir")
            .arg(&dry_output),
        "the dry run",
    )?;
    let requests_dump = fs::read_dir(&dry_output)
        .map_err(|e| e.to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("bench-requests-") && !n.contains("validated"))
        })
        .ok_or("the dry run wrote no requests dump")?;
    let first_tag = BufReader::new(fs::File::open(&requests_dump).map_err(|e| e.to_string())?)
        .lines()
        .next()
        .and_then(|line| line.ok())
        .ok_or("the requests dump is empty")?;
    println!(
        "dry run (--dump-data, no firing): {dry_seconds:.2} s, {:.0} rows/s, {dry_cpu:.1} CPU s; tag URL {} bytes (query {} bytes)",
        rows as f64 / dry_seconds,
        first_tag.len(),
        first_tag.split_once('?').map_or(0, |(_, q)| q.len())
    );

    // wrk before and after the replayer's runs: on a shared machine the two can differ a lot, so
    // the ratios are taken against their mean and both are shown.
    let wrk_before = wrk(&wrk_path, &first_tag)?;
    print_row(&wrk_before, None);
    let mut results = Vec::new();

    let runs: Vec<(String, PathBuf)> = {
        let mut runs = vec![("(a) replayer, journal on SQLite (disk)".to_owned(), folder.join("output-live"))];
        if Path::new("/dev/shm").is_dir() {
            runs.push((
                "(b) replayer, journal on SQLite in tmpfs".to_owned(),
                PathBuf::from(format!("/dev/shm/replayer-bench-fire-{}", std::process::id())),
            ));
        }
        runs
    };
    for (label, output) in runs {
        let measured = fire_binary(binary, &csv, &output, &url, rows, &label);
        let _ = fs::remove_dir_all(&output);
        results.push(measured?);
        print_row(results.last().unwrap(), None);
    }
    results.push(fire_in_process(&requests_dump, &folder.join("output-inprocess"), rows)?);
    print_row(results.last().unwrap(), None);
    let wrk_after = wrk(&wrk_path, &first_tag)?;
    print_row(&wrk_after, None);
    let _ = fs::remove_dir_all(&dry_output);
    drop(nginx);

    let wrk_rate = (wrk_before.per_second + wrk_after.per_second) / 2.0;
    println!(
        "\nwrk: {:.0} req/s before, {:.0} after, mean {wrk_rate:.0} (load average now {})",
        wrk_before.per_second,
        wrk_after.per_second,
        load_average()
    );
    for measure in &results {
        println!(
            "{:<42} {:>9.0} req/s = {:>3.0}% of wrk's mean",
            measure.label,
            measure.per_second,
            measure.per_second / wrk_rate * 100.0
        );
    }
    let ratio = results[0].per_second / wrk_rate;
    println!(
        "RESULT: replayer with its journal on SQLite {:.0} req/s, wrk {wrk_rate:.0} req/s: {:.0}% of wrk, {} (target: at least {:.0}% at --concurrency {CONCURRENCY})",
        results[0].per_second,
        ratio * 100.0,
        if ratio >= TARGET_RATIO { "target met" } else { "BELOW TARGET" },
        TARGET_RATIO * 100.0
    );
    println!("(a shared machine makes these figures noisy: compare runs made one after the other)");
    Ok(())
}

fn print_row(measure: &Measure, wrk_rate: Option<f64>) {
    let ratio = wrk_rate.map_or("".to_owned(), |w| format!("{:.0}% of wrk", measure.per_second / w * 100.0));
    let cpu_per_k = if measure.requests > 0 { measure.cpu / measure.requests as f64 * 1000.0 * 1000.0 } else { 0.0 };
    println!(
        "{:<42} {:>9.0} req/s {:>12} {:>9} req in {:>5.1} s  {:>6.1} CPU s ({:.0} µs/req)  {}",
        measure.label,
        measure.per_second,
        ratio,
        measure.requests,
        measure.seconds,
        measure.cpu,
        cpu_per_k,
        measure.note
    );
}

/// The 1-minute load average: how busy the machine was with other work.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
