//! `replayer serve` (SPEC §10): the web front end. Pages rendered on the server, a little
//! JavaScript shipped inside the binary, and a JSON API beside them; the check runs the
//! command line's pipeline (`crate::run`) on the staged file.

pub mod authentication;
pub mod check;
pub mod clients;
pub mod fire;
pub mod pages;
pub mod report;
pub mod routes;
pub mod staging;
pub mod startup;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::db::default_sqlite_url;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:8088", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,

    /// Where the clients are: each folder with a mapping.json
    #[arg(long, default_value = "clients", value_name = "DIR")]
    pub clients_dir: PathBuf,

    /// The largest file that may be uploaded (e.g. 512MiB, 2GiB, 100MB)
    #[arg(long, default_value = "512MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_upload: u64,

    /// Staged files older than this are removed from the database (e.g. 7d, 12h, 30m)
    #[arg(long, default_value = "7d", value_parser = parse_duration, value_name = "AGE")]
    pub retention: Duration,

    /// Mark the cookies Secure: for a server behind a TLS reverse proxy
    #[arg(long)]
    pub secure_cookies: bool,

    /// The database (sqlite:, mysql: or postgres: URL) [default: replayer.sqlite in the output directory]
    #[arg(long, env = "REPLAYER_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Where the dump files go
    #[arg(long, default_value = "output", value_name = "DIR")]
    pub output_dir: PathBuf,

    /// The DCS tag endpoint the page fires at
    #[arg(long, env = "REPLAYER_REQUEST_URL", default_value = "http://127.0.0.1:8080/tag", value_name = "URL")]
    pub request_url: String,

    #[command(flatten)]
    pub firing: fire::FiringArgs,
}

/// What the server runs on, checked once.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub clients_dir: PathBuf,
    pub max_upload: u64,
    pub retention: Duration,
    pub secure_cookies: bool,
    pub database_url: String,
    pub output_dir: PathBuf,
    pub request_url: String,
    /// The firing options of a run (§7), as the command line takes them.
    pub firing: fire::FiringArgs,
}

impl ServeConfig {
    pub fn from_args(args: ServeArgs) -> Result<ServeConfig> {
        if !args.clients_dir.is_dir() {
            bail!(
                "--clients-dir {}: no such folder; give the folder that holds the client folders (each with a mapping.json)",
                args.clients_dir.display()
            );
        }
        std::fs::create_dir_all(&args.output_dir).with_context(|| {
            format!(
                "cannot create the output directory {}; choose another with --output-dir",
                args.output_dir.display()
            )
        })?;
        let url = url::Url::parse(args.request_url.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if url.is_none() {
            bail!("--request-url {:?} must be an http:// or https:// URL with a host", args.request_url);
        }
        let database_url = match args.database_url.filter(|url| !url.trim().is_empty()) {
            Some(url) => url,
            None => default_sqlite_url(&args.output_dir),
        };
        Ok(ServeConfig {
            listen: args.listen,
            clients_dir: args.clients_dir,
            max_upload: args.max_upload,
            retention: args.retention,
            secure_cookies: args.secure_cookies,
            database_url,
            output_dir: args.output_dir,
            request_url: args.request_url.trim().to_owned(),
            firing: args.firing.checked()?,
        })
    }
}

/// `replayer serve`: runs until Ctrl-C.
pub fn serve(args: ServeArgs) -> Result<()> {
    let config = ServeConfig::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let application = startup::Application::build(config).await?;
        eprintln!("replayer serve: listening on http://{}", application.address());
        application
            .run_until_stopped(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}

/// `512MiB`, `2GiB`, `100MB`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(format!("{text:?} is not a size; give one like 512MiB, 2GiB or 100MB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size; give one like 512MiB, 2GiB or 100MB"))
}

/// `7d`, `12h`, `30m`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration; give one like 7d, 12h, 30m or 45s")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is not a duration; give one like 7d, 12h, 30m or 45s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err() && parse_size("0").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("7").is_err());
    }
}
