//! `format_data` (SPEC §4): every `handle_<field>` over one row, the mapping's defaults for
//! empty cells, the e-mail guard on every other field, and the row's payload or its exceptions.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, Utc};
use csv::StringRecord;

use crate::field::Field;
use crate::problem::{Issue, Kind, Problem, Severity};
use crate::read::source::mark_of;
use crate::read::{CellMark, Columns, Mapping};
use crate::row::config::{ReplayerConfig, EVENTS_SEARCHED};
use crate::row::damage::{self, EventDate, RowDamage};
use crate::row::handlers::{handle_event_time_cell, handler, looks_like_email, read_event_time_cell, trim};
use crate::row::outcome::Outcome;
use crate::row::payload::{Payload, Value};

/// Why a row with an e-mail address outside `email` is not fired (the address is not shown).
const EMAIL_ELSEWHERE: &str =
    "holds what looks like an e-mail address (value not shown: personal data), which would be sent in the clear; \
     map this column to \"email\" in the mapping's \"columns\" so that it is hashed, or remove the address";

/// Whether the value `field`'s handler sends could hold an e-mail address: not the hashed ones,
/// nor those it writes itself (times, amounts, codes, addresses) or checks to be a token.
fn may_hold_an_address(field: Field) -> bool {
    !matches!(
        field,
        Field::Email
            | Field::Phone
            | Field::EventTime
            | Field::Revenue
            | Field::Currency
            | Field::Quantity
            | Field::Ip
            | Field::AccountToken
    )
}

/// Why a workbook's cell cannot be sent, when its mark says so: an error value, or a formula
/// whose result was never saved.
fn unusable_cell(mark: CellMark, cell: &str) -> Option<Issue> {
    match mark {
        CellMark::Error => Some(Issue::new(
            Kind::ExcelError,
            format!("holds the error value {cell} (Excel could not compute the cell); fix the formula in Excel, or type the value"),
        )),
        CellMark::FormulaWithoutValue => Some(Issue::new(
            Kind::FormulaWithoutValue,
            "holds a formula whose result was never saved (the file was written by a program, not by Excel); \
             open the file in Excel and save it again, or type the value",
        )),
        CellMark::Date => None,
    }
}

/// A valid row: its payload and what was corrected on the way.
#[derive(Debug)]
pub struct Formatted<'a> {
    pub payload: Payload<'a>,
    pub warnings: Vec<Problem>,
    pub event_time: DateTime<Utc>,
    pub local_date: NaiveDate,
}

impl ReplayerConfig {
    /// The config for one file: the mapping's defaults handled once (a default no handler
    /// accepts stops the run here), and the fields `format_data` will run.
    pub fn new(mapping: Mapping, columns: Columns, now: DateTime<Utc>) -> Result<ReplayerConfig> {
        let events_by_lower_case = if mapping.events.len() > EVENTS_SEARCHED {
            let mut by_lower_case = HashMap::with_capacity(mapping.events.len());
            for (index, event) in mapping.events.iter().enumerate() {
                by_lower_case.entry(event.to_ascii_lowercase()).or_insert(index);
            }
            by_lower_case
        } else {
            HashMap::new()
        };
        let mut config = ReplayerConfig {
            mapping,
            columns,
            now,
            defaults: Default::default(),
            events_by_lower_case,
            fields: Vec::new(),
            workbook_dates: crate::dates::DateFormat::workbook_cells(),
        };
        let mut defaults: [Option<Outcome<'static>>; Field::COUNT] = Default::default();
        let mut given: Vec<(Field, String)> = config.mapping.defaults.clone();
        if let Some(token) = &config.mapping.account_token {
            if config.mapping.default_for(Field::AccountToken).is_none() {
                given.push((Field::AccountToken, token.clone()));
            }
        }
        if let Some(currency) = &config.mapping.currency {
            if config.mapping.default_for(Field::Currency).is_none() {
                given.push((Field::Currency, currency.clone()));
            }
        }
        for (field, value) in given {
            let outcome = handler(field)(&config, &value);
            if let Outcome::Exception(issue) | Outcome::Warning { problem: issue, .. } = &outcome {
                let shown = if field.is_personal() { "(personal data)".to_owned() } else { format!("{value:?}") };
                bail!("the mapping's default for {field}, {shown}, cannot be used: {}", issue.text);
            }
            defaults[field.index()] = Some(outcome.into_owned());
        }
        config.fields = Field::ALL
            .into_iter()
            .filter(|&field| {
                config.columns.of(field).is_some() || defaults[field.index()].is_some() || field.is_required()
            })
            .collect();
        config.defaults = defaults;
        Ok(config)
    }

    /// A config with no file columns, for handler tests.
    #[cfg(test)]
    pub fn for_tests(mapping: Mapping) -> ReplayerConfig {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        ReplayerConfig::new(mapping, Columns::default(), now).unwrap()
    }

    /// A problem with `field`'s cell (row unset: `format_data` does not know it). `cell` is the
    /// value as written, kept unless the field holds personal data.
    fn problem(&self, field: Field, column: Option<usize>, cell: &str, severity: Severity, issue: Issue) -> Problem {
        let value = (column.is_some() && !field.is_personal() && issue.kind != Kind::EmailOutsideEmail)
            .then(|| cell.to_owned());
        Problem {
            row: None,
            column: column.map(|index| self.columns.header(index).to_owned()),
            cell: None,
            field: Some(field.name().to_owned()),
            kind: issue.kind,
            severity,
            value,
            message: issue.text,
        }
    }

    fn custom_problem(&self, key: &str, index: usize, kind: Kind, message: &str) -> Problem {
        Problem {
            row: None,
            column: Some(self.columns.header(index).to_owned()),
            cell: None,
            field: Some(format!("custom.{key}")),
            kind,
            severity: Severity::Exception,
            value: None,
            message: message.to_owned(),
        }
    }

    /// Run every handler over one row; `marks` say what a workbook's cells were (none for CSV).
    /// `Err` lists why the row is not fired.
    pub fn format_data<'a>(
        &'a self,
        record: &'a StringRecord,
        marks: &[(u32, CellMark)],
    ) -> Result<Formatted<'a>, Vec<Problem>> {
        self.format_data_noting(record, marks, &mut RowDamage::default())
    }

    /// `format_data`, noting in `damage` what the row adds to the counts of the whole file
    /// (SPEC §11.2), whether it fires or not.
    pub fn format_data_noting<'a>(
        &'a self,
        record: &'a StringRecord,
        marks: &[(u32, CellMark)],
        damage: &mut RowDamage,
    ) -> Result<Formatted<'a>, Vec<Problem>> {
        let mut fields: Vec<(Field, Value<'a>)> = Vec::with_capacity(Field::COUNT);
        let mut warnings = Vec::new();
        let mut exceptions = Vec::new();
        let mut identifier_notes = Vec::new();
        let mut has_identifier = false;

        // One search of the whole row, for the replacement character's first byte (a vectorised
        // byte search); the cells are searched only when it finds the character.
        let row_text = record.as_slice();
        let damaged = row_text.as_bytes().contains(&0xEF) && row_text.contains('\u{FFFD}');
        for &field in &self.fields {
            let column = self.columns.of(field);
            let cell = column.and_then(|index| record.get(index)).unwrap_or("");
            if damaged && cell.contains('\u{FFFD}') {
                let issue = Issue::new(Kind::ReplacementCharacter, "holds the replacement character \u{FFFD}: the file was damaged by a wrong conversion before it reached us; fix the cell");
                exceptions.push(self.problem(field, column, cell, Severity::Exception, issue));
                continue;
            }
            let mark = column.and_then(|index| mark_of(marks, index));
            if let Some(issue) = mark.and_then(|mark| unusable_cell(mark, cell)) {
                exceptions.push(self.problem(field, column, cell, Severity::Exception, issue));
                continue;
            }
            if let Some(issue) = damage::excel_damage(trim(cell)) {
                exceptions.push(self.problem(field, column, cell, Severity::Exception, issue));
                continue;
            }
            // The event time's handler, keeping how the date was read: the day and month check
            // needs every date of the file. A workbook's date cell is no text to misread.
            let outcome = match (field, mark) {
                (Field::EventTime, Some(CellMark::Date)) => {
                    damage.event_date = EventDate::Other;
                    handle_event_time_cell(self, cell)
                }
                (Field::EventTime, _) => {
                    let (outcome, read) = read_event_time_cell(self, cell);
                    damage.event_date = read;
                    outcome
                }
                _ => handler(field)(self, cell),
            };
            if field.is_personal() && matches!(outcome, Outcome::Value(_)) {
                let hashed = damage::hash_of(trim(cell)) == Some(damage::Hash::Sha256);
                match field {
                    Field::Email => damage.email_hashed = hashed,
                    _ => damage.phone_hashed = hashed,
                }
            }
            let outcome = match outcome {
                Outcome::Empty => match &self.defaults[field.index()] {
                    Some(default) => default.reborrow(),
                    None => Outcome::Empty,
                },
                outcome => outcome,
            };
            if let Outcome::Value(value) | Outcome::Warning { sent: Some(value), .. } = &outcome {
                if may_hold_an_address(field) && looks_like_email(value) {
                    let issue = Issue::new(Kind::EmailOutsideEmail, EMAIL_ELSEWHERE);
                    exceptions.push(self.problem(field, column, cell, Severity::Exception, issue));
                    continue;
                }
                has_identifier |= Field::IDENTIFIERS.contains(&field);
            }
            match outcome {
                Outcome::Value(value) => fields.push((field, value)),
                Outcome::Empty if field.is_required() => {
                    let text = match column {
                        Some(_) => "is empty and the mapping has no default; fill it in".to_owned(),
                        None => "is missing: no column and no default".to_owned(),
                    };
                    exceptions.push(self.problem(
                        field,
                        column,
                        cell,
                        Severity::Exception,
                        Issue::new(Kind::MissingValue, text),
                    ));
                }
                Outcome::Empty => {}
                Outcome::Warning { problem, sent } => {
                    let text = match &sent {
                        Some(value) => format!("{}; sent {value}", problem.text),
                        None => format!("{}; not sent", problem.text),
                    };
                    if sent.is_none() && Field::IDENTIFIERS.contains(&field) {
                        identifier_notes.push(format!("{field}: {}", problem.text));
                    }
                    if let Some(value) = sent {
                        fields.push((field, value));
                    }
                    let issue = Issue::new(problem.kind, text);
                    warnings.push(self.problem(field, column, cell, Severity::Warning, issue));
                }
                Outcome::Exception(issue) => {
                    exceptions.push(self.problem(field, column, cell, Severity::Exception, issue))
                }
            }
        }

        if !has_identifier && exceptions.is_empty() {
            let notes =
                if identifier_notes.is_empty() { String::new() } else { format!(" ({})", identifier_notes.join("; ")) };
            exceptions.push(Problem {
                row: None,
                field: Some("identifier".to_owned()),
                ..Problem::row(0, Kind::NoIdentifier, format!("none of visitor_id, customer_id, email or phone has a usable value{notes}; a row needs one to be attributed"))
            });
        }

        let mut custom = Vec::new();
        for (key, index) in &self.columns.custom {
            let cell = trim(record.get(*index).unwrap_or(""));
            if let Some(issue) = mark_of(marks, *index).and_then(|mark| unusable_cell(mark, cell)) {
                exceptions.push(self.custom_problem(key, *index, issue.kind, &issue.text));
            } else if damaged && cell.contains('\u{FFFD}') {
                exceptions.push(self.custom_problem(key, *index, Kind::ReplacementCharacter, "holds the replacement character \u{FFFD}: the file was damaged by a wrong conversion; fix the cell"));
            } else if looks_like_email(cell) {
                exceptions.push(self.custom_problem(key, *index, Kind::EmailOutsideEmail, EMAIL_ELSEWHERE));
            } else if let Some(issue) = damage::excel_damage(cell) {
                exceptions.push(Problem {
                    value: Some(cell.to_owned()),
                    ..self.custom_problem(key, *index, issue.kind, &issue.text)
                });
            } else if !cell.is_empty() {
                if let Some(digits) = damage::scientific_digits(cell) {
                    // Sent as it is: a custom key may hold a real number (SPEC §11.2).
                    let issue = damage::scientific_issue(cell, digits);
                    warnings.push(Problem {
                        value: Some(cell.to_owned()),
                        severity: Severity::Warning,
                        ..self.custom_problem(key, *index, issue.kind, &format!("{}; sent {cell}", issue.text))
                    });
                }
                custom.push((Cow::Borrowed(key.as_str()), Cow::Borrowed(cell)));
            }
        }

        if !exceptions.is_empty() {
            return Err(exceptions);
        }
        // Read back from the text sent (the cell's or the default's), on a fast path for its form.
        let event_time = fields
            .iter()
            .find(|(field, _)| *field == Field::EventTime)
            .and_then(|(_, text)| crate::dates::parse_utc_text(text))
            .expect("a valid row has an event_time");
        let local_date = event_time.with_timezone(&self.mapping.timezone).date_naive();
        Ok(Formatted { payload: Payload::new(fields, custom), warnings, event_time, local_date })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::resolve_columns;

    fn config(headers: &[&str]) -> ReplayerConfig {
        let mapping = Mapping::parse(
            r#"{"account_token": "ex4mpl3-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
                "events": ["offline_sale"], "columns": {"event_time": "Date", "revenue": "Value"},
                "custom": {"store_id": "Store"}, "defaults": {"event_name": "offline_sale"}}"#,
        )
        .unwrap();
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let (columns, _) = resolve_columns(&headers, &mapping).unwrap();
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        ReplayerConfig::new(mapping, columns, now).unwrap()
    }

    #[test]
    fn format_data_gives_the_payload_in_order_with_defaults() {
        let config = config(&["Date", "Value", "email", "Store", "order_id"]);
        let row = StringRecord::from(vec!["01/06/2024", "£10", "A@Example.com", " 12 ", "o-1"]);
        let formatted = config.format_data(&row, &[]).unwrap();
        let mut json = Vec::new();
        formatted.payload.write_json_without_rid(&mut json);
        let json = String::from_utf8(json).unwrap();
        assert!(json.starts_with(r#"{"account_token":"ex4mpl3-t0k3n-0001","event_name":"offline_sale","event_time":"2024-06-01T11:00:00Z","email_sha256":""#), "{json}");
        assert!(
            json.ends_with(
                r#""order_id":"o-1","revenue":"10","currency":"GBP","custom":{"store_id":"12"},"replay":"1"}"#
            ),
            "{json}"
        );
        assert!(!json.contains("example.com"));
        assert_eq!(formatted.warnings.len(), 1);
        assert_eq!(
            Problem { row: Some(2), ..formatted.warnings[0].clone() }.line(),
            "row 2, column \"Value\" (revenue): \"£10\" had a currency symbol; sent 10"
        );
    }

    #[test]
    fn exceptions_name_the_column_and_what_is_missing() {
        let config = config(&["Date", "Value", "email", "Store"]);
        let problems = config.format_data(&StringRecord::from(vec!["", "x", "nobody", ""]), &[]).unwrap_err();
        let lines: Vec<String> = problems.iter().map(|p| Problem { row: Some(7), ..p.clone() }.line()).collect();
        assert_eq!(
            lines[0],
            "row 7, column \"Date\" (event_time): is empty and the mapping has no default; fill it in"
        );
        assert!(lines[1].starts_with("row 7, column \"Value\" (revenue): \"x\" is not a number"));
        let problems = config.format_data(&StringRecord::from(vec!["01/06/2024", "1", "nobody", ""]), &[]).unwrap_err();
        assert!(
            problems[0].describe().contains("(identifier): none of visitor_id")
                && problems[0].describe().contains("email: the e-mail address has no @")
        );
    }

    #[test]
    fn the_local_date_is_the_sent_time_in_the_mapping_zone() {
        // Samoa skipped 30 December 2011: a time that day is moved, here past midnight.
        let mapping = Mapping::parse(
            r#"{"account_token": "ex4mpl3-t0k3n-0001", "timezone": "Pacific/Apia", "events": ["offline_sale"],
                "columns": {"event_time": "Date"}, "defaults": {"event_name": "offline_sale"}}"#,
        )
        .unwrap();
        let headers: Vec<String> = ["Date", "customer_id"].iter().map(|h| h.to_string()).collect();
        let (columns, _) = resolve_columns(&headers, &mapping).unwrap();
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        let config = ReplayerConfig::new(mapping, columns, now).unwrap();
        let row = StringRecord::from(vec!["30/12/2011 12:00", "c1"]);
        let formatted = config.format_data(&row, &[]).unwrap();
        assert_eq!(formatted.local_date, formatted.event_time.with_timezone(&chrono_tz::Pacific::Apia).date_naive());
        assert_eq!(formatted.local_date, NaiveDate::from_ymd_opt(2011, 12, 31).unwrap());
    }

    #[test]
    fn an_email_address_in_any_other_field_is_an_exception_that_does_not_show_it() {
        let config = config(&["Date", "Value", "customer_id", "Store", "order_id", "user_agent", "utm_source"]);
        let base = ["01/06/2024", "1", "c1", "s", "o-1", "ua", "news"];
        for (index, field) in
            [(2, "customer_id"), (3, "custom.store_id"), (4, "order_id"), (5, "user_agent"), (6, "utm_source")]
        {
            let mut cells = base.to_vec();
            cells[index] = " Jane.Doe@Example.com ";
            let problems = config.format_data(&StringRecord::from(cells), &[]).unwrap_err();
            assert_eq!(problems.len(), 1, "{field}: {problems:?}");
            assert_eq!(problems[0].field.as_deref(), Some(field));
            assert_eq!(problems[0].value, None, "{field}: personal data shown");
            let line = problems[0].describe();
            assert!(line.contains("map this column to \"email\"") && !line.to_lowercase().contains("jane"), "{line}");
        }
        assert!(config.format_data(&StringRecord::from(base.to_vec()), &[]).is_ok());
    }

    #[test]
    fn a_replacement_character_never_reaches_a_tag() {
        let config = config(&["Date", "Value", "customer_id", "Store"]);
        let problems =
            config.format_data(&StringRecord::from(vec!["01/06/2024", "1", "c1", "Caf\u{FFFD}"]), &[]).unwrap_err();
        assert_eq!(problems[0].field.as_deref(), Some("custom.store_id"));
    }
}
