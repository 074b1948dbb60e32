//! A client's template CSV: the mapping's header row.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::clients;
use crate::web::pages::error_page;
use crate::web::state::AppState;

pub async fn template(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(client) = clients::find(&state.config.clients_dir, &name).filter(|c| c.mapping.is_ok()) else {
        return error_page(StatusCode::NOT_FOUND, "there is no such client");
    };
    let disposition = format!("attachment; filename=\"{}-template.csv\"", client.name);
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        client.template_csv(),
    )
        .into_response()
}
