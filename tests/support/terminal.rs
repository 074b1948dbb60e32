//! What a person at a terminal sees: a pseudo-terminal to run on, answers typed at the question,
//! and the run's output with its 80-column wrapping undone.

/// A pseudo-terminal: (the side the test types on, the side the run reads as its terminal).
#[cfg(unix)]
pub fn pseudo_terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let opened =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(opened, 0, "cannot open a pseudo-terminal");
    unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) }
}

/// Runs with its standard input on a terminal (a pseudo-terminal), typing `answer` at the question.
#[cfg(unix)]
pub fn answering(mut command: std::process::Command, answer: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let (mut master, slave) = pseudo_terminal();
    let child = command.stdin(Stdio::from(slave)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The terminal keeps the line until the question reads it.
    master.write_all(format!("{answer}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    drop(master);
    output
}

/// What a run printed, on its standard output then its error output, with the lines that the
/// terminal's 80-column wrapping broke joined again: messages are matched whatever their width.
pub fn text(output: &std::process::Output) -> String {
    let both = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    flat(&both)
}

/// `text` with its lines joined by one space, each without its indent: a wrapped message reads
/// whole again (the spaces inside a line stay as they are).
pub fn flat(text: &str) -> String {
    text.lines().map(str::trim_start).collect::<Vec<_>>().join(" ")
}

/// `4997` → `4,997`, as the terminal shows counts.
pub fn separated(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
