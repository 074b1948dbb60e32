//! chrono's strftime patterns as Excel number formats, for the template's event-time column.

/// The Excel number format that shows a date as chrono's strftime `pattern` writes it
/// (`%d/%m/%Y %H:%M` → `dd\/mm\/yyyy hh:mm`), or `None` when Excel has no exact equivalent (time
/// zones, fractions of seconds, space padding, week numbers…). Literal characters are escaped:
/// an unescaped `/` is the date separator of the reader's locale, `21.06.2024` on a German Excel.
pub fn excel_date_format(pattern: &str) -> Option<String> {
    let mut tokens: Vec<Token> = Vec::new();
    read_tokens(pattern, &mut tokens)?;
    // Excel reads `mm` as minutes right after an hour or right before seconds, as months elsewhere.
    let times: Vec<(usize, &Token)> =
        tokens.iter().enumerate().filter(|(_, token)| !matches!(token, Token::Literal(_))).collect();
    for (position, (_, token)) in times.iter().enumerate() {
        let after_hour = position > 0 && matches!(times[position - 1].1, Token::Code(Unit::Hour | Unit::Hour12, _));
        let before_second = matches!(times.get(position + 1), Some((_, Token::Code(Unit::Second, _))));
        match token {
            Token::Code(Unit::Minute, _) if !(after_hour || before_second) => return None,
            Token::Code(Unit::Month, _) if after_hour || before_second => return None,
            _ => {}
        }
    }
    let twelve_hour = tokens.iter().any(|token| matches!(token, Token::Code(Unit::Hour12, _)));
    let am_pm = tokens.iter().any(|token| matches!(token, Token::Code(Unit::AmPm, _)));
    if twelve_hour != am_pm {
        return None; // Excel shows 12-hour clocks only beside AM/PM, and always then
    }
    let mut format = String::new();
    for token in &tokens {
        match token {
            Token::Code(_, code) => format.push_str(code),
            Token::Literal(c @ (' ' | '-' | ':')) => format.push(*c),
            Token::Literal(c) => {
                format.push('\\');
                format.push(*c);
            }
        }
    }
    Some(format)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Month,
    Day,
    Weekday,
    Hour,
    Hour12,
    Minute,
    Second,
    AmPm,
}

enum Token {
    Code(Unit, &'static str),
    Literal(char),
}

fn read_tokens(pattern: &str, tokens: &mut Vec<Token>) -> Option<()> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            tokens.push(Token::Literal(c));
            continue;
        }
        let mut spec = chars.next()?;
        let unpadded = spec == '-';
        if unpadded || spec == '0' {
            spec = chars.next()?;
        }
        let expanded = match spec {
            'F' => Some("%Y-%m-%d"),
            'T' => Some("%H:%M:%S"),
            'R' => Some("%H:%M"),
            'D' => Some("%m/%d/%y"),
            _ => None,
        };
        if let Some(expanded) = expanded {
            read_tokens(expanded, tokens)?;
            continue;
        }
        let (unit, code) = match (spec, unpadded) {
            ('Y', false) => (Unit::Year, "yyyy"),
            ('y', false) => (Unit::Year, "yy"),
            ('m', false) => (Unit::Month, "mm"),
            ('m', true) => (Unit::Month, "m"),
            ('b' | 'h', false) => (Unit::Month, "mmm"),
            ('B', false) => (Unit::Month, "mmmm"),
            ('d', false) => (Unit::Day, "dd"),
            ('d', true) | ('e', _) => (Unit::Day, "d"),
            ('a', false) => (Unit::Weekday, "ddd"),
            ('A', false) => (Unit::Weekday, "dddd"),
            ('H', false) => (Unit::Hour, "hh"),
            ('H', true) | ('k', _) => (Unit::Hour, "h"),
            ('I', false) => (Unit::Hour12, "hh"),
            ('I', true) | ('l', _) => (Unit::Hour12, "h"),
            ('M', false) => (Unit::Minute, "mm"),
            ('M', true) => (Unit::Minute, "m"),
            ('S', false) => (Unit::Second, "ss"),
            ('S', true) => (Unit::Second, "s"),
            ('p', false) => (Unit::AmPm, "AM/PM"),
            ('%', false) => {
                tokens.push(Token::Literal('%'));
                continue;
            }
            _ => return None,
        };
        tokens.push(Token::Code(unit, code));
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_patterns_become_excel_formats() {
        for (pattern, excel) in [
            ("%d/%m/%Y %H:%M", Some("dd\\/mm\\/yyyy hh:mm")),
            ("%d/%m/%Y", Some("dd\\/mm\\/yyyy")),
            ("%Y-%m-%d %H:%M:%S", Some("yyyy-mm-dd hh:mm:ss")),
            ("%Y-%m-%dT%H:%M", Some("yyyy-mm-dd\\Thh:mm")),
            ("%d.%m.%Y", Some("dd\\.mm\\.yyyy")),
            ("%F %R", Some("yyyy-mm-dd hh:mm")),
            ("%-d %B %Y", Some("d mmmm yyyy")),
            ("%m/%d/%Y %I:%M %p", Some("mm\\/dd\\/yyyy hh:mm AM/PM")),
            ("%Y%m%d", Some("yyyymmdd")),
            ("%Y-%m-%dT%H:%M:%S%.f%#z", None),
            ("%Y-%m-%d %H:%M%z", None),
            ("%d/%m/%Y %I:%M", None),
            ("%d/%m/%Y %H:%M %p", None),
            ("%d %M %Y", None),
            ("%_d/%m/%Y", None),
        ] {
            assert_eq!(excel_date_format(pattern).as_deref(), excel, "{pattern}");
        }
    }
}
