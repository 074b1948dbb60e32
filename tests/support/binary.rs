//! Running the real binary: the one way the tests start it, and what came of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate};

use super::clients::Client;
use super::dumps::{dumps_in, Dumps};

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output_dir: PathBuf,
    /// The local dates of the start and end of the run: the file name holds one of them.
    pub dates: [NaiveDate; 2],
}

/// The one way the tests run the tool: the real binary, with no database, DCS or proxy from
/// the environment, and nothing on stdin (never a terminal, even under an interactive
/// `cargo test`). Every other way below starts from it.
pub fn replayer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_replayer"));
    command.env_remove("REPLAYER_REQUEST_URL").env_remove("REPLAYER_DATABASE_URL").stdin(Stdio::null());
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// The proxy variables, any case: the tests' requests go straight to their own servers unless a
/// test sets them.
pub const PROXY_VARIABLES: [&str; 8] =
    ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

/// `replayer --name <name> --load-file <csv> --output-dir <output> <extra…>`.
pub fn replayer_on(name: &str, csv: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut command = replayer();
    command.args(["--name", name, "--load-file"]).arg(csv).arg("--output-dir").arg(output).args(extra);
    command
}

/// The same, firing at `url`: `… --request-url <url> <extra…>`, as the live-run tests start it.
pub fn replayer_to(name: &str, csv: &Path, output: &Path, url: &str, extra: &[&str]) -> Command {
    replayer_on(name, csv, output, &[&["--request-url", url], extra].concat())
}

/// Run `replayer --name <name> --load-file <csv> --output-dir <output_dir> <args…>` to its end.
pub fn run(name: &str, csv: &Path, output_dir: &Path, args: &[&str]) -> Run {
    let before = Local::now().date_naive();
    let output = replayer_on(name, csv, output_dir, args).output().unwrap();
    let after = Local::now().date_naive();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        output_dir: output_dir.to_owned(),
        dates: [before, after],
    };
    assert!(!run.stderr.contains("panicked"), "the tool panicked:\n{}", run.stderr);
    run
}

/// `--dump-data` run of a client folder into its own output directory.
pub fn dump(client: &Client, args: &[&str]) -> Run {
    let mut all = vec!["--dump-data"];
    all.extend_from_slice(args);
    run("fixture", &client.csv(), &client.output(), &all)
}

impl Run {
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// The dump files of this run, by type. Panics unless every file in the output directory is
    /// named `{name}-{type}-{token}-{date}.txt` with one token and this run's date.
    pub fn dumps(&self, name: &str) -> Dumps {
        dumps_in(&self.output_dir, name, &self.dates)
    }

    pub fn lines_of(&self, name: &str, kind: &str) -> Vec<String> {
        self.dumps(name).lines(kind)
    }
}

/// The value after `label:` on the summary line that starts with it, spaces collapsed.
pub fn summary_value(stdout: &str, label: &str) -> String {
    let line = stdout
        .lines()
        .find(|line| line.trim_start().strip_prefix(label).is_some_and(|rest| rest.starts_with(':')))
        .unwrap_or_else(|| panic!("no {label:?} line in the summary:\n{stdout}"));
    let value = line.trim_start()[label.len() + 1..].trim();
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `replayer accounts add` on the database at `database` (a URL).
pub fn accounts_add(database: &str, token: &str, connection: &str) {
    let output = replayer()
        .args(["accounts", "add", "--token", token, "--connection", connection, "--database-url", database])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Waits for a run to end, at most `bound`: a run still going then is killed and the test fails.
pub fn finish_within(mut child: std::process::Child, bound: Duration) -> (std::process::Output, Duration) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > bound {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("the run hung: still going after {bound:?}\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

#[cfg(unix)]
pub fn signal(child: &std::process::Child, signal: i32) {
    unsafe { libc::kill(child.id() as i32, signal) };
}
