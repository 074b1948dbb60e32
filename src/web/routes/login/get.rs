//! The sign-in page: its CSRF token, issued by the server, also goes in a cookie, checked against
//! the form's.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::db::now_ms;
use crate::web::authentication::{cookie, signin_cookie, SIGNIN_COOKIE};
use crate::web::pages::{layout, render};
use crate::web::state::AppState;

/// A browser's token is reused while it has at least this long to live.
const KEEP_IF_LEFT_MS: i64 = 10 * 60 * 1000;

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    sign_in_page(&state, &headers, StatusCode::OK, None, "")
}

/// The form and a message when the last try failed. The browser's token is kept when it has
/// one: a second tab (or the favicon's redirect) must not make the first tab's form stale.
pub fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    message: Option<&str>,
    email: &str,
) -> Response {
    // Kept only when this server (or another on its database) issued it, with time to use it.
    let now = now_ms();
    let token = cookie(headers, SIGNIN_COOKIE)
        .filter(|token| state.signin_tokens.is_ours(token, now, KEEP_IF_LEFT_MS))
        .unwrap_or_else(|| state.signin_tokens.issue(now));
    let content = html! {
        h1 { "Sign in" }
        @if let Some(message) = message {
            p.error #error { (message) }
        }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            label { "E-mail" input type="email" name="email" value=(email) required autofocus; }
            label { "Password" input type="password" name="password" required; }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = render(status, layout("Sign in", None, content));
    if let Ok(value) = signin_cookie(&token, state.config.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.into_response()
}
