//! The per-client mapping file (SPEC §3): read it, check every key, and turn it into typed settings.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::format::{Item, StrftimeItems};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::dates::DateFormat;
use crate::field::{closest, Field};

const KEYS: [&str; 12] = [
    "client",
    "account_token",
    "timezone",
    "currency",
    "events",
    "date_formats",
    "decimal_separator",
    "country",
    "columns",
    "custom",
    "defaults",
    "sheet",
];

/// A checked mapping: every name is known, every value usable.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub client: String,
    pub account_token: Option<String>,
    pub timezone: Tz,
    pub currency: Option<String>,
    pub events: Vec<String>,
    pub date_formats: Vec<DateFormat>,
    pub decimal_separator: char,
    /// The region of phone numbers written without a country code.
    pub country: Option<phonenumber::country::Id>,
    /// Field → header, in the mapping's order.
    pub columns: Vec<(Field, String)>,
    /// Custom key → header, in the mapping's order.
    pub custom: Vec<(String, String)>,
    pub defaults: Vec<(Field, String)>,
    /// The workbook's sheet to read, by name or number (SPEC §11.1).
    pub sheet: Option<String>,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            client: String::new(),
            account_token: None,
            timezone: Tz::UTC,
            currency: None,
            events: Vec::new(),
            date_formats: DateFormat::defaults(),
            decimal_separator: '.',
            country: None,
            columns: Vec::new(),
            custom: Vec::new(),
            defaults: Vec::new(),
            sheet: None,
        }
    }
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the mapping {}; give its path with --mapping, or put mapping.json beside the CSV",
                path.display()
            )
        })?;
        Mapping::parse(&text).with_context(|| format!("mapping {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Mapping> {
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .context("not valid JSON; check the commas and quotes at the line and column given")?;
        let Value::Object(object) = value else {
            bail!("the mapping must be a JSON object {{ ... }}");
        };
        let mut mapping = Mapping::default();
        for (key, value) in &object {
            match key.as_str() {
                "client" => mapping.client = string(key, value)?,
                "account_token" => mapping.account_token = Some(check_token(&string(key, value)?)?),
                "timezone" => mapping.timezone = parse_timezone(&string(key, value)?)?,
                "currency" => mapping.currency = Some(check_currency(&string(key, value)?)?),
                "events" => mapping.events = string_list(key, value)?,
                "date_formats" => {
                    mapping.date_formats = string_list(key, value)?
                        .iter()
                        .map(|format| check_date_format(format))
                        .collect::<Result<_>>()?;
                    if mapping.date_formats.is_empty() {
                        bail!("\"date_formats\" is empty; list at least one format or remove the key");
                    }
                }
                "decimal_separator" => {
                    mapping.decimal_separator = match string(key, value)?.as_str() {
                        "." => '.',
                        "," => ',',
                        other => bail!("\"decimal_separator\" is {other:?}; it must be \".\" or \",\""),
                    }
                }
                "sheet" => {
                    mapping.sheet = Some(match value {
                        Value::Number(number) if number.as_u64().is_some_and(|n| n >= 1) => number.to_string(),
                        Value::String(name) if !name.trim().is_empty() => name.clone(),
                        _ => bail!("\"sheet\" must be a sheet's name or its number from 1, like \"Sales\" or 1"),
                    })
                }
                "country" => mapping.country = Some(parse_country(&string(key, value)?)?),
                "columns" => mapping.columns = field_map(key, value)?,
                "defaults" => mapping.defaults = field_map(key, value)?,
                "custom" => {
                    mapping.custom = string_map(key, value)?;
                    for (custom_key, _) in &mapping.custom {
                        if custom_key.trim().is_empty() {
                            bail!("\"custom\" has an empty key; give every custom value a name");
                        }
                    }
                }
                unknown => {
                    bail!("unknown key \"{unknown}\"{}; the keys are: {}", did_you_mean(unknown, KEYS), KEYS.join(", "))
                }
            }
        }
        for event in &mapping.events {
            if event.trim().is_empty() || event.trim() != event {
                bail!("\"events\" has {event:?}; event names must be non-empty and without surrounding spaces");
            }
        }
        Ok(mapping)
    }

    pub fn header_for(&self, field: Field) -> Option<&str> {
        self.columns.iter().find(|(mapped, _)| *mapped == field).map(|(_, header)| header.as_str())
    }

    pub fn default_for(&self, field: Field) -> Option<&str> {
        self.defaults.iter().find(|(mapped, _)| *mapped == field).map(|(_, value)| value.as_str())
    }
}

/// What changed from one version of a mapping to the next: the top-level keys added, removed or
/// changed, and within `columns`, `custom` and `defaults` the entries (`columns.order_id`).
pub fn changed_keys(before: &str, after: &str) -> Vec<String> {
    let object = |text: &str| match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    let (before, after) = (object(before), object(after));
    let mut changed = Vec::new();
    let keys = |a: &Map<String, Value>, b: &Map<String, Value>| -> Vec<String> {
        let mut keys: Vec<String> = a.keys().cloned().collect();
        keys.extend(b.keys().filter(|key| !a.contains_key(*key)).cloned());
        keys
    };
    for key in keys(&before, &after) {
        match (before.get(&key), after.get(&key)) {
            (Some(Value::Object(old)), Some(Value::Object(new)))
                if matches!(key.as_str(), "columns" | "custom" | "defaults") =>
            {
                for entry in keys(old, new) {
                    if old.get(&entry) != new.get(&entry) {
                        changed.push(format!("{key}.{entry}"));
                    }
                }
            }
            (old, new) if old != new => changed.push(key),
            _ => {}
        }
    }
    changed
}

/// A column matching as JSON, `{"field": "Header" | null}`, checked: every field known (with
/// "did you mean"), every header a non-empty string or null.
pub fn parse_matching(value: &Value) -> Result<Vec<(Field, Option<String>)>> {
    let Value::Object(object) = value else {
        bail!("\"columns\" must be an object of field to header, like {{\"revenue\": \"Sale Value\", \"referrer\": null}}");
    };
    let names = Field::ALL.map(Field::name);
    object
        .iter()
        .map(|(name, header)| {
            let field = Field::from_name(name.trim()).with_context(|| {
                format!(
                    "\"columns\" names an unknown field \"{name}\"{}; the fields are: {}",
                    did_you_mean(name, names),
                    names.join(", ")
                )
            })?;
            match header {
                Value::Null => Ok((field, None)),
                Value::String(header) if !header.trim().is_empty() => Ok((field, Some(header.clone()))),
                _ => bail!(
                    "\"columns.{name}\" must be the file's header that holds {name}, or null when the file has none"
                ),
            }
        })
        .collect()
}

/// The mapping with a column matching applied (SPEC §13): each field given a header reads that
/// header; a field given `None` is not in this file (its column is removed). Every other key
/// stays as it was. The result is checked by `Mapping::parse` like any mapping.
pub fn with_matching(mapping: &str, matching: &[(Field, Option<String>)]) -> Result<String> {
    let value: Value = serde_json::from_str(mapping.trim_start_matches('\u{feff}')).context("not valid JSON")?;
    let Value::Object(mut object) = value else {
        bail!("the mapping must be a JSON object {{ ... }}");
    };
    let columns = object.entry("columns").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(columns) = columns else {
        bail!("\"columns\" must be an object, like {{\"name\": \"value\"}}");
    };
    for (field, header) in matching {
        // The mapping may name the field with surrounding spaces: the same field.
        columns.retain(|name, _| Field::from_name(name.trim()) != Some(*field));
        if let Some(header) = header {
            columns.insert(field.name().to_owned(), Value::String(header.clone()));
        }
    }
    Ok(serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default())
}

/// An ISO 3166 alpha-2 code that phone numbers have a region for (`GB`, `FR`, …).
fn parse_country(text: &str) -> Result<phonenumber::country::Id> {
    let code = text.trim().to_ascii_uppercase();
    match code.parse::<phonenumber::country::Id>() {
        Ok(id) if code.len() == 2 => Ok(id),
        _ => bail!(
            "\"country\" is {text:?}, which is not an ISO 3166 alpha-2 country code with phone numbers; use two letters like \"GB\", \"FR\" or \"US\" (\"UK\" is \"GB\")"
        ),
    }
}

fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(wanted, candidates).map(|found| format!(" (did you mean \"{found}\"?)")).unwrap_or_default()
}

fn string(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        other => bail!("\"{key}\" must be a string, not {other}"),
    }
}

fn string_list(key: &str, value: &Value) -> Result<Vec<String>> {
    let Value::Array(items) = value else {
        bail!("\"{key}\" must be a list of strings, like [\"a\", \"b\"]");
    };
    items.iter().map(|item| string(key, item)).collect()
}

fn string_map(key: &str, value: &Value) -> Result<Vec<(String, String)>> {
    let Value::Object(object): &Value = value else {
        bail!("\"{key}\" must be an object, like {{\"name\": \"value\"}}");
    };
    object_pairs(key, object)
}

fn object_pairs(key: &str, object: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    object.iter().map(|(name, value)| Ok((name.clone(), string(&format!("{key}.{name}"), value)?))).collect()
}

fn field_map(key: &str, value: &Value) -> Result<Vec<(Field, String)>> {
    let names = Field::ALL.map(Field::name);
    string_map(key, value)?
        .into_iter()
        .map(|(name, text)| {
            let field = Field::from_name(name.trim()).with_context(|| {
                format!(
                    "\"{key}\" names an unknown field \"{name}\"{}; the fields are: {}",
                    did_you_mean(&name, names),
                    names.join(", ")
                )
            })?;
            if key == "columns" && text.trim().is_empty() {
                bail!("\"columns.{name}\" is empty; give the CSV header that holds {name}, or remove it");
            }
            Ok((field, text))
        })
        .collect()
}

pub fn check_token(token: &str) -> Result<String> {
    let token = token.trim();
    if !crate::field::is_token(token) {
        bail!("\"account_token\" {token:?} is not a token: 8 to 64 letters, digits, '-' or '_'");
    }
    Ok(token.to_owned())
}

fn parse_timezone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        anyhow::anyhow!(
            "\"timezone\" {name:?} is not an IANA time zone{}; use a name like \"Europe/London\"",
            did_you_mean(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
        )
    })
}

fn check_currency(code: &str) -> Result<String> {
    let code = code.trim().to_ascii_uppercase();
    if iso_currency::Currency::from_code(&code).is_none() {
        bail!("\"currency\" {code:?} is not an ISO 4217 code; use a code like \"GBP\", \"EUR\" or \"USD\"");
    }
    Ok(code)
}

fn check_date_format(format: &str) -> Result<DateFormat> {
    let items = StrftimeItems::new(format).parse_to_owned().map_err(|_| {
        anyhow::anyhow!("\"date_formats\" has {format:?}, which is not a valid chrono strftime pattern")
    })?;
    if items.iter().any(|item| matches!(item, Item::Error)) {
        bail!("\"date_formats\" has {format:?}, which is not a valid chrono strftime pattern");
    }
    let date_format = DateFormat::new(format, items);
    if !date_format.has_full_date() {
        bail!("\"date_formats\" has {format:?}, which does not give a year, month and day (like \"%d/%m/%Y\")");
    }
    Ok(date_format)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
        "client": "Example Ltd",
        "account_token": "ex4mpl3-t0k3n-0001",
        "timezone": "Europe/London",
        "currency": "GBP",
        "events": ["offline_sale", "store_visit"],
        "date_formats": ["%d/%m/%Y %H:%M", "%d/%m/%Y"],
        "decimal_separator": ".",
        "columns": { "event_time": "Sale Date", "revenue": "Sale Value", "order_id": "Order Ref" },
        "custom":  { "store_id": "Store" },
        "defaults": { "event_name": "offline_sale" }
    }"#;

    #[test]
    fn reads_the_spec_example() {
        let mapping = Mapping::parse(EXAMPLE).unwrap();
        assert_eq!(mapping.client, "Example Ltd");
        assert_eq!(mapping.timezone, chrono_tz::Europe::London);
        assert_eq!(mapping.header_for(Field::Revenue), Some("Sale Value"));
        assert_eq!(mapping.custom, vec![("store_id".to_owned(), "Store".to_owned())]);
        assert_eq!(mapping.default_for(Field::EventName), Some("offline_sale"));
        assert_eq!(mapping.date_formats.len(), 2);
    }

    #[test]
    fn country_is_an_iso_3166_code_with_phone_numbers() {
        assert_eq!(Mapping::parse(r#"{"country": "gb"}"#).unwrap().country, Some(phonenumber::country::Id::GB));
        assert_eq!(Mapping::parse("{}").unwrap().country, None);
        for bad in ["UK", "GBR", "", "Britain"] {
            assert!(error_of(&format!(r#"{{"country": "{bad}"}}"#)).contains("\"country\""), "{bad}");
        }
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", Mapping::parse(text).unwrap_err())
    }

    #[test]
    fn names_the_bad_key_with_a_suggestion() {
        assert!(error_of(r#"{"colums": {}}"#).contains("unknown key \"colums\" (did you mean \"columns\"?)"));
        assert!(error_of(r#"{"columns": {"evnt_time": "Date"}}"#).contains("did you mean \"event_time\""));
        assert!(error_of(r#"{"timezone": "Europe/Londn"}"#).contains("did you mean \"Europe/London\""));
        assert!(error_of(r#"{"currency": "XYZ"}"#).contains("not an ISO 4217 code"));
        assert!(error_of(r#"{"date_formats": ["%H:%M"]}"#).contains("does not give a year, month and day"));
        assert!(error_of(r#"{"date_formats": ["%Q"]}"#).contains("not a valid chrono strftime pattern"));
        assert!(error_of(r#"{"decimal_separator": ";"}"#).contains("must be \".\" or \",\""));
        assert!(error_of(r#"{"account_token": "short"}"#).contains("is not a token"));
        assert!(error_of("[1]").contains("must be a JSON object"));
        assert!(error_of("{").contains("not valid JSON"));
    }

    #[test]
    fn changes_between_versions_are_named() {
        let before = r#"{"client": "A", "events": ["x"], "columns": {"revenue": "Value", "order_id": "Ref"}}"#;
        let after = r#"{"client": "A", "events": ["x", "y"], "columns": {"revenue": "Amount", "order_id": "Ref", "email": "Mail"}, "country": "GB"}"#;
        assert_eq!(changed_keys(before, after), ["events", "columns.revenue", "columns.email", "country"]);
        assert!(changed_keys(before, before).is_empty());
    }

    #[test]
    fn a_matching_replaces_and_removes_columns() {
        let matching =
            [(Field::Revenue, Some("Amount".to_owned())), (Field::OrderId, None), (Field::Email, Some("Mail".into()))];
        let mapping = Mapping::parse(&with_matching(EXAMPLE, &matching).unwrap()).unwrap();
        assert_eq!(mapping.header_for(Field::Revenue), Some("Amount"));
        assert_eq!(mapping.header_for(Field::OrderId), None);
        assert_eq!(mapping.header_for(Field::Email), Some("Mail"));
        assert_eq!(mapping.header_for(Field::EventTime), Some("Sale Date"));
        assert_eq!(mapping.client, "Example Ltd");
    }
}
