//! The problems of a check, for the pages, the API and the exceptions CSV report: read from the
//! check's problems dump, where each is kept as the handlers made it (`crate::problem::Problem`,
//! one JSON line each), never parsed back out of the dumps' text. Values of personal data are
//! not in it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::problem::{Problem, Severity};

/// The problems of `severity`, `skip..skip + take` of them, and whether more follow. A line
/// that is not a problem (a damaged file) is skipped.
pub fn read_page(path: &Path, severity: Severity, skip: usize, take: usize) -> std::io::Result<(Vec<Problem>, bool)> {
    let mut problems = read_all(path, severity)?.skip(skip);
    let mut page = Vec::with_capacity(take.min(1000));
    for problem in problems.by_ref().take(take) {
        page.push(problem?);
    }
    Ok((page, problems.next().is_some()))
}

/// Every problem of `severity`, in file order, read as needed.
pub fn read_all(path: &Path, severity: Severity) -> std::io::Result<impl Iterator<Item = std::io::Result<Problem>>> {
    let lines = BufReader::new(File::open(path)?).lines();
    Ok(lines.filter_map(move |line| match line {
        Ok(line) => serde_json::from_str::<Problem>(&line).ok().filter(|problem| problem.severity == severity).map(Ok),
        Err(error) => Some(Err(error)),
    }))
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
    b"row,column,field,kind,value,message\n".to_vec()
}

pub fn report_record(problem: &Problem) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(128));
    let row = problem.row.map(|row| row.to_string()).unwrap_or_default();
    let cells = [
        row,
        neutralise(problem.column.as_deref().or(problem.cell.as_deref()).unwrap_or_default()),
        neutralise(problem.field.as_deref().unwrap_or_default()),
        problem.kind.code().to_owned(),
        neutralise(problem.value.as_deref().unwrap_or_default()),
        neutralise(&problem.message),
    ];
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Kind;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for cell in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(neutralise(cell).starts_with('\''), "{cell}");
        }
        assert_eq!(neutralise("Sale Date"), "Sale Date");
        let problem = Problem {
            column: Some("=A1".into()),
            value: Some("-3".into()),
            ..Problem::row(2, Kind::NotANumber, "m, with comma")
        };
        assert_eq!(String::from_utf8(report_record(&problem)).unwrap(), "2,'=A1,,not_a_number,'-3,\"m, with comma\"\n");
    }

    #[test]
    fn problems_are_read_back_as_written_and_paged() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("p.jsonl");
        let mut text = String::new();
        for row in 2..12 {
            let severity = if row % 2 == 0 { Severity::Exception } else { Severity::Warning };
            let problem = Problem { severity, ..Problem::row(row, Kind::DuplicateRow, format!("m{row}")) };
            text.push_str(&serde_json::to_string(&problem).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let (page, more) = read_page(&path, Severity::Exception, 1, 2).unwrap();
        assert_eq!(page.iter().map(|p| p.row.unwrap()).collect::<Vec<_>>(), [4, 6]);
        assert!(more);
        let (last, more) = read_page(&path, Severity::Warning, 4, 10).unwrap();
        assert_eq!((last.len(), more), (1, false));
        assert_eq!(last[0].message, "m11");
    }
}
