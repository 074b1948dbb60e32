//! Upload-and-check benchmark of `replayer serve` (written in a later commit).
fn main() {}
