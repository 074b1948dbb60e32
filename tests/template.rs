//! `replayer template` (SPEC §11.3): the client's template as a workbook, read back with calamine
//! (and its XML parts where calamine shows nothing: data validations, column formats).

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use support::{replayer, run};

fn example_mapping() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/example/mapping.json")
}

const EXAMPLE_HEADERS: [&str; 17] = [
    "Account Token",
    "Event",
    "Sale Date",
    "Visitor",
    "Customer",
    "Email",
    "Phone",
    "Order Ref",
    "Sale Value",
    "Currency",
    "Qty",
    "Landing Page",
    "Referrer",
    "IP",
    "User Agent",
    "Store",
    "Sold By",
];

/// `replayer template --mapping <mapping>` in `dir`, to its default file name; its output.
fn template_in(dir: &Path, mapping: &Path, extra: &[&str]) -> std::process::Output {
    replayer().current_dir(dir).arg("template").arg("--mapping").arg(mapping).args(extra).output().unwrap()
}

fn rows_of(path: &Path, sheet: &str) -> Vec<Vec<Data>> {
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    let range = workbook.worksheet_range(sheet).unwrap();
    range.rows().map(<[Data]>::to_vec).collect()
}

/// A cell as Excel writes it into a CSV: text as typed, a number as shown, a date in `date_format`.
fn as_csv_cell(cell: &Data, date_format: &str) -> String {
    match cell {
        Data::DateTime(_) => cell.as_datetime().unwrap().format(date_format).to_string(),
        Data::Float(value) => value.to_string(),
        Data::Int(value) => value.to_string(),
        Data::String(text) => text.clone(),
        Data::Empty => String::new(),
        other => panic!("unexpected cell {other:?}"),
    }
}

/// One part of the workbook (its XML) by name.
fn part(path: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

/// The number format code of style `index` of `styles.xml` (`@` for Text is built-in id 49).
fn number_format_of_style(styles: &str, index: usize) -> String {
    let xfs = &styles[styles.find("<cellXfs").unwrap()..];
    let xf = xfs.split("<xf ").nth(index + 1).unwrap();
    let id: u32 = attribute(xf, "numFmtId").parse().unwrap();
    if id == 49 {
        return "@".to_owned();
    }
    let declared = styles.split("<numFmt ").skip(1).find(|f| attribute(f, "numFmtId") == id.to_string());
    declared.map(|f| attribute(f, "formatCode").replace("&quot;", "\"")).unwrap_or_else(|| format!("built-in {id}"))
}

/// The value of the attribute `name` of the XML element that starts `element`, or "".
fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
    let element = &element[..element.find('>').unwrap_or(element.len())];
    let Some(start) = element.find(&format!(" {name}=\"")).or_else(|| element.find(&format!("{name}=\""))) else {
        return "";
    };
    let value = &element[start..];
    let value = &value[value.find('"').unwrap() + 1..];
    &value[..value.find('"').unwrap()]
}

/// The style index of column `number` (1-based) in the sheet's `<cols>`.
fn column_style(sheet: &str, number: usize) -> Option<usize> {
    sheet.split("<col ").skip(1).find_map(|col| {
        let (min, max): (usize, usize) = (attribute(col, "min").parse().ok()?, attribute(col, "max").parse().ok()?);
        (min..=max).contains(&number).then(|| attribute(col, "style").parse().ok()).flatten()
    })
}

#[test]
fn the_example_template_has_the_mapped_headers_and_a_sample_row_that_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let output = template_in(dir.path(), &example_mapping(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let path = dir.path().join("example-template.xlsx");
    assert!(String::from_utf8_lossy(&output.stdout).contains("example-template.xlsx"));

    let workbook: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(workbook.sheet_names(), ["Example Ltd", "Fields"]);
    let rows = rows_of(&path, "Example Ltd");
    assert_eq!(rows.len(), 2, "the header and one sample row: {rows:?}");
    let headers: Vec<String> = rows[0].iter().map(|cell| cell.to_string()).collect();
    assert_eq!(headers, EXAMPLE_HEADERS);
    let sample = &rows[1];
    let at = |header: &str| &sample[EXAMPLE_HEADERS.iter().position(|h| *h == header).unwrap()];
    assert_eq!(at("Account Token"), &Data::String("ex4mpl3-t0k3n-0001".into()));
    assert_eq!(at("Event"), &Data::String("offline_sale".into()));
    assert_eq!(at("Sale Date").as_datetime().unwrap().to_string(), "2024-06-21 14:30:00", "a real date cell");
    assert_eq!(at("Email"), &Data::String("jane.doe@example.com".into()));
    assert_eq!(at("Customer"), &Data::String("000456".into()), "leading zeros kept as text");
    assert_eq!(at("Sale Value"), &Data::Float(49.99));

    // The sample row, as Excel would export it, passes the tool's own checks for this mapping.
    let csv_path = dir.path().join("sample.csv");
    let mut writer = csv::Writer::from_path(&csv_path).unwrap();
    writer.write_record(&headers).unwrap();
    writer.write_record(sample.iter().map(|cell| as_csv_cell(cell, "%d/%m/%Y %H:%M"))).unwrap();
    writer.flush().unwrap();
    let mapping = example_mapping();
    let checked = run("template", &csv_path, &dir.path().join("output"), &["--mapping", mapping.to_str().unwrap()]);
    checked.expect_code(0);
    assert_eq!(support::summary_value(&checked.stdout, "valid"), "1", "{}", checked.stdout);
    assert!(support::summary_value(&checked.stdout, "with warnings").starts_with("0 "), "{}", checked.stdout);
}

#[test]
fn identifiers_are_text_the_event_time_a_date_and_the_events_a_drop_down() {
    let dir = tempfile::tempdir().unwrap();
    let output = template_in(dir.path(), &example_mapping(), &["--output", "t.xlsx"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let path = dir.path().join("t.xlsx");
    let column = |header: &str| EXAMPLE_HEADERS.iter().position(|h| *h == header).unwrap();

    // The sample's cells, through calamine's styles.
    let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
    let styles = workbook.worksheet_style("Example Ltd").unwrap();
    let format_at = |header: &str| {
        let style = styles.get((1, column(header) as u32)).unwrap_or_else(|| panic!("no style at {header}"));
        style.number_format.as_ref().map(|format| format.format_code.clone()).unwrap_or_default()
    };
    for header in ["Visitor", "Customer", "Phone", "Order Ref", "Store", "Sold By"] {
        assert_eq!(format_at(header), "@", "{header}");
    }
    assert_eq!(format_at("Sale Date"), "dd\\/mm\\/yyyy hh:mm");
    assert_ne!(format_at("Email"), "@");

    // The whole columns, below the sample too: the sheet's <cols> and styles.xml.
    let sheet = part(&path, "xl/worksheets/sheet1.xml");
    let styles_xml = part(&path, "xl/styles.xml");
    let column_format =
        |header: &str| column_style(&sheet, column(header) + 1).map(|style| number_format_of_style(&styles_xml, style));
    for header in ["Visitor", "Customer", "Phone", "Order Ref", "Store", "Sold By"] {
        assert_eq!(column_format(header).as_deref(), Some("@"), "{header}");
    }
    assert_eq!(column_format("Sale Date").as_deref(), Some("dd\\/mm\\/yyyy hh:mm"));
    assert_eq!(column_format("Email"), None);

    // The events as a list on the event column (B), from the first row below the header.
    assert!(sheet.contains("type=\"list\""), "{sheet}");
    assert!(sheet.contains("sqref=\"B2:B1048576\""), "{sheet}");
    assert!(sheet.contains("<formula1>\"offline_sale,store_visit\"</formula1>"), "{sheet}");
    // The header row is frozen.
    assert!(sheet.contains("ySplit=\"1\"") && sheet.contains("state=\"frozen\""), "{sheet}");
}

#[test]
fn the_fields_sheet_says_what_each_column_holds() {
    let dir = tempfile::tempdir().unwrap();
    let output = template_in(dir.path(), &example_mapping(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = rows_of(&dir.path().join("example-template.xlsx"), "Fields");
    let text = |row: &[Data]| row.iter().map(|cell| cell.to_string()).collect::<Vec<_>>();
    assert_eq!(text(&rows[0]), ["Column", "Field", "What it holds", "Required", "Example"]);
    let columns: Vec<String> = rows[1..].iter().map(|row| row[0].to_string()).collect();
    assert_eq!(columns, EXAMPLE_HEADERS);
    let row = |header: &str| text(rows.iter().find(|row| row[0] == header).unwrap());
    let sale_date = row("Sale Date");
    assert_eq!(sale_date[1], "event_time");
    assert!(sale_date[2].contains("Europe/London"), "{sale_date:?}");
    assert_eq!((sale_date[3].as_str(), sale_date[4].as_str()), ("yes", "21/06/2024 14:30"));
    let event = row("Event");
    assert!(event[2].contains("offline_sale, store_visit"), "{event:?}");
    assert_eq!(event[3], "no: an empty cell means \"offline_sale\"");
    let email = row("Email");
    assert!(email[3].starts_with("at least one of Visitor, Customer, Email, Phone"), "{email:?}");
    assert_eq!(email[4], "jane.doe@example.com");
    assert_eq!(row("Store")[1], "custom.store_id");
}

#[test]
fn a_sparse_mapping_gets_the_columns_its_header_check_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("norton.json");
    std::fs::write(
        &mapping,
        r#"{"client": "Norton", "account_token": "n0rt0n-t0k3n-0001", "events": ["offline_sale"],
            "date_formats": ["%Y-%m-%d"], "timezone": "Europe/Paris", "decimal_separator": ",",
            "columns": {"revenue": "Montant", "event_time": "Date"}, "custom": {"store": "Magasin"}}"#,
    )
    .unwrap();
    let output = template_in(dir.path(), &mapping, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let path = dir.path().join("norton-template.xlsx");
    let rows = rows_of(&path, "Norton");
    let headers: Vec<String> = rows[0].iter().map(|cell| cell.to_string()).collect();
    assert_eq!(headers, ["event_name", "Date", "visitor_id", "customer_id", "email", "phone", "Montant", "Magasin"]);

    // Filled in as the sample shows, with a comma before the decimals as the mapping says.
    let cells: Vec<String> = rows[1]
        .iter()
        .map(|cell| match cell {
            Data::Float(value) => value.to_string().replace('.', ","),
            other => as_csv_cell(other, "%Y-%m-%d"),
        })
        .collect();
    assert_eq!(cells[1], "2024-06-21");
    let csv_path = dir.path().join("norton.csv");
    let mut writer = csv::WriterBuilder::new().delimiter(b';').from_path(&csv_path).unwrap();
    writer.write_record(&headers).unwrap();
    writer.write_record(&cells).unwrap();
    writer.flush().unwrap();
    let checked = run("template", &csv_path, &dir.path().join("output"), &["--mapping", mapping.to_str().unwrap()]);
    checked.expect_code(0);
    assert_eq!(support::summary_value(&checked.stdout, "valid"), "1", "{}", checked.stdout);
}

#[test]
fn an_existing_file_is_kept_unless_forced_and_standard_output_gets_the_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example-template.xlsx");
    std::fs::write(&path, "someone's work").unwrap();
    let output = template_in(dir.path(), &example_mapping(), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("example-template.xlsx already exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone's work");

    let output = template_in(dir.path(), &example_mapping(), &["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(&path).unwrap().starts_with(b"PK\x03\x04"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    let output = template_in(dir.path(), &example_mapping(), &["--output", "-"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let saved = dir.path().join("piped.xlsx");
    std::fs::write(&saved, &output.stdout).unwrap();
    assert_eq!(rows_of(&saved, "Example Ltd")[0].len(), EXAMPLE_HEADERS.len());

    let output = template_in(dir.path(), &dir.path().join("missing.json"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the mapping"));
}

#[cfg(unix)]
#[test]
fn a_terminal_gets_no_binary() {
    let (_master, slave) = support::pseudo_terminal();
    let dir = tempfile::tempdir().unwrap();
    let output = replayer()
        .current_dir(dir.path())
        .args(["template", "--output", "-", "--mapping"])
        .arg(example_mapping())
        .stdout(slave)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not text for a terminal"));
}
