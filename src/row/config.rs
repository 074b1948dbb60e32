//! `ReplayerConfig`: what the handlers read, from the mapping and the file's columns. It is
//! made, and run over each row, in `format.rs`: the mapping's defaults are themselves handled.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::dates::DateFormat;
use crate::field::Field;
use crate::read::{Columns, Mapping};
use crate::row::outcome::Outcome;

/// Up to this many events are searched one by one; more are looked up.
pub(super) const EVENTS_SEARCHED: usize = 16;

/// The mapping and the file's columns, checked, with the defaults already handled.
pub struct ReplayerConfig {
    pub(super) mapping: Mapping,
    pub(super) columns: Columns,
    pub(super) now: DateTime<Utc>,
    /// What each field's default gives, handled once.
    pub(super) defaults: [Option<Outcome<'static>>; Field::COUNT],
    /// The mapping's events by their ASCII lower case, when there are many (a few are searched).
    pub(super) events_by_lower_case: HashMap<String, usize>,
    /// The fields `format_data` runs, in payload order: those with a column or a default, and
    /// the required ones. Any other would always be empty (every handler gives `Empty` for "").
    pub(super) fields: Vec<Field>,
    /// How a workbook's date cells are read (`DateFormat::workbook_cells`).
    pub(super) workbook_dates: Vec<DateFormat>,
}

impl ReplayerConfig {
    pub fn account_token(&self) -> Option<&str> {
        self.mapping.account_token.as_deref()
    }

    pub fn currency(&self) -> Option<&str> {
        self.mapping.currency.as_deref()
    }

    pub fn events(&self) -> &[String] {
        &self.mapping.events
    }

    /// The listed spelling of event `name` (matched ignoring ASCII case), if it is listed.
    pub fn listed_event(&self, name: &str) -> Option<&str> {
        let events = &self.mapping.events;
        let index = if events.len() > EVENTS_SEARCHED {
            self.events_by_lower_case.get(&name.to_ascii_lowercase()).copied()
        } else {
            events.iter().position(|listed| listed.eq_ignore_ascii_case(name))
        };
        index.map(|index| events[index].as_str())
    }

    pub fn date_formats(&self) -> &[DateFormat] {
        &self.mapping.date_formats
    }

    pub fn timezone(&self) -> Tz {
        self.mapping.timezone
    }

    pub fn country(&self) -> Option<phonenumber::country::Id> {
        self.mapping.country
    }

    pub fn decimal_separator(&self) -> char {
        self.mapping.decimal_separator
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }
}
