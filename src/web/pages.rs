//! The frame every page shares, and the error page. maud escapes every value it prints, so a
//! file name or a message can never add markup.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::authentication::CurrentUser;

/// A whole page: the header with the user and the sign-out button, then `content`.
pub fn layout(title: &str, user: Option<&CurrentUser>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · replayer" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "replayer" }
                    @if let Some(current) = user {
                        span.who { (current.user.email) " (" (current.user.role.as_str()) ")" }
                        @if let Some(csrf) = &current.csrf {
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

pub fn render(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A page that says what went wrong; its message is in `#error` (the upload script shows it).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let content = html! {
        h1 { (status.canonical_reason().unwrap_or("Error")) }
        p.error #error { (message) }
        p { a href="/" { "Back to the uploads" } }
    };
    render(status, layout("Error", None, content))
}

pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "there is no such page")
}

/// A time in unix milliseconds, as UTC.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}
