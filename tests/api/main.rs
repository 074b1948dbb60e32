//! HTTP-level tests of `replayer serve`: each starts the real server (`helpers::spawn_app`).

mod backends;
mod check;
mod clients;
mod helpers;
mod limits;
mod mapping_pages;
mod review;
mod signin;
#[path = "../support/mod.rs"]
mod support;
mod uploads;
mod users_cli;
