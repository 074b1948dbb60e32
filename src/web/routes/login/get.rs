//! The sign-in page: its CSRF token also goes in a cookie, checked against the form's.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::db::random_secret;
use crate::web::authentication::{cookie, signin_cookie, SIGNIN_COOKIE};
use crate::web::pages::{layout, render};
use crate::web::state::AppState;

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
    let token = cookie(headers, SIGNIN_COOKIE)
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(random_secret);
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
