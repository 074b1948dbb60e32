pub mod api;
pub mod form;
pub mod get;
pub mod page;
