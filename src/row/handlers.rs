//! One `handle_<field>` per field of SPEC §4, all of one shape: the raw cell in, an [`Outcome`] out.
//! A handler never echoes the raw value of a personal field (e-mail, phone).

mod phone;

use std::borrow::Cow;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::dates::read_event_time;
use crate::field::{closest, is_token, Field};
use crate::problem::{Issue, Kind};
use crate::row::config::ReplayerConfig;
use crate::row::damage::{self, EventDate, Hash};
use crate::row::outcome::Outcome;

pub type Handler = for<'a> fn(&'a ReplayerConfig, &'a str) -> Outcome<'a>;

/// The handler table: a new field is one function and one line here.
pub fn handler(field: Field) -> Handler {
    match field {
        Field::AccountToken => handle_account_token,
        Field::EventName => handle_event_name,
        Field::EventTime => handle_event_time,
        Field::VisitorId | Field::CustomerId | Field::OrderId | Field::Gclid => handle_identifier,
        Field::UtmSource | Field::UtmMedium | Field::UtmCampaign | Field::UtmTerm | Field::UtmContent => handle_text,
        Field::UserAgent => handle_text,
        Field::Email => handle_email,
        Field::Phone => handle_phone,
        Field::Revenue => handle_revenue,
        Field::Currency => handle_currency,
        Field::Quantity => handle_quantity,
        Field::PageUrl | Field::Referrer => handle_url,
        Field::Ip => handle_ip,
    }
}

/// `cell.trim()`, without decoding characters when both ends are visible ASCII (most cells).
pub fn trim(cell: &str) -> &str {
    match (cell.as_bytes().first(), cell.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => cell,
        _ => cell.trim(),
    }
}

fn non_empty(cell: &str) -> Option<&str> {
    let trimmed = trim(cell);
    (!trimmed.is_empty()).then_some(trimmed)
}

fn dropped(kind: Kind, problem: String) -> Outcome<'static> {
    Outcome::Warning { problem: Issue::new(kind, problem), sent: None }
}

fn exception(kind: Kind, text: String) -> Outcome<'static> {
    Outcome::Exception(Issue::new(kind, text))
}

pub fn handle_account_token<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(token) = non_empty(cell) else { return Outcome::Empty };
    if !is_token(token) {
        return exception(Kind::NotAnAccountToken, format!(
            "{token:?} is not an account token (8 to 64 letters, digits, '-' or '_'); copy the client's token into the cell"
        ));
    }
    match config.account_token() {
        Some(expected) if expected != token => {
            let hint = if expected.eq_ignore_ascii_case(token) { " (it differs only in case)" } else { "" };
            exception(Kind::WrongAccountToken, format!(
                "{token:?} is not this client's account token {expected:?}{hint}; fix the cell, or empty it to use the mapping's token"
            ))
        }
        _ => Outcome::Value(token.into()),
    }
}

pub fn handle_event_name<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(name) = non_empty(cell) else { return Outcome::Empty };
    let events = config.events();
    if events.is_empty() {
        return Outcome::Value(name.into());
    }
    if let Some(listed) = config.listed_event(name) {
        return Outcome::Value(listed.into());
    }
    let hint = match closest(name, events.iter().map(String::as_str)) {
        Some(found) => format!("did you mean {found:?}? "),
        None => String::new(),
    };
    exception(Kind::UnknownEvent, format!(
        "{name:?} is not one of this client's events ({}); {hint}fix the cell or add the event to the mapping's \"events\"",
        crate::field::capped_list(events)
    ))
}

pub fn handle_event_time<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    read_event_time_cell(config, cell).0
}

/// `handle_event_time`, and how the date was read: `format_data` keeps that for the day and
/// month check, which needs the whole file (SPEC §11.2).
pub fn read_event_time_cell<'a>(config: &'a ReplayerConfig, cell: &'a str) -> (Outcome<'a>, EventDate) {
    let Some(text) = non_empty(cell) else { return (Outcome::Empty, EventDate::NotRead) };
    match read_event_time(text, config.date_formats(), config.timezone(), config.now()) {
        Ok(time) => {
            let value = crate::dates::utc_text(time.utc);
            let read = time.day_first.map_or(EventDate::Other, EventDate::DayFirst);
            let outcome = match time.warning {
                Some(problem) => Outcome::Warning { problem, sent: Some(value.into()) },
                None => Outcome::Value(value.into()),
            };
            (outcome, read)
        }
        Err(problem) => (Outcome::Exception(problem), EventDate::NotRead),
    }
}

/// `visitor_id`, `customer_id`, `order_id`, `gclid`: trimmed, and never a number whose digits
/// Excel lost to its exponent form.
pub fn handle_identifier<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    match damage::scientific_digits(text) {
        Some(digits) => Outcome::Exception(damage::scientific_issue(text, digits)),
        None => Outcome::Value(text.into()),
    }
}

/// A workbook's date cell (SPEC §11.1): its local date-time, read without the mapping's
/// `date_formats`, with the same checks as `handle_event_time`.
pub fn handle_event_time_cell<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    match read_event_time(text, &config.workbook_dates, config.timezone(), config.now()) {
        Ok(time) => Outcome::Value(crate::dates::utc_text(time.utc).into()),
        Err(problem) => Outcome::Exception(problem),
    }
}

pub fn handle_text<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    match non_empty(cell) {
        Some(text) => Outcome::Value(text.into()),
        None => Outcome::Empty,
    }
}

fn sha256_hex(text: &str) -> String {
    crate::row::payload::hex(&Sha256::digest(text.as_bytes()))
}

/// Why `address` (trimmed, lower-cased) does not look like an e-mail address, without quoting it.
fn email_problem(address: &str) -> Option<&'static str> {
    // '@' and '.' are ASCII, so bytes are searched rather than characters.
    let bytes = address.as_bytes();
    let Some(at) = bytes.iter().position(|&byte| byte == b'@') else { return Some("has no @") };
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    if local.is_empty() || domain.is_empty() {
        return Some("has nothing before or after the @");
    }
    if domain.contains(&b'@') {
        return Some("has more than one @");
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>' | '"')) {
        return Some("holds spaces or separators (two addresses in one cell?)");
    }
    let empty_label = domain.starts_with(b".") || domain.ends_with(b".") || domain.windows(2).any(|pair| pair == b"..");
    if !domain.contains(&b'.') || empty_label {
        return Some("has no domain like example.com after the @");
    }
    None
}

/// Characters nobody sees that copying from a web page or a document leaves in addresses.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00A0}' | '\u{00AD}')
}

/// `text` without a leading `prefix` in any case (`mailto:`, `tel:`), or `None`.
fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.as_bytes().get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix.as_bytes()).then(|| &text[prefix.len()..])
}

/// An address as the ad platforms normalise it before hashing: trimmed, without a `mailto:`
/// prefix or invisible characters, lower-cased. Most cells are that already: no copy for them.
pub fn normalise_email(cell: &str) -> Cow<'_, str> {
    let address = trim(cell);
    let plain = address.bytes().all(|byte| byte.is_ascii() && !byte.is_ascii_uppercase());
    if plain && strip_prefix_ignoring_case(address, "mailto:").is_none() {
        return Cow::Borrowed(address);
    }
    let visible: String = address.chars().filter(|&c| !is_invisible(c)).collect::<String>().to_lowercase();
    let visible = visible.trim();
    let bare = visible.strip_prefix("mailto:").map(str::trim).unwrap_or(visible);
    Cow::Owned(bare.to_owned())
}

pub fn handle_email<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    if non_empty(cell).is_none() {
        return Outcome::Empty;
    }
    if let Some(outcome) = hashed(trim(cell)) {
        return outcome;
    }
    let address = normalise_email(cell);
    if address.is_empty() {
        return Outcome::Empty;
    }
    match email_problem(&address) {
        Some(problem) => {
            dropped(Kind::NotAnEmail, format!("the e-mail address {problem} (value not shown: personal data)"))
        }
        None => Outcome::Value(sha256_hex(&address).into()),
    }
}

/// True when `text` holds something shaped like an e-mail address (`name@domain.tld`, also
/// percent-encoded as `name%40domain.tld` in a URL): personal data that only `email` may carry,
/// hashed.
pub fn looks_like_email(text: &str) -> bool {
    let bytes = text.as_bytes();
    if memchr::memchr_iter(b'@', bytes).any(|at| address_around(bytes, at, 1)) {
        return true;
    }
    bytes.contains(&b'%') && memchr::memmem::find_iter(bytes, b"%40").any(|at| address_around(bytes, at, 3))
}

/// A local part right before `bytes[at]` and a domain with a dot right after the `width` bytes of its @.
fn address_around(bytes: &[u8], at: usize, width: usize) -> bool {
    let local = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'+' | b'-') || byte >= 0x80;
    if at == 0 || !local(bytes[at - 1]) {
        return false;
    }
    let domain_char = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'.' || *byte >= 0x80;
    let rest = &bytes[at + width..];
    let length = rest.iter().take_while(|byte| domain_char(byte)).count();
    let domain = rest[..length].strip_suffix(b".").unwrap_or(&rest[..length]);
    let Some(dot) = domain.iter().rposition(|&byte| byte == b'.') else { return false };
    let top = &domain[dot + 1..];
    dot > 0 && domain[0] != b'.' && top.len() >= 2 && top.iter().all(|byte| byte.is_ascii_alphabetic() || *byte >= 0x80)
}

/// How a phone cell failed, without quoting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneProblem {
    TwoNumbers,
    Letters,
    NoCountry,
    NotANumber,
    Invalid,
}

impl PhoneProblem {
    fn text(self) -> &'static str {
        match self {
            PhoneProblem::TwoNumbers => "holds more than one number; put one number a cell",
            PhoneProblem::Letters => "holds letters",
            PhoneProblem::NoCountry => {
                "has no country code and the mapping has no \"country\"; write it as +44… or add \"country\": \"GB\" (the clients' country) to the mapping"
            }
            PhoneProblem::NotANumber => "is not a phone number",
            PhoneProblem::Invalid => "is not a valid number for its country (too short, too long, or a wrong prefix)",
        }
    }
}

/// The number in E.164 (`+442079460958`) and whether an extension was dropped, by
/// libphonenumber's rules; a national number is read in `country`.
pub fn phone_e164(text: &str, country: Option<phonenumber::country::Id>) -> Result<(String, bool), PhoneProblem> {
    let text = trim(strip_prefix_ignoring_case(text, "tel:").unwrap_or(text));
    let lower = text.to_ascii_lowercase();
    let digits_in = |part: &str| part.bytes().filter(u8::is_ascii_digit).count();
    let parts = lower
        .split([',', ';', '|', '&', '\n', '\r'])
        .flat_map(|part| part.split(" or "))
        .flat_map(|part| part.split(" / "));
    if parts.filter(|part| digits_in(part) >= 4).count() > 1 {
        return Err(PhoneProblem::TwoNumbers);
    }
    // Most cells are digits and separators: read by the crate's rules without its slow look-ups.
    if let Some(e164) = phone::fast_e164(text, country) {
        return Ok((e164, false));
    }
    // The crate has panicked on odd input in the past (fuzzed, fixed since): a panic is a cell
    // that is not a number, never the end of the run.
    let parsed =
        std::panic::catch_unwind(|| phonenumber::parse(country, text).map(|number| (number.is_valid(), number)));
    let Ok(parsed) = parsed else { return Err(PhoneProblem::NotANumber) };
    let (valid, number) = parsed.map_err(|error| match error {
        phonenumber::ParseError::InvalidCountryCode if country.is_none() && !text.starts_with('+') => {
            PhoneProblem::NoCountry
        }
        _ => PhoneProblem::NotANumber,
    })?;
    let extension = number.extension().is_some();
    // libphonenumber reads letters as keypad digits (1-800-FLOWERS); a cell of data should not
    // hold them, except in the extension's marker ("ext. 22", "x22").
    let letters = lower.bytes().filter(u8::is_ascii_alphabetic).count();
    let marker_only = lower.bytes().filter(u8::is_ascii_alphabetic).all(|byte| b"extension".contains(&byte));
    if letters > 0 && !(extension && marker_only) {
        return Err(PhoneProblem::Letters);
    }
    if !valid {
        return Err(PhoneProblem::Invalid);
    }
    Ok((number.format().mode(phonenumber::Mode::E164).to_string(), extension))
}

/// An `email` or `phone` cell that is a hash the client made: a SHA-256 is sent lower-cased
/// (`format_data` counts it for the file's warning), any other is dropped with a warning.
fn hashed(text: &str) -> Option<Outcome<'_>> {
    match damage::hash_of(text)? {
        Hash::Sha256 if text.bytes().any(|byte| byte.is_ascii_uppercase()) => {
            Some(Outcome::Value(text.to_ascii_lowercase().into()))
        }
        Hash::Sha256 => Some(Outcome::Value(text.into())),
        Hash::Unusable(name) => Some(Outcome::Warning { problem: damage::unusable_hash_issue(name), sent: None }),
    }
}

pub fn handle_phone<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    if let Some(outcome) = hashed(text) {
        return outcome;
    }
    // `4.41234E+11`: how Excel shows a long number in a cell not formatted as text.
    if damage::scientific_digits(text).is_some() {
        return dropped(Kind::NotAPhone, "the phone number is in Excel's scientific notation, so its last digits are lost; format the column as text in Excel (value not shown: personal data)".to_owned());
    }
    match phone_e164(text, config.country()) {
        Ok((e164, false)) => Outcome::Value(sha256_hex(&e164).into()),
        Ok((e164, true)) => Outcome::Warning {
            problem: Issue::new(Kind::PhoneExtension, "the phone number has an extension, which was dropped: only the number is hashed (value not shown: personal data)"),
            sent: Some(sha256_hex(&e164).into()),
        },
        Err(problem) => dropped(Kind::NotAPhone, format!("the phone number {} (value not shown: personal data)", problem.text())),
    }
}

pub fn handle_revenue<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    // Most cells are written as sent: no copy for them.
    if config.decimal_separator() == '.' && crate::row::money::is_sent_form(text) {
        return Outcome::Value(text.into());
    }
    match crate::row::money::parse_amount(text, config.decimal_separator()) {
        Ok(amount) if amount.cleaned => {
            let problem = Issue::new(Kind::AmountCleaned, format!("{text:?} had {}", amount.removed));
            Outcome::Warning { problem, sent: Some(amount.value.into()) }
        }
        Ok(amount) => Outcome::Value(amount.value.into()),
        Err(problem) => exception(Kind::NotANumber, problem),
    }
}

pub fn handle_currency<'a>(config: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    // Most cells are written as sent: no copy for them.
    let code: Cow<str> =
        if text.bytes().any(|byte| byte.is_ascii_lowercase()) { text.to_ascii_uppercase().into() } else { text.into() };
    // The mapping's currency was checked when the mapping was read.
    if config.currency() == Some(&*code) || (code.len() == 3 && iso_currency::Currency::from_code(&code).is_some()) {
        return Outcome::Value(code);
    }
    let hint = match text {
        "£" => " (did you mean \"GBP\"?)",
        "€" => " (did you mean \"EUR\"?)",
        "$" => " (\"$\" is ambiguous: \"USD\", \"CAD\", \"AUD\"…)",
        "¥" => " (did you mean \"JPY\"?)",
        _ => "",
    };
    exception(
        Kind::UnknownCurrency,
        format!("{text:?} is not an ISO 4217 currency code{hint}; use three letters like \"GBP\""),
    )
}

pub fn handle_quantity<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    // Excel sometimes writes whole numbers as "2.0".
    let whole = match crate::row::money::split_at_dot(text) {
        Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        _ => text,
    };
    // A leading '+' is taken, as revenue takes it.
    let (plus, whole) = match whole.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, whole),
    };
    match whole.parse::<u64>() {
        // Sent as written unless it has a '+' or leading zeros.
        Ok(quantity) if quantity >= 1 && !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) => {
            if plus || whole.starts_with('0') {
                Outcome::Value(quantity.to_string().into())
            } else {
                Outcome::Value(whole.into())
            }
        }
        _ => dropped(Kind::NotAQuantity, format!("{text:?} is not a whole number of 1 or more")),
    }
}

/// True for the common shape `http(s)://host.name/path…` in plain ASCII, which the URL parser
/// would accept too; anything else goes to the parser. Saves a full parse for most cells.
fn is_simple_http_url(text: &str) -> bool {
    // Bytes, not str slices: the cell may start with a character of several bytes.
    let lower = |prefix: &str| {
        text.len() > prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    let rest = if lower("https://") {
        &text[8..]
    } else if lower("http://") {
        &text[7..]
    } else {
        return false;
    };
    let host_end = rest.bytes().position(|byte| matches!(byte, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let host = &rest[..host_end];
    !host.is_empty()
        && !host.starts_with('.')
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && host.bytes().any(|b| b.is_ascii_alphabetic())
        && rest[host_end..].bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'\\' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^')
        })
}

pub fn handle_url<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    if is_simple_http_url(text) {
        return Outcome::Value(text.into());
    }
    match url::Url::parse(text) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Outcome::Value(text.into())
        }
        _ => dropped(Kind::NotAUrl, format!("{text:?} is not an absolute http(s) URL")),
    }
}

pub fn handle_ip<'a>(_: &'a ReplayerConfig, cell: &'a str) -> Outcome<'a> {
    let Some(text) = non_empty(cell) else { return Outcome::Empty };
    match text.parse::<IpAddr>() {
        // Rust reads IPv4 in its one written form (no leading zeros): the cell is that form.
        Ok(IpAddr::V4(_)) => Outcome::Value(text.into()),
        Ok(ip) => Outcome::Value(ip.to_string().into()),
        Err(_) => dropped(Kind::NotAnIp, format!("{text:?} is not an IPv4 or IPv6 address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Mapping;

    fn config() -> ReplayerConfig {
        let mapping = Mapping::parse(
            r#"{"account_token": "ex4mpl3-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
                "events": ["offline_sale", "store_visit"]}"#,
        )
        .unwrap();
        ReplayerConfig::for_tests(mapping)
    }

    fn value(outcome: Outcome) -> String {
        match outcome {
            Outcome::Value(value) => value.into_owned(),
            other => panic!("expected a value, got {other:?}"),
        }
    }

    fn exception(outcome: Outcome) -> String {
        match outcome {
            Outcome::Exception(issue) => issue.text,
            other => panic!("expected an exception, got {other:?}"),
        }
    }

    fn warning(outcome: Outcome) -> (String, Option<String>) {
        match outcome {
            Outcome::Warning { problem, sent } => (problem.text, sent.map(Cow::into_owned)),
            other => panic!("expected a warning, got {other:?}"),
        }
    }

    #[test]
    fn every_handler_gives_nothing_for_an_empty_cell() {
        // format_data skips the fields with no column and no default on this ground.
        let c = config();
        for field in Field::ALL {
            assert_eq!(handler(field)(&c, ""), Outcome::Empty, "{field}");
        }
    }

    #[test]
    fn trim_is_str_trim() {
        for cell in ["", " ", "a", " a", "a ", "\u{a0}a\u{2003}", "é", "a\tb", "\u{3000}", "x\u{85}"] {
            assert_eq!(trim(cell), cell.trim(), "{cell:?}");
        }
    }

    #[test]
    fn account_token() {
        let c = config();
        assert_eq!(value(handle_account_token(&c, "  ex4mpl3-t0k3n-0001 ")), "ex4mpl3-t0k3n-0001");
        assert_eq!(handle_account_token(&c, "  "), Outcome::Empty);
        assert!(exception(handle_account_token(&c, "other-token-0002")).contains("not this client's account token"));
        assert!(exception(handle_account_token(&c, "EX4MPL3-T0K3N-0001")).contains("differs only in case"));
        assert!(exception(handle_account_token(&c, "short")).contains("not an account token"));
        assert!(exception(handle_account_token(&c, "has space 123")).contains("not an account token"));
    }

    #[test]
    fn event_name() {
        let c = config();
        assert_eq!(value(handle_event_name(&c, " Offline_Sale ")), "offline_sale");
        assert!(exception(handle_event_name(&c, "ofline_sale")).contains("did you mean \"offline_sale\""));
        assert!(!exception(handle_event_name(&c, "zzz")).contains("did you mean"));
    }

    #[test]
    fn event_time() {
        let c = config();
        assert_eq!(value(handle_event_time(&c, "01/06/2024 12:45")), "2024-06-01T11:45:00Z");
        let (problem, sent) = warning(handle_event_time(&c, "45444"));
        assert!(problem.contains("Excel serial"));
        assert_eq!(sent.as_deref(), Some("2024-06-01T11:00:00Z"));
        assert!(exception(handle_event_time(&c, "2999-01-01")).contains("in the future"));
        assert!(exception(handle_event_time(&c, "soon")).contains("not a date"));
    }

    #[test]
    fn email_is_normalised_hashed_and_never_echoed() {
        let c = config();
        let hash = value(handle_email(&c, "  Jane.Doe@Example.COM "));
        assert_eq!(hash, sha256_hex("jane.doe@example.com"));
        assert_eq!(hash.len(), 64);
        assert_eq!(value(handle_email(&c, "jane.doe@example.com")), hash, "already lower-case: the same hash");
        assert_eq!(value(handle_email(&c, "ÉLISE@example.com")), sha256_hex("élise@example.com"));
        for bad in [
            "jane.doe",
            "jane@",
            "@example.com",
            "jane@example",
            "a@b@example.com",
            "jane doe@example.com",
            "a@x.com;b@y.com",
            "jane@example..com",
            "jane@.example.com",
            "jane@example.com.",
        ] {
            let (problem, sent) = warning(handle_email(&c, bad));
            assert_eq!(sent, None);
            assert!(!problem.contains(bad), "{problem} echoes {bad}");
        }
        for bad in ["jane@example..com", "jane@.example.com", "jane@example.com."] {
            assert!(warning(handle_email(&c, bad)).0.contains("has no domain like example.com"), "{bad}");
        }
        assert_eq!(value(handle_email(&c, &"AB".repeat(32))), "ab".repeat(32));
        // The hex digits of a known digest (FIPS 180-2's "abc").
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    fn config_in(country: &str) -> ReplayerConfig {
        let mapping = Mapping::parse(&format!(
            r#"{{"account_token": "ex4mpl3-t0k3n-0001", "timezone": "Europe/London", "country": "{country}"}}"#
        ))
        .unwrap();
        ReplayerConfig::for_tests(mapping)
    }

    #[test]
    fn phones_are_hashed_in_e164() {
        let c = config();
        let gb = config_in("GB");
        let expected = sha256_hex("+442079460958");
        for cell in ["+44 20 7946 0958", "+44 (0)20 7946-0958", "tel:+44-20-7946-0958", " TEL: +442079460958 "] {
            assert_eq!(value(handle_phone(&c, cell)), expected, "{cell}");
        }
        for cell in ["020 7946 0958", "(020) 7946 0958", "tel:02079460958", "+44 20 7946 0958", "0044 20 7946 0958"] {
            assert_eq!(value(handle_phone(&gb, cell)), expected, "{cell} in GB");
        }
        assert_eq!(value(handle_phone(&config_in("fr"), "01 23 45 67 89")), sha256_hex("+33123456789"));
        let (problem, sent) = warning(handle_phone(&c, "020 7946 0958"));
        assert!(problem.contains("no country code") && problem.contains("\"country\""), "{problem}");
        assert_eq!(sent, None);
    }

    #[test]
    fn a_phone_extension_is_dropped_with_a_warning() {
        let gb = config_in("GB");
        for cell in ["+44 20 7946 0958 ext. 22", "020 7946 0958 x22", "+44 20 7946 0958 extension 22"] {
            let (problem, sent) = warning(handle_phone(&gb, cell));
            assert!(problem.contains("extension"), "{cell}: {problem}");
            assert_eq!(sent.as_deref(), Some(sha256_hex("+442079460958").as_str()), "{cell}");
        }
    }

    #[test]
    fn a_cell_that_is_not_one_valid_number_is_dropped_unshown() {
        let gb = config_in("GB");
        for (cell, why) in [
            ("12-34", "not"),
            ("+44 20 7946 0958 / +44 20 7946 0959", "more than one"),
            ("020 7946 0958, 07700 900123", "more than one"),
            ("020 7946 0958 or 07700 900123", "more than one"),
            ("1-800-FLOWERS", "letters"),
            ("call 020 7946 0958", "letters"),
            ("+44 20 7946", "not a valid number"),
            ("+999 1234 5678", "not"),
        ] {
            let (problem, sent) = warning(handle_phone(&gb, cell));
            assert_eq!(sent, None, "{cell}");
            assert!(problem.contains(why), "{cell}: {problem}");
            assert!(!problem.contains(cell) && !problem.contains("7946"), "{problem} shows the number");
        }
        assert!(warning(handle_phone(&gb, "4.41234E+11")).0.contains("scientific notation"));
        assert_eq!(value(handle_phone(&gb, &"AB".repeat(32))), "ab".repeat(32));
    }

    /// What the crate alone makes of a cell: the plain path the fast one stands in for.
    fn crate_e164(text: &str, country: Option<phonenumber::country::Id>) -> Option<String> {
        let number = phonenumber::parse(country, text).ok()?;
        (number.is_valid() && number.extension().is_none())
            .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
    }

    #[test]
    fn the_phone_fast_path_agrees_with_the_crate() {
        use phonenumber::country::Id;
        let countries =
            [None, Some(Id::GB), Some(Id::FR), Some(Id::US), Some(Id::DE), Some(Id::IT), Some(Id::JE), Some(Id::BR)];
        let mut cells: Vec<String> = [
            "+44 20 7946 0958",
            "+44 (0)20 7946-0958",
            "+44 020 7946 0958",
            "020 7946 0958",
            "07700 900123",
            "+44 7700 900123",
            "+44 1534 123456",
            "01534 123456",
            "+33 1 23 45 67 89",
            "01 23 45 67 89",
            "+1 212-555-0100",
            "(212) 555-0100",
            "212.555.0100",
            "+39 06 1234 5678",
            "06 1234 5678",
            "+49 30 1234567",
            "030 1234567",
            "+55 11 91234-5678",
            "(11) 91234-5678",
            "+41 44 668 18 00",
            "0044 20 7946 0958",
            "+999 123 4567",
            "+44 20 7946",
            "12345678901234567",
            "+1 800 555 0100",
        ]
        .iter()
        .map(|cell| cell.to_string())
        .collect();
        // Numbers of every length after a few calling codes and national prefixes.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let prefix = ["+44 ", "+33 ", "+1 ", "+49 ", "+39 ", "+55 ", "+7 ", "+86 ", "0", "", "+44 (0)", "+91 "]
                [(seed % 12) as usize];
            let length = 5 + (seed >> 8) % 9;
            let digits: String =
                (0..length).map(|at| char::from(b'0' + ((seed >> (12 + at * 3)) % 10) as u8)).collect();
            cells.push(format!("{prefix}{digits}"));
        }
        let mut fast = 0;
        for cell in &cells {
            for country in countries {
                if let Some(e164) = phone::fast_e164(cell, country) {
                    fast += 1;
                    assert_eq!(Some(e164), crate_e164(cell, country), "{cell:?} in {country:?}");
                }
            }
        }
        assert!(fast > 300, "the fast path answered {fast} times");
        let gb = Some(Id::GB);
        assert!(
            phone::fast_e164("+44 20 7946 0958", None).is_some() && phone::fast_e164("020 7946 0958", gb).is_some()
        );
    }

    #[test]
    fn no_phone_cell_makes_the_handler_panic() {
        let gb = config_in("CH");
        let pieces =
            ["+", "0", "00", "1", "2 ", "#", ":", "x", "ext", "-", "(", ")", " ", "9", "tel:", ";", "*", "41", "é"];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let mut cell = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                cell.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(1);
            let _ = handle_phone(&gb, &cell);
        }
        let _ = handle_phone(&gb, "  2 22#:");
        let _ = handle_phone(&gb, "003-836-4618x3001");
    }

    #[test]
    fn emails_are_normalised_as_the_ad_platforms_do() {
        let c = config();
        let hash = sha256_hex("jane.doe@example.com");
        for cell in [
            "mailto:Jane.Doe@Example.com",
            "MAILTO: jane.doe@example.com",
            "\u{a0}jane.doe@example.com\u{2003}",
            "jane\u{200b}.doe@exam\u{ad}ple.com",
            "\u{feff}Jane.Doe@EXAMPLE.COM",
            "jane.doe@example.com\u{2060}",
        ] {
            assert_eq!(value(handle_email(&c, cell)), hash, "{cell:?}");
        }
    }

    #[test]
    fn what_looks_like_an_email_address() {
        for text in [
            "jane@example.com",
            "Contact: Jane.Doe+x@mail.example.co.uk.",
            "https://shop.example.com/?email=jane%40example.com",
            "mailto:a@b.io",
            "x é@ü.de y",
        ] {
            assert!(looks_like_email(text), "{text}");
        }
        for text in [
            "@brand",
            "a@b",
            "user@localhost",
            "ORD-1@2",
            "100% @ 40",
            "a@.com",
            "@example.com",
            "%40example.com",
            "a@b.c",
        ] {
            assert!(!looks_like_email(text), "{text}");
        }
    }

    #[test]
    fn revenue() {
        let c = config();
        assert_eq!(value(handle_revenue(&c, "1234.50")), "1234.50");
        let (problem, sent) = warning(handle_revenue(&c, "£1,234.50"));
        assert_eq!(sent.as_deref(), Some("1234.50"));
        assert!(problem.contains("currency symbol") && problem.contains("thousands separator"));
        assert!(exception(handle_revenue(&c, "12,50")).contains("decimal_separator"));
        assert!(exception(handle_revenue(&c, "twelve")).contains("not a number"));
    }

    #[test]
    fn currency() {
        let c = config();
        assert_eq!(value(handle_currency(&c, " eur ")), "EUR");
        assert_eq!(value(handle_currency(&c, "GBP")), "GBP");
        assert!(exception(handle_currency(&c, "XXY")).contains("not an ISO 4217"));
        assert!(exception(handle_currency(&c, "£")).contains("GBP"));
        assert!(exception(handle_currency(&c, "EURO")).contains("not an ISO 4217"));
    }

    #[test]
    fn quantity() {
        let c = config();
        assert_eq!(value(handle_quantity(&c, " 3 ")), "3");
        assert_eq!(value(handle_quantity(&c, "2.0")), "2");
        assert_eq!(value(handle_quantity(&c, "007")), "7");
        assert_eq!(value(handle_quantity(&c, "10")), "10");
        // A leading '+' is taken, as in revenue.
        assert_eq!(value(handle_quantity(&c, "+3")), "3");
        assert_eq!(value(handle_quantity(&c, "+2.0")), "2");
        for bad in ["0", "-1", "1.5", "two", "++3", "+", "2.", "+0"] {
            assert_eq!(warning(handle_quantity(&c, bad)).1, None, "{bad}");
        }
    }

    #[test]
    fn the_simple_url_check_accepts_only_what_the_parser_accepts() {
        for text in [
            "https://shop.example.com/p?a=1&b=2",
            "HTTP://Example.COM",
            "http://a-b.example/x#frag",
            "https://x.io/%20",
        ] {
            assert!(is_simple_http_url(text), "{text}");
            assert!(url::Url::parse(text).is_ok(), "{text}");
        }
        for text in [
            "http://",
            "https:///x",
            "é://x.io/",
            "httpé://x.io/",
            "http://a b/",
            "http://[::1]/",
            "http://h:99999/",
            "http://.x/",
            "ftp://x.io/",
            "http://x.io/a b",
            "http://123/",
        ] {
            assert!(!is_simple_http_url(text), "{text}");
        }
    }

    #[test]
    fn urls() {
        let c = config();
        assert_eq!(value(handle_url(&c, "https://shop.example.com/p?a=1&b=2")), "https://shop.example.com/p?a=1&b=2");
        for bad in ["shop.example.com/p", "ftp://example.com/", "javascript:alert(1)", "https://"] {
            assert_eq!(warning(handle_url(&c, bad)).1, None, "{bad}");
        }
    }

    #[test]
    fn ips() {
        let c = config();
        assert_eq!(value(handle_ip(&c, " 192.0.2.1 ")), "192.0.2.1");
        assert_eq!(value(handle_ip(&c, "2001:DB8::1")), "2001:db8::1");
        assert_eq!(warning(handle_ip(&c, "256.1.1.1")).1, None);
        // A leading zero could be read as octal: refused, never sent as written.
        assert_eq!(warning(handle_ip(&c, "192.0.2.01")).1, None);
        assert_eq!(warning(handle_ip(&c, "localhost")).1, None);
    }

    #[test]
    fn text_is_trimmed() {
        let c = config();
        assert_eq!(value(handle_text(&c, "  v-123 \t")), "v-123");
        assert_eq!(handle_text(&c, " \t "), Outcome::Empty);
    }
}
