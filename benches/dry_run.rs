//! Dry-run benchmark: generates synthetic clients of N rows and times
//! `replayer --dump-data` on each, printing rows a second and peak memory.
//!
//!     cargo bench --bench dry_run                 # 100,000 and 1,000,000 rows
//!     cargo bench --bench dry_run -- 2000000      # other sizes
//!
//! Targets (SPEC issue 2): at least 500,000 rows/s on 1,000,000 rows, peak memory under 64 MiB.

mod client;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use client::generate;

/// Wait for a child and return its exit status and its own peak resident memory, in KiB.
fn wait_with_peak(child: std::process::Child) -> (i32, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    (status, usage.ru_maxrss)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: do nothing there.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("dry_run: a benchmark; run it with `cargo bench --bench dry_run`");
        return;
    }
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|arg| arg.replace('_', "").parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let binary = env!("CARGO_BIN_EXE_replayer");
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-dry-run");
    println!("{:>10} {:>10} {:>10} {:>12} {:>12}", "rows", "MB", "seconds", "rows/s", "peak MiB");
    for rows in sizes {
        let folder = root.join(format!("client-{rows}"));
        generate(&folder, rows).expect("generate the synthetic client");
        let csv = folder.join("bench.csv");
        let size_mb = fs::metadata(&csv).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let output = folder.join("output");
        let _ = fs::remove_dir_all(&output);
        // Warm the page cache so the figure is the tool's, not the disk's. Streamed: a child's
        // peak memory as wait4 reports it starts from this process's own peak.
        let _ = std::io::copy(&mut fs::File::open(&csv).expect("open the CSV"), &mut std::io::sink());
        let started = Instant::now();
        let child = Command::new(binary)
            .args(["--name", "bench", "--dump-data", "--quiet", "--load-file"])
            .arg(&csv)
            .arg("--output-dir")
            .arg(&output)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run replayer");
        let (status, peak_kib) = wait_with_peak(child);
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(status, 0, "replayer failed on {rows} rows");
        let peak_mib = peak_kib as f64 / 1024.0;
        println!("{rows:>10} {size_mb:>10.1} {seconds:>10.2} {:>12.0} {peak_mib:>12.1}", rows as f64 / seconds);
        let _ = fs::remove_dir_all(&output);
    }
}
