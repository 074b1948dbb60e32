//! What the user typed for `replayer serve` (SPEC §10): where it listens, what it serves, and
//! the firing options its page's runs take.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser};

use crate::cli::Cli;

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

    /// Open connections at most; more wait until one closes
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000), value_name = "N")]
    pub max_connections: u32,

    /// How the server's log lines (one per request and per upload event) are written on standard error
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,

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
    pub firing: FiringArgs,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text an event
    #[default]
    Text,
    /// One JSON object a line
    Json,
}

/// The firing options of `replayer serve`, handed to the command line's parser as they are.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FiringArgs {
    /// Requests in flight at once when firing [default: 8]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// At most this many requests per second when firing (0 = no limit) [default: 0]
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<String>,
    /// Seconds for one request [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<String>,
    /// Retries of one request on a retryable failure [default: 5]
    #[arg(long, value_name = "N")]
    pub max_retries: Option<String>,
    /// A PEM file of extra CA certificates to trust for an https: DCS
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl FiringArgs {
    /// As a run's arguments: `--concurrency 8 --rate 0 …`.
    pub fn arguments(&self) -> Vec<OsString> {
        let mut arguments: Vec<OsString> = Vec::new();
        let options = [
            ("--concurrency", &self.concurrency),
            ("--rate", &self.rate),
            ("--timeout", &self.timeout),
            ("--max-retries", &self.max_retries),
        ];
        for (flag, value) in options {
            if let Some(value) = value {
                arguments.extend([flag.into(), value.into()]);
            }
        }
        if let Some(path) = &self.ca_cert {
            arguments.extend(["--ca-cert".into(), path.into()]);
        }
        arguments
    }

    /// Checked once, at start, by the command line's own parser: a bad value stops the server.
    pub fn checked(self) -> Result<FiringArgs> {
        let mut arguments: Vec<OsString> = ["replayer", "--name", "check", "--load-file", "-"].map(Into::into).to_vec();
        arguments.extend(self.arguments());
        Cli::try_parse_from(arguments).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(self)
    }
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
