//! Workbook benchmark (SPEC §11.1): the same rows as an `.xlsx` workbook and as CSV, 30
//! columns, checked by `replayer` (no dumps) by turns; prints seconds, rows a second, the
//! workbook's speed as a share of the CSV's, and each run's peak memory.
//!
//!     cargo bench --bench workbook                  # 1,048,575 rows under a header: a full sheet
//!     cargo bench --bench workbook -- 200000        # other sizes
//!     cargo bench --bench workbook -- --runs 3      # timed runs a size (2 by default)
//!
//! The workbook is written with rust_xlsxwriter in its constant-memory mode (dates as date
//! cells, amounts and quantities as numbers, the rest as text), the CSV beside it with the same
//! cells as Excel would save them. Targets: the workbook checked at least half as fast as the
//! CSV, in at most 256 MiB.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod client;

use client::wait_with_usage;

const MAPPING: &str = r#"{
  "client": "Bench Ltd",
  "account_token": "b3nch-t0k3n-0001",
  "timezone": "Europe/London",
  "currency": "GBP",
  "events": ["offline_sale", "store_visit"],
  "date_formats": ["%d/%m/%Y %H:%M"],
  "columns": { "event_time": "Sale Date", "revenue": "Sale Value", "order_id": "Order Ref", "email": "Email" },
  "custom": { "store_id": "Store", "c1": "C1", "c2": "C2", "c3": "C3", "c4": "C4", "c5": "C5", "c6": "C6",
              "c7": "C7", "c8": "C8", "c9": "C9", "c10": "C10", "c11": "C11", "c12": "C12", "c13": "C13" },
  "defaults": { "event_name": "offline_sale" }
}"#;

const HEADERS: [&str; 30] = [
    "account_token",
    "event_name",
    "Sale Date",
    "visitor_id",
    "customer_id",
    "Email",
    "phone",
    "Order Ref",
    "Sale Value",
    "currency",
    "quantity",
    "page_url",
    "utm_source",
    "utm_campaign",
    "ip",
    "user_agent",
    "Store",
    "C1",
    "C2",
    "C3",
    "C4",
    "C5",
    "C6",
    "C7",
    "C8",
    "C9",
    "C10",
    "C11",
    "C12",
    "C13",
];

/// A cell: text, a date (day of June 2024, hour, minute), or a number with its CSV text.
enum Value {
    Text(String),
    Date(u32, u32, u32),
    Number(f64, String),
}

fn row(i: u64) -> Vec<Value> {
    let text = |s: String| Value::Text(s);
    let mut cells = vec![
        text("b3nch-t0k3n-0001".into()),
        text(if i.is_multiple_of(4) { "store_visit" } else { "offline_sale" }.into()),
        Value::Date((1 + i % 28) as u32, (8 + i % 12) as u32, (i % 60) as u32),
        text(format!("v-{i}")),
        text(format!("CUST-{}", i / 3)),
        text(format!("user{i}@example.com")),
        text(format!("+44 20 7946 {:04}", i % 10_000)),
        text(format!("ORD-{i}")),
        {
            let amount = format!("{}.{}", 5 + i % 900, 1 + i % 9);
            Value::Number(amount.parse().unwrap(), amount)
        },
        text("GBP".into()),
        Value::Number((1 + i % 3) as f64, (1 + i % 3).to_string()),
        text(format!("https://shop.example.com/p/{i}")),
        text("newsletter".into()),
        text("summer-2024".into()),
        text(format!("192.0.2.{}", i % 250)),
        text("Mozilla/5.0 (X11; Linux x86_64) Bench/1.0".into()),
        text(format!("ST{:02}", i % 40)),
    ];
    for column in 1..=13 {
        cells.push(text(format!("x{}-{column}", i % 1000)));
    }
    cells
}

fn generate(folder: &Path, rows: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    fs::create_dir_all(folder).unwrap();
    fs::write(folder.join("mapping.json"), MAPPING).unwrap();
    let (csv, xlsx) = (folder.join("bench.csv"), folder.join("bench.xlsx"));
    if csv.exists() && xlsx.exists() {
        return (csv, xlsx);
    }
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&csv).unwrap());
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy hh:mm");
    let sheet = workbook.add_worksheet_with_constant_memory().unwrap();
    writeln!(out, "{}", HEADERS.join(",")).unwrap();
    for (column, header) in HEADERS.iter().enumerate() {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let mut line = String::new();
    for i in 0..rows {
        line.clear();
        let sheet_row = i as u32 + 1;
        for (column, value) in row(i).into_iter().enumerate() {
            if column > 0 {
                line.push(',');
            }
            match value {
                Value::Text(text) => {
                    line.push_str(&text);
                    sheet.write_string(sheet_row, column as u16, text).unwrap();
                }
                Value::Date(day, hour, minute) => {
                    line.push_str(&format!("{day:02}/06/2024 {hour:02}:{minute:02}"));
                    let local =
                        chrono::NaiveDate::from_ymd_opt(2024, 6, day).unwrap().and_hms_opt(hour, minute, 0).unwrap();
                    let serial = (local - epoch).num_seconds() as f64 / 86_400.0;
                    sheet.write_number_with_format(sheet_row, column as u16, serial, &date_format).unwrap();
                }
                Value::Number(number, text) => {
                    line.push_str(&text);
                    sheet.write_number(sheet_row, column as u16, number).unwrap();
                }
            }
        }
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    workbook.save(&xlsx).unwrap();
    (csv, xlsx)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: do nothing there.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("workbook: a benchmark; run it with `cargo bench --bench workbook`");
        return;
    }
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let runs = arguments
        .iter()
        .position(|arg| arg == "--runs")
        .and_then(|at| arguments.get(at + 1))
        .and_then(|count| count.parse().ok())
        .unwrap_or(2usize)
        .max(1);
    let rows: u64 = arguments
        .iter()
        .enumerate()
        .filter(|(at, _)| *at == 0 || arguments[at - 1] != "--runs")
        .find_map(|(_, arg)| arg.replace('_', "").parse().ok())
        .unwrap_or(1_048_575);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-workbook-{rows}"));
    let started = Instant::now();
    let (csv, xlsx) = generate(&folder, rows);
    let megabytes = |path: &Path| fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
    println!(
        "{rows} rows × 30 columns: CSV {:.0} MB, workbook {:.0} MB (made in {:.0} s)",
        megabytes(&csv),
        megabytes(&xlsx),
        started.elapsed().as_secs_f64()
    );
    let mut seconds = [Vec::new(), Vec::new()];
    let mut peaks = [0i64; 2];
    for run in 0..=runs {
        for (which, file) in [&csv, &xlsx].into_iter().enumerate() {
            let _ = std::io::copy(&mut fs::File::open(file).unwrap(), &mut std::io::sink());
            let started = Instant::now();
            let child = Command::new(env!("CARGO_BIN_EXE_replayer"))
                .args(["--name", "bench", "--quiet", "--load-file"])
                .arg(file)
                .arg("--output-dir")
                .arg(folder.join("output"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run replayer");
            let (status, peak, _) = wait_with_usage(child);
            assert_eq!(status, 0, "replayer failed on {}", file.display());
            if run > 0 {
                seconds[which].push(started.elapsed().as_secs_f64());
                peaks[which] = peaks[which].max(peak);
            }
        }
    }
    println!("{runs} timed runs each, by turns after one untimed; median (best)");
    let mut medians = [0.0; 2];
    for (which, name) in ["CSV", "workbook"].into_iter().enumerate() {
        let times = &mut seconds[which];
        times.sort_by(f64::total_cmp);
        medians[which] = times[times.len() / 2];
        println!(
            "{name:>9}: {:.2} s ({:.2}), {:.0} rows/s, peak {:.1} MiB",
            medians[which],
            times[0],
            rows as f64 / medians[which],
            peaks[which] as f64 / 1024.0
        );
    }
    println!(
        "the workbook at {:.2}× the CSV's speed (target: at least 0.5×, at most 256 MiB)",
        medians[0] / medians[1]
    );
}
