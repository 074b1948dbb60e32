//! HTTP-level tests of `replayer serve`: each starts the real server (`helpers::spawn_app`).

mod check;
mod helpers;
mod signin;
mod uploads;
mod users_cli;
