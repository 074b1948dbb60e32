//! The upload form: stage the file, start its check, go to its page.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::web::authentication::{CsrfPending, CurrentUser};
use crate::web::multipart::Form;
use crate::web::pages::error_page;
use crate::web::staging::receive;
use crate::web::state::AppState;

pub async fn upload(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    csrf: Option<Extension<CsrfPending>>,
    request: Request,
) -> Response {
    let received = match Form::of(request) {
        Ok(form) => receive(&state, &current, csrf.map(|Extension(pending)| pending), form).await,
        Err(error) => Err(error),
    };
    match received {
        Ok(id) => Redirect::to(&format!("/uploads/{id}")).into_response(),
        Err(error) => error_page(error.status, &error.message),
    }
}
