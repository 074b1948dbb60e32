//! The crate's own `.xlsx` reader (`read/xlsx.rs`, the fast path of SPEC §11.1) against
//! calamine's cell reader, the crate it replaces for `.xlsx`: the same workbooks read by both
//! give the same sheets and, sheet by sheet, the same cells in the same order (position, value,
//! whether a formula). Workbooks written by rust_xlsxwriter (shared strings, inline strings,
//! rich text, number formats), by this file as raw XML (what Excel and other writers do that
//! rust_xlsxwriter does not), and at random.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use replayer::read::xlsx::XlsxBook;

type Cells = Vec<((u32, u32), Data, bool)>;

fn with_calamine(path: &Path) -> Vec<(calamine::Sheet, Cells)> {
    let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let sheets = book.sheets_metadata().to_vec();
    sheets
        .into_iter()
        .filter(|sheet| sheet.typ == calamine::SheetType::WorkSheet)
        .map(|sheet| {
            let mut cells = Vec::new();
            let mut reader = book.worksheet_cells_reader(&sheet.name).unwrap();
            while let Some(cell) = reader.next_cell_with_formula_metadata().unwrap() {
                cells.push((cell.pos, Data::from(cell.value), cell.formula.is_some()));
            }
            (sheet, cells)
        })
        .collect()
}

fn with_ours(path: &Path) -> Vec<(calamine::Sheet, Cells)> {
    let mut book = XlsxBook::open(std::fs::File::open(path).unwrap()).unwrap().expect("an .xlsx");
    let context = book.context().unwrap();
    book.sheets()
        .into_iter()
        .filter(|sheet| sheet.typ == calamine::SheetType::WorkSheet)
        .map(|sheet| {
            let mut cells = Vec::new();
            book.read_cells(&sheet.name, &context, |row, column, value, formula| {
                cells.push(((row, column), Data::from(value.clone()), formula));
                ControlFlow::Continue(())
            })
            .unwrap();
            (sheet, cells)
        })
        .collect()
}

/// Both readers give the same; returns how many cells, so a test can see it read something.
fn agree(path: &Path) -> usize {
    let (theirs, ours) = (with_calamine(path), with_ours(path));
    assert_eq!(theirs.len(), ours.len(), "sheets of {}", path.display());
    let mut cells = 0;
    for ((their_sheet, their_cells), (our_sheet, our_cells)) in theirs.iter().zip(&ours) {
        assert_eq!(their_sheet, our_sheet);
        for (index, (their, our)) in their_cells.iter().zip(our_cells).enumerate() {
            assert_eq!(their, our, "cell {index} of sheet {:?} of {}", their_sheet.name, path.display());
        }
        assert_eq!(their_cells.len(), our_cells.len(), "cells of sheet {:?}", their_sheet.name);
        cells += our_cells.len();
    }
    cells
}

/// Texts that a reader can get wrong: spaces at the ends, line ends, entities, Excel's `_x`
/// escapes, characters outside the BMP, controls.
const AWKWARD_TEXTS: [&str; 14] = [
    "plain",
    "  spaces at both ends  ",
    "line\nbreak",
    "windows\r\nline",
    "a & b < c > d \"quoted\" 'single'",
    "_x000D_ literal escape",
    "under_score_x12_",
    "emoji 😀 and accents éà",
    "tab\there",
    "",
    " ",
    "=not a formula",
    "1.5E+20",
    "0042",
];

#[test]
fn workbooks_written_by_rust_xlsxwriter_read_the_same() {
    let folder = tempfile::tempdir().unwrap();
    for mode in ["shared strings", "constant memory"] {
        let path = folder.path().join(format!("{mode}.xlsx"));
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let formats: Vec<rust_xlsxwriter::Format> = [
            "General",
            "dd/mm/yyyy hh:mm",
            "yyyy-mm-dd",
            "h:mm AM/PM",
            "[h]:mm:ss",
            "[mm]:ss",
            "0.00",
            "#,##0.00 \"days\"",
            "0%",
            "0.00E+00",
            "@",
            "[Red]0.00;[Blue]-0.00",
            "d-mmm",
            "[$-409]mmmm d, yyyy",
            "mm:ss.0",
            "\\d 0",
            "_(* #,##0_)",
        ]
        .iter()
        .map(|code| rust_xlsxwriter::Format::new().set_num_format(*code))
        .collect();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let sheet = if mode == "constant memory" {
            workbook.add_worksheet_with_constant_memory().unwrap()
        } else {
            workbook.add_worksheet()
        };
        sheet.set_name("Sales").unwrap();
        for (row, text) in AWKWARD_TEXTS.iter().enumerate() {
            let row = row as u32;
            sheet.write_string(row, 0, *text).unwrap();
            for (column, format) in formats.iter().enumerate() {
                let number = 45_000.0 + row as f64 * 1.37 - column as f64 * 0.001;
                sheet.write_number_with_format(row, column as u16 + 1, number, format).unwrap();
            }
            sheet.write_boolean(row, 20, row.is_multiple_of(2)).unwrap();
            sheet.write_formula(row, 21, rust_xlsxwriter::Formula::new("=1+1").set_result("2")).unwrap();
            sheet.write_formula(row, 22, "=A1").unwrap();
            sheet.write_blank(row, 23, &bold).unwrap();
            sheet.write_number(row, 24, 0.1 + 0.2 * row as f64).unwrap();
            sheet.write_number(row, 26, -1.0e-12 * row as f64).unwrap();
            if mode == "shared strings" {
                sheet.write_rich_string(row, 25, &[(&bold, "bold "), (&formats[0], "and plain")]).unwrap();
            }
        }
        if mode == "shared strings" {
            let hidden = workbook.add_worksheet().set_name("Lists").unwrap();
            hidden.write_string(0, 0, "offline_sale").unwrap();
            hidden.set_hidden(true);
            workbook.add_worksheet().set_name("Empty").unwrap();
        }
        workbook.save(&path).unwrap();
        assert!(agree(&path) > 300, "{mode}");
    }
}

#[path = "support/workbook.rs"]
#[allow(dead_code)]
mod workbook;

#[test]
fn raw_workbooks_with_errors_formulas_hidden_rows_and_1904_read_the_same() {
    use workbook::{text, Cell, Row, Sheet};
    let folder = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (1..=40)
        .map(|number| Row {
            number: number * 2,
            hidden: number % 3 == 0,
            cells: vec![
                Some(text(AWKWARD_TEXTS[number as usize % AWKWARD_TEXTS.len()])),
                None,
                Some(Cell::Number(f64::from(number) * 1.1)),
                Some(Cell::Date(45_000.5 + f64::from(number))),
                Some(Cell::Error(
                    ["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NULL!", "#NUM!"][number as usize % 7],
                )),
                Some(Cell::Formula("SUM(A1:A3)", (number % 2 == 0).then_some(6.0))),
                Some(Cell::Bool(number % 2 == 1)),
            ],
        })
        .collect();
    let mut sheets =
        vec![Sheet { name: "Sales & Co".to_owned(), hidden: false, rows, merged: vec!["A2:B3".to_owned()] }];
    sheets.push(Sheet { hidden: true, ..Sheet::of("Hidden", vec![vec![text("x")]]) });
    for date1904 in [false, true] {
        let path = folder.path().join(format!("raw-{date1904}.xlsx"));
        workbook::write_raw(&path, &sheets, date1904);
        assert!(agree(&path) > 200);
    }
}

/// An `.xlsx` of these parts besides the usual relationships and workbook part.
fn write_parts(path: &Path, workbook_xml: &str, sheets: &[&str], shared_strings: Option<&str>, styles: &str) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, content: &str| {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    };
    put(
        "_rels/.rels",
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/xl/workbook.xml"/></Relationships>"#,
    );
    let mut links = String::from(
        r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for index in 1..=sheets.len() {
        links.push_str(&format!(r#"<Relationship Id="rId{index}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{index}.xml"/>"#));
    }
    links.push_str("</Relationships>");
    put("xl/_rels/workbook.xml.rels", &links);
    put("xl/workbook.xml", workbook_xml);
    put("xl/styles.xml", styles);
    if let Some(strings) = shared_strings {
        put("xl/sharedStrings.xml", strings);
    }
    for (index, sheet) in sheets.iter().enumerate() {
        put(&format!("xl/worksheets/sheet{}.xml", index + 1), sheet);
    }
    zip.finish().unwrap();
}

const STYLES: &str = r#"<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy&quot; at &quot;hh:mm"/><numFmt numFmtId="14" formatCode="0.00"/></numFmts><cellStyleXfs count="1"><xf numFmtId="22"/></cellStyleXfs><cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/><xf numFmtId="46"/><xf numFmtId="15"><alignment horizontal="left"/></xf></cellXfs></styleSheet>"#;

#[test]
fn what_other_writers_do_reads_the_same() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("others.xlsx");
    let workbook = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
  <x:workbookPr date1904="true"/>
  <x:sheets><x:sheet name="Prefixed &amp; spaced" sheetId="1" r:id="rId1"/><x:sheet name="Plain" sheetId="2" state="veryHidden" r:id="rId2"/></x:sheets>
</x:workbook>"#;
    // Open XML SDK style: every element prefixed, cells and rows without references, attributes
    // in single quotes, comments, whitespace between elements.
    let prefixed = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
  <x:dimension ref="A1:E4"/>
  <x:sheetData>
    <!-- a comment with <x:row> in it -->
    <x:row r="1" spans="1:5">
      <x:c r="A1" t="s"><x:v>0</x:v></x:c>
      <x:c t='s'><x:v>1</x:v></x:c>
      <x:c s="1"><x:v>45123.75</x:v></x:c>
      <x:c s="2"><x:v>45123</x:v></x:c>
      <x:c s="3"><x:v>1.25</x:v></x:c>
    </x:row>
    <x:row>
      <x:c t="inlineStr"><x:is><x:t><![CDATA[cdata <kept> & raw]]></x:t></x:is></x:c>
      <x:c t="str"><x:f>CONCAT("a","b")</x:f><x:v>a&amp;b_x0041_</x:v></x:c>
      <x:c t="d"><x:v>2024-06-01T11:45:00</x:v></x:c>
      <x:c/>
      <x:c s="4"><x:v>not a number</x:v></x:c>
    </x:row>
    <x:row r="7"/>
    <x:row><x:c r="C8" t="s"><x:v>2</x:v></x:c><x:c t="b"><x:v>true</x:v></x:c><x:c t="e"><x:v>#N/A</x:v></x:c></x:row>
  </x:sheetData>
</x:worksheet>"#;
    let plain = r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><r><t>rich </t></r><r><rPr><b/></rPr><t xml:space="preserve"> run </t></r><rPh><t>phonetic</t></rPh></is></c><c r="B1"><f t="shared" ref="B1:B3" si="0">A1</f><v>3</v></c><c r="C1"><f t="shared" si="0"/></c><c r="XFD1"><v>-0</v></c></row><row r="1048576"><c r="A1048576"><v>1E+300</v></c></row></sheetData></worksheet>"#;
    let strings = r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>first &#233;</t></si><si><r><t xml:space="preserve">two </t></r><r><t>runs</t></r><rPh sb="0" eb="1"><t>ふ</t></rPh><phoneticPr fontId="1"/></si><si/></sst>"#;
    write_parts(&path, workbook, &[prefixed, plain], Some(strings), STYLES);
    assert_eq!(agree(&path), 18);
    let ours = with_ours(&path);
    assert_eq!(ours[0].1[1].1, Data::String("two runs".to_owned()), "phonetic text left out");
    assert_eq!(ours[0].1[5].1, Data::String("cdata <kept> & raw".to_owned()));
}

/// A small random generator, so the test needs no seed crate and fails the same way each time.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn random_text(random: &mut Random) -> String {
    const PIECES: [&str; 16] = [
        "a",
        "Zoë",
        " ",
        "&amp;",
        "&lt;",
        "&#x1F600;",
        "_x000A_",
        "_x005F_",
        "\n",
        "\r\n",
        "\t",
        "0",
        "E+",
        "#N/A",
        "&quot;",
        "ß",
    ];
    (0..random.below(6)).map(|_| PIECES[random.below(PIECES.len() as u64) as usize]).collect()
}

fn random_sheet(random: &mut Random, strings: usize) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    let mut row = 0;
    for _ in 0..random.below(60) + 1 {
        row += 1 + random.below(3) as u32;
        let numbered = random.below(4) != 0;
        xml.push_str(&if numbered { format!(r#"<row r="{row}">"#) } else { "<row>".to_owned() });
        let mut column = 0;
        for _ in 0..random.below(12) {
            column += 1 + random.below(3) as usize;
            let reference = if random.below(5) == 0 {
                String::new()
            } else {
                format!(r#" r="{}{row}""#, replayer::read::source::column_letters(column - 1))
            };
            let style = match random.below(6) {
                0 => r#" s="1""#,
                1 => r#" s="3""#,
                2 => r#" s="4""#,
                3 => r#" s="9""#,
                _ => "",
            };
            let number = match random.below(4) {
                0 => format!("{}", random.below(100_000)),
                1 => format!("{:?}", random.below(1 << 40) as f64 / 997.0),
                2 => format!("{:e}", random.below(1 << 50) as f64 * 1e-20),
                _ => format!("-{}.{}", random.below(1000), random.below(1000)),
            };
            let space = if random.below(2) == 0 { r#" xml:space="preserve""# } else { "" };
            let cell = match random.below(9) {
                0 => format!(r#"<c{reference}{style}><v>{number}</v></c>"#),
                1 => format!(r#"<c{reference} t="s"><v>{}</v></c>"#, random.below(strings as u64)),
                2 => format!(r#"<c{reference} t="inlineStr"><is><t{space}>{}</t></is></c>"#, random_text(random)),
                3 => format!(r#"<c{reference} t="b"><v>{}</v></c>"#, random.below(2)),
                4 => format!(
                    r#"<c{reference} t="e"><v>{}</v></c>"#,
                    ["#N/A", "#REF!", "#DIV/0!"][random.below(3) as usize]
                ),
                5 => format!(r#"<c{reference}{style}><f>A1*2</f><v>{number}</v></c>"#),
                6 => format!(r#"<c{reference}><f>A1*2</f></c>"#),
                7 => format!(r#"<c{reference} t="str"><f>A1</f><v>{}</v></c>"#, random_text(random)),
                _ => format!(r#"<c{reference}{style}/>"#),
            };
            xml.push_str(&cell);
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

#[test]
fn random_sheets_read_the_same() {
    let folder = tempfile::tempdir().unwrap();
    let workbook = r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="One" sheetId="1" r:id="rId1"/><sheet name="Two" sheetId="2" r:id="rId2"/></sheets></workbook>"#;
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let mut cells = 0;
    for round in 0..60 {
        let count = 1 + random.below(30) as usize;
        let mut strings = String::from(
            r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        );
        for _ in 0..count {
            let space = if random.below(2) == 0 { r#" xml:space="preserve""# } else { "" };
            strings.push_str(&match random.below(3) {
                0 => format!("<si><t{space}>{}</t></si>", random_text(&mut random)),
                1 => format!(
                    "<si><r><t{space}>{}</t></r><r><t>{}</t></r></si>",
                    random_text(&mut random),
                    random_text(&mut random)
                ),
                _ => format!(
                    "<si><t>{}</t><rPh><t>{}</t></rPh></si>",
                    random_text(&mut random),
                    random_text(&mut random)
                ),
            });
        }
        strings.push_str("</sst>");
        let sheets = [random_sheet(&mut random, count), random_sheet(&mut random, count)];
        let path = folder.path().join(format!("random-{round}.xlsx"));
        write_parts(&path, workbook, &[&sheets[0], &sheets[1]], Some(&strings), STYLES);
        cells += agree(&path);
    }
    assert!(cells > 5_000, "{cells}");
}

#[test]
fn a_sheet_past_its_first_buffers_reads_the_same() {
    // Rows cross the reader's 256 KiB reads and its buffer's growth: 30,000 rows, a long cell
    // every 1,000.
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("long.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet_with_low_memory().unwrap();
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy hh:mm");
    for row in 0..30_000u32 {
        sheet.write_string(row, 0, format!("customer {}", row % 977)).unwrap();
        sheet.write_number_with_format(row, 1, 45_000.0 + f64::from(row) / 7.0, &date).unwrap();
        sheet.write_number(row, 2, f64::from(row) * 0.01).unwrap();
        if row % 1000 == 999 {
            sheet.write_string(row, 3, "long ".repeat(6_000)).unwrap();
        }
    }
    workbook.save(&path).unwrap();
    assert_eq!(agree(&path), 90_030);
}

#[test]
fn a_broken_sheet_is_an_error_not_a_panic() {
    let folder = tempfile::tempdir().unwrap();
    let workbook = r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="One" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let head = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>1</v></c></row>"#;
    let broken = [
        (format!("{head}<row r=\"2\"><c r=\"A2\"><v>2</v>"), "ends inside row 2"),
        (head.to_owned(), "ends early"),
        (format!("{head}<row r=\"2\"><c r=\"XFE2\"><v>2</v></c></row></sheetData></worksheet>"), "XFE2"),
        (format!("{head}<row r=\"0\"></row></sheetData></worksheet>"), "row number"),
        (format!("{head}<row r=\"2\"><c r=\"A2\" t=\"s\"><v>5</v></c></row></sheetData></worksheet>"), "no shared string 5"),
        (format!("{head}<row r=\"2\"><c r=\"B2\" t=\"n\"><v>abc</v></c></row></sheetData></worksheet>"), "cell B2"),
        (format!("{head}<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>&nbsp;</t></is></c></row></sheetData></worksheet>"), "&nbsp;"),
    ];
    for (index, (sheet, expected)) in broken.iter().enumerate() {
        let path = folder.path().join(format!("broken-{index}.xlsx"));
        write_parts(&path, workbook, &[sheet], Some("<sst></sst>"), STYLES);
        let mut book = XlsxBook::open(std::fs::File::open(&path).unwrap()).unwrap().unwrap();
        let context = book.context().unwrap();
        let mut seen = 0;
        let error = book
            .read_cells("One", &context, |_, _, _, _| {
                seen += 1;
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert!(error.contains(expected), "{index}: {error}");
        assert!(seen >= 1, "the rows before the damage are read");
    }
}
