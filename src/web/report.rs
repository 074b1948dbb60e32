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

/// A group of the same problem across rows (SPEC §12): one severity, column, field and kind.
#[derive(Debug, Clone)]
pub struct ProblemGroup {
    /// Stable across page loads: the first 12 hex digits of SHA-256 over the group's key.
    pub id: String,
    pub severity: Severity,
    pub column: Option<String>,
    pub field: Option<String>,
    pub kind: crate::problem::Kind,
    /// Problems in the group (a row counts once per problem it has).
    pub rows: u64,
    /// The first rows, in file order.
    pub example_rows: Vec<u64>,
    /// The first problem's message and value, standing for the group.
    pub message: String,
    pub value: Option<String>,
}

/// Rows kept as examples of a group.
const EXAMPLE_ROWS: usize = 5;

/// The id of the group a problem belongs to.
pub fn group_id(problem: &Problem) -> String {
    use sha2::{Digest, Sha256};
    let key = serde_json::json!([problem.severity, problem.column, problem.field, problem.kind]);
    hex::encode(&Sha256::digest(key.to_string().as_bytes())[..6])
}

/// Every group of the problems dump, most rows first (then in the order first seen).
pub fn groups(path: &Path) -> std::io::Result<Vec<ProblemGroup>> {
    let mut groups: Vec<ProblemGroup> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for problem in read_every(path)? {
        let problem = problem?;
        let id = group_id(&problem);
        let at = *index.entry(id.clone()).or_insert_with(|| {
            groups.push(ProblemGroup {
                id,
                severity: problem.severity,
                column: problem.column.clone().or_else(|| problem.cell.clone()),
                field: problem.field.clone(),
                kind: problem.kind,
                rows: 0,
                example_rows: Vec::new(),
                message: problem.message.clone(),
                value: problem.value.clone(),
            });
            groups.len() - 1
        });
        let group = &mut groups[at];
        group.rows += 1;
        if let Some(row) = problem.row {
            if group.example_rows.len() < EXAMPLE_ROWS && group.example_rows.last() != Some(&row) {
                group.example_rows.push(row);
            }
        }
    }
    groups.sort_by_key(|group| std::cmp::Reverse(group.rows));
    Ok(groups)
}

/// Whether a problem is one the analyst asked for: of `group` (any when `None`), and matching
/// `query`: a row number, or text found in its column, field, message or value.
pub fn matches(problem: &Problem, group: Option<&str>, query: &str) -> bool {
    if group.is_some_and(|group| group != group_id(problem)) {
        return false;
    }
    let query = query.trim();
    if query.is_empty() {
        return true;
    }
    if let Ok(row) = query.parse::<u64>() {
        return problem.row == Some(row);
    }
    let query = query.to_lowercase();
    [
        problem.column.as_deref(),
        problem.cell.as_deref(),
        problem.field.as_deref(),
        Some(&problem.message),
        problem.value.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|text| text.to_lowercase().contains(&query))
}

/// One page of the problems of `severity` (any when `None`) that `matches` keeps, and how many
/// it keeps in all.
pub fn filtered_page(
    path: &Path,
    severity: Option<Severity>,
    group: Option<&str>,
    query: &str,
    skip: usize,
    take: usize,
) -> std::io::Result<(Vec<Problem>, usize)> {
    let mut page = Vec::with_capacity(take.min(1000));
    let mut total = 0;
    for problem in read_every(path)? {
        let problem = problem?;
        if severity.is_some_and(|severity| severity != problem.severity) || !matches(&problem, group, query) {
            continue;
        }
        if total >= skip && page.len() < take {
            page.push(problem);
        }
        total += 1;
    }
    Ok((page, total))
}

/// Every problem of the dump, in file order, read as needed.
fn read_every(path: &Path) -> std::io::Result<impl Iterator<Item = std::io::Result<Problem>>> {
    let lines = BufReader::new(File::open(path)?).lines();
    Ok(lines.filter_map(|line| match line {
        Ok(line) => serde_json::from_str::<Problem>(&line).ok().map(Ok),
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

    #[test]
    fn problems_are_grouped_by_column_and_kind_most_rows_first_and_searched() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("p.jsonl");
        let date = |row| Problem {
            column: Some("Sale Date".into()),
            field: Some("event_time".into()),
            value: Some("32/01/2024".into()),
            ..Problem::row(row, Kind::NotADate, "not a date")
        };
        let mut text = String::new();
        let mut problems: Vec<Problem> = (2..200).map(date).collect();
        problems.insert(3, Problem::row(5, Kind::DuplicateRow, "duplicate of row 2"));
        problems.push(Problem { severity: Severity::Warning, ..Problem::row(9, Kind::AmountCleaned, "cleaned") });
        for problem in &problems {
            text.push_str(&serde_json::to_string(problem).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let found = groups(&path).unwrap();
        assert_eq!(
            found.iter().map(|g| (g.kind, g.rows)).collect::<Vec<_>>(),
            [(Kind::NotADate, 198), (Kind::DuplicateRow, 1), (Kind::AmountCleaned, 1)]
        );
        assert_eq!(found[0].example_rows, [2, 3, 4, 5, 6]);
        let (page, total) = filtered_page(&path, Some(Severity::Exception), Some(&found[0].id), "", 10, 5).unwrap();
        assert_eq!((page[0].row, page.len(), total), (Some(12), 5, 198));
        let (page, total) = filtered_page(&path, None, None, "duplicate", 0, 10).unwrap();
        assert_eq!((page[0].row, total), (Some(5), 1));
        let (_, total) = filtered_page(&path, None, None, "7", 0, 10).unwrap();
        assert_eq!(total, 1, "a number is a row");
    }
}
