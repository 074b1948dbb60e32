//! Shell completions and the manual page (`replayer completions <shell>`, `replayer man`), both
//! generated from the clap definitions that give `--help`.

mod support;

use support::replayer;

fn stdout_of(args: &[&str]) -> String {
    let output = replayer().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_shell_gets_a_script_that_knows_the_options_and_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        for word in ["load-file", "fire-tag", "dump-data", "accounts", "completions"] {
            assert!(script.contains(word), "{shell}: no {word} in the script");
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash_and_completes_an_option() {
    let script = stdout_of(&["completions", "bash"]);
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("replayer.bash");
    std::fs::write(&path, &script).unwrap();
    // Load the script, then ask it what `replayer --load-f<TAB>` completes to.
    let probe = format!(
        "source {}; COMP_WORDS=(replayer --load-f); COMP_CWORD=1; COMP_LINE='replayer --load-f'; COMP_POINT=${{#COMP_LINE}}; \
         _replayer replayer --load-f replayer; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let output = std::process::Command::new("bash").args(["--norc", "-c", &probe]).output().unwrap();
    let completed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(completed.trim(), "--load-file", "{completed}");
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let output = replayer().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bash") && stderr.contains("zsh"), "{stderr}");
}

#[test]
fn the_man_page_documents_every_option() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH replayer 1"), "a section-1 page: {}", &page[..page.len().min(400)]);
    // roff escapes the hyphens of option names.
    for option in ["load\\-file", "fire\\-tag", "dump\\-data", "request\\-url", "database\\-url", "concurrency"] {
        assert!(page.contains(&format!("\\-\\-{option}")), "no --{option} in the page");
    }
    assert!(page.contains("Exit codes"), "the exit codes are in the page");
}
