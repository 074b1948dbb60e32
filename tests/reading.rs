//! Reading the client's file (SPEC §5): encodings, delimiters, quoted cells, spreadsheet row
//! numbers, blank and ragged rows, header checks.

mod common;

use std::path::Path;

use common::*;

fn dump_fixture(case: &str) -> (tempfile::TempDir, Run) {
    let out = tempfile::tempdir().unwrap();
    let run = run("fixture", &fixture(case).join("input.csv"), &out.path().join("output"), &["--dump-data"]);
    (out, run)
}

/// The store_id and utm_source each request carries, in row order; never a replacement character.
fn stores_and_sources(dumps: &Dumps) -> Vec<(String, Option<String>)> {
    dumps
        .lines("requests")
        .iter()
        .map(|request| {
            let pairs = query_map(request);
            for value in pairs.values() {
                assert!(!value.contains('\u{FFFD}'), "a replacement character reached a tag: {request}");
            }
            let store = custom_of(&pairs)["store_id"].as_str().unwrap().to_owned();
            (store, pairs.get("utm_source").cloned())
        })
        .collect()
}

// --- encodings -------------------------------------------------------------------------------

#[test]
fn a_utf8_byte_order_mark_is_dropped() {
    let client = Client::new(MAPPING, format!("\u{feff}{HEADER}\n01/06/2024 10:00,C-1,O-1,10.00,,Café\n"));
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    // Nothing to warn about: the BOM did not stick to the first header.
    assert_eq!(dumps.kinds(), ["requests", "requests-validated"]);
    assert_eq!(stores_and_sources(&dumps), [("Café".to_owned(), None)]);
}

fn windows_1252_file() -> Vec<u8> {
    let mut csv = format!("{HEADER}\n01/06/2024 10:00,C-1,O-1,10.00,,ST01\n").into_bytes();
    // "Crème", "Café €5": é, è and € in Windows-1252 (€ is 0x80, where Latin-1 has a control).
    csv.extend_from_slice(b"02/06/2024 10:00,C-2,O-2,20.00,Cr\xe8me,Caf\xe9 \x805\n");
    csv
}

#[test]
fn a_windows_1252_file_is_read_as_such_with_one_warning() {
    let client = Client::new(MAPPING, windows_1252_file());
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    assert_eq!(
        stores_and_sources(&dumps),
        [("ST01".to_owned(), None), ("Café €5".to_owned(), Some("Crème".to_owned()))]
    );
    let warnings = dumps.lines("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("file: not valid UTF-8 (first at line 3); read as Windows-1252"),
        "{}",
        warnings[0]
    );
    let validated = dumps.validated();
    assert_eq!(validated[1].1["utm_source"], "Crème");
}

#[test]
fn the_line_of_the_first_bad_byte_counts_crlf_and_lone_cr_line_ends() {
    for end in ["\r\n", "\r"] {
        let file: Vec<u8> = windows_1252_file()
            .into_iter()
            .flat_map(|byte| if byte == b'\n' { end.as_bytes().to_vec() } else { vec![byte] })
            .collect();
        let client = Client::new(MAPPING, file);
        let run = dump(&client, &[]);
        run.expect_code(0);
        let dumps = run.dumps("fixture");
        assert!(
            dumps.lines("warnings")[0].starts_with("file: not valid UTF-8 (first at line 3)"),
            "{end:?}: {:?}",
            dumps.lines("warnings")
        );
        assert_eq!(stores_and_sources(&dumps)[1].0, "Café €5", "{end:?}");
    }
}

#[test]
fn a_windows_1252_files_delimiter_is_sniffed_from_its_whole_header() {
    let file: Vec<u8> = windows_1252_file().into_iter().map(|byte| if byte == b',' { b';' } else { byte }).collect();
    let client = Client::new(MAPPING, file);
    let run = dump(&client, &[]);
    run.expect_code(0);
    assert_eq!(stores_and_sources(&run.dumps("fixture"))[1], ("Café €5".to_owned(), Some("Crème".to_owned())));
}

#[test]
fn encoding_windows_1252_reads_it_without_a_warning() {
    let client = Client::new(MAPPING, windows_1252_file());
    let run = dump(&client, &["--encoding", "windows-1252"]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    assert_eq!(stores_and_sources(&dumps)[1].0, "Café €5");
    assert!(dumps.lines("warnings").is_empty());
}

#[test]
fn encoding_utf8_on_a_windows_1252_file_is_a_row_exception_never_a_replacement_character() {
    let client = Client::new(MAPPING, windows_1252_file());
    let run = dump(&client, &["--encoding", "utf-8"]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    let exceptions = dumps.lines("exceptions");
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    assert!(exceptions[0].starts_with("row 3, column \"utm_source\""), "{}", exceptions[0]);
    assert!(
        exceptions[0].contains("not valid UTF-8") && exceptions[0].ends_with("; row not fired"),
        "{}",
        exceptions[0]
    );
    assert_eq!(dumps.validated_rows(), [2]);
    for kind in ["requests", "requests-validated"] {
        let text = dumps.text(kind);
        assert!(
            !text.contains('\u{FFFD}') && !text.contains("%EF%BF%BD") && !text.contains("\\ufffd"),
            "{kind}: {text}"
        );
    }
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut bytes = if little_endian { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&if little_endian { unit.to_le_bytes() } else { unit.to_be_bytes() });
    }
    bytes
}

#[test]
fn utf16_with_a_byte_order_mark_is_read_as_utf16() {
    // Excel's "Unicode text" export: UTF-16 LE, tab-delimited, CRLF.
    let tsv = format!("{}\r\n01/06/2024 10:00\tC-1\tO-1\t10.00\tCrème\tCafé 東京\r\n", HEADER.replace(',', "\t"));
    for little_endian in [true, false] {
        let client = Client::new(MAPPING, utf16(&tsv, little_endian));
        let run = dump(&client, &[]);
        run.expect_code(0);
        let dumps = run.dumps("fixture");
        assert_eq!(
            stores_and_sources(&dumps),
            [("Café 東京".to_owned(), Some("Crème".to_owned()))],
            "LE: {little_endian}"
        );
        assert!(dumps.lines("warnings").is_empty());
    }
}

#[test]
fn an_empty_file_cannot_start() {
    for content in [&b""[..], b"\xEF\xBB\xBF"] {
        let client = Client::new(MAPPING, content);
        let run = dump(&client, &[]);
        run.expect_code(2);
        assert!(run.stderr.contains("is empty") && run.stderr.contains("input.csv"), "{}", run.stderr);
        assert!(!client.output().exists());
    }
}

// --- delimiters and quoting ------------------------------------------------------------------

#[test]
fn the_delimiter_is_sniffed_from_the_header() {
    for case in ["semicolon", "tab", "pipe"] {
        let (_out, run) = dump_fixture(case);
        run.expect_code(0);
        let dumps = run.dumps("fixture");
        assert_eq!(dumps.validated_rows(), [2, 3], "{case}");
        let stores = stores_and_sources(&dumps);
        // The other candidate delimiters stay inside their cells.
        let (first_store, second_store) = match case {
            "semicolon" => ("ST,01", "ST;02"),
            _ => ("ST;01", "ST02"),
        };
        assert_eq!(stores[0], (first_store.to_owned(), Some("news,letter".to_owned())), "{case}");
        assert_eq!(stores[1], (second_store.to_owned(), None), "{case}");
    }
}

#[test]
fn a_file_with_lone_cr_line_ends_is_sniffed_from_its_first_line() {
    // Old Mac exports end lines with CR alone; the second row's commas outnumber the header's ';'.
    let csv = "Sale Date;Customer;Order Ref;Sale Value;utm_source;Store\r01/06/2024 10:00;C-1;O-1;10.00;a,b,c,d,e,f,g,h,i,j,k;ST01\r";
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(0);
    assert_eq!(
        stores_and_sources(&run.dumps("fixture")),
        [("ST01".to_owned(), Some("a,b,c,d,e,f,g,h,i,j,k".to_owned()))]
    );
}

#[test]
fn a_given_delimiter_overrides_the_sniffing() {
    // Read with ',' the semicolon file has one header, "Sale Date;Customer;…", which the mapping lacks.
    let out = tempfile::tempdir().unwrap();
    let run = run("fixture", &fixture("semicolon").join("input.csv"), out.path(), &["--delimiter", ","]);
    run.expect_code(2);
    let run2 = common::run("fixture", &fixture("semicolon").join("input.csv"), out.path(), &["--delimiter", ";"]);
    run2.expect_code(0);
}

#[test]
fn quoted_cells_hold_newlines_quotes_and_delimiters_and_rows_stay_spreadsheet_rows() {
    let (_out, run) = dump_fixture("quoted_newline");
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(stores_and_sources(&dumps)[0].0, "Shop 1\nHigh Street, \"North\"");
    // Row 3 is on the file's fourth line: the quoted newline does not count.
    assert_eq!(dumps.validated_rows(), [2, 4]);
    let exceptions = dumps.lines("exceptions");
    assert_eq!(exceptions.len(), 1);
    assert!(
        exceptions[0].starts_with(r#"row 3, column "Sale Value" (revenue): "ten" is not a number"#),
        "{}",
        exceptions[0]
    );
}

#[test]
fn row_numbers_with_crlf_and_quoted_newlines() {
    let csv = [
        HEADER,
        "01/06/2024 10:00,C-1,O-1,10.00,,\"a\r\nb\r\nc\"",
        "",
        "02/06/2024 10:00,C-2,O-2,ten,,x",
        "03/06/2024 10:00,C-3,O-3,1,,y",
        "",
    ]
    .join("\r\n");
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 5]);
    assert!(dumps.lines("exceptions")[0].starts_with("row 4, "), "{:?}", dumps.lines("exceptions"));
}

#[test]
fn row_numbers_with_lone_cr_line_ends() {
    // Old Mac exports: blank rows and a quoted line break, all with lone CRs.
    let rows = [
        HEADER,
        "01/06/2024 10:00,C-1,O-1,10.00,,a",
        "",
        "02/06/2024 10:00,C-2,O-2,ten,,b",
        "03/06/2024 10:00,C-3,O-3,5.00,,\"two\rlines\"",
        "",
        "04/06/2024 10:00,C-4,O-4,eleven,,d",
        "",
    ];
    let client = Client::new(MAPPING, rows.join("\r"));
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 5]);
    let exceptions = dumps.lines("exceptions");
    assert_eq!(exceptions.len(), 2, "{exceptions:?}");
    assert!(exceptions[0].starts_with("row 4, ") && exceptions[1].starts_with("row 7, "), "{exceptions:?}");
    // The quoted line break is sent as it was written.
    assert_eq!(dumps.validated()[1].1["custom"]["store_id"], "two\rlines");
}

#[test]
fn a_windows_1252_file_with_lone_cr_line_ends_and_blank_rows() {
    // Excel 2011 for Mac's "CSV (Macintosh)": Mac Roman-ish 8-bit text, semicolons, lone CRs.
    let mut csv = HEADER.replace(',', ";").into_bytes();
    csv.extend_from_slice(b"\r01/06/2024 10:00;C-1;O-1;10.00;Cr\xe8me;a\r\r02/06/2024 10:00;C-2;O-2;ten;;b\r");
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(stores_and_sources(&dumps), [("a".to_owned(), Some("Crème".to_owned()))]);
    let exceptions = dumps.lines("exceptions");
    assert!(exceptions.len() == 1 && exceptions[0].starts_with("row 4, "), "{exceptions:?}");
}

#[test]
fn crlf_cut_by_a_decoders_first_read_is_still_crlf() {
    // A decoder hands over its text a little at a time (UTF-16: about 4,096 characters a read);
    // a header that long puts the first read's end between CR and LF.
    for header_chars in [4094, 4095, 4096] {
        let extra = "x".repeat(header_chars - HEADER.len() - 1);
        let tsv = format!(
            "{}\t{extra}\r\n01/06/2024 10:00\tC-1\tO-1\t10.00\t\tST01\t\r\n02/06/2024 10:00\tC-2\tO-2\tten\t\tST02\t\r\n",
            HEADER.replace(',', "\t")
        );
        let client = Client::new(MAPPING, utf16(&tsv, true));
        let run = dump(&client, &[]);
        run.expect_code(1);
        let exceptions = run.dumps("fixture").lines("exceptions");
        assert!(exceptions.len() == 1 && exceptions[0].starts_with("row 3, "), "{header_chars}: {exceptions:?}");
    }
}

// --- blank and ragged rows -------------------------------------------------------------------

#[test]
fn blank_rows_are_skipped_silently_but_still_counted() {
    let (_out, run) = dump_fixture("blank_rows");
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 7]);
    let exceptions = dumps.lines("exceptions");
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    assert!(exceptions[0].starts_with("row 5, column \"Sale Value\""), "{}", exceptions[0]);
    assert!(!dumps.files.contains_key("warnings"), "{:?}", dumps.lines("warnings"));
    assert!(
        !run.stderr.contains("row 3") && !run.stderr.contains("row 4") && !run.stderr.contains("row 6"),
        "{}",
        run.stderr
    );
}

#[test]
fn ragged_rows_are_exceptions_and_the_rest_goes_on() {
    let (_out, run) = dump_fixture("ragged");
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    // Row 4 has two extra empty cells, as Excel writes them: fine.
    assert_eq!(dumps.validated_rows(), [2, 4, 6]);
    assert_eq!(
        dumps.lines("exceptions"),
        [
            "row 3: 5 cells but the header has 6; a delimiter is missing, or a cell holds an unquoted line break; row not fired",
            "row 5: cell 7 is past the header's last column and not empty (7 cells for 6 headers); a cell probably holds an unquoted delimiter: quote it; row not fired",
        ]
    );
}

#[test]
fn trailing_unnamed_columns_may_be_missing_or_empty() {
    // Excel leaves empty header cells after the last named column.
    let client = Client::new(
        MAPPING,
        format!("{HEADER},,\n01/06/2024 10:00,C-1,O-1,10.00,,ST01\n02/06/2024 10:00,C-2,O-2,20.00,,ST02,,\n03/06/2024 10:00,C-3,O-3,30.00,,ST03,,x\n"),
    );
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 3]);
    assert!(
        dumps.lines("exceptions")[0].starts_with("row 4: cell 8 is past the header's last column"),
        "{:?}",
        dumps.lines("exceptions")
    );
}

// --- the header ------------------------------------------------------------------------------

fn assert_nothing_written(out: &Path) {
    assert!(!out.join("output").exists(), "the output directory was created");
}

#[test]
fn a_missing_mapped_header_stops_the_run() {
    let (out, run) = dump_fixture("missing_header");
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(r#"the mapping reads event_time from the header "Sale Date", which the file does not have"#),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(r#"The closest is "Sale Dat""#), "{}", run.stderr);
    assert!(
        run.stderr.contains(r#""Sale Dat", "Customer", "Order Ref", "Sale Value", "utm_source", "Store""#),
        "the file's headers are listed: {}",
        run.stderr
    );
    assert!(run.stderr.contains("missing_header/input.csv"), "the file is named: {}", run.stderr);
    assert_nothing_written(out.path());
}

#[test]
fn a_duplicated_header_stops_the_run() {
    let (out, run) = dump_fixture("duplicate_header");
    run.expect_code(2);
    assert!(run.stderr.contains(r#"the header "store" appears twice (columns 5 and 6)"#), "{}", run.stderr);
    assert_nothing_written(out.path());
}

#[test]
fn unmapped_headers_get_one_warning() {
    let client =
        Client::new(MAPPING, format!("{HEADER},Notes,Internal\n01/06/2024 10:00,C-1,O-1,10.00,,ST01,call back,x\n"));
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    assert_eq!(
        dumps.lines("warnings"),
        [
            r#"file: 2 column(s) that nothing maps, not sent: "Notes", "Internal"; map them in "columns" or "custom" if they matter"#
        ]
    );
    assert!(!dumps.text("requests").contains("call"));
}

#[test]
fn a_header_only_file_is_valid_and_empty() {
    let (_out, run) = dump_fixture("header_only");
    run.expect_code(0);
    assert_eq!(summary_value(&run.stdout, "rows read"), "0");
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.kinds(), ["requests", "requests-validated"]);
    assert_eq!(dumps.text("requests"), "");
    assert_eq!(dumps.text("requests-validated"), "[]\n");
}
