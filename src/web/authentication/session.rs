//! The gate in front of every page but the sign-in page: a session cookie or a Bearer token
//! makes a `CurrentUser`; every unsafe request of a session carries its CSRF token.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{same_secret, CurrentUser};
use crate::web::state::AppState;

pub const SESSION_COOKIE: &str = "replayer_session";
/// The sign-in form's CSRF token, before there is a session (double submit).
pub const SIGNIN_COOKIE: &str = "replayer_signin";
/// A small form's body is read whole to find its CSRF token; no form of ours is larger.
const FORM_LIMIT: usize = 64 * 1024;
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Put on a multipart request of a session: its CSRF token is a form field, which the handler
/// reading the stream must check before it stores anything.
#[derive(Debug, Clone)]
pub struct CsrfPending(pub String);

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|value| {
        value.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    })
}

fn cookie_attributes(secure: bool) -> &'static str {
    if secure {
        "HttpOnly; SameSite=Strict; Secure"
    } else {
        "HttpOnly; SameSite=Strict"
    }
}

pub fn session_cookie(id: &str, max_age_seconds: i64, secure: bool) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; Max-Age={max_age_seconds}; {}", cookie_attributes(secure))
}

pub fn clear_session_cookie(secure: bool) -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; {}", cookie_attributes(secure))
}

pub fn signin_cookie(token: &str, secure: bool) -> String {
    format!("{SIGNIN_COOKIE}={token}; Path=/login; Max-Age=3600; {}", cookie_attributes(secure))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn is_api(request: &Request) -> bool {
    request.uri().path().starts_with("/api/")
}

fn refuse(api: bool, status: StatusCode, message: &str) -> Response {
    if api {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    } else {
        crate::web::pages::error_page(status, message)
    }
}

/// Middleware: signed out → the sign-in page (401 for the API); unsafe methods of a session
/// without the session's CSRF token → 403.
pub async fn require_user(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let api = is_api(&request);
    let current = match authenticate(&state, request.headers()).await {
        Ok(Some(current)) => current,
        Ok(None) if api => {
            return refuse(
                true,
                StatusCode::UNAUTHORIZED,
                "sign in, or send Authorization: Bearer <token> (replayer users token)",
            )
        }
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(error) => return refuse(api, StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    };
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if let (false, Some(csrf)) = (safe, current.csrf.clone()) {
        let header_token = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if let Some(token) = header_token {
            if !same_secret(&token, &csrf) {
                return refuse(api, StatusCode::FORBIDDEN, CSRF_MESSAGE);
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
                return refuse(api, StatusCode::PAYLOAD_TOO_LARGE, "this form is larger than any form of these pages");
            };
            let token =
                form_urlencoded::parse(&bytes).find(|(key, _)| key == "csrf").map(|(_, value)| value.into_owned());
            if !token.is_some_and(|token| same_secret(&token, &csrf)) {
                return refuse(api, StatusCode::FORBIDDEN, CSRF_MESSAGE);
            }
            request = Request::from_parts(parts, Body::from(bytes));
        } else if content_type.starts_with("multipart/form-data") {
            request.extensions_mut().insert(CsrfPending(csrf));
        } else {
            return refuse(api, StatusCode::FORBIDDEN, CSRF_MESSAGE);
        }
    }
    crate::web::log::record_user(current.user.email.as_str());
    request.extensions_mut().insert(current);
    next.run(request).await
}

pub const CSRF_MESSAGE: &str =
    "this form's security token is missing or out of date (CSRF check); reload the page and try again";

async fn authenticate(state: &AppState, headers: &HeaderMap) -> anyhow::Result<Option<CurrentUser>> {
    if let Some(token) = bearer(headers) {
        let user = state.db.api_token_user(token).await?;
        return Ok(user.map(|user| CurrentUser { user, csrf: None, session_id: None }));
    }
    let Some(id) = cookie(headers, SESSION_COOKIE).filter(|id| !id.is_empty()) else { return Ok(None) };
    let session = state.db.session(&id).await?;
    Ok(session.map(|session| CurrentUser { user: session.user, csrf: Some(session.csrf), session_id: Some(id) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; replayer_session=abc; b=2".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        assert_eq!(bearer(&headers), Some("xyz"));
        assert!(session_cookie("x", 10, true).contains("HttpOnly; SameSite=Strict; Secure"));
        assert!(!session_cookie("x", 10, false).contains("Secure"));
    }
}
