//! What a run writes: the five dump files, the summary with its exit code, its JSON report, and
//! how text is shown on a terminal; and the client's template.

pub mod dump;
pub mod report;
pub mod summary;
pub mod template;
pub mod terminal;
