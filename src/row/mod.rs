//! What each row means (SPEC §4): `ReplayerConfig` and one `handle_<field>` per field, run by
//! `format_data` into a payload with its rid; duplicates and the order of rows; the work of
//! every row, spread over the cores (`check`).

pub mod check;
pub mod config;
pub mod damage;
pub mod dedupe;
pub mod format;
pub mod handlers;
pub mod money;
pub mod outcome;
pub mod payload;
