//! The sign-in page: its CSRF token also goes in a cookie, checked against the form's.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::db::users::random_secret;
use crate::web::authentication::signin_cookie;
use crate::web::pages::{layout, render};
use crate::web::state::AppState;

pub async fn form(State(state): State<AppState>) -> Response {
    sign_in_page(&state, StatusCode::OK, None, "")
}

/// The form, with a fresh token, and a message when the last try failed.
pub fn sign_in_page(state: &AppState, status: StatusCode, message: Option<&str>, email: &str) -> Response {
    let token = random_secret();
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
