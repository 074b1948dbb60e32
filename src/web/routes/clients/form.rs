//! A client's mapping as a form of simple inputs (SPEC §13): every key of SPEC §3, lists one per
//! line, a table of field → header and default. The form's values come from a saved mapping or
//! from what was typed (kept when the checker refuses it), and make the mapping JSON back.

use maud::{html, Markup};
use serde_json::{Map, Value};

use crate::field::Field;

/// What the form shows and sends, as text.
#[derive(Debug, Default, Clone)]
pub struct MappingForm {
    pub client: String,
    pub account_token: String,
    pub timezone: String,
    pub currency: String,
    pub events: String,
    pub date_formats: String,
    pub decimal_separator: String,
    pub country: String,
    pub sheet: String,
    /// Per field of `Field::ALL`: its header and its default.
    pub columns: Vec<(Field, String, String)>,
    pub custom: Vec<(String, String)>,
}

/// Empty rows offered for new custom columns.
const NEW_CUSTOM_ROWS: usize = 3;

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn lines(value: Option<&Value>) -> String {
    match value {
        Some(Value::Array(items)) => items.iter().map(|item| text(Some(item))).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

fn entry(object: Option<&Value>, field: Field) -> String {
    let Some(Value::Object(object)) = object else { return String::new() };
    object.iter().find(|(name, _)| name.trim() == field.name()).map(|(_, value)| text(Some(value))).unwrap_or_default()
}

impl MappingForm {
    /// The form of a saved mapping.
    pub fn of_mapping(mapping: &Value) -> MappingForm {
        let get = |key: &str| mapping.get(key);
        MappingForm {
            client: text(get("client")),
            account_token: text(get("account_token")),
            timezone: text(get("timezone")),
            currency: text(get("currency")),
            events: lines(get("events")),
            date_formats: lines(get("date_formats")),
            decimal_separator: text(get("decimal_separator")),
            country: text(get("country")),
            sheet: text(get("sheet")),
            columns: Field::ALL
                .into_iter()
                .map(|field| (field, entry(get("columns"), field), entry(get("defaults"), field)))
                .collect(),
            custom: match get("custom") {
                Some(Value::Object(custom)) => {
                    custom.iter().map(|(key, header)| (key.clone(), text(Some(header)))).collect()
                }
                _ => Vec::new(),
            },
        }
    }

    /// The form as it was posted.
    pub fn of_posted(posted: &[(String, String)]) -> MappingForm {
        let get = |key: &str| posted.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
        let custom_keys = posted.iter().filter(|(k, _)| k == "custom.key").map(|(_, v)| v.clone());
        let custom_headers = posted.iter().filter(|(k, _)| k == "custom.header").map(|(_, v)| v.clone());
        MappingForm {
            client: get("client"),
            account_token: get("account_token"),
            timezone: get("timezone"),
            currency: get("currency"),
            events: get("events"),
            date_formats: get("date_formats"),
            decimal_separator: get("decimal_separator"),
            country: get("country"),
            sheet: get("sheet"),
            columns: Field::ALL
                .into_iter()
                .map(|field| {
                    (field, get(&format!("columns.{}", field.name())), get(&format!("defaults.{}", field.name())))
                })
                .collect(),
            custom: custom_keys
                .zip(custom_headers)
                .filter(|(k, h)| !k.trim().is_empty() || !h.trim().is_empty())
                .collect(),
        }
    }

    /// The mapping JSON, in the keys' order of SPEC §3, without the keys left empty. A key the
    /// form cannot leave unset (the decimal separator, `.` by default) is written only when the
    /// mapping before had it or it is not the default, so a save changes only what was changed.
    pub fn to_json(&self, before: Option<&Value>) -> Value {
        let mut object = Map::new();
        let mut put = |key: &str, value: &str| {
            if !value.trim().is_empty() {
                object.insert(key.to_owned(), Value::String(value.trim().to_owned()));
            }
        };
        put("client", &self.client);
        put("account_token", &self.account_token);
        put("timezone", &self.timezone);
        put("currency", &self.currency);
        let list = |text: &str| -> Vec<Value> {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_owned()))
                .collect()
        };
        let mut object = object;
        if !list(&self.events).is_empty() {
            object.insert("events".into(), Value::Array(list(&self.events)));
        }
        if !list(&self.date_formats).is_empty() {
            object.insert("date_formats".into(), Value::Array(list(&self.date_formats)));
        }
        let separator = self.decimal_separator.trim();
        let had_separator = before.is_some_and(|before| before.get("decimal_separator").is_some());
        if !separator.is_empty() && (separator != "." || had_separator) {
            object.insert("decimal_separator".into(), Value::String(separator.to_owned()));
        }
        if !self.country.trim().is_empty() {
            object.insert("country".into(), Value::String(self.country.trim().to_owned()));
        }
        let sheet = self.sheet.trim();
        if !sheet.is_empty() {
            let value = match sheet.parse::<u64>() {
                Ok(number) => Value::from(number),
                Err(_) => Value::String(sheet.to_owned()),
            };
            object.insert("sheet".into(), value);
        }
        let pairs = |pick: fn(&(Field, String, String)) -> &str| -> Map<String, Value> {
            self.columns
                .iter()
                .filter(|entry| !pick(entry).trim().is_empty())
                .map(|entry| (entry.0.name().to_owned(), Value::String(pick(entry).trim().to_owned())))
                .collect()
        };
        let columns = pairs(|(_, header, _)| header);
        if !columns.is_empty() {
            object.insert("columns".into(), Value::Object(columns));
        }
        let custom: Map<String, Value> = self
            .custom
            .iter()
            .map(|(key, header)| (key.trim().to_owned(), Value::String(header.trim().to_owned())))
            .collect();
        if !custom.is_empty() {
            object.insert("custom".into(), Value::Object(custom));
        }
        let defaults = pairs(|(_, _, default)| default);
        if !defaults.is_empty() {
            object.insert("defaults".into(), Value::Object(defaults));
        }
        Value::Object(object)
    }

    /// The inputs, for `form.mapping`; read-only for those who cannot save.
    pub fn inputs(&self, editable: bool) -> Markup {
        let ro = !editable;
        html! {
            fieldset {
                legend { "The client" }
                label { "Client's name, as people read it " input type="text" name="client" value=(self.client) readonly[ro]; }
                label { "Account token " input type="text" name="account_token" value=(self.account_token) readonly[ro]; span.hint { " Every row gets this one when the file has no token column." } }
                label { "Time zone of the file's dates (e.g. Europe/London) " input type="text" name="timezone" value=(self.timezone) readonly[ro]; }
                label { "Currency (ISO code, e.g. GBP) " input type="text" name="currency" value=(self.currency) readonly[ro]; }
                label { "Country of phone numbers without a country code (e.g. GB) " input type="text" name="country" value=(self.country) readonly[ro]; }
                label { "Event names this client may send, one a line " textarea #events name="events" rows="3" readonly[ro] { (self.events) } }
                label { "Date formats tried in order, one a line (e.g. %d/%m/%Y %H:%M) " textarea name="date_formats" rows="3" readonly[ro] { (self.date_formats) } }
                label { "Decimal separator "
                    select name="decimal_separator" disabled[ro] {
                        option value="." selected[self.decimal_separator.trim() != ","] { ". (point: 12.50)" }
                        option value="," selected[self.decimal_separator.trim() == ","] { ", (comma: 12,50)" }
                    }
                }
                label { "Workbook sheet to read, by name or number (empty: the first) " input type="text" name="sheet" value=(self.sheet) readonly[ro]; }
            }
            fieldset {
                legend { "Columns: which column of the file holds what" }
                p.hint { "Leave a header empty when the file has no such column. A default fills an empty cell, or a column the file does not have." }
                p.wide-note { "The table scrolls sideways." }
                div.wide {
                    table #columns-table {
                        thead { tr { th { "Field" } th { "The file's header" } th { "Default" } } }
                        tbody {
                            @for (field, header, default) in &self.columns {
                                tr {
                                    td { (field.name()) @if field.is_required() { " (required)" } }
                                    td { input type="text" name={ "columns." (field.name()) } value=(header) readonly[ro] aria-label={ "header of " (field.name()) }; }
                                    td { input type="text" name={ "defaults." (field.name()) } value=(default) readonly[ro] aria-label={ "default of " (field.name()) }; }
                                }
                            }
                        }
                    }
                }
            }
            fieldset {
                legend { "Extra columns sent as they are (custom)" }
                p.wide-note { "The table scrolls sideways." }
                div.wide {
                    table #custom-table {
                        thead { tr { th { "Name sent" } th { "The file's header" } } }
                        tbody {
                            @for (key, header) in self.custom.iter().cloned().chain(std::iter::repeat_n((String::new(), String::new()), if editable { NEW_CUSTOM_ROWS } else { 0 })) {
                                tr {
                                    td { input type="text" name="custom.key" value=(key) readonly[ro] aria-label="name sent"; }
                                    td { input type="text" name="custom.header" value=(header) readonly[ro] aria-label="header"; }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_round_trips_through_the_form() {
        let text = std::fs::read_to_string("clients/example/mapping.json").unwrap();
        let mapping: Value = serde_json::from_str(&text).unwrap();
        let form = MappingForm::of_mapping(&mapping);
        assert_eq!(form.to_json(Some(&mapping)), mapping);
        assert!(crate::read::mapping::changed_keys(&text, &form.to_json(Some(&mapping)).to_string()).is_empty());
    }

    #[test]
    fn posted_values_make_the_json() {
        let posted: Vec<(String, String)> = [
            ("client", "New Co"),
            ("events", "sale\n\n store_visit \n"),
            ("decimal_separator", "."),
            ("columns.event_time", "When"),
            ("defaults.event_name", "sale"),
            ("custom.key", "store"),
            ("custom.header", "Shop"),
            ("custom.key", ""),
            ("custom.header", ""),
            ("sheet", "2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let json = MappingForm::of_posted(&posted).to_json(None);
        assert_eq!(
            json,
            serde_json::json!({"client": "New Co", "events": ["sale", "store_visit"], "sheet": 2,
                "columns": {"event_time": "When"}, "custom": {"store": "Shop"}, "defaults": {"event_name": "sale"}})
        );
    }
}
