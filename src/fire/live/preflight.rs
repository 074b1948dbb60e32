//! The pre-flight of §7: what a live run is about to do, said before the question, with counts
//! that equal what the DCS may have received before and the exceptions grouped.

use std::collections::BTreeMap;

use super::look_up::Earlier;
use crate::out::summary::Summary;
use crate::out::terminal::{counted, render_groups, separated, wrap_lines, Paint};
use crate::problem::Groups;
use crate::settings::Settings;

/// What the pre-flight says: its text, and the number of tags that will be sent.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// The counts, accounts, events and dates, plain (the page shows it too).
    pub text: String,
    /// Rows to fire, less those accepted before: what the operator confirms.
    pub sending: u64,
    pub already_fired: u64,
    pub with_exceptions: u64,
    /// The rows not fired, grouped.
    pub exceptions: Groups,
}

impl Preflight {
    /// The whole pre-flight for a terminal: the exceptions first, then what will be sent.
    pub fn render(&self, paint: Paint) -> String {
        let exceptions = render_groups("exceptions (rows not fired)", &self.exceptions, paint);
        format!("{exceptions}{}", wrap_lines(&self.text, 4))
    }
}

/// The pre-flight of §7. `selected` counts the accounts, events and dates of the rows to fire
/// (with `--limit`, only the first rows).
pub fn preflight(
    summary: &Summary,
    selected: &Summary,
    settings: &Settings,
    to_fire: u64,
    over_limit: u64,
    earlier: &Earlier,
) -> Preflight {
    let mut text = String::new();
    let skipped: u64 = earlier.accepted.values().sum();
    let sending = to_fire - skipped;
    text.push_str(&format!(
        "About to fire {} to {}\n",
        counted(sending, "tag"),
        crate::db::redact_request_url(&settings.request_url)
    ));
    if let Some(proxy) = settings.proxies.shown_for(&settings.request_url) {
        text.push_str(&format!("  through the proxy {proxy}\n"));
    }
    if skipped > 0 {
        let runs: Vec<String> =
            earlier.accepted.iter().map(|(run, count)| format!("{} by run {run}", separated(*count))).collect();
        text.push_str(&format!(
            "  already fired, skipped: {} ({}; --refire sends them again)\n",
            separated(skipped),
            runs.join(", ")
        ));
    }
    let were = |count: u64| if count == 1 { "was" } else { "were" };
    if earlier.refused > 0 {
        let count = earlier.refused;
        text.push_str(&format!("  {} {} refused before and will be sent again\n", separated(count), were(count)));
    }
    if earlier.failed > 0 {
        let count = separated(earlier.failed);
        text.push_str(&format!("  {count} failed before (sent, not accepted) and will be sent again\n"));
    }
    if earlier.unanswered > 0 {
        text.push_str(&format!(
            "  up to {} may have been sent by a run that died; they are sent again with the same rid, so the DCS drops repeats\n",
            counted(earlier.unanswered, "row")
        ));
    }
    if over_limit > 0 {
        text.push_str(&format!("  (--limit: {} more valid rows will not be sent)\n", separated(over_limit)));
    }
    text.push_str(&format!("  rows with exceptions, not fired: {}\n", separated(summary.rows_with_exceptions)));
    let list = |map: &BTreeMap<String, u64>| {
        map.iter().map(|(k, v)| format!("{k} ({})", separated(*v))).collect::<Vec<_>>().join(", ")
    };
    text.push_str(&format!("  accounts: {}\n", list(&selected.accounts)));
    if !summary.tokens_checked {
        text.push_str(
            "  account tokens: NOT checked against attrib_account (no --database-url, and no accounts in the embedded database): \
             the DCS may refuse them\n",
        );
    }
    text.push_str(&format!("  events: {}\n", list(&selected.events)));
    if let Some(range) = selected.date_range() {
        text.push_str(&format!("  dates the nightly jobs will backdate: {range}\n"));
    }
    Preflight {
        text,
        sending,
        already_fired: skipped,
        with_exceptions: summary.rows_with_exceptions,
        exceptions: summary.exception_groups.clone(),
    }
}
