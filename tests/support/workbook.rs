//! Workbooks for the tests: written cell by cell as raw sheet XML (so a test can hold what Excel
//! writes and rust_xlsxwriter would not: error cells, formulas with no saved value, hidden rows,
//! the 1904 date system), or from a CSV with rust_xlsxwriter, the way a client's Excel holds it.

use std::io::Write;
use std::path::Path;

use chrono::NaiveDateTime;

/// One cell of a raw sheet.
#[derive(Clone, Debug)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// A number with the date format `dd/mm/yyyy hh:mm` (style 1).
    Date(f64),
    Error(&'static str),
    /// A formula; with no cached value when `None`.
    Formula(&'static str, Option<f64>),
    Bool(bool),
}

pub fn text(value: &str) -> Cell {
    Cell::Text(value.to_owned())
}

/// A row: its Excel number (from 1), whether it is hidden, its cells from column A (None: no cell).
pub struct Row {
    pub number: u32,
    pub hidden: bool,
    pub cells: Vec<Option<Cell>>,
}

/// A sheet: its name, whether it is hidden, its rows and merged ranges (`"A2:B3"`).
pub struct Sheet {
    pub name: String,
    pub hidden: bool,
    pub rows: Vec<Row>,
    pub merged: Vec<String>,
}

impl Sheet {
    /// A visible sheet of these rows, numbered from 1, every cell given.
    pub fn of(name: &str, rows: Vec<Vec<Cell>>) -> Sheet {
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(index, cells)| Row {
                number: index as u32 + 1,
                hidden: false,
                cells: cells.into_iter().map(Some).collect(),
            })
            .collect();
        Sheet { name: name.to_owned(), hidden: false, rows, merged: Vec::new() }
    }
}

pub use replayer::read::source::column_letters;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn sheet_xml(sheet: &Sheet) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for row in &sheet.rows {
        let hidden = if row.hidden { r#" hidden="1""# } else { "" };
        xml.push_str(&format!(r#"<row r="{}"{hidden}>"#, row.number));
        for (index, cell) in row.cells.iter().enumerate() {
            let Some(cell) = cell else { continue };
            let reference = format!("{}{}", column_letters(index), row.number);
            xml.push_str(&match cell {
                Cell::Text(value) => {
                    format!(
                        r#"<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                        escape(value)
                    )
                }
                Cell::Number(value) => format!(r#"<c r="{reference}"><v>{value:?}</v></c>"#),
                Cell::Date(value) => format!(r#"<c r="{reference}" s="1"><v>{value:?}</v></c>"#),
                Cell::Error(value) => format!(r#"<c r="{reference}" t="e"><v>{}</v></c>"#, escape(value)),
                Cell::Formula(formula, Some(value)) => {
                    format!(r#"<c r="{reference}"><f>{}</f><v>{value:?}</v></c>"#, escape(formula))
                }
                Cell::Formula(formula, None) => format!(r#"<c r="{reference}"><f>{}</f></c>"#, escape(formula)),
                Cell::Bool(value) => format!(r#"<c r="{reference}" t="b"><v>{}</v></c>"#, u8::from(*value)),
            });
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData>");
    if !sheet.merged.is_empty() {
        xml.push_str(&format!(r#"<mergeCells count="{}">"#, sheet.merged.len()));
        for range in &sheet.merged {
            xml.push_str(&format!(r#"<mergeCell ref="{range}"/>"#));
        }
        xml.push_str("</mergeCells>");
    }
    xml.push_str("</worksheet>");
    xml
}

/// Write an `.xlsx` of these sheets as raw XML; `date1904`: the workbook's 1904 date system.
pub fn write_raw(path: &Path, sheets: &[Sheet], date1904: bool) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, content: &str| {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    };
    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#,
    );
    let mut workbook_sheets = String::new();
    let mut relationships = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
    );
    for (index, sheet) in sheets.iter().enumerate() {
        let number = index + 1;
        types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{number}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
        let state = if sheet.hidden { r#" state="hidden""# } else { "" };
        workbook_sheets.push_str(&format!(
            r#"<sheet name="{}" sheetId="{number}"{state} r:id="rId{number}"/>"#,
            escape(&sheet.name)
        ));
        relationships.push_str(&format!(r#"<Relationship Id="rId{number}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{number}.xml"/>"#));
    }
    types.push_str("</Types>");
    relationships.push_str("</Relationships>");
    put("[Content_Types].xml", &types);
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    let properties = if date1904 { r#"<workbookPr date1904="1"/>"# } else { "<workbookPr/>" };
    put(
        "xl/workbook.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">{properties}<sheets>{workbook_sheets}</sheets></workbook>"#
        ),
    );
    put("xl/_rels/workbook.xml.rels", &relationships);
    put(
        "xl/styles.xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy hh:mm"/></numFmts><fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>"#,
    );
    for (index, sheet) in sheets.iter().enumerate() {
        put(&format!("xl/worksheets/sheet{}.xml", index + 1), &sheet_xml(sheet));
    }
    zip.finish().unwrap();
}

/// The Excel serial number of a local date-time (1900 date system).
pub fn serial(local: NaiveDateTime) -> f64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap().and_hms_opt(0, 0, 0).unwrap();
    (local - epoch).num_milliseconds() as f64 / 86_400_000.0
}

/// How a CSV column is typed when the CSV becomes a workbook.
pub enum Typed {
    /// Dates written as `dd/mm/yyyy hh:mm` become date cells with that format.
    Date,
    /// Numbers become number cells.
    Number,
}

/// The workbook a client's Excel holds for a CSV: the header and text cells as text, the
/// columns named in `typed` as dates or numbers where their cells read as such. Written with
/// rust_xlsxwriter (in its constant-memory mode, for large files).
pub fn from_csv(csv: &Path, xlsx: &Path, typed: &[(&str, Typed)]) {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(csv).unwrap();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy hh:mm");
    let sheet = workbook.add_worksheet_with_constant_memory().unwrap();
    let mut kinds: Vec<Option<&Typed>> = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.unwrap();
        if row == 0 {
            kinds =
                record.iter().map(|header| typed.iter().find(|(h, _)| *h == header).map(|(_, kind)| kind)).collect();
        }
        for (column, cell) in record.iter().enumerate() {
            let (row, column) = (row as u32, column as u16);
            if cell.is_empty() {
                continue;
            }
            let kind = if row == 0 { None } else { kinds.get(column as usize).copied().flatten() };
            match kind {
                Some(Typed::Date) => match NaiveDateTime::parse_from_str(cell, "%d/%m/%Y %H:%M") {
                    Ok(local) => {
                        sheet.write_number_with_format(row, column, serial(local), &date_format).unwrap();
                    }
                    Err(_) => {
                        sheet.write_string(row, column, cell).unwrap();
                    }
                },
                Some(Typed::Number) => match cell.parse::<f64>() {
                    Ok(number) => {
                        sheet.write_number(row, column, number).unwrap();
                    }
                    Err(_) => {
                        sheet.write_string(row, column, cell).unwrap();
                    }
                },
                None => {
                    sheet.write_string(row, column, cell).unwrap();
                }
            }
        }
    }
    workbook.save(xlsx).unwrap();
}
