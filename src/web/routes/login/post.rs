//! Signing in: the form's CSRF token against its server-issued cookie, the sign-in limits, then
//! the password.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::get::sign_in_page;
use crate::db::now_ms;
use crate::db::users::Email;
use crate::web::authentication::{cookie, password, same_secret, session_cookie, SIGNIN_COOKIE};
use crate::web::state::AppState;

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

#[derive(Deserialize)]
pub struct SignIn {
    email: String,
    password: String,
    csrf: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SignIn>,
) -> Response {
    // The form's token must be the cookie's, and the cookie one this server issued.
    let cookie_token = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if !state.signin_tokens.is_ours(&cookie_token, now_ms(), 0) || !same_secret(&cookie_token, &form.csrf) {
        return sign_in_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some(crate::web::authentication::CSRF_MESSAGE),
            "",
        );
    }
    // No e-mail address is longer: the limits keep no key of a megabyte.
    let key: String = form.email.trim().to_lowercase().chars().take(254).collect();
    let address = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(peer))| peer.ip());
    // Counted before the password is checked: parallel tries cannot all slip through.
    if let Err(wait) = state.signin_throttle.try_sign_in(&key, address) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let message =
            format!("too many sign-in tries for this account or from this computer: wait {seconds} s and try again");
        let mut response = sign_in_page(&state, &headers, StatusCode::TOO_MANY_REQUESTS, Some(&message), &form.email);
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        return response;
    }
    let user = match Email::parse(&form.email) {
        Ok(email) => match state.db.user_password_hash(&email).await {
            Ok(found) => found,
            Err(error) => {
                return sign_in_page(
                    &state,
                    &headers,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(&format!("{error:#}")),
                    "",
                )
            }
        },
        Err(_) => None,
    };
    let hash = user.as_ref().map(|(_, hash)| hash.clone()).unwrap_or_else(|| password::dummy_hash().to_owned());
    let typed = form.password;
    let matches = tokio::task::spawn_blocking(move || password::verify(&typed, &hash)).await.unwrap_or(false);
    let Some((user, _)) = user.filter(|_| matches) else {
        return sign_in_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("wrong e-mail address or password"),
            &form.email,
        );
    };
    let lifetime_ms = SESSION_HOURS * 3600 * 1000;
    let (id, _) = match state.db.create_session(&user.email, lifetime_ms).await {
        Ok(session) => session,
        Err(error) => {
            return sign_in_page(&state, &headers, StatusCode::INTERNAL_SERVER_ERROR, Some(&format!("{error:#}")), "")
        }
    };
    let mut response = Redirect::to("/").into_response();
    let cookie = session_cookie(&id, SESSION_HOURS * 3600, state.config.secure_cookies);
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
