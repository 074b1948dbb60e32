//! Text for a person at a terminal (SPEC §9): colour as ripgrep chooses it, thousands
//! separators, lines wrapped at word boundaries to stay readable at 80 columns, and the same
//! problem in many rows printed once with its count and first rows.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

use crate::problem::{exception_line, Group, Groups, Severity};

/// Lines are wrapped to this width: readable on the narrowest common terminal.
pub const WIDTH: usize = 80;
/// Groups of problems printed; the rest are counted (every line is in the dumps).
const GROUPS_SHOWN: usize = 10;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (or TERM=dumb).
    #[default]
    Auto,
    Always,
    Never,
}

/// Which stream a text goes to: colour is decided for each.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Styles text, or leaves it plain.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    pub colour: bool,
}

impl Paint {
    /// The colour decision of ripgrep: `always` and `never` as said; `auto` colours a terminal
    /// unless NO_COLOR is set (to anything but the empty string) or TERM is `dumb`.
    pub fn for_stream(choice: ColorChoice, stream: Stream) -> Paint {
        let terminal = match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        };
        Paint { colour: Paint::decide(choice, terminal, std::env::var_os("NO_COLOR"), std::env::var_os("TERM")) }
    }

    fn decide(
        choice: ColorChoice,
        terminal: bool,
        no_color: Option<std::ffi::OsString>,
        term: Option<std::ffi::OsString>,
    ) -> bool {
        match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && no_color.is_none_or(|value| value.is_empty()) && term.is_none_or(|term| term != "dumb")
            }
        }
    }

    fn paint(self, style: Style, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub fn red(self, text: &str) -> String {
        self.paint(Style::new().bold().fg_color(Some(AnsiColor::Red.into())), text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.paint(Style::new().fg_color(Some(AnsiColor::Yellow.into())), text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint(Style::new().fg_color(Some(AnsiColor::Green.into())), text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }
}

/// `4997` → `4,997`: for people only, never in dumps or JSON.
pub fn separated(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `count` and its noun, singular or plural: `1 row`, `4,997 rows`.
pub fn counted(count: u64, noun: &str) -> String {
    format!("{} {noun}{}", separated(count), if count == 1 { "" } else { "s" })
}

/// `text` wrapped at word boundaries to `width` columns, every line after the first indented
/// by `indent` spaces. A word longer than a line (a URL, a path) is kept whole on its own line.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let body = text.trim_start_matches(' ');
    let lead = text.len() - body.len();
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..lead]);
    let mut column = lead;
    for word in body.split(' ') {
        let length = word.chars().count();
        if column > indent.max(lead) && column + 1 + length > width {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
            column = indent;
        } else if column > lead {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += length;
    }
    out
}

/// Each line of `text` wrapped on its own, its continuation lines indented by `indent`.
pub fn wrap_lines(text: &str, indent: usize) -> String {
    text.lines().map(|line| wrap(line, WIDTH, indent) + "\n").collect()
}

/// `row 2, 5, 9 … and 4,997 more`
pub fn rows_of(group: &Group) -> String {
    let rows: Vec<String> = group.rows.iter().map(u64::to_string).collect();
    let shown = rows.len() as u64;
    let word = "row";
    let more = group.count.saturating_sub(shown);
    if more == 0 {
        format!("{word} {}", rows.join(", "))
    } else {
        format!("{word} {} … and {} more", rows.join(", "), separated(more))
    }
}

/// The grouped problems under `title`: one group a line or two, most rows first, wrapped.
pub fn render_groups(title: &str, groups: &Groups, paint: Paint) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let mut out = format!("{}:\n", paint.bold(title));
    let sorted = groups.sorted();
    for group in sorted.iter().take(GROUPS_SHOWN) {
        let painted = |text: &str| match group.first.severity {
            Severity::Exception => paint.red(text),
            Severity::Warning => paint.yellow(text),
        };
        if group.count == 1 {
            let line = match group.first.severity {
                Severity::Exception if group.first.row.is_some() => exception_line(std::slice::from_ref(&group.first)),
                _ => group.first.line(),
            };
            let line = wrap(&format!("  {line}"), WIDTH, 4);
            out.push_str(&format!("{}\n", painted_head(&line, painted)));
            continue;
        }
        let noun = if group.first.row.is_some() { "row" } else { "warning" };
        let head = format!("{}, {}: {}", group.place(), group.first.kind.title(), counted(group.count, noun));
        out.push_str(&format!("{}\n", painted_head(&wrap(&format!("  {head}"), WIDTH, 4), painted)));
        out.push_str(&format!("{}\n", wrap(&format!("    {}", rows_of(group)), WIDTH, 6)));
        let example = format!("    e.g. {}", group.first.message);
        out.push_str(&format!("{}\n", paint.dim(&wrap(&example, WIDTH, 6))));
    }
    let hidden: u64 = sorted.iter().skip(GROUPS_SHOWN).map(|group| group.count).sum::<u64>() + groups.ungrouped;
    if hidden > 0 {
        out.push_str(&format!(
            "  … and {} more of other kinds (all are in the dump files written with --dump-data)\n",
            separated(hidden)
        ));
    }
    out
}

/// The first line of a wrapped text in colour, the rest plain.
fn painted_head(text: &str, painted: impl Fn(&str) -> String) -> String {
    match text.split_once('\n') {
        Some((first, rest)) => format!("{}\n{rest}", painted(first)),
        None => painted(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{Kind, Problem};

    #[test]
    fn thousands_separators() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (4997, "4,997"), (1_234_567, "1,234,567")];
        for (number, text) in cases {
            assert_eq!(separated(number), text);
        }
        assert_eq!(counted(1, "row"), "1 row");
        assert_eq!(counted(50_000, "row"), "50,000 rows");
    }

    #[test]
    fn wrapping_keeps_words_whole_and_lines_within_80_columns() {
        let text = "row 7, column \"Sale Date\" (event_time): \"31/02/2024\": February has no 31st; fix the cell, \
                    and then run the same command again to check the whole file once more before firing it";
        let wrapped = wrap(text, WIDTH, 4);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        assert_eq!(wrapped.replace("\n    ", " "), text, "no word cut, none lost");
        assert!(wrapped.lines().skip(1).all(|line| line.starts_with("    ")));
        let long = format!("see {}", "x".repeat(120));
        assert_eq!(wrap(&long, WIDTH, 2).lines().count(), 2, "a long word on its own line");
    }

    #[test]
    fn colour_follows_the_choice_no_color_and_the_terminal() {
        let set = Some(std::ffi::OsString::from("1"));
        assert!(Paint::decide(ColorChoice::Auto, true, None, None));
        assert!(!Paint::decide(ColorChoice::Auto, false, None, None), "a pipe");
        assert!(!Paint::decide(ColorChoice::Auto, true, set.clone(), None), "NO_COLOR");
        assert!(Paint::decide(ColorChoice::Auto, true, Some("".into()), None), "NO_COLOR empty");
        assert!(!Paint::decide(ColorChoice::Auto, true, None, Some("dumb".into())));
        assert!(Paint::decide(ColorChoice::Always, false, set, None));
        assert!(!Paint::decide(ColorChoice::Never, true, None, None));
        assert_eq!(Paint { colour: false }.red("x"), "x");
        assert_eq!(Paint { colour: true }.bold("x"), "\u{1b}[1mx\u{1b}[0m");
    }

    #[test]
    fn five_thousand_identical_mistakes_are_a_few_lines() {
        let mut groups = Groups::default();
        for row in 2..5002 {
            groups.add(&Problem {
                column: Some("Sale Date".into()),
                field: Some("event_time".into()),
                value: Some("31/02/2024".into()),
                ..Problem::row(row, Kind::DateDoesNotExist, "\"31/02/2024\": February has no 31st; fix the cell")
            });
        }
        let text = render_groups("exceptions (rows not fired)", &groups, Paint::default());
        assert!(text.lines().count() <= 5, "{text}");
        assert!(text.contains("a date that does not exist: 5,000 rows\n"), "{text}");
        assert!(text.contains("    row 2, 3, 4 … and 4,997 more\n"), "{text}");
        assert!(text.contains("February has no 31st"), "{text}");
        assert!(text.lines().all(|line| line.chars().count() <= WIDTH), "{text}");
    }
}
