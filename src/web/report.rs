//! The warnings and exceptions dumps read back for the pages, the API and the exceptions CSV
//! report. Their lines are `row N, column "Header" (field): message` (SPEC §6): no personal data,
//! since the messages never hold the values of identifying fields.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One line of a warnings or exceptions dump, in parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `None` for a file-level line (`file: …`).
    pub row: Option<u64>,
    pub column: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

/// Splits a dump line; a line of another shape is kept whole as the message.
pub fn parse_line(line: &str) -> Problem {
    let whole = || Problem { row: None, column: None, field: None, message: line.to_owned() };
    if let Some(message) = line.strip_prefix("file: ") {
        return Problem { message: message.to_owned(), ..whole() };
    }
    let Some(rest) = line.strip_prefix("row ") else { return whole() };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(row) = rest[..digits].parse::<u64>() else { return whole() };
    let mut rest = &rest[digits..];
    let mut column = None;
    if let Some(after) = rest.strip_prefix(", column ") {
        let Some((header, after)) = debug_string(after) else { return whole() };
        column = Some(header);
        rest = after;
    }
    let mut field = None;
    if let Some(after) = rest.strip_prefix(" (") {
        if let Some((name, after)) = after.split_once(')') {
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                field = Some(name.to_owned());
                rest = after;
            }
        }
    }
    let message = rest.strip_prefix(": ").or_else(|| rest.strip_prefix(':')).unwrap_or(rest).to_owned();
    Problem { row: Some(row), column, field, message }
}

/// A string written as Rust's `{:?}` writes it, at the start of `text`: its value and the rest.
fn debug_string(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                '0' => value.push('\0'),
                'u' => {
                    let mut code = String::new();
                    for (_, c) in chars.by_ref() {
                        match c {
                            '{' => {}
                            '}' => break,
                            _ => code.push(c),
                        }
                    }
                    value.push(u32::from_str_radix(&code, 16).ok().and_then(char::from_u32)?);
                }
                other => value.push(other),
            },
            _ => value.push(c),
        }
    }
    None
}

/// Lines `skip..skip + take` of a dump, parsed, and whether more follow.
pub fn read_page(path: &Path, skip: usize, take: usize) -> std::io::Result<(Vec<Problem>, bool)> {
    let mut lines = BufReader::new(File::open(path)?).lines().skip(skip);
    let mut page = Vec::with_capacity(take.min(1000));
    for line in lines.by_ref().take(take) {
        page.push(parse_line(&line?));
    }
    Ok((page, lines.next().is_some()))
}

/// A spreadsheet cell that cannot be read as a formula: cells starting with `= + - @` (or a
/// tab or carriage return, which some spreadsheets skip) get a leading apostrophe.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// The header and one record of the exceptions report.
pub fn report_header() -> Vec<u8> {
    b"row,column,field,message\n".to_vec()
}

pub fn report_record(problem: &Problem) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(128));
    let row = problem.row.map(|row| row.to_string()).unwrap_or_default();
    let cells = [
        row,
        neutralise(problem.column.as_deref().unwrap_or_default()),
        neutralise(problem.field.as_deref().unwrap_or_default()),
        neutralise(&problem.message),
    ];
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines_are_split() {
        assert_eq!(
            parse_line(r#"row 7, column "Sale \"Date\"" (event_time): "31/02/2024" is not a date; row not fired"#),
            Problem {
                row: Some(7),
                column: Some("Sale \"Date\"".into()),
                field: Some("event_time".into()),
                message: r#""31/02/2024" is not a date; row not fired"#.into()
            }
        );
        let duplicate = parse_line("row 9: duplicate of row 3 (the same payload); row not fired");
        assert_eq!((duplicate.row, duplicate.column, duplicate.field), (Some(9), None, None));
        assert_eq!(duplicate.message, "duplicate of row 3 (the same payload); row not fired");
        let file = parse_line("file: headers nothing maps: \"Notes\"");
        assert_eq!((file.row, file.message.as_str()), (None, "headers nothing maps: \"Notes\""));
        assert_eq!(parse_line("something else").message, "something else");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for cell in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(neutralise(cell).starts_with('\''), "{cell}");
        }
        assert_eq!(neutralise("Sale Date"), "Sale Date");
        let problem =
            Problem { row: Some(2), column: Some("=A1".into()), field: None, message: "m, with comma".into() };
        assert_eq!(String::from_utf8(report_record(&problem)).unwrap(), "2,'=A1,,\"m, with comma\"\n");
    }
}
