//! A run with neither `--dump-data` nor `--fire-tag` only validates (SPEC §2, §9): it writes
//! nothing, shows the problems and sets the exit code.

mod common;

use common::*;

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
    let client = Client::rows(&["01/06/2024 10:00,C-1,O-1,10.00,news,ST01", "02/06/2024,C-2,O-2,20.00,,"]);
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
    let client = Client::rows(&["01/06/2024 10:00,C-1,O-1,£10.00,,"]);
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
