//! `GET /uploads/{id}/columns`: the matching page with each field's best column chosen.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::{kept_matching, load, page};
use crate::web::authentication::CurrentUser;
use crate::web::matching::suggest;
use crate::web::state::AppState;

pub async fn columns(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let matching = match load(&state, &id).await {
        Ok(matching) => matching,
        Err(page) => return page,
    };
    let matches = suggest(&matching.mapping, &kept_matching(&matching.upload), &matching.head);
    page(&matching, &matches, &current, StatusCode::OK, None)
}
