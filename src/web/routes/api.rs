//! The JSON API of SPEC §10, for scripts and tests: the same session as the pages, or
//! `Authorization: Bearer <token>`.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::uploads::find;
use crate::db::uploads::Upload;
use crate::out::dump::DumpType;
use crate::problem::Severity;
use crate::web::authentication::{CsrfPending, CurrentUser};
use crate::web::check::{delete_upload, dump_paths};
use crate::web::multipart::Form;
use crate::web::report::read_page;
use crate::web::staging::receive;
use crate::web::state::AppState;

/// Exceptions given by `GET /api/uploads/{id}`.
const API_EXCEPTIONS: usize = 1000;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub fn upload_json(state: &AppState, upload: &Upload, with_exceptions: bool) -> Value {
    let mut counts = serde_json::to_value(&upload.counts).unwrap_or_default();
    if let (Some(rows), Some(counts)) = (state.rows_so_far(&upload.id), counts.as_object_mut()) {
        counts.insert("rows_so_far".into(), rows.into());
    }
    // While it fires, the counts are the fire's so far.
    let fire = state.fires.get(&upload.id).map(|running| running.progress());
    if let (Some(progress), Some(counts)) = (&fire, counts.as_object_mut()) {
        for (key, value) in [
            ("fired", progress.done),
            ("accepted", progress.accepted),
            ("refused", progress.refused),
            ("failed", progress.failed),
            ("already_fired", progress.already_fired),
        ] {
            counts.insert(key.into(), value.into());
        }
    }
    let mut value = json!({
        "id": upload.id.as_str(),
        "client": upload.client,
        "file_name": upload.file_name,
        "state": upload.state.as_str(),
        "staged": upload.staged,
        "uploaded_by": upload.uploaded_by,
        "uploaded_at_ms": upload.uploaded_at_ms,
        "size_bytes": upload.size_bytes,
        "error": upload.error,
        "counts": counts,
        "dumps": dump_paths(upload).keys().filter(|kind| DumpType::ALL.iter().any(|dump| dump.name() == *kind)).collect::<Vec<_>>(),
        "fire": fire,
        "fire_status": crate::web::fire::page::status_word(upload),
        "fired_by": upload.fired_by,
        "fired_at_ms": upload.fired_at_ms,
        "deleted_by": upload.deleted_by,
        "deleted_at_ms": upload.deleted_at_ms,
        // SPEC §13: the version of the client's mapping the last check used, and the upload's own matching.
        "mapping_version": upload.mapping_version,
        "column_matching": upload.column_matching.as_deref().and_then(|json| serde_json::from_str::<Value>(json).ok()),
    });
    if with_exceptions {
        let exceptions = dump_paths(upload)
            .get(DumpType::Problems.name())
            .and_then(|path| read_page(path, Severity::Exception, 0, API_EXCEPTIONS).ok())
            .map(|(list, _)| list)
            .unwrap_or_default();
        value["exceptions"] = serde_json::to_value(exceptions).unwrap_or_default();
    }
    value
}

pub async fn create(
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
        Ok(id) => match state.db.upload(&id).await {
            Ok(Some(upload)) => (StatusCode::CREATED, Json(upload_json(&state, &upload, false))).into_response(),
            Ok(None) => error(StatusCode::INTERNAL_SERVER_ERROR, "the upload vanished"),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
        },
        Err(refused) => error(refused.status, &refused.message),
    }
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(upload) => {
            let mut value = upload_json(&state, &upload, true);
            super::review::add_review_fields(&state, &upload, &mut value).await;
            Json(value).into_response()
        }
        Err((status, message)) => error(status, &message),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error(status, &message),
    };
    if let Err(e) = delete_upload(&state, &upload, current.user.email.as_str()).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}"));
    }
    match state.db.upload(&upload.id).await {
        Ok(Some(upload)) => Json(upload_json(&state, &upload, false)).into_response(),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "the upload vanished"),
    }
}

#[derive(serde::Deserialize)]
pub struct FireRequest {
    confirm_rows: u64,
}

/// `POST /api/uploads/{id}/fire` with `{"confirm_rows": N}`: 202 once the pre-flight is
/// confirmed; 422 (nothing sent) when N is not the number of rows to fire.
pub async fn fire(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    request: Result<Json<FireRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !current.user.role.can_fire() {
        return error(StatusCode::FORBIDDEN, crate::web::routes::fire::OPERATORS_ONLY);
    }
    let Ok(Json(request)) = request else {
        return error(StatusCode::BAD_REQUEST, "send {\"confirm_rows\": N}, N the number of rows to fire");
    };
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error(status, &message),
    };
    match crate::web::fire::launch(&state, &upload, current.user.email.as_str(), Some(request.confirm_rows)).await {
        Ok(preflight) => {
            let mut value = match state.db.upload(&upload.id).await {
                Ok(Some(upload)) => upload_json(&state, &upload, false),
                _ => json!({}),
            };
            value["rows_to_fire"] = preflight.sending.into();
            (StatusCode::ACCEPTED, Json(value)).into_response()
        }
        Err(refusal) => {
            let mut value = json!({ "error": refusal.message });
            if let Some(preflight) = refusal.preflight {
                value["rows_to_fire"] = preflight.sending.into();
                value["preflight"] = preflight.text.into();
            }
            (refusal.status, Json(value)).into_response()
        }
    }
}

/// `GET /api/uploads/{id}/preflight`: what a fire would send, nothing sent.
pub async fn preflight(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    if !current.user.role.can_fire() {
        return error(StatusCode::FORBIDDEN, crate::web::routes::fire::OPERATORS_ONLY);
    }
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error(status, &message),
    };
    match crate::web::fire::launch(&state, &upload, current.user.email.as_str(), None).await {
        Ok(preflight) => Json(json!({
            "rows_to_fire": preflight.sending,
            "already_fired": preflight.already_fired,
            "exceptions": preflight.with_exceptions,
            "preflight": preflight.text,
        }))
        .into_response(),
        Err(refusal) => error(refusal.status, &refusal.message),
    }
}

/// `POST /api/uploads/{id}/cancel`: stops the fire as Ctrl-C does (202), 409 when none runs.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    if !current.user.role.can_fire() {
        return error(StatusCode::FORBIDDEN, "only operators fire or cancel");
    }
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error(status, &message),
    };
    if state.fires.cancel(&upload.id, current.user.email.as_str()) {
        (StatusCode::ACCEPTED, Json(upload_json(&state, &upload, false))).into_response()
    } else {
        error(StatusCode::CONFLICT, "this upload is not firing; there is nothing to cancel")
    }
}
