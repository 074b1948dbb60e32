//! What a run writes: the five dump files, and the summary with its exit code.

pub mod dump;
pub mod summary;
