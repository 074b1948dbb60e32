//! The one helper tree of the integration tests (every test file has `mod support;`): one way to
//! run the binary (`binary`), one way to find and read dump files (`dumps`), client folders
//! (`clients`), the in-process DCS and a forwarding proxy (`dcs`), and terminals (`terminal`).
//! The server's own helpers (`spawn_app()`) are in `tests/api/helpers.rs`, built on these.

// Each test file uses its own part of this tree.
#![allow(dead_code, unused_imports)]

pub mod binary;
pub mod clients;
pub mod dcs;
pub mod dumps;
pub mod terminal;
pub mod workbook;

pub use binary::*;
pub use clients::*;
pub use dcs::*;
pub use dumps::*;
pub use terminal::*;
