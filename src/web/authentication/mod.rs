//! Who is asking: passwords, sessions, API tokens and the CSRF token of every form.

pub mod password;
mod session;
pub mod signin_throttle;
pub mod signin_token;

pub use session::{
    clear_session_cookie, cookie, require_user, session_cookie, signin_cookie, CsrfPending, CSRF_HEADER, CSRF_MESSAGE,
    SESSION_COOKIE, SIGNIN_COOKIE,
};

use crate::db::users::User;

/// The signed-in user of a request. `csrf` is the session's token, for the forms of the page;
/// `None` for a Bearer token, which needs none (a browser never sends it by itself).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub csrf: Option<String>,
    pub session_id: Option<String>,
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
