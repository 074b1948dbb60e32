//! Who is asking: passwords, sessions, API tokens and the CSRF token of every form.

pub mod password;
mod session;
pub mod signin_throttle;

pub use session::{
    clear_session_cookie, cookie, require_user, session_cookie, signin_cookie, CsrfPending, CurrentUser, CSRF_HEADER,
    CSRF_MESSAGE, SESSION_COOKIE, SIGNIN_COOKIE,
};

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
