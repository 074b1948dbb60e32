//! Amounts as text, never through a float: currency symbols and thousands separators removed,
//! the decimal separator checked against the mapping, the result a plain `1234.50`.

#[derive(Debug, PartialEq, Eq)]
pub struct Amount {
    pub value: String,
    /// True when something was removed from the cell (worth a warning).
    pub cleaned: bool,
    /// What was removed, for the warning: "a currency symbol and thousands separators".
    pub removed: String,
}

fn is_group_char(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '’')
}

fn is_currency_char(c: char) -> bool {
    c.is_alphabetic()
        || matches!(c, '£' | '$' | '€' | '¥' | '₹' | '¢' | '₩' | '₽' | '₺' | '₪' | '₫' | '₱' | '₦' | '₴' | '฿' | '₣')
}

/// True when `text` is already an amount as it is sent with `.` as the decimal separator: digits
/// without a leading zero (or a lone 0), then `.` and digits if it has a fraction. `parse_amount`
/// would give it back unchanged, so it can be sent as it stands.
pub fn is_sent_form(text: &str) -> bool {
    let (integer, fraction) = match split_at_dot(text) {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    digits(integer) && (integer == "0" || !integer.starts_with('0')) && fraction.is_none_or(digits)
}

/// `text` around its first '.', found with a byte search (cheaper than `split_once` for a
/// character, on the short cells of every row).
pub fn split_at_dot(text: &str) -> Option<(&str, &str)> {
    let at = text.bytes().position(|byte| byte == b'.')?;
    Some((&text[..at], &text[at + 1..]))
}

/// Read a trimmed, non-empty amount. `Err` is the exception text.
pub fn parse_amount(text: &str, decimal: char) -> Result<Amount, String> {
    let thousands = if decimal == '.' { ',' } else { '.' };
    let not_a_number = || format!("{text:?} is not a number; write the amount like 1234{decimal}50");

    let first_digit = text.find(|c: char| c.is_ascii_digit()).ok_or_else(not_a_number)?;
    let last_digit = text.rfind(|c: char| c.is_ascii_digit()).unwrap();
    let (before, core, mut after) = (&text[..first_digit], &text[first_digit..=last_digit], &text[last_digit + 1..]);
    // A trailing decimal separator ("12.") ends the number.
    if !core.contains(decimal) {
        after = after.strip_prefix(decimal).unwrap_or(after);
    }

    // A leading decimal separator (".5") belongs to the number.
    let leading_decimal = before.ends_with(decimal);
    let before = before.strip_suffix(decimal).unwrap_or(before);
    let mut negative = false;
    let mut had_currency = false;
    for c in before.chars().chain(after.chars()) {
        match c {
            '-' | '−' if !negative => negative = true,
            '+' => {}
            c if is_currency_char(c) => had_currency = true,
            c if c.is_whitespace() => {}
            _ => return Err(not_a_number()),
        }
    }
    if after.contains(decimal) {
        return Err(not_a_number());
    }

    let (integer, fraction) = match core.split_once(decimal) {
        Some(_) if leading_decimal => return Err(not_a_number()),
        Some((integer, fraction)) => (integer, Some(fraction)),
        None if leading_decimal => ("", Some(core)),
        None => (core, None),
    };
    if let Some(fraction) = fraction {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            let hint = if fraction.contains(decimal) {
                "more than one decimal separator"
            } else {
                "a separator after the decimal separator"
            };
            return Err(format!("{text:?} has {hint}; write the amount like 1234{decimal}50"));
        }
    }

    let mut had_groups = false;
    let mut digits = String::with_capacity(integer.len());
    if integer.chars().any(|c| !c.is_ascii_digit()) {
        let groups: Vec<&str> = integer.split(|c: char| c == thousands || is_group_char(c)).collect();
        let well_grouped = groups.iter().all(|group| group.bytes().all(|b| b.is_ascii_digit()))
            && (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|group| group.len() == 3);
        if !well_grouped {
            if integer.contains(thousands) {
                return Err(format!(
                    "{text:?} has a {thousands:?} that is not a thousands separator, and the mapping's decimal_separator is {decimal:?}; \
                     fix the cell, or set \"decimal_separator\" to {thousands:?} if the whole file uses it"
                ));
            }
            return Err(not_a_number());
        }
        had_groups = true;
        groups.iter().for_each(|group| digits.push_str(group));
    } else {
        digits.push_str(integer);
    }

    let integer = digits.trim_start_matches('0');
    let mut value = String::with_capacity(text.len() + 2);
    let fraction = fraction.filter(|f| !f.is_empty());
    let is_zero = integer.is_empty() && fraction.is_none_or(|f| f.bytes().all(|b| b == b'0'));
    if negative && !is_zero {
        value.push('-');
    }
    value.push_str(if integer.is_empty() { "0" } else { integer });
    if let Some(fraction) = fraction {
        value.push('.');
        value.push_str(fraction);
    }

    let removed = match (had_currency, had_groups) {
        (true, true) => "a currency symbol and thousands separators",
        (true, false) => "a currency symbol",
        (false, true) => "thousands separators",
        (false, false) => "",
    };
    Ok(Amount { value, cleaned: !removed.is_empty(), removed: removed.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str, decimal: char) -> (String, bool) {
        let amount = parse_amount(text, decimal).unwrap();
        (amount.value, amount.cleaned)
    }

    #[test]
    fn the_sent_form_is_what_parse_amount_gives_back() {
        let cells = [
            "0", "5", "10.00", "0.50", "1234.5", "007", "0.", ".5", "5.", "-1", "1,000", "1 000", "1.2.3", "", "٣",
            "12a", "+5", "00", "0.0",
        ];
        for cell in cells {
            if is_sent_form(cell) {
                assert_eq!(
                    parse_amount(cell, '.').unwrap(),
                    Amount { value: cell.to_owned(), cleaned: false, removed: String::new() },
                    "{cell}"
                );
            }
        }
        assert!(["0", "5", "10.00", "0.50", "0.0"].iter().all(|cell| is_sent_form(cell)));
        assert!(!["007", ".5", "5.", "-1", "1,000", "00", ""].iter().any(|cell| is_sent_form(cell)));
    }

    #[test]
    fn plain_numbers_pass_unchanged() {
        assert_eq!(amount("1234.50", '.'), ("1234.50".into(), false));
        assert_eq!(amount("0.5", '.'), ("0.5".into(), false));
        assert_eq!(amount(".5", '.'), ("0.5".into(), false));
        assert_eq!(amount("-12.00", '.'), ("-12.00".into(), false));
        assert_eq!(amount("007", '.'), ("7".into(), false));
        assert_eq!(amount("0", '.'), ("0".into(), false));
        assert_eq!(amount("12.", '.'), ("12".into(), false));
        // More digits than a float holds: kept exactly.
        assert_eq!(amount("12345678901234567890.123456789", '.'), ("12345678901234567890.123456789".into(), false));
    }

    #[test]
    fn symbols_and_separators_are_removed() {
        assert_eq!(amount("£1,234.50", '.'), ("1234.50".into(), true));
        assert_eq!(amount("1 234,50 €", ','), ("1234.50".into(), true));
        assert_eq!(amount("1.234.567,89", ','), ("1234567.89".into(), true));
        assert_eq!(amount("GBP 99.99", '.'), ("99.99".into(), true));
        assert_eq!(amount("-$5", '.'), ("-5".into(), true));
        assert_eq!(amount("1'234.00", '.'), ("1234.00".into(), true));
        assert_eq!(amount("12,50", ','), ("12.50".into(), false));
    }

    #[test]
    fn the_wrong_decimal_separator_is_an_exception() {
        assert!(parse_amount("12,50", '.').unwrap_err().contains("decimal_separator"));
        assert!(parse_amount("1234.50", ',').unwrap_err().contains("decimal_separator"));
        assert!(parse_amount("1,2345.00", '.').is_err());
    }

    #[test]
    fn garbage_is_an_exception() {
        for bad in ["twelve", "1.2.3", "1.2E+3", "12-34", "1/2", "--5", "1.5.", "#N/A"] {
            assert!(parse_amount(bad, '.').is_err(), "{bad}");
        }
    }
}
