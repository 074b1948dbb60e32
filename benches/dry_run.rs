//! Dry-run benchmark: generates synthetic clients of N rows and times
//! `replayer --dump-data` on each, printing rows a second and peak memory.
//!
//!     cargo bench --bench dry_run                 # 100,000 and 1,000,000 rows
//!     cargo bench --bench dry_run -- 2000000      # other sizes
//!     cargo bench --bench dry_run -- --runs 5     # runs a size (3 by default)
//!     cargo bench --bench dry_run -- --no-phone   # the phone column left empty: with a run
//!                                                 # without it, what reading phones costs a row
//!     cargo bench --bench dry_run -- --compare /path/to/other/replayer
//!                                                 # another build, run by turns with this one
//!
//! Each size runs once untimed, then several times, each after `sync` so that no earlier run's
//! dumps are still being written to disk meanwhile; the median and the best are printed, since a
//! shared machine's figures move from one run to the next. The untimed run is there because on
//! a virtual machine the first run writes its 1.5 GB of dumps into memory the host may not back
//! yet: measured here, its kernel time was 3.0-3.5 s against 0.3-1.0 s for the runs after it.
//! The median CPU seconds (user and kernel) are printed too: a slow run with more CPU time for
//! the same work was slowed by the machine's other load, not by the tool.
//!
//! Targets (SPEC issue 2): at least 500,000 rows/s on 1,000,000 rows, peak memory under 64 MiB.

mod client;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use client::{generate_with, wait_with_usage};

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: do nothing there.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("dry_run: a benchmark; run it with `cargo bench --bench dry_run`");
        return;
    }
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let runs = arguments
        .iter()
        .position(|arg| arg == "--runs")
        .and_then(|at| arguments.get(at + 1))
        .and_then(|count| count.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    let sizes: Vec<u64> = arguments
        .iter()
        .enumerate()
        .filter(|(at, _)| *at == 0 || arguments[at - 1] != "--runs")
        .filter_map(|(_, arg)| arg.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let phones = !arguments.iter().any(|arg| arg == "--no-phone");
    // This build, then any other given with --compare: each timed run runs them all by turns,
    // so that the machine's load weighs on them alike.
    let mut binaries = vec![env!("CARGO_BIN_EXE_replayer").to_owned()];
    binaries.extend(
        arguments
            .iter()
            .enumerate()
            .filter(|(at, _)| *at > 0 && arguments[at - 1] == "--compare")
            .map(|(_, arg)| arg.clone()),
    );
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-dry-run");
    println!("{runs} timed runs a size after one untimed; seconds and rows/s as median (best)");
    println!("{:>10} {:>8} {:>16} {:>22} {:>10} {:>8}", "rows", "MB", "seconds", "rows/s", "peak MiB", "CPU s");
    for rows in sizes {
        let folder = root.join(format!("client-{rows}{}", if phones { "" } else { "-no-phone" }));
        generate_with(&folder, rows, phones).expect("generate the synthetic client");
        let csv = folder.join("bench.csv");
        let size_mb = fs::metadata(&csv).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let output = folder.join("output");
        let mut seconds = vec![Vec::new(); binaries.len()];
        let mut cpu_seconds = vec![Vec::new(); binaries.len()];
        let mut peak_mib = vec![0.0f64; binaries.len()];
        for run in 0..=runs {
            for (which, binary) in binaries.iter().enumerate() {
                let _ = fs::remove_dir_all(&output);
                // Warm the page cache so the figure is the tool's, not the disk's. Streamed: a child's
                // peak memory as wait4 reports it starts from this process's own peak.
                let _ = std::io::copy(&mut fs::File::open(&csv).expect("open the CSV"), &mut std::io::sink());
                unsafe { libc::sync() };
                let started = Instant::now();
                let child = Command::new(binary)
                    .args(["--name", "bench", "--dump-data", "--quiet", "--load-file"])
                    .arg(&csv)
                    .arg("--output-dir")
                    .arg(&output)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("run replayer");
                let (status, peak_kib, cpu) = wait_with_usage(child);
                let elapsed = started.elapsed().as_secs_f64();
                assert_eq!(status, 0, "{binary} failed on {rows} rows");
                if run > 0 {
                    seconds[which].push(elapsed);
                    cpu_seconds[which].push(cpu);
                    peak_mib[which] = peak_mib[which].max(peak_kib as f64 / 1024.0);
                }
            }
        }
        let _ = fs::remove_dir_all(&output);
        for (which, binary) in binaries.iter().enumerate() {
            let (seconds, cpu_seconds) = (&mut seconds[which], &mut cpu_seconds[which]);
            seconds.sort_by(f64::total_cmp);
            cpu_seconds.sort_by(f64::total_cmp);
            let cpu = cpu_seconds[cpu_seconds.len() / 2];
            let (median, best) = (seconds[seconds.len() / 2], seconds[0]);
            let rate = |seconds: f64| rows as f64 / seconds;
            let label = if binaries.len() > 1 { format!("  {binary}") } else { String::new() };
            println!(
                "{rows:>10} {size_mb:>8.1} {:>16} {:>22} {:>10.1} {cpu:>8.2}{label}",
                format!("{median:.2} ({best:.2})"),
                format!("{:.0} ({:.0})", rate(median), rate(best)),
                peak_mib[which]
            );
        }
    }
}
