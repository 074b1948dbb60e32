//! Deleting an upload: its staged file and dumps go, its history stays.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::web::authentication::CurrentUser;
use crate::web::check::delete_upload;
use crate::web::pages::error_page;
use crate::web::state::AppState;

pub async fn delete(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let upload = match super::find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error_page(status, &message),
    };
    match delete_upload(&state, &upload, current.user.email.as_str()).await {
        Ok(()) => Redirect::to(&format!("/uploads/{}", upload.id)).into_response(),
        Err(error) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    }
}
