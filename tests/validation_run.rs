//! A run with neither `--dump-data` nor `--fire-tag` only validates (SPEC §2, §9): it writes
//! nothing, shows the problems and sets the exit code.

mod support;

use support::*;

#[test]
fn the_example_is_validated_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let run = run("example", &example_csv(), &output, &[]);
    run.expect_code(1);
    assert!(!output.exists(), "a validation run created the output directory");
    assert_eq!(files_under(dir.path()), Vec::<std::path::PathBuf>::new());
    // Exceptions are shown on stderr, with their rows, wrapped at 80 columns.
    assert!(run.stderr.lines().all(|line| line.chars().count() <= 80), "{}", run.stderr);
    assert!(
        run.stderr.replace("\n    ", " ").contains(
            r#"row 37, column "Order Ref" (order_id): order id "EX-5001" was already used in row 2; row not fired"#
        ),
        "{}",
        run.stderr
    );
    for row in 34..=39 {
        assert!(run.stderr.contains(&format!("row {row}")), "row {row} not on stderr:\n{}", run.stderr);
    }
    assert_eq!(summary_value(&run.stdout, "with exceptions"), "6 (not fired)");
    assert!(!run.stdout.contains("output/"), "no file is listed as written:\n{}", run.stdout);
}

#[test]
fn a_clean_file_exits_0_and_writes_nothing() {
    let client = Client::rows(&["13/06/2024 10:00,C-1,O-1,10.00,news,ST01", "14/06/2024,C-2,O-2,20.00,,"]);
    let run = run("clean", &client.csv(), &client.output(), &[]);
    run.expect_code(0);
    assert!(!client.output().exists());
    assert_eq!(summary_value(&run.stdout, "rows read"), "2");
    assert_eq!(summary_value(&run.stdout, "valid"), "2");
    assert!(!run.stderr.contains("row "), "{}", run.stderr);
}

#[test]
fn a_file_with_only_warnings_exits_0() {
    // A revenue with a currency symbol is corrected with a warning: the row still fires.
    let client = Client::rows(&["13/06/2024 10:00,C-1,O-1,£10.00,,"]);
    let run = run("warned", &client.csv(), &client.output(), &[]);
    run.expect_code(0);
    assert!(
        run.stderr
            .replace("\n    ", " ")
            .contains(r#"row 2, column "Sale Value" (revenue): "£10.00" had a currency symbol; sent 10.00"#),
        "{}",
        run.stderr
    );
    assert!(!client.output().exists());
}

/// A file of `rows` rows whose dates all name 31 February.
fn same_bad_date(rows: usize) -> Client {
    let lines: Vec<String> = (0..rows).map(|index| format!("31/02/2024,C-{index},O-{index},10.00,,")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    Client::rows(&lines)
}

#[test]
fn five_thousand_identical_mistakes_are_a_few_lines_with_their_count_and_the_dump_keeps_them_all() {
    let client = same_bad_date(5000);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines.len() <= 6, "{} lines on the terminal:\n{}", lines.len(), run.stderr);
    assert!(lines.iter().all(|line| line.chars().count() <= 80), "{}", run.stderr);
    assert!(run.stderr.contains("a date that does not exist: 5,000 rows"), "{}", run.stderr);
    assert!(run.stderr.contains("row 2, 3, 4 … and 4,997 more"), "{}", run.stderr);
    assert!(run.stderr.contains("\"31/02/2024\": February has no 31st"), "{}", run.stderr);
    assert!(!run.stderr.contains("date_formats"), "a date that does not exist asks for a format:\n{}", run.stderr);
    assert_eq!(summary_value(&run.stdout, "with exceptions"), "5,000 (not fired)");
    // The dump keeps one line a row, as before, and is the same on every run.
    let exceptions = run.lines_of("fixture", "exceptions");
    assert_eq!(exceptions.len(), 5000);
    assert_eq!(
        exceptions[4998],
        "row 5000, column \"Sale Date\" (event_time): \"31/02/2024\": February has no 31st; fix the cell; row not fired"
    );
    let again = run_again(&client);
    assert_eq!(again, exceptions, "the exceptions dump differs between two runs");
}

fn run_again(client: &Client) -> Vec<String> {
    let output = client.dir.path().join("again");
    let run = run("fixture", &client.csv(), &output, &["--dump-data"]);
    run.lines_of("fixture", "exceptions")
}

/// The run's error output with `--color` and the environment given, on a pseudo-terminal when
/// `terminal`, else on a pipe.
#[cfg(unix)]
fn stderr_of(client: &Client, color: &str, no_color: bool, terminal: bool) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut command = replayer_on("colour", &client.csv(), &client.output(), &["--color", color]);
    command.env_remove("NO_COLOR").env("TERM", "xterm").stdout(std::process::Stdio::null());
    if no_color {
        command.env("NO_COLOR", "1");
    }
    if !terminal {
        let output = command.stderr(std::process::Stdio::piped()).output().unwrap();
        return String::from_utf8_lossy(&output.stderr).into_owned();
    }
    let (mut master, slave) = pseudo_terminal();
    let mut child = command.stderr(std::process::Stdio::from(slave)).spawn().unwrap();
    child.wait().unwrap();
    // The slave is closed with the child: the master reads what is buffered, then EIO.
    let mut text = Vec::new();
    let mut buffer = [0u8; 4096];
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    while let Ok(read) = master.read(&mut buffer) {
        if read == 0 {
            break;
        }
        text.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(unix)]
#[test]
fn colour_on_a_terminal_and_with_always_never_with_no_color_or_a_pipe() {
    const ESCAPE: char = '\u{1b}';
    let client = same_bad_date(3);
    let on_terminal = stderr_of(&client, "auto", false, true);
    assert!(on_terminal.contains("February has no 31st"), "{on_terminal}");
    assert!(on_terminal.contains(ESCAPE), "no colour on a terminal:\n{on_terminal}");
    let always = stderr_of(&client, "always", false, true);
    assert!(always.contains(ESCAPE), "{always}");
    let no_color = stderr_of(&client, "auto", true, true);
    assert!(no_color.contains("February has no 31st") && !no_color.contains(ESCAPE), "{no_color}");
    let piped = stderr_of(&client, "auto", false, false);
    assert!(piped.contains("February has no 31st") && !piped.contains(ESCAPE), "{piped}");
    let never = stderr_of(&client, "never", false, true);
    assert!(!never.contains(ESCAPE), "{never}");
}
