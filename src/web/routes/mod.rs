//! One folder a page: `get.rs` shows it, `post.rs` takes its form.

pub mod api;
pub mod assets;
pub mod clients;
pub mod columns;
pub mod fire;
pub mod fix;
pub mod home;
pub mod login;
pub mod logout;
pub mod review;
pub mod uploads;
