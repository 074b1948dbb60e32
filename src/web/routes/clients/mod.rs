pub mod api;
pub mod get;
