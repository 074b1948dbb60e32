//! One row of an upload for the page (SPEC §12): checked alone by the same handlers as the
//! check's (the whole-file checks, duplicates, wait for the next check of the upload), and
//! shown with personal data masked.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use csv::ByteRecord;
use serde_json::{json, Map, Value};

use crate::db::review::{Review, StoredRow};
use crate::field::Field;
use crate::problem::{Kind, Problem, Severity};
use crate::read::{resolve_columns, Mapping, RowEdit, RowMeta, SourceRow};
use crate::row::check::{check_row, Checked, CheckedBatch, KnownAccounts, RowContext};
use crate::row::config::ReplayerConfig;

/// What a personal-data cell shows: that it is there, never what it holds.
pub const MASK: &str = "(personal data)";

/// A row's state in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Valid,
    Exception,
    Excluded,
    /// Every cell empty: skipped, as the check skips it.
    Blank,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Valid => "valid",
            RowState::Exception => "exception",
            RowState::Excluded => "excluded",
            RowState::Blank => "blank",
        }
    }
}

/// The file's header as the last check read it, which columns hold personal data, and the
/// handlers, ready to check one row.
pub struct RowChecker {
    pub headers: Vec<String>,
    pub personal: Vec<bool>,
    context: RowContext,
}

impl RowChecker {
    pub fn new(
        mapping: &Mapping,
        review: &Review,
        request_url: &str,
        accounts: Option<KnownAccounts>,
        now: DateTime<Utc>,
    ) -> Result<RowChecker> {
        let (columns, _) = resolve_columns(&review.headers, mapping).map_err(|error| anyhow!("{error}"))?;
        let personal = (0..review.headers.len())
            .map(|index| Field::ALL.iter().any(|field| field.is_personal() && columns.of(*field) == Some(index)))
            .collect();
        let config = ReplayerConfig::new(mapping.clone(), columns, now)?;
        let context = RowContext {
            config,
            request_url: request_url.to_owned(),
            pretty: false,
            accounts,
            names_cells: review.names_cells,
            keep_cells: false,
        };
        Ok(RowChecker { headers: review.headers.clone(), personal, context })
    }

    pub fn is_personal(&self, header: &str) -> bool {
        self.headers.iter().position(|h| h == header).is_some_and(|index| self.personal[index])
    }

    /// The row's state and problems, by the handlers alone.
    pub fn check(&self, row: u64, cells: &[String]) -> (RowState, Vec<Problem>) {
        let mut source_row = SourceRow {
            meta: RowMeta { row, ..RowMeta::default() },
            cells: ByteRecord::from(cells.to_vec()),
            marks: Vec::new(),
        };
        let mut batch = CheckedBatch::default();
        match check_row(&self.context, &mut source_row, &mut batch) {
            Checked::Blank => (RowState::Blank, Vec::new()),
            Checked::Exception(problems) => (RowState::Exception, problems),
            Checked::Valid(info) => (RowState::Valid, info.warnings),
        }
    }

    /// A stored row with `edit` applied and checked again.
    pub fn recheck(&self, row: u64, mut cells: Vec<String>, edit: Option<&RowEdit>) -> CheckedRow {
        if let Some(edit) = edit {
            edit.apply(&self.headers, &mut cells);
        }
        let (state, problems) = match edit {
            Some(edit) if edit.excluded => (RowState::Excluded, Vec::new()),
            _ => self.check(row, &cells),
        };
        CheckedRow { row, cells, state, problems }
    }

    /// The cells that must not be shown: personal data, and cells found holding an e-mail
    /// address outside the email column.
    pub fn masked(&self, problems: &[Problem]) -> Vec<bool> {
        let mut masked = self.personal.clone();
        for problem in problems.iter().filter(|problem| problem.kind == Kind::EmailOutsideEmail) {
            if let Some(index) = problem.column.as_ref().and_then(|c| self.headers.iter().position(|h| h == c)) {
                masked[index] = true;
            }
        }
        masked
    }

    /// The row as the API shows it: `{"row", "cells", "state", "problems", "masked"}`.
    pub fn json(&self, checked: &CheckedRow) -> Value {
        let masked = self.masked(&checked.problems);
        let mut cells = Map::new();
        for (index, header) in self.headers.iter().enumerate() {
            if header.is_empty() {
                continue;
            }
            let value = checked.cells.get(index).map(String::as_str).unwrap_or_default();
            let shown = if masked[index] && !value.trim().is_empty() { MASK } else { value };
            cells.insert(header.clone(), shown.into());
        }
        let masked: Vec<&String> =
            self.headers.iter().zip(&masked).filter(|(_, masked)| **masked).map(|(header, _)| header).collect();
        json!({
            "row": checked.row,
            "cells": cells,
            "state": checked.state.as_str(),
            "problems": checked.problems.iter().map(problem_json).collect::<Vec<_>>(),
            "masked": masked,
        })
    }
}

/// A row with its cells after the edits, checked.
#[derive(Debug, Clone)]
pub struct CheckedRow {
    pub row: u64,
    pub cells: Vec<String>,
    pub state: RowState,
    pub problems: Vec<Problem>,
}

impl CheckedRow {
    /// A row as the last check (or re-check) stored it, with the edits made since applied to
    /// its cells (its state is the stored one: the next re-check gives the new one).
    pub fn from_stored(stored: &StoredRow, headers: &[String], edit: Option<&RowEdit>) -> CheckedRow {
        let mut cells: Vec<String> = serde_json::from_str(&stored.cells).unwrap_or_default();
        if let Some(edit) = edit {
            edit.apply(headers, &mut cells);
        }
        let state = match stored.state.as_str() {
            _ if edit.is_some_and(|edit| edit.excluded) => RowState::Excluded,
            "exception" => RowState::Exception,
            "excluded" => RowState::Excluded,
            "blank" => RowState::Blank,
            _ => RowState::Valid,
        };
        let problems = if state == RowState::Excluded {
            Vec::new()
        } else {
            serde_json::from_str(&stored.problems).unwrap_or_default()
        };
        CheckedRow { row: stored.row, cells, state, problems }
    }

    pub fn stored(&self) -> StoredRow {
        StoredRow {
            row: self.row,
            state: self.state.as_str().to_owned(),
            cells: serde_json::to_string(&self.cells).unwrap_or_default(),
            problems: serde_json::to_string(&self.problems).unwrap_or_default(),
        }
    }

    pub fn has_exception(&self) -> bool {
        self.problems.iter().any(|problem| problem.severity == Severity::Exception)
    }
}

/// A problem as the API shows it (its value is already `None` for personal data).
pub fn problem_json(problem: &Problem) -> Value {
    json!({
        "row": problem.row,
        "column": problem.column,
        "field": problem.field,
        "kind": problem.kind.code(),
        "severity": problem.severity,
        "message": problem.message,
        "value": problem.value,
    })
}
