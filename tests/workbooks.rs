//! Workbooks read directly (SPEC §11.1): recognised by their content, the sheet chosen, cells
//! read as Excel shows them, cells named as Excel names them, the same rids as the CSV.

mod support;

use std::path::{Path, PathBuf};

use support::workbook::{self, text, Cell, Row, Sheet, Typed};
use support::*;

const MAPPING_FOR_BOOKS: &str = r#"{
  "client": "Fixture Ltd",
  "account_token": "f1xtur3-t0k3n-0001",
  "timezone": "Europe/London",
  "currency": "GBP",
  "events": ["offline_sale"],
  "date_formats": ["%d/%m/%Y"],
  "columns": { "event_time": "Sale Date", "customer_id": "Customer", "order_id": "Order Ref", "revenue": "Sale Value" },
  "custom": { "store_id": "Store" },
  "defaults": { "event_name": "offline_sale" }
}"#;

fn header() -> Vec<Cell> {
    ["Sale Date", "Customer", "Order Ref", "Sale Value", "Store"].map(text).to_vec()
}

fn at(text: &str) -> f64 {
    workbook::serial(chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap())
}

/// A client folder holding `book.xlsx` of these sheets and the mapping above.
fn book_client(sheets: &[Sheet], date1904: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mapping.json"), MAPPING_FOR_BOOKS).unwrap();
    let path = dir.path().join("book.xlsx");
    workbook::write_raw(&path, sheets, date1904);
    (dir, path)
}

fn dump_book(dir: &Path, book: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--dump-data"];
    args.extend_from_slice(extra);
    run("book", book, &dir.join("output"), &args)
}

#[test]
fn the_example_as_a_workbook_gives_the_csvs_rows_and_rids() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/example/mapping.json"),
        dir.path().join("mapping.json"),
    )
    .unwrap();
    // The CSV Excel saves from a workbook whose amounts are General numbers: 76.3, not 76.30.
    let csv = dir.path().join("example.csv");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(example_csv()).unwrap();
    let mut writer = csv::Writer::from_path(&csv).unwrap();
    for (row, record) in reader.records().enumerate() {
        let mut cells: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        if row > 0 && cells[8].parse::<f64>().is_ok() && cells[8].contains('.') {
            cells[8] = cells[8].trim_end_matches('0').trim_end_matches('.').to_owned();
        }
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
    let xlsx = dir.path().join("example.xlsx");
    workbook::from_csv(
        &csv,
        &xlsx,
        &[("Sale Date", Typed::Date), ("Sale Value", Typed::Number), ("Qty", Typed::Number)],
    );

    let from_csv = run("example", &csv, &dir.path().join("csv"), &["--dump-data"]);
    let from_book = run("example", &xlsx, &dir.path().join("xlsx"), &["--dump-data"]);
    from_csv.expect_code(1);
    from_book.expect_code(1);
    for label in ["rows read", "valid", "with exceptions", "dates to backdate", "events"] {
        assert_eq!(summary_value(&from_book.stdout, label), summary_value(&from_csv.stdout, label), "{label}");
    }
    assert_eq!(summary_value(&from_book.stdout, "sheet read"), "\"Sheet1\" of an Excel workbook (.xlsx)");
    // The same tags, byte for byte: the same payloads and rids, whatever the file's format.
    let csv_requests = from_csv.dumps("example").text("requests");
    assert_eq!(from_book.dumps("example").text("requests"), csv_requests);
    assert_eq!(csv_requests.lines().count(), 32);
    // The same rows are exceptions, and a workbook's messages name the cell as Excel does.
    let rows = |lines: Vec<String>| lines.iter().map(|l| l.split(',').next().unwrap().to_owned()).collect::<Vec<_>>();
    let book_exceptions = from_book.dumps("example").lines("exceptions");
    assert_eq!(rows(book_exceptions.clone()), rows(from_csv.dumps("example").lines("exceptions")));
    assert!(book_exceptions.iter().any(|line| line.contains(", cell ")), "{book_exceptions:#?}");
}

#[test]
fn cells_are_read_as_excel_shows_them() {
    let rows = vec![
        header(),
        vec![
            Cell::Date(at("2024-06-01 10:30")),
            Cell::Number(12345.0),
            text("o-1"),
            Cell::Number(0.1 + 0.2),
            Cell::Bool(true),
        ],
        // A date with no time is noon local; an order id typed as a number keeps its digits.
        vec![
            Cell::Date(at("2024-06-02 00:00")),
            text("c-2"),
            Cell::Number(20240602.0),
            Cell::Formula("B1*2", Some(19.5)),
            Cell::Number(7.0),
        ],
    ];
    let (dir, book) = book_client(&[Sheet::of("Sales", rows)], false);
    let run = dump_book(dir.path(), &book, &[]);
    run.expect_code(0);
    let validated = run.dumps("book").validated();
    let payload = &validated[0].1;
    assert_eq!(validated[0].0, 2);
    // 10:30 in London in June is 09:30 UTC, though the mapping's date_formats have no time.
    assert_eq!(payload["event_time"], "2024-06-01T09:30:00Z");
    assert_eq!(payload["customer_id"], "12345");
    assert_eq!(payload["revenue"], "0.3");
    assert_eq!(payload["custom"]["store_id"], "TRUE");
    let second = &validated[1].1;
    assert_eq!(second["event_time"], "2024-06-02T11:00:00Z");
    assert_eq!(second["order_id"], "20240602");
    assert_eq!(second["revenue"], "19.5", "a formula gives its cached value");
    assert_eq!(second["custom"]["store_id"], "7");
}

#[test]
fn the_1904_date_system_is_read() {
    // Serial 0 is 1 January 1904 in that system: these dates are 1,462 days later than in 1900's.
    let serial = at("2024-06-01 10:30") - 1462.0;
    let rows = vec![header(), vec![Cell::Date(serial), text("c-1"), text("o-1"), Cell::Number(5.0), text("s")]];
    let (dir, book) = book_client(&[Sheet::of("Sales", rows)], true);
    let run = dump_book(dir.path(), &book, &[]);
    run.expect_code(0);
    assert_eq!(run.dumps("book").validated()[0].1["event_time"], "2024-06-01T09:30:00Z");
}

#[test]
fn error_values_and_formulas_without_a_value_are_exceptions_naming_the_cell() {
    let rows = vec![
        header(),
        vec![Cell::Date(at("2024-06-01 10:30")), text("c-1"), text("o-1"), Cell::Number(5.0), Cell::Error("#N/A")],
        vec![
            Cell::Date(at("2024-06-01 10:30")),
            text("c-2"),
            text("o-2"),
            Cell::Formula("SUM(A1:A2)", None),
            text("s"),
        ],
        vec![Cell::Date(at("2024-06-01 10:30")), text("c-3"), text("o-3"), Cell::Number(5.0), text("s")],
    ];
    let (dir, book) = book_client(&[Sheet::of("Sales", rows)], false);
    let run = dump_book(dir.path(), &book, &[]);
    run.expect_code(1);
    let exceptions = run.dumps("book").lines("exceptions");
    assert_eq!(exceptions.len(), 2, "{exceptions:#?}");
    assert!(exceptions[0].starts_with("row 2, column \"Store\" (custom.store_id), cell E2: "), "{}", exceptions[0]);
    assert!(exceptions[0].contains("#N/A"), "{}", exceptions[0]);
    assert!(exceptions[1].starts_with("row 3, column \"Sale Value\" (revenue), cell D3: "), "{}", exceptions[1]);
    assert!(exceptions[1].contains("open the file in Excel and save it again"), "{}", exceptions[1]);
    assert_eq!(run.dumps("book").validated_rows(), [4]);
}

#[test]
fn rows_are_numbered_as_excel_numbers_them_hidden_and_merged_included() {
    let data = |number: u32, hidden: bool, customer: Option<&str>| Row {
        number,
        hidden,
        cells: vec![
            Some(Cell::Date(at("2024-06-01 10:30"))),
            customer.map(text),
            Some(text(&format!("o-{number}"))),
            Some(Cell::Number(5.0)),
            Some(text("s")),
        ],
    };
    // The header in row 3 (two empty rows first), a hidden row 5, a merged B6:B7 whose value
    // sits in B6 only, so row 7 has no identifier.
    let sheet = Sheet {
        name: "Sales".to_owned(),
        hidden: false,
        rows: vec![
            Row { number: 3, hidden: false, cells: header().into_iter().map(Some).collect() },
            data(4, false, Some("c-4")),
            data(5, true, Some("c-5")),
            data(6, false, Some("c-6")),
            data(7, false, None),
        ],
        merged: vec!["B6:B7".to_owned()],
    };
    let (dir, book) = book_client(&[sheet], false);
    let run = dump_book(dir.path(), &book, &[]);
    run.expect_code(1);
    assert_eq!(run.dumps("book").validated_rows(), [4, 5, 6]);
    let exceptions = run.dumps("book").lines("exceptions");
    assert_eq!(exceptions.len(), 1);
    assert!(exceptions[0].starts_with("row 7"), "{}", exceptions[0]);
}

#[test]
fn the_sheet_is_the_first_visible_one_or_the_one_asked_for_and_the_others_are_named() {
    let sheet = |name: &str, hidden: bool, customer: &str| Sheet {
        hidden,
        ..Sheet::of(
            name,
            vec![
                header(),
                vec![Cell::Date(at("2024-06-01 10:30")), text(customer), text("o-1"), Cell::Number(1.0), text("s")],
            ],
        )
    };
    let empty = Sheet::of("Empty", Vec::new());
    let (dir, book) = book_client(
        &[sheet("Hidden", true, "c-hidden"), sheet("Sales", false, "c-sales"), empty, sheet("2023", false, "c-2023")],
        false,
    );

    let first_visible = dump_book(dir.path(), &book, &[]);
    first_visible.expect_code(0);
    assert_eq!(first_visible.dumps("book").validated()[0].1["customer_id"], "c-sales");
    assert_eq!(summary_value(&first_visible.stdout, "sheet read"), "\"Sales\" of an Excel workbook (.xlsx)");
    let warnings = first_visible.dumps("book").lines("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("file: the workbook has other sheets with data, which were not read: \"2023\";"),
        "{}",
        warnings[0]
    );

    let by_name = run("byname", &book, &dir.path().join("by-name"), &["--dump-data", "--sheet", "2023"]);
    by_name.expect_code(0);
    assert_eq!(by_name.dumps("byname").validated()[0].1["customer_id"], "c-2023");
    let by_number = run("bynumber", &book, &dir.path().join("by-number"), &["--dump-data", "--sheet", "1"]);
    by_number.expect_code(0);
    assert_eq!(by_number.dumps("bynumber").validated()[0].1["customer_id"], "c-hidden");

    let missing = run("missing", &book, &dir.path().join("missing"), &["--sheet", "Stores"]);
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("no sheet \"Stores\"") && missing.stderr.contains("\"Sales\""),
        "{}",
        missing.stderr
    );

    // The mapping's "sheet" does what --sheet does.
    let mapping = MAPPING_FOR_BOOKS.replacen('{', r#"{"sheet": "2023","#, 1);
    std::fs::write(dir.path().join("mapping.json"), mapping).unwrap();
    let from_mapping = run("mapped", &book, &dir.path().join("mapped"), &["--dump-data"]);
    from_mapping.expect_code(0);
    assert_eq!(from_mapping.dumps("mapped").validated()[0].1["customer_id"], "c-2023");
}

#[test]
fn files_that_are_no_spreadsheet_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mapping.json"), MAPPING_FOR_BOOKS).unwrap();
    let zip_of = |path: &Path, name: &str| {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, b"hello").unwrap();
        zip.finish().unwrap();
    };
    type Write<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: [(&str, Write<'_>, &str); 4] = [
        ("report.pdf", Box::new(|path| std::fs::write(path, b"%PDF-1.7\n...").unwrap()), "is a PDF document"),
        ("photo.csv", Box::new(|path| std::fs::write(path, b"\x89PNG\r\n\x1a\n....").unwrap()), "is a PNG image"),
        ("sales.numbers", Box::new(|path| zip_of(path, "Index/Document.iwa")), "is an Apple Numbers file"),
        ("notes.xlsx", Box::new(|path| zip_of(path, "notes.txt")), "is a ZIP archive but not a workbook"),
    ];
    for (name, write, said) in cases {
        let path = dir.path().join(name);
        write(&path);
        let run = run("wrong", &path, &dir.path().join("output"), &["--dump-data"]);
        run.expect_code(2);
        assert!(run.stderr.contains(said), "{name}: {}", run.stderr);
        assert!(run.stderr.contains(".xlsx"), "{name}: {}", run.stderr);
        assert!(!dir.path().join("output").exists(), "{name}: nothing is written");
    }
}

#[test]
fn a_workbook_past_its_first_64_kib_with_its_damage_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("Sale Date,Customer,Order Ref,Sale Value,Store\n");
    for index in 0..5_000 {
        csv.push_str(&format!(
            "01/06/2024 10:{:02},c-{index},o-{index},{}.25,s-{}\n",
            index % 60,
            index % 90,
            index % 7
        ));
    }
    let csv_path = dir.path().join("rows.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let xlsx = dir.path().join("rows.xlsx");
    workbook::from_csv(&csv_path, &xlsx, &[("Sale Date", Typed::Date), ("Sale Value", Typed::Number)]);
    assert!(std::fs::metadata(&xlsx).unwrap().len() > 64 * 1024);
    // The last row's revenue becomes a formula with no saved value.
    let mut rows: Vec<Row> = Vec::new();
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    rows.push(Row { number: 1, hidden: false, cells: header().into_iter().map(Some).collect() });
    for (index, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let number = index as u32 + 2;
        let revenue =
            if number == 5_001 { Cell::Formula("D2*2", None) } else { Cell::Number(record[3].parse().unwrap()) };
        rows.push(Row {
            number,
            hidden: false,
            cells: vec![
                Some(Cell::Date(at("2024-06-01 10:00"))),
                Some(text(&record[1])),
                Some(text(&record[2])),
                Some(revenue),
                Some(text(&record[4])),
            ],
        });
    }
    let raw = dir.path().join("raw.xlsx");
    workbook::write_raw(&raw, &[Sheet { name: "Sales".to_owned(), hidden: false, rows, merged: Vec::new() }], false);
    std::fs::write(
        dir.path().join("mapping.json"),
        MAPPING_FOR_BOOKS.replace(r#"["%d/%m/%Y"]"#, r#"["%d/%m/%Y %H:%M"]"#),
    )
    .unwrap();

    let from_book = run("big", &xlsx, &dir.path().join("xlsx"), &["--dump-data"]);
    let from_csv = run("big", &csv_path, &dir.path().join("csv"), &["--dump-data"]);
    from_book.expect_code(0);
    from_csv.expect_code(0);
    assert_eq!(from_book.dumps("big").text("requests"), from_csv.dumps("big").text("requests"));
    assert_eq!(from_book.dumps("big").text("requests").lines().count(), 5_000);

    let damaged = run("raw", &raw, &dir.path().join("raw"), &["--dump-data"]);
    damaged.expect_code(1);
    let exceptions = damaged.dumps("raw").lines("exceptions");
    assert_eq!(exceptions.len(), 1, "{exceptions:#?}");
    assert!(exceptions[0].starts_with("row 5001, column \"Sale Value\" (revenue), cell D5001: "), "{}", exceptions[0]);
}
