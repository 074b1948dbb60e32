//! The clients' API of SPEC §13: the clients and their mappings (every version, what changed),
//! a mapping saved by an operator as a new version, and an upload checked again with a column
//! matching of its own. The same session (with the CSRF header) or Bearer token as SPEC §10.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::db::clients::{ClientName, ClientVersion, CLIENT_NAME_RULE};
use crate::field::Field;
use crate::read::mapping::{changed_keys, parse_matching, with_matching, Mapping};
use crate::web::authentication::CurrentUser;
use crate::web::check::{check_upload, remove_dumps};
use crate::web::log::{mapping_saved, upload_event, UploadEvent};
use crate::web::routes::api::upload_json;
use crate::web::routes::uploads::find;
use crate::web::state::AppState;

/// The largest body of a PUT of a mapping or a POST of a column matching; a mapping of every
/// key of SPEC §3 is a few KiB.
pub const MAX_BODY: usize = 64 * 1024;

const OPERATORS_ONLY: &str = "only operators save clients' mappings; ask an operator";

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// 422 with the mapping checker's message (SPEC §3: the key named, "did you mean").
fn unprocessable(message: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": message, "messages": [message] }))).into_response()
}

fn internal(failed: anyhow::Error) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{failed:#}"))
}

/// The body, at most `MAX_BODY` bytes, as text; else the status and message to answer.
fn body_text(body: Result<Bytes, BytesRejection>) -> Result<String, (StatusCode, String)> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than {} KiB", MAX_BODY / 1024)
        } else {
            rejection.body_text()
        };
        (status, message)
    })?;
    String::from_utf8(body.to_vec()).map_err(|_| (StatusCode::BAD_REQUEST, "the body is not UTF-8 text".to_owned()))
}

fn summary_json(client: &ClientVersion) -> Value {
    json!({
        "name": client.name.as_str(),
        "client": client.label,
        "version": client.version,
        "saved_by": client.saved_by,
        "saved_at_ms": client.saved_at_ms,
    })
}

/// `GET /api/clients`: every client's name, the mapping's client and its latest version.
pub async fn list(State(state): State<AppState>) -> Response {
    match state.db.clients().await {
        Ok(clients) => Json(clients.iter().map(summary_json).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
pub struct VersionQuery {
    version: Option<i64>,
}

/// `GET /api/clients/{name}[?version=N]`: the mapping (the latest, or version N), its version,
/// and the history: every version with who saved it, when, and the keys it changed.
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let Some(name) = ClientName::parse(&name) else { return error(StatusCode::NOT_FOUND, "there is no such client") };
    client_response(&state, &name, query.version, StatusCode::OK).await
}

async fn client_response(state: &AppState, name: &ClientName, version: Option<i64>, status: StatusCode) -> Response {
    let history = match state.db.client_history(name).await {
        Ok(history) => history,
        Err(e) => return internal(e),
    };
    let shown = match version {
        Some(version) => history.iter().find(|stored| stored.version == version),
        None => history.last(),
    };
    let Some(shown) = shown else {
        return error(StatusCode::NOT_FOUND, "there is no such client, or no such version of it");
    };
    let mut versions = Vec::new();
    let mut previous: Option<&ClientVersion> = None;
    for stored in &history {
        let mut entry = summary_json(stored);
        entry["changed"] = match previous {
            Some(before) => json!(changed_keys(&before.mapping, &stored.mapping)),
            None => json!([]),
        };
        entry.as_object_mut().map(|entry| entry.remove("name"));
        versions.push(entry);
        previous = Some(stored);
    }
    let mut value = summary_json(shown);
    value["latest_version"] = history.last().map(|latest| latest.version).into();
    value["mapping"] = serde_json::from_str(&shown.mapping).unwrap_or(Value::Null);
    value["history"] = versions.into();
    (status, Json(value)).into_response()
}

/// `PUT /api/clients/{name}` (operators): the body, a mapping JSON, checked by the mapping
/// checker of SPEC §3 (422 with its message), saved as the client's next version; a new name
/// creates the client (201).
pub async fn save(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(name) = ClientName::parse(&name) else {
        return error(StatusCode::BAD_REQUEST, &format!("{name:?} is not a client's name: {CLIENT_NAME_RULE}"));
    };
    let text = match body_text(body) {
        Ok(text) => text,
        Err((status, message)) => return error(status, &message),
    };
    let created = match save_mapping(&state, &current, &name, &text).await {
        Ok((_, created)) => created,
        Err(refusal) => return refusal.into_response(),
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    client_response(&state, &name, None, status).await
}

/// `POST /api/uploads/{id}/columns` with `{"columns": {"field": "Header" | null}}`: the upload
/// checked again (202; poll its state) with its client's mapping, those fields' columns
/// replaced (`null`: not in this file). The matching is kept with the upload, so a re-check and
/// the fire use it too. 422 for an unknown field, or a required field left without a column and
/// without a default; 409 while it is checked or fired, or once its file is gone.
pub async fn columns(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error(status, &message),
    };
    let text = match body_text(body) {
        Ok(text) => text,
        Err((status, message)) => return error(status, &message),
    };
    let request: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(_) => return error(StatusCode::BAD_REQUEST, "send {\"columns\": {\"field\": \"Header\" or null}}"),
    };
    let Some(given) = request.get("columns") else {
        return error(StatusCode::BAD_REQUEST, "send {\"columns\": {\"field\": \"Header\" or null}}");
    };
    if let Err(refusal) = recheck_with(&state, &current, &upload, Some(given)).await {
        return refusal.into_response();
    }
    match state.db.upload(&upload.id).await {
        Ok(Some(upload)) => (StatusCode::ACCEPTED, Json(upload_json(&state, &upload, false))).into_response(),
        Ok(None) => error(StatusCode::INTERNAL_SERVER_ERROR, "the upload vanished"),
        Err(e) => internal(e),
    }
}

/// Why a save or a re-check was refused: the status and the message for a person.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into() }
    }

    fn internal(failed: anyhow::Error) -> Refusal {
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{failed:#}"))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self.status {
            StatusCode::UNPROCESSABLE_ENTITY => unprocessable(self.message),
            status => error(status, &self.message),
        }
    }
}

/// Saves a mapping JSON (checked by the mapping checker of SPEC §3: 422 with its message) as
/// the client's next version, for an operator only, with its log line; the version saved, and
/// whether it created the client. The API's PUT and the client's page both save through it.
pub async fn save_mapping(
    state: &AppState,
    current: &CurrentUser,
    name: &ClientName,
    text: &str,
) -> Result<(i64, bool), Refusal> {
    if current.user.role != crate::db::users::Role::Operator {
        return Err(Refusal::new(StatusCode::FORBIDDEN, OPERATORS_ONLY));
    }
    let mapping = Mapping::parse(text).map_err(|e| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    // Kept as the operator sent it, in its own key order, laid out the same way every time.
    let json = match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned()),
        Err(_) => text.to_owned(),
    };
    let previous = state.db.client_version(name, None).await.map_err(Refusal::internal)?;
    let by = current.user.email.as_str();
    let version = state
        .db
        .save_client_version(name, &mapping.client, &json, by, false)
        .await
        .map_err(Refusal::internal)?
        .unwrap_or_default();
    let changed = match &previous {
        Some(previous) => changed_keys(&previous.mapping, &json),
        None => vec!["new client".to_owned()],
    };
    mapping_saved(name, version, by, &crate::field::capped_list(changed));
    Ok((version, previous.is_none()))
}

/// Checks an upload again with a column matching (`{"field": "Header" | null}`) kept with it:
/// the API's POST and the column-matching page both do it through this. `None`: the upload is
/// checked again with its client's mapping alone (its matching saved as the mapping).
pub async fn recheck_with(
    state: &AppState,
    current: &CurrentUser,
    upload: &crate::db::uploads::Upload,
    given: Option<&Value>,
) -> Result<(), Refusal> {
    let unprocessable = |e: anyhow::Error| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}"));
    let matching = match given {
        Some(given) => parse_matching(given).map_err(unprocessable)?,
        None => Vec::new(),
    };
    let Some(name) = ClientName::parse(&upload.client) else {
        return Err(Refusal::new(StatusCode::CONFLICT, "the upload's client is not in the database"));
    };
    let stored = match state.db.client_version(&name, None).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(Refusal::new(StatusCode::CONFLICT, "the upload's client is no longer in the database")),
        Err(e) => return Err(Refusal::internal(e)),
    };
    let mapping =
        with_matching(&stored.mapping, &matching).and_then(|json| Mapping::parse(&json)).map_err(unprocessable)?;
    for (field, header) in &matching {
        if header.is_none() && field.is_required() && !has_default(&mapping, *field) {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "\"columns.{0}\" is null, but {0} is required and the mapping gives no default for it; choose the file's column that holds it",
                    field.name()
                ),
            ));
        }
    }
    if state.fires.get(&upload.id).is_some() {
        return Err(Refusal::new(StatusCode::CONFLICT, "this upload is firing; its columns cannot change now"));
    }
    let kept = given.map(|given| serde_json::to_string(given).unwrap_or_default());
    match state.db.recheck_with_matching(&upload.id, kept.as_deref()).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "this upload cannot be checked again now: it is being checked or fired, was deleted, or its file is no longer in the database",
            ))
        }
        Err(e) => return Err(Refusal::internal(e)),
    }
    // The dumps of the check before are not those of this matching.
    remove_dumps(&state.config.output_dir, upload, None);
    let by = current.user.email.as_str();
    let detail = match given {
        Some(_) => {
            let fields: Vec<&str> = matching.iter().map(|(field, _)| field.name()).collect();
            format!("column matching of {}", fields.join(", "))
        }
        None => format!("checked again with the mapping of {name}, version {}", stored.version),
    };
    upload_event(UploadEvent::Edited, &upload.id, by, &detail);
    tokio::spawn(check_upload(state.clone(), upload.id.clone(), None));
    Ok(())
}

/// Whether a field without a column still gets a value: a default, or the mapping's token.
pub fn has_default(mapping: &Mapping, field: Field) -> bool {
    mapping.default_for(field).is_some() || (field == Field::AccountToken && mapping.account_token.is_some())
}
