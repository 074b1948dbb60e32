//! Deleting an upload: a page that says what goes and what stays asks first (SPEC §12); then
//! its staged file and dumps go, its history stays.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::html;

use crate::db::uploads::UploadState;
use crate::web::authentication::CurrentUser;
use crate::web::check::delete_upload;
use crate::web::pages::{error_page, layout, render};
use crate::web::state::AppState;

/// `GET /uploads/{id}/delete`: what a delete removes and what it keeps, and the button.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let upload = match super::find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error_page(status, &message),
    };
    let back = format!("/uploads/{}", upload.id);
    let content = html! {
        h1 { "Delete " (upload.file_name) "?" }
        @if upload.state == UploadState::Deleted {
            p { "This upload is already deleted." }
        } @else {
            @if upload.state == UploadState::Firing {
                p.error { "Its rows are being sent now: deleting it first stops the sending, as Cancel does." }
            }
            p { "Deleted: the file as it was uploaded (kept in the database until now) and the files of its checks and sends. Nobody can check, fix or send it any more." }
            p { "Kept: this upload's history (who uploaded it and when, the client, the file's name, its counts, who sent it) and the record of the rows sent, so that rows already accepted are never sent twice, even from a new upload of the same file." }
            form #delete-form method="post" action={ "/uploads/" (upload.id) "/delete" } {
                input type="hidden" name="csrf" value=(current.csrf.clone().unwrap_or_default());
                button #confirm-delete.danger type="submit" { "Delete it" }
                " "
                a href=(back) { "No, keep it" }
            }
        }
    };
    render(StatusCode::OK, layout("Delete an upload", Some(&current), content))
}

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
