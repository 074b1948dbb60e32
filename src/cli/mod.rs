//! What the user typed (SPEC §2). The doc comments are the `--help` text.

pub mod commands;
pub mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::read::Encoding;
use commands::{AccountsCommand, ClientsCommand, TemplateArgs, UsersCommand};
use serve::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "replayer",
    version,
    about = "Turn a client's CSV of offline sales and visits into the DCS tags the platform would have seen, and fire them.",
    long_about = "Turn a client's CSV of offline sales and visits into the DCS tags the platform would have seen, and fire them.\n\n\
        1. Check the file and write the dump files to output/:\n   \
        replayer --name c-a-norton-uk --load-file clients/norton/norton.csv --dump-data\n\
        2. Read the dump files, then fire: the same command with --fire-tag.",
    after_help = "Exit codes: 0 all rows valid (and accepted), 1 some rows had exceptions or were refused or failed, \
        2 could not start (nothing sent), 3 stopped early (DCS down, account refused, DCS name or certificate failed, lock lost, journal failed), 130 interrupted.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage the accounts the DCS accepts tags for (the attrib_account table)
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,

        /// The attrib database (sqlite:, mysql: or postgres: URL) [default: replayer.sqlite in the output directory]
        #[arg(long, env = "REPLAYER_DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
        database_url: Option<String>,

        /// Where the default SQLite database lives
        #[arg(long, default_value = "output", global = true, value_name = "DIR")]
        output_dir: PathBuf,
    },
    /// Manage who may sign in to `replayer serve`
    Users {
        #[command(subcommand)]
        command: UsersCommand,

        /// The database (sqlite:, mysql: or postgres: URL) [default: replayer.sqlite in the output directory]
        #[arg(long, env = "REPLAYER_DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
        database_url: Option<String>,

        /// Where the default SQLite database lives
        #[arg(long, default_value = "output", global = true, value_name = "DIR")]
        output_dir: PathBuf,
    },
    /// Manage the clients' mappings stored in the database (SPEC §13): list, show, import, export
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,

        /// The database (sqlite:, mysql: or postgres: URL) [default: replayer.sqlite in the output directory]
        #[arg(long, env = "REPLAYER_DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
        database_url: Option<String>,

        /// Where the default SQLite database lives
        #[arg(long, default_value = "output", global = true, value_name = "DIR")]
        output_dir: PathBuf,
    },
    /// Serve the web front end: upload a client's file, check it, download its dumps
    Serve(ServeArgs),

    /// Write a client's template workbook (.xlsx): the mapped headers, a sample row, identifiers as
    /// Text, the event time in the mapping's date format, the events as a drop-down, a "Fields" sheet
    Template(TemplateArgs),

    /// Print a shell completion script, e.g. `replayer completions bash > /etc/bash_completion.d/replayer`
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), e.g. `replayer man > ~/.local/share/man/man1/replayer.1`
    Man,
}

/// The completion script for `shell`, from the same definitions as `--help`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "replayer", &mut script);
    script
}

/// The manual page, from the same definitions as `--help`.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
    Ok(page)
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run name, used in the dump file names (letters, digits, '.', '_', '-'; e.g. c-a-norton-uk)
    #[arg(long, required = true)]
    pub name: Option<String>,

    /// The client's file: a CSV, or an Excel workbook (.xlsx, .xlsm, .xls) or an .ods
    #[arg(long, required = true, value_name = "FILE")]
    pub load_file: Option<PathBuf>,

    /// The client's mapping [default: mapping.json in the CSV's folder]
    #[arg(long, value_name = "JSON")]
    pub mapping: Option<PathBuf>,

    /// Read the mapping of this client stored in the database (its latest version; see
    /// `replayer clients`) instead of a mapping file; needs --database-url
    #[arg(long, value_name = "NAME", conflicts_with = "mapping")]
    pub client: Option<String>,

    /// The DCS tag endpoint
    #[arg(long, env = "REPLAYER_REQUEST_URL", default_value = "http://127.0.0.1:8080/tag", value_name = "URL")]
    pub request_url: String,

    /// Write the dump files (a dry run unless --fire-tag is also given)
    #[arg(long)]
    pub dump_data: bool,

    /// Fire the tags to the DCS (a live run)
    #[arg(long)]
    pub fire_tag: bool,

    /// Skip the confirmation before a live run
    #[arg(long)]
    pub yes: bool,

    /// Where the dump files go
    #[arg(long, default_value = "output", value_name = "DIR")]
    pub output_dir: PathBuf,

    /// The attrib database (sqlite:, mysql: or postgres: URL) [default: replayer.sqlite in the output directory]
    #[arg(long, env = "REPLAYER_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Requests in flight at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024), value_name = "N")]
    pub concurrency: u32,

    /// At most this many requests a second (0 = no limit; else 0.01 to 1000000)
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "PER_SECOND")]
    pub rate: f64,

    /// Seconds for one request (above 0, at most 3600)
    #[arg(long, default_value_t = 10.0, value_parser = timeout, value_name = "SECONDS")]
    pub timeout: f64,

    /// Retries of one request on a retryable failure (0 to 100)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100), value_name = "N")]
    pub max_retries: u32,

    /// A PEM file of CA certificates to trust for an https: DCS, besides the system's store
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Fire only the first N valid rows (a smoke test)
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Fire rows the journal says were already accepted
    #[arg(long)]
    pub refire: bool,

    /// The file's encoding: auto, or a WHATWG label (utf-8, windows-1252, macintosh, iso-8859-2, shift_jis, utf-16le…)
    #[arg(long, default_value = "auto", value_parser = crate::read::parse_encoding, value_name = "auto|LABEL")]
    pub encoding: Encoding,

    /// The delimiter: auto, or one character (tab: "\t" or "tab")
    #[arg(long, default_value = "auto", value_parser = delimiter, value_name = "auto|CHAR")]
    pub delimiter: Delimiter,

    /// The workbook's sheet to read, by name or number from 1 [default: the mapping's "sheet",
    /// else the first visible sheet]
    #[arg(long, value_name = "NAME|N")]
    pub sheet: Option<String>,

    /// No progress bar: only the summary and errors
    #[arg(long)]
    pub quiet: bool,

    /// The HTTP proxy to fire through (http://[user:password@]host:port); without it,
    /// HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured as curl honours them
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Colour on the terminal: auto (when it is one and NO_COLOR is not set), always or never
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: crate::out::terminal::ColorChoice,

    /// Also write the summary as JSON to this file, whatever the exit code (see docs/reference.md)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    Auto,
    Byte(u8),
}

fn delimiter(text: &str) -> Result<Delimiter, String> {
    match text {
        "auto" => Ok(Delimiter::Auto),
        "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
        _ if text.len() == 1 && text.is_ascii() && text != "\"" && text != "\n" => {
            Ok(Delimiter::Byte(text.as_bytes()[0]))
        }
        _ => Err("give auto, or one ASCII character such as ',' ';' '|' or tab".to_owned()),
    }
}

/// The most seconds `--timeout` takes: an hour is already more than any DCS answer needs.
pub const MAX_TIMEOUT_SECONDS: f64 = 3600.0;
pub const MIN_RATE: f64 = 0.01;
pub const MAX_RATE: f64 = 1_000_000.0;

fn rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value == 0.0 || (MIN_RATE..=MAX_RATE).contains(&value) => Ok(value),
        _ => Err(format!("give 0 (no limit) or a number of requests a second from {MIN_RATE} to {MAX_RATE}")),
    }
}

fn timeout(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        // At least a millisecond: a shorter timeout fails every request.
        Ok(value) if (0.001..=MAX_TIMEOUT_SECONDS).contains(&value) => Ok(value),
        _ => Err(format!("give a number of seconds above 0, at most {MAX_TIMEOUT_SECONDS}")),
    }
}

/// `--name` becomes part of file names: `^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`, no `..`.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !first_ok || !rest_ok || name.len() > 100 {
        return Err(format!(
            "--name {name:?} is not a run name: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (no paths), e.g. c-a-norton-uk"
        ));
    }
    if name.contains("..") {
        return Err(format!("--name {name:?} holds \"..\"; use a plain name such as c-a-norton-uk"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn names() {
        assert!(check_name("c-a-norton-uk").is_ok());
        assert!(check_name("a").is_ok());
        for bad in ["", "../x", "a/b", "a..b", ".hidden", "-x", "a b", &"a".repeat(101), "a\\b", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for bad in ["1e20", "0", "-1", "nan", "inf", "3601", "0.0001"] {
            assert!(timeout(bad).is_err(), "--timeout {bad}");
        }
        for good in ["0.5", "10", "3600"] {
            assert!(timeout(good).is_ok(), "--timeout {good}");
        }
        for bad in ["1e-300", "-1", "nan", "inf", "1e7"] {
            assert!(rate(bad).is_err(), "--rate {bad}");
        }
        for good in ["0", "0.01", "20", "1000000"] {
            assert!(rate(good).is_ok(), "--rate {good}");
        }
    }

    #[test]
    fn delimiters() {
        assert_eq!(delimiter("auto"), Ok(Delimiter::Auto));
        assert_eq!(delimiter(";"), Ok(Delimiter::Byte(b';')));
        assert_eq!(delimiter("tab"), Ok(Delimiter::Byte(b'\t')));
        assert!(delimiter(";;").is_err());
    }
}
