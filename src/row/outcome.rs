//! What a `handle_<field>` makes of one cell: the one shape every handler returns.

use std::borrow::Cow;

use crate::problem::Issue;

/// What a handler made of one cell. A value is borrowed from the cell (or the mapping) when it
/// is sent as it stands, so most cells cost no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Send this value.
    Value(Cow<'a, str>),
    /// Nothing to send (an empty cell).
    Empty,
    /// The row still fires: with `sent` in place of the cell, or without the field when `None`.
    Warning { problem: Issue, sent: Option<Cow<'a, str>> },
    /// The row is not fired.
    Exception(Issue),
}

impl Outcome<'_> {
    /// The same outcome, owning its value: for the mapping's defaults, handled once.
    pub fn into_owned(self) -> Outcome<'static> {
        match self {
            Outcome::Value(value) => Outcome::Value(Cow::Owned(value.into_owned())),
            Outcome::Empty => Outcome::Empty,
            Outcome::Warning { problem, sent } => {
                Outcome::Warning { problem, sent: sent.map(|v| Cow::Owned(v.into_owned())) }
            }
            Outcome::Exception(text) => Outcome::Exception(text),
        }
    }

    /// The same outcome, borrowing its value from this one.
    pub fn reborrow(&self) -> Outcome<'_> {
        match self {
            Outcome::Value(value) => Outcome::Value(Cow::Borrowed(value)),
            Outcome::Empty => Outcome::Empty,
            Outcome::Warning { problem, sent } => {
                Outcome::Warning { problem: problem.clone(), sent: sent.as_deref().map(Cow::Borrowed) }
            }
            Outcome::Exception(text) => Outcome::Exception(text.clone()),
        }
    }
}
