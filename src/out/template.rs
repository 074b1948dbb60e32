//! The client's template (SPEC §11.3): the columns a file must have for its mapping, as a CSV
//! header row or as a workbook with a sample row, Text identifier columns, the event time in the
//! mapping's date format, the events as a drop-down and a "Fields" sheet that explains them.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime};
use rust_xlsxwriter::{
    DataValidation, DataValidationErrorStyle, ExcelDateTime, Format, FormatAlign, Formula, Workbook, Worksheet,
    XlsxError,
};

use crate::field::{capped_list, Field};
use crate::read::mapping::Mapping;

mod excel_date;
pub use excel_date::excel_date_format;

/// What a template column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    Field(Field),
    Custom(String),
}

/// One column of the template: its header and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub header: String,
    pub holds: Holds,
}

/// The template's columns, fields in the order of §4 then the custom keys: every field the
/// mapping's `columns` names, under its header, and the columns a file still needs to pass the
/// header check, under the field's own name: a required field with no default (the account
/// token only when the mapping has none), and the four identifiers when nothing maps one.
pub fn columns(mapping: &Mapping) -> Vec<Column> {
    let supplied = |field: Field| {
        mapping.header_for(field).is_some()
            || mapping.default_for(field).is_some()
            || (field == Field::AccountToken && mapping.account_token.is_some())
    };
    let no_identifier = !Field::IDENTIFIERS.into_iter().any(supplied);
    let mut columns: Vec<Column> = Field::ALL
        .into_iter()
        .filter_map(|field| {
            let header = match mapping.header_for(field) {
                Some(header) => header.to_owned(),
                None if field.is_required() && !supplied(field) => field.name().to_owned(),
                None if no_identifier && Field::IDENTIFIERS.contains(&field) => field.name().to_owned(),
                None => return None,
            };
            Some(Column { header, holds: Holds::Field(field) })
        })
        .collect();
    columns.extend(
        mapping.custom.iter().map(|(key, header)| Column { header: header.clone(), holds: Holds::Custom(key.clone()) }),
    );
    columns
}

/// The CSV template: the header row of `columns`.
pub fn csv(mapping: &Mapping) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(columns(mapping).iter().map(|column| &column.header));
    writer.into_inner().unwrap_or_default()
}

/// The sample row's event time, in the mapping's time zone: a day past the 12th, so it cannot
/// be read month-first.
pub const SAMPLE_TIME: (i32, u32, u32, u32, u32) = (2024, 6, 21, 14, 30);

/// Excel's built-in Text format (`@`): it keeps digits and leading zeros as typed, and never
/// writes 1.23E+15.
const TEXT: u8 = 49;

/// A sample cell: its value as it is written, and as the "Fields" sheet shows it.
enum Sample {
    Text(String),
    Number(f64, &'static str),
    Date(ExcelDateTime),
}

/// The template as an `.xlsx` workbook.
pub fn workbook(mapping: &Mapping) -> Result<Vec<u8>, XlsxError> {
    let columns = columns(mapping);
    let event_time = EventTime::of(mapping);
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format_index(TEXT);
    let mut workbook = Workbook::new();

    let sheet = workbook.add_worksheet().set_name(sheet_name(mapping))?;
    let mut events_range = None;
    for (index, column) in columns.iter().enumerate() {
        let col = u16::try_from(index).map_err(|_| XlsxError::RowColumnLimitError)?;
        sheet.write_string_with_format(0, col, &column.header, &bold)?;
        sheet.set_column_width(col, (column.header.chars().count().max(14) + 2) as f64)?;
        let sample = sample(mapping, &column.holds, &event_time);
        match (&column.holds, &sample) {
            (Holds::Field(Field::EventTime), Sample::Date(date)) => {
                let excel_format = match &event_time {
                    EventTime::Excel { format, .. } => format.as_str(),
                    EventTime::Text { .. } => "General",
                };
                let format = Format::new().set_num_format(excel_format).set_align(FormatAlign::Left);
                sheet.set_column_format(col, &format)?;
                sheet.write_datetime_with_format(1, col, date, &format)?;
            }
            (holds, Sample::Text(value)) if is_text_column(holds, &event_time) => {
                sheet.set_column_format(col, &text)?;
                sheet.write_string_with_format(1, col, value, &text)?;
            }
            (_, Sample::Text(value)) => {
                sheet.write_string(1, col, value)?;
            }
            (_, Sample::Number(value, format)) => {
                sheet.write_number_with_format(1, col, *value, &Format::new().set_num_format(*format))?;
            }
            (_, Sample::Date(date)) => {
                sheet.write_datetime(1, col, date)?;
            }
        }
        if column.holds == Holds::Field(Field::EventName) && !mapping.events.is_empty() {
            events_range = Some(col);
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    let needs_events_sheet = match events_range {
        Some(col) => add_event_list(sheet, col, &mapping.events)?,
        None => false,
    };

    let fields = workbook.add_worksheet().set_name("Fields")?;
    write_fields(fields, mapping, &columns, &event_time, &bold)?;

    if needs_events_sheet {
        let events = workbook.add_worksheet().set_name("Events")?;
        for (row, event) in mapping.events.iter().enumerate() {
            events.write_string(row as u32, 0, event)?;
        }
        events.set_hidden(true);
    }
    workbook.save_to_buffer()
}

/// The data sheet's name: the client's, as Excel allows it (31 characters, none of `[]:*?/\`).
fn sheet_name(mapping: &Mapping) -> String {
    let name: String = mapping
        .client
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect::<String>()
        .trim_matches(|c: char| c == '\'' || c.is_whitespace())
        .to_owned();
    if name.is_empty() || name.eq_ignore_ascii_case("Fields") || name.eq_ignore_ascii_case("Events") {
        "Rows".to_owned()
    } else {
        name
    }
}

/// The drop-down of the client's events on the event column below the header. Excel takes a
/// list of at most 255 characters without commas in its names; a longer one is read from a hidden
/// "Events" sheet, and `true` says that sheet is needed.
fn add_event_list(sheet: &mut Worksheet, col: u16, events: &[String]) -> Result<bool, XlsxError> {
    let inline = match events.iter().any(|event| event.contains(',')) {
        true => None,
        false => DataValidation::new().allow_list_strings(events).ok(),
    };
    let needs_sheet = inline.is_none();
    let validation = inline.unwrap_or_else(|| {
        DataValidation::new().allow_list_formula(Formula::new(format!("=Events!$A$1:$A${}", events.len())))
    });
    let validation = validation
        .set_error_style(DataValidationErrorStyle::Stop)
        .set_error_title("Not one of the client's events")?
        .set_error_message("Pick the event from the list: the replayer refuses any other name.")?;
    sheet.add_data_validation(1, col, 1_048_575, col, &validation)?;
    Ok(needs_sheet)
}

/// Identifier and phone columns, custom ones, and an event time Excel cannot show as a date:
/// Text, so Excel keeps what is typed.
fn is_text_column(holds: &Holds, event_time: &EventTime) -> bool {
    match holds {
        Holds::Custom(_) => true,
        Holds::Field(Field::EventTime) => matches!(event_time, EventTime::Text { .. }),
        Holds::Field(field) => {
            matches!(field, Field::VisitorId | Field::CustomerId | Field::OrderId | Field::Gclid | Field::Phone)
        }
    }
}

/// How the event time is written: as a date cell in the Excel form of the first of the mapping's
/// formats that has one, else as text in the mapping's first format.
enum EventTime {
    Excel { pattern: String, format: String },
    Text { shown: String },
}

impl EventTime {
    fn of(mapping: &Mapping) -> EventTime {
        for date_format in &mapping.date_formats {
            if let Some(format) = excel_date_format(date_format.pattern()) {
                return EventTime::Excel { pattern: date_format.pattern().to_owned(), format };
            }
        }
        let shown = mapping
            .date_formats
            .iter()
            .find_map(|date_format| formatted(mapping, date_format.pattern()))
            .unwrap_or_else(|| sample_time().format("%Y-%m-%dT%H:%M:%S").to_string());
        EventTime::Text { shown }
    }

    /// The sample as the file will hold it, once exported.
    fn shown(&self) -> String {
        match self {
            EventTime::Excel { pattern, .. } => sample_time().format(pattern).to_string(),
            EventTime::Text { shown } => shown.clone(),
        }
    }
}

fn sample_time() -> NaiveDateTime {
    let (year, month, day, hour, minute) = SAMPLE_TIME;
    NaiveDate::from_ymd_opt(year, month, day).and_then(|date| date.and_hms_opt(hour, minute, 0)).expect("a real date")
}

/// The sample time in the mapping's zone, written with `pattern`, when chrono can write it.
fn formatted(mapping: &Mapping, pattern: &str) -> Option<String> {
    let local = sample_time().and_local_timezone(mapping.timezone).single()?;
    let mut text = String::new();
    write!(text, "{}", local.format(pattern)).ok()?;
    Some(text)
}

/// The fictional sample value of a column, which passes the checks of §4 for this mapping.
fn sample(mapping: &Mapping, holds: &Holds, event_time: &EventTime) -> Sample {
    let field = match holds {
        Holds::Custom(_) => return Sample::Text("example".to_owned()),
        Holds::Field(field) => *field,
    };
    let text = match field {
        Field::AccountToken => mapping.account_token.clone().unwrap_or_else(|| "your-account-token".to_owned()),
        Field::EventName => mapping
            .events
            .first()
            .cloned()
            .or_else(|| mapping.default_for(field).map(str::to_owned))
            .unwrap_or_else(|| "offline_sale".to_owned()),
        Field::EventTime => {
            return match event_time {
                EventTime::Excel { .. } => {
                    let (year, month, day, hour, minute) = SAMPLE_TIME;
                    ExcelDateTime::from_ymd(year as u16, month as u8, day as u8)
                        .and_then(|date| date.and_hms(hour as u16, minute as u8, 0))
                        .map(Sample::Date)
                        .unwrap_or_else(|_| Sample::Text(event_time.shown()))
                }
                EventTime::Text { shown } => Sample::Text(shown.clone()),
            }
        }
        Field::VisitorId => "V-000123".to_owned(),
        Field::CustomerId => "000456".to_owned(),
        Field::Email => "jane.doe@example.com".to_owned(),
        Field::Phone => "+44 20 7946 0958".to_owned(),
        Field::OrderId => "ORD-0001".to_owned(),
        Field::Revenue => return Sample::Number(49.99, "0.00"),
        Field::Currency => mapping.currency.clone().unwrap_or_else(|| "GBP".to_owned()),
        Field::Quantity => return Sample::Number(1.0, "0"),
        Field::PageUrl => "https://www.example.com/offer".to_owned(),
        Field::Referrer => "https://www.example.org/".to_owned(),
        Field::UtmSource => "newsletter".to_owned(),
        Field::UtmMedium => "email".to_owned(),
        Field::UtmCampaign => "summer_sale".to_owned(),
        Field::UtmTerm => "running shoes".to_owned(),
        Field::UtmContent => "banner_a".to_owned(),
        Field::Gclid => "EAIaIQobChMI0000example".to_owned(),
        Field::Ip => "192.0.2.10".to_owned(),
        Field::UserAgent => "Mozilla/5.0 (Windows NT 10.0; Win64; x64)".to_owned(),
    };
    Sample::Text(text)
}

/// The "Fields" sheet: for each column, what it holds, whether it is required, and an example.
fn write_fields(
    sheet: &mut Worksheet,
    mapping: &Mapping,
    columns: &[Column],
    event_time: &EventTime,
    bold: &Format,
) -> Result<(), XlsxError> {
    let wrap = Format::new().set_text_wrap();
    for (col, (title, width)) in
        [("Column", 20.0), ("Field", 16.0), ("What it holds", 60.0), ("Required", 32.0), ("Example", 30.0)]
            .into_iter()
            .enumerate()
    {
        sheet.write_string_with_format(0, col as u16, title, bold)?;
        sheet.set_column_width(col as u16, width)?;
    }
    let identifiers: Vec<&str> = columns
        .iter()
        .filter(|column| matches!(&column.holds, Holds::Field(field) if Field::IDENTIFIERS.contains(field)))
        .map(|column| column.header.as_str())
        .collect();
    for (index, column) in columns.iter().enumerate() {
        let row = index as u32 + 1;
        let example = match sample(mapping, &column.holds, event_time) {
            Sample::Text(text) => text,
            Sample::Number(value, _) if mapping.decimal_separator == ',' => value.to_string().replace('.', ","),
            Sample::Number(value, _) => value.to_string(),
            Sample::Date(_) => event_time.shown(),
        };
        let (field_name, holds, required) = match &column.holds {
            Holds::Custom(key) => (
                format!("custom.{key}"),
                format!("The client's own value \"{key}\", sent as it is typed"),
                "no".to_owned(),
            ),
            Holds::Field(field) => {
                (field.name().to_owned(), describe(mapping, *field), required(mapping, *field, &identifiers))
            }
        };
        for (col, value) in [&column.header, &field_name, &holds, &required, &example].into_iter().enumerate() {
            sheet.write_string_with_format(row, col as u16, value, &wrap)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn required(mapping: &Mapping, field: Field, identifiers: &[&str]) -> String {
    if let Some(default) = mapping.default_for(field) {
        return format!("no: an empty cell means {default:?}");
    }
    match field {
        Field::AccountToken if mapping.account_token.is_some() => {
            "no: an empty cell means the client's token".to_owned()
        }
        _ if field.is_required() => "yes".to_owned(),
        _ if Field::IDENTIFIERS.contains(&field) => format!("at least one of {} in each row", identifiers.join(", ")),
        _ => "no".to_owned(),
    }
}

/// What a field's column holds, in the words of §4.
fn describe(mapping: &Mapping, field: Field) -> String {
    match field {
        Field::AccountToken => match &mapping.account_token {
            Some(token) => format!("The client's account token: {token} in every row"),
            None => "The client's account token (8 to 64 letters, digits, '-' or '_')".to_owned(),
        },
        Field::EventName if mapping.events.is_empty() => "What happened: the event's name".to_owned(),
        Field::EventName => format!("What happened: one of {} (pick it from the list)", capped_list(&mapping.events)),
        Field::EventTime => format!(
            "When it happened, in {} time, as the example shows it; not in the future",
            mapping.timezone.name()
        ),
        Field::VisitorId => "The visitor id the site's tracking tags gave the visitor".to_owned(),
        Field::CustomerId => "The client's own customer number or id".to_owned(),
        Field::Email => "The customer's e-mail address; only its SHA-256 hash is sent".to_owned(),
        Field::Phone => match mapping.country {
            Some(country) => format!(
                "The customer's phone number, best with its country code (without one it is read as a number of {country:?}); only its SHA-256 hash is sent"
            ),
            None => "The customer's phone number with its country code (+44 …); only its SHA-256 hash is sent".to_owned(),
        },
        Field::OrderId => "The order's reference: each order once in the file".to_owned(),
        Field::Revenue => format!(
            "The sale's value: a number with '{}' before the decimals, no currency sign",
            mapping.decimal_separator
        ),
        Field::Currency => match &mapping.currency {
            Some(currency) => format!("The revenue's currency, a three-letter ISO 4217 code (empty: {currency})"),
            None => "The revenue's currency, a three-letter ISO 4217 code".to_owned(),
        },
        Field::Quantity => "How many items: a whole number, 1 or more".to_owned(),
        Field::PageUrl => "The page the visit landed on: a full http:// or https:// address".to_owned(),
        Field::Referrer => "The page that sent the visitor: a full http:// or https:// address".to_owned(),
        Field::UtmSource | Field::UtmMedium | Field::UtmCampaign | Field::UtmTerm | Field::UtmContent => {
            format!("The campaign's {} tag of the visit", field.name())
        }
        Field::Gclid => "The Google Ads click id (gclid) of the visit".to_owned(),
        Field::Ip => "The visitor's IP address (IPv4 or IPv6)".to_owned(),
        Field::UserAgent => "The visitor's browser, as its user agent text".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_fields_order_and_add_what_the_header_check_needs() {
        let mapping = Mapping::parse(
            r#"{"account_token": "ex4mpl3-t0k3n-0001", "events": ["offline_sale"],
                "columns": {"revenue": "Sale Value", "event_time": "Sale Date", "order_id": "Order Ref"},
                "custom": {"store_id": "Store"}, "defaults": {"event_name": "offline_sale"}}"#,
        )
        .unwrap();
        let headers: Vec<String> = columns(&mapping).into_iter().map(|column| column.header).collect();
        assert_eq!(
            headers,
            ["Sale Date", "visitor_id", "customer_id", "email", "phone", "Order Ref", "Sale Value", "Store"]
        );
        let bare = Mapping::parse(r#"{"columns": {"email": "E-mail"}}"#).unwrap();
        let headers: Vec<String> = columns(&bare).into_iter().map(|column| column.header).collect();
        assert_eq!(headers, ["account_token", "event_name", "event_time", "E-mail"]);
        let (columns_read, _) = crate::read::columns::resolve_columns(&headers, &bare).unwrap();
        assert_eq!(columns_read.of(Field::Email), Some(3));
    }

    #[test]
    fn the_event_time_falls_back_to_text_when_excel_cannot_show_the_format() {
        let mapping = Mapping::parse(r#"{"date_formats": ["%Y-%m-%d %H:%M%z"], "timezone": "Europe/Paris"}"#).unwrap();
        match EventTime::of(&mapping) {
            EventTime::Text { shown } => assert_eq!(shown, "2024-06-21 14:30+0200"),
            EventTime::Excel { format, .. } => panic!("{format}"),
        }
        // The default formats start with ISO 8601 forms Excel cannot show: the first it can.
        match EventTime::of(&Mapping::default()) {
            EventTime::Excel { format, pattern } => {
                assert_eq!((format.as_str(), pattern.as_str()), ("yyyy-mm-dd\\Thh:mm", "%Y-%m-%dT%H:%M"))
            }
            EventTime::Text { shown } => panic!("{shown}"),
        }
    }

    #[test]
    fn events_excel_cannot_list_inline_come_from_a_hidden_sheet() {
        use calamine::{Reader, SheetVisible, Xlsx};
        let events: Vec<String> = (0..40).map(|n| format!("event_number_{n}")).chain(["a, b".to_owned()]).collect();
        let mapping = Mapping {
            client: "Many".to_owned(),
            events: events.clone(),
            columns: vec![(Field::EventName, "Event".to_owned()), (Field::Email, "Email".to_owned())],
            ..Mapping::default()
        };
        let mut workbook = Xlsx::new(std::io::Cursor::new(workbook(&mapping).unwrap())).unwrap();
        let sheets: Vec<(String, bool)> = workbook
            .sheets_metadata()
            .iter()
            .map(|sheet| (sheet.name.clone(), sheet.visible == SheetVisible::Visible))
            .collect();
        assert_eq!(sheets, [("Many".to_owned(), true), ("Fields".to_owned(), true), ("Events".to_owned(), false)]);
        let listed: Vec<String> =
            workbook.worksheet_range("Events").unwrap().rows().map(|row| row[0].to_string()).collect();
        assert_eq!(listed, events);
    }

    #[test]
    fn sheet_names_are_what_excel_allows() {
        let named = |client: &str| sheet_name(&Mapping { client: client.to_owned(), ..Mapping::default() });
        assert_eq!(named("Example Ltd"), "Example Ltd");
        assert_eq!(named("A/B: [x]*?"), "AB x");
        assert_eq!(named(""), "Rows");
        assert_eq!(named("Fields"), "Rows");
        assert_eq!(named(&"x".repeat(40)).len(), 31);
    }
}
