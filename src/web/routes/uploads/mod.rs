//! One upload: the form that sends it, its page, its downloads, its deletion.

pub mod delete;
pub mod dumps;
pub mod get;
pub mod post;

use axum::http::StatusCode;

use crate::db::uploads::{Upload, UploadId};
use crate::web::state::AppState;

/// The upload of a path's id; the id is parsed here, at the edge.
pub async fn find(state: &AppState, raw_id: &str) -> Result<Upload, (StatusCode, String)> {
    let not_found = || (StatusCode::NOT_FOUND, "there is no such upload".to_owned());
    let id = UploadId::parse(raw_id).ok_or_else(not_found)?;
    match state.db.upload(&id).await {
        Ok(Some(upload)) => Ok(upload),
        Ok(None) => Err(not_found()),
        Err(error) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))),
    }
}
