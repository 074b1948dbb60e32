//! Reading `event_time` (SPEC §4): the mapping's formats in its time zone, Excel serials, DST.

use chrono::format::{parse, Item, Numeric, Pad, Parsed, StrftimeItems};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike,
    Utc,
};
use chrono_tz::Tz;

use crate::problem::{Issue, Kind};

/// One strftime pattern, parsed once.
#[derive(Debug, Clone)]
pub struct DateFormat {
    pattern: String,
    items: Vec<Item<'static>>,
    /// Punctuation the pattern's literals require, with how many times: a cell with fewer
    /// cannot match, so it is skipped without a parse (most files use one format, often among
    /// the last tried, and "%H:%M:%S" is told from "%H:%M" by the count of ':').
    required: Vec<(u8, u8)>,
    /// The pattern as fixed-width numbers and literal text, when it is only that (most are).
    fixed: Option<Vec<Piece>>,
    /// The day comes before the month, both as numbers (`%d/%m/%Y`): a date with a day of 12 or
    /// less could also be read month first (SPEC §11.2).
    day_first: bool,
}

/// A part of a pattern made only of zero-padded numbers and literal text, like `%d/%m/%Y %H:%M`.
#[derive(Debug, Clone)]
enum Piece {
    /// A number of exactly `width` digits, into one of the slots year, month, day, hour, minute, second.
    Number {
        slot: usize,
        width: usize,
    },
    Text(Box<str>),
}

impl Piece {
    /// The pieces of `items`, or `None` when an item is anything else or a number is repeated.
    fn of(items: &[Item<'_>]) -> Option<Vec<Piece>> {
        let mut seen = [false; 6];
        let mut pieces = Vec::with_capacity(items.len());
        for item in items {
            let piece = match item {
                Item::Literal(text) | Item::Space(text) => Piece::Text((*text).into()),
                Item::OwnedLiteral(text) | Item::OwnedSpace(text) => Piece::Text(text.clone()),
                Item::Numeric(numeric, Pad::Zero) => {
                    let (slot, width) = match numeric {
                        Numeric::Year => (0, 4),
                        Numeric::Month => (1, 2),
                        Numeric::Day => (2, 2),
                        Numeric::Hour => (3, 2),
                        Numeric::Minute => (4, 2),
                        Numeric::Second => (5, 2),
                        _ => return None,
                    };
                    if std::mem::replace(&mut seen[slot], true) {
                        return None;
                    }
                    Piece::Number { slot, width }
                }
                _ => return None,
            };
            pieces.push(piece);
        }
        // A whole date is needed: chrono's reading of anything less is left to chrono.
        (seen[0] && seen[1] && seen[2]).then_some(pieces)
    }
}

/// Read `text` when it is written exactly in the shape of `pieces`: each number with all its
/// digits, each literal as it stands. chrono reads such a cell the same way (it also takes
/// shorter numbers and any run of spaces, which this leaves to it), so `Some` here is what
/// chrono's parse would give, and `None` means "ask chrono".
fn read_fixed(pieces: &[Piece], text: &str) -> Option<Reading> {
    let mut rest = text.as_bytes();
    let mut slots: [Option<u32>; 6] = [None; 6];
    for piece in pieces {
        match piece {
            // Most literals are one byte ('/', '-', ' ', ':'): compared as a byte, not with memcmp.
            Piece::Text(literal) => {
                rest = match (literal.as_bytes(), rest) {
                    ([byte], [first, after @ ..]) => (first == byte).then_some(after)?,
                    (literal, rest) => rest.strip_prefix(literal)?,
                }
            }
            Piece::Number { slot, width } => {
                let (digits, after) = rest.split_at_checked(*width)?;
                let value = digits.iter().try_fold(0u32, |value, &byte| {
                    byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0'))
                })?;
                slots[*slot] = Some(value);
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let [year, month, day, hour, minute, second] = slots;
    // chrono refuses these even when the pattern has no hour, so no time is built to check them.
    if minute.is_some_and(|minute| minute > 59) || second.is_some_and(|second| second > 60) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year?).ok()?, month?, day?)?;
    let time = match hour {
        Some(hour) => Some(NaiveTime::from_hms_opt(hour, minute?, second.unwrap_or(0))?),
        None => None,
    };
    Some(Reading { date, time, offset: None })
}

/// The default formats: ISO 8601 forms first, then day-first forms.
const DEFAULT_FORMATS: [&str; 15] = [
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
];

/// The years an event can have. `%Y` also reads "24" (a two-digit year) or "-0001", which would
/// send year 24, or fail on the way to RFC 3339, whose years have four digits.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in).
const EXCEL_SERIALS: std::ops::RangeInclusive<f64> = 20_000.0..=80_000.0;

impl DateFormat {
    pub fn new(pattern: &str, items: Vec<Item<'static>>) -> DateFormat {
        let mut required: Vec<(u8, u8)> = Vec::new();
        for item in &items {
            let literal = match item {
                Item::Literal(text) => Some(*text),
                Item::OwnedLiteral(text) => Some(&**text),
                _ => None,
            };
            if let Some(text) = literal {
                for c in text.bytes().filter(u8::is_ascii_punctuation) {
                    match required.iter_mut().find(|(known, _)| *known == c) {
                        Some((_, count)) => *count = count.saturating_add(1),
                        None => required.push((c, 1)),
                    }
                }
            }
        }
        let fixed = Piece::of(&items);
        let at = |wanted: Numeric| {
            items.iter().position(|item| matches!(item, Item::Numeric(numeric, _) if *numeric == wanted))
        };
        let day_first = matches!((at(Numeric::Day), at(Numeric::Month)), (Some(day), Some(month)) if day < month);
        DateFormat { pattern: pattern.to_owned(), items, required, fixed, day_first }
    }

    pub fn defaults() -> Vec<DateFormat> {
        DEFAULT_FORMATS
            .iter()
            .map(|pattern| {
                DateFormat::new(pattern, StrftimeItems::new(pattern).parse_to_owned().expect("valid default format"))
            })
            .collect()
    }

    /// The forms a workbook's date cells are given in (`read::workbook`): its local date-time, or
    /// its date alone, whatever the mapping's `date_formats`.
    pub fn workbook_cells() -> Vec<DateFormat> {
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
            .iter()
            .map(|pattern| {
                DateFormat::new(pattern, StrftimeItems::new(pattern).parse_to_owned().expect("valid format"))
            })
            .collect()
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn is_day_first(&self) -> bool {
        self.day_first
    }

    /// Why `text`, written in this format, is no date at all (`February has no 31st`): its day,
    /// month and year read, and the day is not in that month. `None` when it does not fit the
    /// format, or is a date.
    pub fn impossible(&self, text: &str) -> Option<String> {
        let mut parsed = Parsed::new();
        parse(&mut parsed, text, self.items.iter()).ok()?;
        let (year, month, day) = (parsed.year()?, parsed.month()?, parsed.day()?);
        if parsed.to_naive_date().is_ok() {
            return None;
        }
        let name = NaiveDate::from_ymd_opt(2000, month, 1)?.format("%B").to_string();
        let ordinal = match (day % 10, day % 100) {
            (1, 1 | 21 | 31) => "st",
            (2, 2 | 22) => "nd",
            (3, 3 | 23) => "rd",
            _ => "th",
        };
        Some(if month == 2 && day == 29 {
            format!("{name} {year} has no 29th ({year} is not a leap year)")
        } else {
            format!("{name} has no {day}{ordinal}")
        })
    }

    /// True when the pattern gives a whole date: formatting a known date and reading it back finds it again.
    pub fn has_full_date(&self) -> bool {
        let probe = FixedOffset::east_opt(0).unwrap().with_ymd_and_hms(2001, 2, 3, 4, 5, 6).unwrap();
        let mut text = String::new();
        if std::fmt::write(&mut text, format_args!("{}", probe.format_with_items(self.items.iter()))).is_err() {
            return false;
        }
        let mut parsed = Parsed::new();
        parse(&mut parsed, &text, self.items.iter()).is_ok() && parsed.to_naive_date().ok() == Some(probe.date_naive())
    }

    fn read(&self, text: &str, punctuation: &Punctuation) -> Option<Reading> {
        if let Some(reading) = self.fixed.as_deref().and_then(|pieces| read_fixed(pieces, text)) {
            return Some(reading);
        }
        self.read_with_chrono(text, punctuation)
    }

    fn read_with_chrono(&self, text: &str, punctuation: &Punctuation) -> Option<Reading> {
        if !self.required.iter().all(|&(c, count)| punctuation.0[usize::from(c)] >= count) {
            return None;
        }
        let mut parsed = Parsed::new();
        parse(&mut parsed, text, self.items.iter()).ok()?;
        let date = parsed.to_naive_date().ok()?;
        let time = match parsed.hour_div_12() {
            Some(_) => Some(parsed.to_naive_time().ok()?),
            None => None,
        };
        Some(Reading { date, time, offset: parsed.offset() })
    }
}

/// How many times each ASCII character occurs in a cell (up to 255), counted once for all formats.
struct Punctuation([u8; 128]);

impl Punctuation {
    fn of(text: &str) -> Punctuation {
        let mut counts = [0u8; 128];
        for byte in text.bytes().filter(u8::is_ascii) {
            counts[usize::from(byte)] = counts[usize::from(byte)].saturating_add(1);
        }
        Punctuation(counts)
    }
}

#[derive(Debug, PartialEq)]
struct Reading {
    date: NaiveDate,
    time: Option<NaiveTime>,
    offset: Option<i32>,
}

/// The widest offset a time zone has (ISO 8601 and chrono take up to ±23:59 or more).
const MAX_OFFSET_SECONDS: i32 = 18 * 3600;

/// What the event_time handler found.
#[derive(Debug, PartialEq)]
pub struct EventTime {
    pub utc: DateTime<Utc>,
    /// The local date, for the range the nightly jobs backdate.
    pub local_date: NaiveDate,
    pub warning: Option<Issue>,
    /// The date as written, when a day-first format read it (not an Excel serial).
    pub day_first: Option<NaiveDate>,
}

const NOON: NaiveTime = match NaiveTime::from_hms_opt(12, 0, 0) {
    Some(noon) => noon,
    None => panic!("noon exists"),
};

/// `YYYY-MM-DDTHH:MM:SSZ`, the payload's form of a time: written directly, since every valid
/// row has one (chrono's formatting machinery costs more than the rest of the field).
pub fn utc_text(time: DateTime<Utc>) -> String {
    let (date, clock) = (time.date_naive(), time.time());
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    }
    let mut text = String::with_capacity(20);
    let mut push = |value: u32, digits: u32, after: char| {
        for place in (0..digits).rev() {
            text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        text.push(after);
    };
    push(year as u32, 4, '-');
    push(date.month(), 2, '-');
    push(date.day(), 2, 'T');
    push(clock.hour(), 2, ':');
    push(clock.minute(), 2, ':');
    push(clock.second(), 2, 'Z');
    text
}

/// Reads back what `utc_text` wrote; any other RFC 3339 time through chrono.
pub fn parse_utc_text(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let fixed = bytes.len() == 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'Z';
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range]
            .iter()
            .try_fold(0u32, |value, &byte| byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0')))
    };
    let fast = || {
        let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
        let time = chrono::NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
        Some(date.and_time(time).and_utc())
    };
    match fixed.then(fast).flatten() {
        Some(time) => Some(time),
        None => DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc)),
    }
}

/// Read a non-empty, trimmed cell. `Err` is the exception text.
pub fn read_event_time(
    text: &str,
    formats: &[DateFormat],
    timezone: Tz,
    now: DateTime<Utc>,
) -> Result<EventTime, Issue> {
    let (reading, mut warning, day_first) = match excel_serial(text) {
        Some(reading) => {
            let shown = match reading.time {
                Some(time) => format!("{} {}", reading.date, time.format("%H:%M:%S")),
                None => reading.date.to_string(),
            };
            (
                reading,
                Some(Issue::new(
                    Kind::ExcelSerialDate,
                    format!("{text:?} is an Excel serial date, read as {shown} local time"),
                )),
                false,
            )
        }
        None => {
            let punctuation = Punctuation::of(text);
            let read = |format: &DateFormat| Some((format.read(text, &punctuation)?, format.day_first));
            let (reading, day_first) = formats.iter().find_map(read).ok_or_else(|| {
                match formats.iter().find_map(|format| format.impossible(text)) {
                    Some(why) => Issue::new(Kind::DateDoesNotExist, format!("{text:?}: {why}; fix the cell")),
                    None => Issue::new(Kind::NotADate, format!(
                        "{text:?} is not a date in any of the mapping's date_formats ({}); fix the cell or add its format to \"date_formats\"",
                        crate::field::capped_list(formats.iter().map(DateFormat::pattern))
                    )),
                }
            })?;
            (reading, None, day_first)
        }
    };
    if let Some(seconds) = reading.offset {
        if seconds.abs() > MAX_OFFSET_SECONDS {
            let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
            let sign = if seconds < 0 { '-' } else { '+' };
            return Err(Issue::new(Kind::OffsetOutOfRange, format!(
                "{text:?} has the offset {sign}{hours:02}:{minutes:02}, beyond the ±18:00 of any time zone; fix the cell"
            )));
        }
    }
    let mut reading = reading;
    if let Some(time) = reading.time.filter(|time| time.nanosecond() >= 1_000_000_000) {
        // chrono reads second 60 as a leap second; no DCS or database takes it.
        reading.time = time.with_nanosecond(time.nanosecond() - 1_000_000_000);
        let leap = format!("{text:?} has the second 60 (a leap second), sent as second 59");
        warning = Some(join_warning(warning, leap));
    }
    let year = reading.date.year();
    if year > *YEARS.end() {
        return Err(Issue::new(
            Kind::DateInTheFuture,
            format!("{text:?} is in the future; only past events can be replayed"),
        ));
    }
    if year < *YEARS.start() {
        return Err(Issue::new(
            Kind::YearOutOfRange,
            format!("{text:?} is in the year {year}; write the year in full, like 2024"),
        ));
    }
    let naive = NaiveDateTime::new(reading.date, reading.time.unwrap_or(NOON));
    let utc = match reading.offset {
        Some(seconds) => naive - Duration::seconds(i64::from(seconds)),
        None => {
            let (utc, dst_warning) = local_to_utc(naive, timezone);
            if let Some(dst_warning) = dst_warning {
                warning = Some(join_warning(warning, dst_warning));
            }
            utc
        }
    };
    let utc = Utc.from_utc_datetime(&utc);
    if utc > now {
        let hint = if reading.time.is_none() { " (a date without a time is read as 12:00 local)" } else { "" };
        return Err(Issue::new(
            Kind::DateInTheFuture,
            format!("{text:?} is in the future{hint}; only past events can be replayed"),
        ));
    }
    let local_date = match reading.offset {
        Some(_) => utc.with_timezone(&timezone).date_naive(),
        None => reading.date,
    };
    Ok(EventTime { utc, local_date, warning, day_first: day_first.then_some(reading.date) })
}

/// A warning added to the one before it, which keeps its kind.
fn join_warning(first: Option<Issue>, text: String) -> Issue {
    match first {
        Some(first) => Issue::new(first.kind, format!("{}; {text}", first.text)),
        None => Issue::new(Kind::DateAdjusted, text),
    }
}

/// Local wall time to UTC. A time skipped by a clock change moves forward by the gap; a repeated
/// time takes its first occurrence; both with a warning.
fn local_to_utc(naive: NaiveDateTime, timezone: Tz) -> (NaiveDateTime, Option<String>) {
    match timezone.from_local_datetime(&naive) {
        LocalResult::Single(local) => (local.naive_utc(), None),
        LocalResult::Ambiguous(first, _) => (
            first.naive_utc(),
            Some(format!(
                "{} happens twice in {} (clocks went back); read as the first, {}",
                naive.format("%Y-%m-%d %H:%M"),
                timezone.name(),
                first.format("%H:%M %Z")
            )),
        ),
        LocalResult::None => {
            // The offset in force just before the gap: the wall clock had not moved yet.
            let before = timezone
                .from_local_datetime(&(naive - Duration::hours(4)))
                .earliest()
                .map(|local| local.offset().fix().local_minus_utc())
                .unwrap_or(0);
            let utc = naive - Duration::seconds(i64::from(before));
            let moved = timezone.from_utc_datetime(&utc);
            (
                utc,
                Some(format!(
                    "{} does not exist in {} (clocks went forward); read as {}",
                    naive.format("%Y-%m-%d %H:%M"),
                    timezone.name(),
                    moved.format("%H:%M %Z")
                )),
            )
        }
    }
}

use chrono::Offset;

fn excel_serial(text: &str) -> Option<Reading> {
    if !text.bytes().all(|byte| byte.is_ascii_digit() || byte == b'.')
        || text.bytes().filter(|&b| b == b'.').count() > 1
    {
        return None;
    }
    let serial: f64 = text.parse().ok()?;
    if !EXCEL_SERIALS.contains(&serial) {
        return None;
    }
    let days = serial.trunc() as i64;
    let date = NaiveDate::from_ymd_opt(1899, 12, 30)? + Duration::days(days);
    let time = if serial.fract() > 0.0 {
        let seconds = (serial.fract() * 86_400.0).round() as u32;
        Some(NaiveTime::from_num_seconds_from_midnight_opt(seconds.min(86_399), 0)?)
    } else {
        None
    };
    Some(Reading { date, time, offset: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn read(text: &str) -> Result<EventTime, String> {
        read_event_time(text, &DateFormat::defaults(), London, now()).map_err(|issue| issue.text)
    }

    fn utc(text: &str) -> String {
        read(text).unwrap().utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn a_date_that_does_not_exist_says_so_instead_of_asking_for_a_format() {
        let error = read_event_time("31/02/2024", &DateFormat::defaults(), London, now()).unwrap_err();
        assert_eq!(error.kind, Kind::DateDoesNotExist);
        assert_eq!(error.text, "\"31/02/2024\": February has no 31st; fix the cell");
        assert!(read("29/02/2023").unwrap_err().contains("February 2023 has no 29th (2023 is not a leap year)"));
        assert!(read("31/04/2024 10:00").unwrap_err().contains("April has no 31st"));
        assert!(read("2024-02-30").unwrap_err().contains("February has no 30th"));
        assert!(read("29/02/2024").is_ok());
        let other = read_event_time("soon", &DateFormat::defaults(), London, now()).unwrap_err();
        assert_eq!(other.kind, Kind::NotADate);
        assert!(other.text.contains("date_formats"));
    }

    #[test]
    fn iso_forms_with_and_without_offset() {
        assert_eq!(utc("2024-06-01T12:45:00Z"), "2024-06-01T12:45:00Z");
        assert_eq!(utc("2024-06-01 12:45:00+02:00"), "2024-06-01T10:45:00Z");
        assert_eq!(utc("2024-06-01T12:45+0100"), "2024-06-01T11:45:00Z");
        assert_eq!(utc("2024-06-01T12:45:10.250"), "2024-06-01T11:45:10Z");
        // Summer time in London: UTC+1.
        assert_eq!(utc("2024-06-01 12:45"), "2024-06-01T11:45:00Z");
        assert_eq!(utc("2024-01-15 12:45"), "2024-01-15T12:45:00Z");
    }

    #[test]
    fn day_first_forms_and_dates_without_time_are_noon_local() {
        assert_eq!(utc("01/06/2024 12:45"), "2024-06-01T11:45:00Z");
        assert_eq!(utc("01/06/2024"), "2024-06-01T11:00:00Z");
        assert_eq!(utc("15-01-2024"), "2024-01-15T12:00:00Z");
        assert_eq!(utc("15.01.2024"), "2024-01-15T12:00:00Z");
        assert_eq!(read("01/06/2024").unwrap().local_date, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
    }

    #[test]
    fn a_date_on_a_clock_change_day_stays_on_its_day() {
        // 2024-03-31 and 2024-10-27 are London's clock changes.
        for text in ["31/03/2024", "27/10/2024"] {
            let time = read(text).unwrap();
            assert_eq!(time.utc.date_naive(), time.local_date);
            assert!(time.warning.is_none());
        }
    }

    #[test]
    fn skipped_and_repeated_times_warn() {
        let skipped = read("2024-03-31 01:30").unwrap();
        assert_eq!(skipped.utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "2024-03-31T01:30:00Z");
        assert!(skipped.warning.unwrap().text.contains("does not exist in Europe/London"));
        let repeated = read("2024-10-27 01:30").unwrap();
        assert_eq!(repeated.utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "2024-10-27T00:30:00Z");
        assert!(repeated.warning.unwrap().text.contains("happens twice"));
    }

    #[test]
    fn excel_serials_warn() {
        let time = read("45444").unwrap();
        assert_eq!(time.utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "2024-06-01T11:00:00Z");
        assert_eq!(utc_text(time.utc), "2024-06-01T11:00:00Z");
        assert_eq!(parse_utc_text("2024-06-01T11:00:00Z"), Some(time.utc));
        assert!(time.warning.unwrap().text.contains("Excel serial"));
        assert_eq!(utc("45444.75"), "2024-06-01T17:00:00Z");
        assert!(read("19999").is_err());
        assert!(read("80001").is_err());
    }

    #[test]
    fn future_and_garbage_are_exceptions() {
        assert!(read("2030-01-01").unwrap_err().contains("in the future"));
        assert!(read("31/12/2025 23:59").is_ok());
        assert!(read("2026-01-01T00:00:01Z").is_err());
        assert!(read("yesterday").unwrap_err().contains("not a date"));
        assert!(read("32/01/2024").is_err());
        assert!(read("29/02/2023").is_err());
        assert!(read("29/02/2024").is_ok());
    }

    #[test]
    fn years_outside_four_digits_are_exceptions() {
        assert!(read("24/06/24").unwrap_err().contains("in the year 24; write the year in full"));
        assert!(read("-0001-06-01").unwrap_err().contains("in the year -1"));
        assert!(read("1899-12-31").is_err());
        assert!(read("1900-01-01").is_ok());
    }

    #[test]
    fn a_date_read_day_first_is_told_apart() {
        let format = |p: &str| DateFormat::new(p, StrftimeItems::new(p).parse_to_owned().unwrap());
        for (pattern, day_first) in [
            ("%d/%m/%Y", true),
            ("%d.%m.%Y %H:%M", true),
            ("%e-%m-%Y", true),
            ("%m/%d/%Y", false),
            ("%Y-%m-%d", false),
            ("%d %b %Y", false),
        ] {
            assert_eq!(format(pattern).is_day_first(), day_first, "{pattern}");
        }
        let formats = DateFormat::defaults();
        let date = |text: &str| read_event_time(text, &formats, London, now()).unwrap().day_first;
        assert_eq!(date("01/02/2024 10:00"), NaiveDate::from_ymd_opt(2024, 2, 1));
        assert_eq!(date("2024-02-01"), None);
        assert_eq!(date("45444"), None, "an Excel serial is no day-first reading");
    }

    #[test]
    fn custom_formats_are_tried_in_order() {
        let formats: Vec<DateFormat> = ["%m/%d/%Y", "%Y%m%d"]
            .iter()
            .map(|p| DateFormat::new(p, StrftimeItems::new(p).parse_to_owned().unwrap()))
            .collect();
        let time = read_event_time("06/01/2024", &formats, Tz::UTC, now()).unwrap();
        assert_eq!(time.local_date, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
        assert!(read_event_time("20240601", &formats, Tz::UTC, now()).is_ok());
    }

    #[test]
    fn formats_know_the_punctuation_they_need() {
        let formats = DateFormat::defaults();
        assert_eq!(formats[0].required, [(b'-', 2), (b':', 2)]);
        assert_eq!(formats[10].required, [(b'/', 2), (b':', 1)]);
        let cell = "01/06/2024 08:00";
        assert!(formats[9].read(cell, &Punctuation::of(cell)).is_none());
        assert!(formats[10].read_with_chrono(cell, &Punctuation::of(cell)).is_some());
    }

    #[test]
    fn offsets_beyond_18_hours_are_exceptions() {
        assert_eq!(utc("2024-06-01T12:00:00+18:00"), "2024-05-31T18:00:00Z");
        assert_eq!(utc("2024-06-01T12:00:00-18:00"), "2024-06-02T06:00:00Z");
        for cell in ["2024-06-01T12:00:00+18:01", "2024-06-01T12:00:00-23:59", "2024-06-01 12:00+19:00"] {
            let error = read(cell).unwrap_err();
            assert!(error.contains("beyond the ±18:00"), "{cell}: {error}");
        }
    }

    #[test]
    fn a_leap_second_is_a_warning() {
        for cell in ["2016-12-31T23:59:60Z", "31/12/2016 23:59:60"] {
            let time = read(cell).unwrap();
            assert!(time.warning.unwrap().text.contains("leap second"), "{cell}");
            assert_eq!(crate::dates::utc_text(time.utc).len(), 20);
            assert_eq!(time.utc.second(), 59);
            assert_eq!(time.utc.nanosecond(), 0);
        }
    }

    #[test]
    fn the_fixed_shape_reading_agrees_with_chrono() {
        let mut formats = DateFormat::defaults();
        for pattern in [
            "%Y%m%d",
            "%m/%d/%Y %H:%M:%S",
            "%d/%m/%Y  %H",
            "%Y-%m-%d %M",
            "%H:%M %d.%m.%Y",
            "%d/%m/%Y %S",
            "%d/%m/%Y %H",
            "%d/%m/%Y %M:%S",
        ] {
            formats.push(DateFormat::new(pattern, StrftimeItems::new(pattern).parse_to_owned().unwrap()));
        }
        assert!(formats.iter().filter(|format| format.fixed.is_some()).count() >= 12);
        let probes = [
            "2024-02-29T23:59:59",
            "31/12/2023 00:00:60",
            "1/6/2024 8:05",
            "09/06/0999 12:30",
            "20240601",
            "29/02/2023",
            "2024-06-01 99",
            "2024-06-01 60",
            "01/06/2024 24",
            "01/06/2024 61:00",
            "01/06/2024 12:60",
            "01/06/2024 12:00:61",
        ];
        // Cells near each format's shape: rendered dates with characters swapped at random.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"0123456789/-:. TZ+";
        let mut fixed_readings = 0;
        for format in formats.iter().filter(|format| format.fixed.is_some()) {
            let mut cells: Vec<String> = probes.iter().map(|probe| probe.to_string()).collect();
            for _ in 0..400 {
                let time = Utc.timestamp_opt((next() % 4_000_000_000) as i64 - 1_000_000_000, 0).unwrap();
                let mut cell = time.format_with_items(format.items.iter()).to_string().into_bytes();
                for _ in 0..next() % 3 {
                    let at = (next() % cell.len() as u64) as usize;
                    match next() % 3 {
                        0 => cell[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                        1 => _ = cell.remove(at),
                        _ => cell.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                    }
                }
                cells.push(String::from_utf8(cell).unwrap());
            }
            for cell in &cells {
                if let Some(fast) = format.fixed.as_deref().and_then(|pieces| read_fixed(pieces, cell)) {
                    fixed_readings += 1;
                    assert_eq!(
                        Some(fast),
                        format.read_with_chrono(cell, &Punctuation::of(cell)),
                        "{cell:?} with {}",
                        format.pattern
                    );
                }
            }
        }
        assert!(fixed_readings > 2000, "{fixed_readings}");
    }

    #[test]
    fn utc_text_round_trips_like_chrono() {
        let times = ["1900-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2026-11-28T03:04:05Z", "9999-12-31T23:59:59Z"];
        for text in times {
            let time = DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
            assert_eq!(utc_text(time), time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            assert_eq!(parse_utc_text(text), Some(time));
        }
        assert_eq!(parse_utc_text("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_utc_text("2024-06-01T11:00:00+01:00").map(utc_text).as_deref(), Some("2024-06-01T10:00:00Z"));
    }
}
