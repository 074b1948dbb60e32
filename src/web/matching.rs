//! Column matching (SPEC §13): a staged file's headers and first rows, read through the check's
//! own reader; each field of the client's mapping given its best column, by the header's name
//! and by a look at the column's first values (dates for `event_time`, e-mail addresses for
//! `email`); and the matching a choice makes, as `POST /api/uploads/{id}/columns` takes it.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::check::{run_settings, stage_to_file};
use super::state::AppState;
use crate::db::uploads::Upload;
use crate::field::Field;
use crate::read::mapping::Mapping;
use crate::read::{expected_headers, CellMark, Reading, SourceRow};
use crate::settings::StoredMapping;

/// The first rows a matching page shows and looks at.
pub const FIRST_ROWS: usize = 5;

/// How close a header's name must be to be suggested for its name alone.
const CLOSE_NAME: f64 = 0.8;

/// The rows read to judge a column by its values.
const LOOKED_AT: usize = 20;

/// A file's headers and first rows, as the check reads them.
#[derive(Debug, Default, Clone)]
pub struct FileHead {
    pub headers: Vec<String>,
    /// The first rows' cells, trimmed, in the headers' order.
    pub rows: Vec<Vec<String>>,
    /// The columns a workbook marks as dates in the rows read.
    pub date_columns: Vec<usize>,
}

impl FileHead {
    pub fn column(&self, header: &str) -> Option<usize> {
        let wanted = header.trim().to_lowercase();
        self.headers.iter().position(|h| !h.is_empty() && h.trim().to_lowercase() == wanted)
    }

    fn values(&self, column: usize) -> impl Iterator<Item = &str> {
        self.rows.iter().filter_map(move |row| row.get(column)).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Reads the staged file's header and its first rows with `mapping` (its sheet, the headers
/// that tell a CSV's delimiter), as the check would.
pub async fn read_head(state: &AppState, upload: &Upload, mapping: &Mapping) -> Result<FileHead> {
    let staged = stage_to_file(state, &upload.id).await?;
    let stored = StoredMapping { mapping: mapping.clone(), shown_as: format!("client {}", upload.client) };
    let settings = run_settings(state, "columns", upload, staged, stored, Vec::<std::ffi::OsString>::new())?;
    tokio::task::spawn_blocking(move || {
        let expected = expected_headers(&settings.mapping);
        let reading = Reading {
            encoding: settings.encoding,
            delimiter: settings.delimiter,
            sheet: settings.sheet.as_deref(),
            expected: &expected,
        };
        let file = settings.opened_file.as_ref().context("no staged file")?.try_clone()?;
        let mut source = crate::read::open(&settings.load_file, file, &reading)?;
        let mut head = FileHead { headers: source.headers().to_vec(), ..FileHead::default() };
        let mut row = SourceRow::default();
        while head.rows.len() < LOOKED_AT && source.next_row(&mut row)? {
            let cells = row.cells.iter().map(|cell| String::from_utf8_lossy(cell).trim().to_owned()).collect();
            head.rows.push(cells);
            for (cell, mark) in &row.marks {
                if *mark == CellMark::Date && !head.date_columns.contains(&(*cell as usize)) {
                    head.date_columns.push(*cell as usize);
                }
            }
        }
        Ok(head)
    })
    .await
    .context("reading the file stopped unexpectedly")?
}

/// What a field reads in a matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The file's column with this header.
    Header(String),
    /// Not in this file: the field's default, or nothing.
    Absent,
    /// Nobody chose yet (a required field the file seems to lack).
    Unchosen,
}

/// Why a column was suggested, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The mapping's header is in the file.
    SameHeader,
    /// This upload's matching chose it before.
    Kept,
    /// The header's name is close to the mapping's.
    Name,
    /// The name is close and the first values look right (dates, e-mail addresses).
    NameAndValues,
    /// The first values look right.
    Values,
    /// No column seems to hold it.
    NotFound,
}

impl Why {
    pub fn text(self, field: Field) -> &'static str {
        match (self, field) {
            (Why::SameHeader, _) => "The same name as in the mapping.",
            (Why::Kept, _) => "Chosen for this file.",
            (Why::Name, _) => "Suggested: its name is close.",
            (Why::NameAndValues, Field::EventTime) => "Suggested: its name is close and its first values are dates.",
            (Why::NameAndValues, _) => "Suggested: its name is close and its first values are e-mail addresses.",
            (Why::Values, Field::EventTime) => "Suggested: its first values are dates.",
            (Why::Values, _) => "Suggested: its first values are e-mail addresses.",
            (Why::NotFound, _) => "No column of this file seems to hold it.",
        }
    }
}

/// One field of the mapping on the matching page.
#[derive(Debug, Clone)]
pub struct FieldMatch {
    pub field: Field,
    /// The header the mapping reads it from, if it names one.
    pub mapped: Option<String>,
    pub choice: Choice,
    pub why: Why,
    /// Whether the field gets a value without a column (a default, or the mapping's token).
    pub has_default: bool,
}

/// The fields a matching page lists: those the mapping reads from a column, the required ones,
/// and those the upload's matching names.
pub fn listed_fields(mapping: &Mapping, kept: &[(Field, Option<String>)]) -> Vec<Field> {
    Field::ALL
        .into_iter()
        .filter(|&f| mapping.header_for(f).is_some() || f.is_required() || kept.iter().any(|(k, _)| *k == f))
        .collect()
}

fn has_default(mapping: &Mapping, field: Field) -> bool {
    mapping.default_for(field).is_some() || (field == Field::AccountToken && mapping.account_token.is_some())
}

/// Each listed field's best column: the upload's own matching, else the mapping's header when
/// the file has it, else the closest free header by name and by its first values.
pub fn suggest(mapping: &Mapping, kept: &[(Field, Option<String>)], head: &FileHead) -> Vec<FieldMatch> {
    let fields = listed_fields(mapping, kept);
    let mut claimed: Vec<usize> = mapping.custom.iter().filter_map(|(_, header)| head.column(header)).collect();
    let mut matches: Vec<FieldMatch> = fields
        .iter()
        .map(|&field| {
            let mapped = mapping.header_for(field).map(str::to_owned);
            let found = match kept.iter().find(|(k, _)| *k == field) {
                Some((_, Some(header))) => {
                    head.column(header).map(|c| (Choice::Header(head.headers[c].clone()), Why::Kept))
                }
                Some((_, None)) => Some((Choice::Absent, Why::Kept)),
                None => head
                    .column(mapped.as_deref().unwrap_or(field.name()))
                    .map(|c| (Choice::Header(head.headers[c].clone()), Why::SameHeader)),
            };
            if let Some((Choice::Header(header), _)) = &found {
                claimed.extend(head.column(header));
            }
            let (choice, why) = found.unwrap_or((Choice::Unchosen, Why::NotFound));
            FieldMatch { field, mapped, choice, why, has_default: has_default(mapping, field) }
        })
        .collect();
    // Every free column against every field still without one, best pairs first.
    let mut pairs = Vec::new();
    for (at, each) in matches.iter().enumerate().filter(|(_, m)| m.choice == Choice::Unchosen) {
        let wanted = each.mapped.clone().unwrap_or_else(|| each.field.name().to_owned());
        for column in (0..head.headers.len()).filter(|c| !claimed.contains(c) && !head.headers[*c].is_empty()) {
            let header = &head.headers[column];
            let name = name_score(&wanted, header).max(name_score(each.field.name(), header));
            let values = looks_like(each.field, mapping, head, column);
            let by_name = name >= CLOSE_NAME;
            if by_name || values {
                let why = match (by_name, values) {
                    (true, true) => Why::NameAndValues,
                    (true, false) => Why::Name,
                    _ => Why::Values,
                };
                pairs.push((name + if values { 0.5 } else { 0.0 }, at, column, why));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, at, column, why) in pairs {
        if matches[at].choice == Choice::Unchosen && !claimed.contains(&column) {
            claimed.push(column);
            matches[at].choice = Choice::Header(head.headers[column].clone());
            matches[at].why = why;
        }
    }
    for each in matches.iter_mut().filter(|m| m.choice == Choice::Unchosen) {
        if !each.field.is_required() || each.has_default {
            each.choice = Choice::Absent;
        }
    }
    matches
}

/// How close two headers' names are, from 0 to 1: Jaro-Winkler on the whole name, or the share
/// of words in common ("Date of Sale" is "Sale Date"), whichever is higher.
fn name_score(a: &str, b: &str) -> f64 {
    let normal = |text: &str| text.trim().to_lowercase().replace(['_', '-', '.'], " ");
    let (a, b) = (normal(a), normal(b));
    let words = |text: &str| -> Vec<String> {
        text.split_whitespace().filter(|w| !matches!(*w, "of" | "the" | "a" | "an")).map(str::to_owned).collect()
    };
    let (wa, wb) = (words(&a), words(&b));
    let common = wa.iter().filter(|w| wb.contains(w)).count();
    let all = wa.len() + wb.iter().filter(|w| !wa.contains(w)).count();
    let overlap = if all == 0 { 0.0 } else { common as f64 / all as f64 };
    strsim::jaro_winkler(&a, &b).max(overlap)
}

/// Whether a column's first values look like what the field holds: dates for `event_time`,
/// e-mail addresses for `email`. Other fields are judged by name only.
fn looks_like(field: Field, mapping: &Mapping, head: &FileHead, column: usize) -> bool {
    let values: Vec<&str> = head.values(column).collect();
    if values.is_empty() {
        return false;
    }
    let share = |ok: &dyn Fn(&str) -> bool| values.iter().filter(|v| ok(v)).count() * 10 >= values.len() * 8;
    match field {
        Field::EventTime if head.date_columns.contains(&column) => true,
        Field::EventTime => {
            let now = chrono::Utc::now();
            let formats = [mapping.date_formats.clone(), crate::dates::DateFormat::defaults()].concat();
            share(&|v| crate::dates::read_event_time(v, &formats, mapping.timezone, now).is_ok())
        }
        Field::Email => share(&|v| {
            v.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.') && !v.contains(' '))
        }),
        _ => false,
    }
}

/// The matching of `POST /api/uploads/{id}/columns` that the choices make: only what differs
/// from the mapping (a header of its own, or `null` for a column not in this file). `Err` names
/// a required field left without a column and without a default.
pub fn matching_of(matches: &[FieldMatch]) -> Result<Value, String> {
    let mut columns = Map::new();
    let mut lacking = Vec::new();
    for each in matches {
        let name = each.field.name();
        match &each.choice {
            Choice::Header(header) => {
                let same = each.mapped.as_deref().unwrap_or(name).trim().eq_ignore_ascii_case(header.trim());
                if !same {
                    columns.insert(name.to_owned(), Value::String(header.clone()));
                }
            }
            Choice::Unchosen | Choice::Absent if each.field.is_required() && !each.has_default => lacking.push(name),
            Choice::Unchosen | Choice::Absent => {
                if each.mapped.is_some() {
                    columns.insert(name.to_owned(), Value::Null);
                }
            }
        }
    }
    match lacking.as_slice() {
        [] => Ok(Value::Object(columns)),
        [one] => Err(format!(
            "{one} is required and the mapping gives no default for it: choose the file's column that holds it. If the file has none, it cannot be sent as it is."
        )),
        [first @ .., last] => Err(format!(
            "{} and {last} are required and the mapping gives no default for them: choose the file's columns that hold them. If the file has none, it cannot be sent as it is.",
            first.join(", ")
        )),
    }
}

/// A cell as the page shows it: personal data only says that it is there.
pub fn shown_cell(field: Option<Field>, value: &str) -> String {
    match field {
        _ if value.is_empty() => String::new(),
        Some(Field::Email) => "(e-mail address, not shown)".to_owned(),
        Some(Field::Phone) => "(phone number, not shown)".to_owned(),
        _ => value.to_owned(),
    }
}

/// Whether a header holds personal data under this matching, or by its name: its values are
/// never shown.
pub fn is_personal_column(matches: &[FieldMatch], header: &str) -> Option<Field> {
    let chosen = matches.iter().find(|m| m.choice == Choice::Header(header.to_owned())).map(|m| m.field);
    chosen.filter(|f| f.is_personal()).or_else(|| {
        let lower = header.to_lowercase();
        if lower.contains("mail") {
            Some(Field::Email)
        } else if lower.contains("phone") || lower.contains("mobile") || lower.contains("tel") {
            Some(Field::Phone)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Mapping {
        Mapping::parse(&std::fs::read_to_string("clients/example/mapping.json").unwrap()).unwrap()
    }

    fn renamed_head() -> FileHead {
        let text = std::fs::read_to_string("clients/example/example.csv").unwrap();
        let mut lines = text.lines();
        let headers = lines
            .next()
            .unwrap()
            .replace("Sale Date", "Date of Sale")
            .replace("Order Ref", "Order Reference")
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines.take(5).map(|line| line.split(',').map(|c| c.trim().to_owned()).collect()).collect();
        FileHead { headers, rows, date_columns: Vec::new() }
    }

    #[test]
    fn renamed_headers_are_found_by_name_and_values() {
        let matches = suggest(&example(), &[], &renamed_head());
        let of = |field: Field| matches.iter().find(|m| m.field == field).unwrap().clone();
        assert_eq!(of(Field::EventTime).choice, Choice::Header("Date of Sale".into()));
        assert_eq!(of(Field::EventTime).why, Why::NameAndValues);
        assert_eq!(of(Field::OrderId).choice, Choice::Header("Order Reference".into()));
        assert_eq!(of(Field::Revenue).why, Why::SameHeader);
        assert_eq!(
            matching_of(&matches).unwrap(),
            serde_json::json!({"event_time": "Date of Sale", "order_id": "Order Reference"})
        );
    }

    #[test]
    fn a_required_field_without_column_or_default_cannot_be_confirmed() {
        let mapping = Mapping::parse(r#"{"columns": {"event_time": "When"}, "account_token": "abcdefgh1"}"#).unwrap();
        let head = FileHead { headers: vec!["Visitor".into(), "Amount".into()], ..FileHead::default() };
        let matches = suggest(&mapping, &[], &head);
        let time = matches.iter().find(|m| m.field == Field::EventTime).unwrap();
        assert_eq!(time.choice, Choice::Unchosen);
        assert!(matching_of(&matches).unwrap_err().contains("event_name and event_time are required"));
        // The token comes from the mapping: not in this file is fine.
        assert_eq!(matches.iter().find(|m| m.field == Field::AccountToken).unwrap().choice, Choice::Absent);
    }

    #[test]
    fn e_mail_addresses_are_recognised_and_never_shown() {
        let mapping = Mapping::parse(r#"{"columns": {"email": "Email"}}"#).unwrap();
        let head = FileHead {
            headers: vec!["Contact".into(), "Notes".into()],
            rows: vec![vec!["sam@example.com".into(), "hello".into()]],
            date_columns: Vec::new(),
        };
        let matches = suggest(&mapping, &[], &head);
        let email = matches.iter().find(|m| m.field == Field::Email).unwrap();
        assert_eq!((email.choice.clone(), email.why), (Choice::Header("Contact".into()), Why::Values));
        assert_eq!(shown_cell(Some(Field::Email), "sam@example.com"), "(e-mail address, not shown)");
    }
}
