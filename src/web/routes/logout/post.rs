use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::web::authentication::{clear_session_cookie, CurrentUser};
use crate::web::state::AppState;

pub async fn logout(State(state): State<AppState>, Extension(current): Extension<CurrentUser>) -> Response {
    if let Some(id) = &current.session_id {
        let _ = state.db.end_session(id).await;
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = clear_session_cookie(state.config.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
