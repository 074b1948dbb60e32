//! A client's templates (SPEC §10, §11.3): the CSV of the header row, and the workbook.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::clients::{self, Client};
use crate::web::pages::error_page;
use crate::web::state::AppState;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub async fn template(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(client) = usable_client(&state, &name).await else {
        return error_page(StatusCode::NOT_FOUND, "there is no such client");
    };
    attachment(&client, "csv", "text/csv; charset=utf-8", client.template_csv())
}

pub async fn template_xlsx(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(client) = usable_client(&state, &name).await else {
        return error_page(StatusCode::NOT_FOUND, "there is no such client");
    };
    match client.template_xlsx() {
        Ok(bytes) => attachment(&client, "xlsx", XLSX, bytes),
        Err(message) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &message),
    }
}

async fn usable_client(state: &AppState, name: &str) -> Option<Client> {
    clients::find(&state.db, name).await.ok().flatten().filter(|client| client.mapping.is_ok())
}

fn attachment(client: &Client, extension: &str, content_type: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{}-template.{extension}\"", client.name);
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}
