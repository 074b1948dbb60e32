//! The synthetic client both benchmarks use: every row valid, every field filled.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const ACCOUNT: &str = "b3nch-t0k3n-0001";

const MAPPING: &str = r#"{
  "client": "Bench Ltd",
  "account_token": "b3nch-t0k3n-0001",
  "timezone": "Europe/London",
  "currency": "GBP",
  "events": ["offline_sale", "store_visit"],
  "columns": { "event_time": "Sale Date", "revenue": "Sale Value", "order_id": "Order Ref", "email": "Email" },
  "custom": { "store_id": "Store" },
  "defaults": { "event_name": "offline_sale" }
}"#;

/// Write `mapping.json` and `bench.csv` of `rows` rows into `folder`; returns the CSV's path.
#[allow(dead_code)] // the fire benchmark's; the dry-run one calls generate_with
pub fn generate(folder: &Path, rows: u64) -> std::io::Result<PathBuf> {
    generate_with(folder, rows, true)
}

/// The same, with the phone column's cells left empty when `phones` is false (to measure what
/// reading a column of phone numbers costs a row).
pub fn generate_with(folder: &Path, rows: u64, phones: bool) -> std::io::Result<PathBuf> {
    fs::create_dir_all(folder)?;
    fs::write(folder.join("mapping.json"), MAPPING)?;
    let csv = folder.join("bench.csv");
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&csv)?);
    writeln!(out, "account_token,event_name,Sale Date,visitor_id,customer_id,Email,phone,Order Ref,Sale Value,currency,quantity,page_url,utm_source,utm_campaign,ip,user_agent,Store")?;
    for i in 0..rows {
        writeln!(
            out,
            "{ACCOUNT},{event},{day:02}/06/2024 {hour:02}:{minute:02},v-{i},CUST-{c},user{i}@example.com,{phone},ORD-{i},{pounds}.{pence:02},GBP,{q},https://shop.example.com/p/{i},newsletter,summer-2024,192.0.2.{ip},Mozilla/5.0 (X11; Linux x86_64) Bench/1.0,ST{store:02}",
            event = if i % 4 == 0 { "store_visit" } else { "offline_sale" },
            day = 1 + i % 28,
            hour = 8 + i % 12,
            minute = i % 60,
            c = i / 3,
            phone = if phones { format!("+44 20 7946 {:04}", i % 10_000) } else { String::new() },
            pounds = 5 + i % 900,
            pence = i % 100,
            q = 1 + i % 3,
            ip = i % 250,
            store = i % 40,
        )?;
    }
    out.flush()?;
    Ok(csv)
}

/// Wait for a child and return its exit status, its own peak resident memory in KiB, and the
/// CPU seconds it used (user and kernel).
#[allow(dead_code)] // the dry-run and workbook benchmarks'
pub fn wait_with_usage(child: std::process::Child) -> (i32, i64, f64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    (status, usage.ru_maxrss, seconds(usage.ru_utime) + seconds(usage.ru_stime))
}
