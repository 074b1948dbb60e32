//! The API of SPEC §12: an upload's problems grouped, its rows with problems as edited, edits
//! of a row, "replace in column", the rows to fix as CSV or xlsx and their corrections, the
//! history of edits. Analysts and operators alike may edit (§13 "Roles"); the session's CSRF
//! token is checked before anything is read (the header for JSON, the first part of a form).

use std::collections::{BTreeMap, HashSet};
use std::io::{Seek, SeekFrom, Write};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::uploads::find;
use crate::db::review::EditRecord;
use crate::db::uploads::Upload;
use crate::out::dump::DumpType;
use crate::read::{self, Edits, Encoding, Reading, SourceRow};
use crate::web::authentication::{same_secret, CsrfPending, CurrentUser, CSRF_MESSAGE};
use crate::web::check::{dump_paths, run_name};
use crate::web::multipart::{Form, UploadError};
use crate::web::review::rejected::{self, PROBLEM_HEADER, ROW_HEADER};
use crate::web::review::rows::{CheckedRow, RowChecker, RowState, MASK};
use crate::web::review::{self as review, Refused};
use crate::web::state::AppState;

/// Rows given by one `GET …/rows` at most.
const MAX_ROWS: i64 = 1000;
/// Corrected rows checked again at once; the rest wait for the upload's check.
const RECHECKED_AT_ONCE: usize = 1000;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn refused((status, message): Refused) -> Response {
    error(status, &message)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn upload_of(state: &AppState, id: &str) -> Result<Upload, Response> {
    find(state, id).await.map_err(|(status, message)| error(status, &message))
}

/// An upload that can be edited now, with its checker.
pub(crate) async fn editable(state: &AppState, id: &str) -> Result<(Upload, RowChecker), Response> {
    let upload = upload_of(state, id).await?;
    if let Some(refusal) = review::refusal(state, &upload) {
        return Err(refused(refusal));
    }
    let checker = review::checker(state, &upload).await.map_err(refused)?;
    Ok((upload, checker))
}

fn internal(error: anyhow::Error) -> Response {
    self::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}"))
}

/// What `GET /api/uploads/{id}` adds for the page: `coverage` (per account) and `edits`.
pub async fn add_review_fields(state: &AppState, upload: &Upload, value: &mut Value) {
    let coverage = match state.db.review(&upload.id).await {
        Ok(Some(review)) => serde_json::from_str(&review.coverage).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    value["coverage"] = coverage;
    value["edits"] = state.db.edit_count(&upload.id).await.unwrap_or_default().into();
}

#[derive(Deserialize)]
pub struct ProblemsQuery {
    group: Option<String>,
    q: Option<String>,
    page: Option<usize>,
}

/// `GET /api/uploads/{id}/problems?group=&q=&page=`.
pub async fn problems(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ProblemsQuery>,
) -> Response {
    let upload = match upload_of(&state, &id).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let path = dump_paths(&upload).get(DumpType::Problems.name()).cloned().filter(|path| path.is_file());
    let answered = tokio::task::spawn_blocking(move || {
        review::problems::page(path.as_deref(), query.group.as_deref(), query.q.as_deref(), query.page.unwrap_or(1))
    })
    .await;
    match answered {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(_)) | Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the problems of this check cannot be read; check the upload again",
        ),
    }
}

#[derive(Deserialize)]
pub struct RowsQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// The stored rows `from..=to` with the edits made since applied.
pub(crate) async fn checked_rows(
    state: &AppState,
    upload: &Upload,
    checker: &RowChecker,
    from: u64,
    to: u64,
    limit: i64,
) -> anyhow::Result<Vec<CheckedRow>> {
    let edits = state.db.upload_edits(&upload.id).await?;
    let stored = state.db.stored_rows(&upload.id, from, to, limit).await?;
    Ok(stored.iter().map(|row| CheckedRow::from_stored(row, &checker.headers, edits.row(row.row))).collect())
}

/// `GET /api/uploads/{id}/rows?from=&to=`: the rows with problems, as edited.
pub async fn rows(State(state): State<AppState>, Path(id): Path<String>, Query(query): Query<RowsQuery>) -> Response {
    let upload = match upload_of(&state, &id).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let checker = match review::checker(&state, &upload).await {
        Ok(checker) => checker,
        Err(refusal) => return refused(refusal),
    };
    let (from, to) = (query.from.unwrap_or(0), query.to.unwrap_or(u64::MAX));
    match checked_rows(&state, &upload, &checker, from, to, MAX_ROWS).await {
        Ok(rows) => Json(rows.iter().map(|row| checker.json(row)).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize, Default)]
pub struct RowEditRequest {
    pub(crate) cells: Option<BTreeMap<String, String>>,
    pub(crate) excluded: Option<bool>,
}

/// `PATCH /api/uploads/{id}/rows/{row}` with `{"cells": {"Header": "new"}}` or
/// `{"excluded": true|false}`: the row re-checked at once.
pub async fn patch_row(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((id, row)): Path<(String, u64)>,
    request: Result<Json<RowEditRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(request)) = request else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"cells\": {\"Header\": \"new value\"}} or {\"excluded\": true|false}",
        );
    };
    if request.cells.is_none() && request.excluded.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"cells\": {\"Header\": \"new value\"}} or {\"excluded\": true|false}",
        );
    }
    match edit_row(&state, &current, &id, row, request).await {
        Ok(checked) => Json(checked).into_response(),
        Err(response) => response,
    }
}

/// Edit a row (its cells, or whether it is excluded) and check it again at once: the row as
/// `rows` gives it, or the refusal. Shared by the API and the page's form.
pub(crate) async fn edit_row(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
    row: u64,
    request: RowEditRequest,
) -> Result<Value, Response> {
    let (upload, checker) = editable(state, id).await?;
    match state.db.accepted_rows(&run_name(&upload.id)).await {
        Ok(accepted) if accepted.contains(&row) => {
            return Err(error(
                StatusCode::CONFLICT,
                &format!("row {row} was already accepted by the DCS; it cannot be changed"),
            ))
        }
        Ok(_) => {}
        Err(e) => return Err(internal(e)),
    }
    let mut edits = state.db.upload_edits(&upload.id).await.map_err(internal)?;
    let cells = match current_cells(state, &upload, &checker, &edits, row).await {
        Ok(Some(cells)) => cells,
        Ok(None) => return Err(error(StatusCode::NOT_FOUND, &format!("the file has no row {row}"))),
        Err(e) => return Err(internal(e)),
    };
    let by = current.user.email.as_str().to_owned();
    let mut records = Vec::new();
    for (column, new) in request.cells.iter().flatten() {
        let Some(index) = checker.headers.iter().position(|header| header == column && !header.is_empty()) else {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &format!("the file has no column {column:?}")));
        };
        let old = cells.get(index).cloned().unwrap_or_default();
        if old != *new {
            let personal = checker.personal[index];
            records.push(EditRecord {
                row,
                column: Some(column.clone()),
                excluded: None,
                personal,
                old: (!personal).then_some(old),
                new: Some(new.clone()),
                by: by.clone(),
                at_ms: now_ms(),
            });
        }
    }
    if let Some(excluded) = request.excluded {
        if edits.is_excluded(row) != excluded {
            records.push(EditRecord {
                row,
                column: None,
                excluded: Some(excluded),
                personal: false,
                old: None,
                new: None,
                by: by.clone(),
                at_ms: now_ms(),
            });
        }
    }
    for record in &records {
        let edit = edits.rows.entry(row).or_default();
        match (&record.column, record.excluded) {
            (_, Some(excluded)) => edit.excluded = excluded,
            (Some(column), None) => edit.set(column, record.new.as_deref().unwrap_or_default()),
            (None, None) => {}
        }
    }
    let checked = checker.recheck(row, cells, edits.row(row));
    if !records.is_empty() {
        let what = match request.excluded {
            Some(true) => format!("row {row} excluded"),
            Some(false) => format!("row {row} included"),
            None => format!("row {row}: {} cells changed, now {}", records.len(), checked.state.as_str()),
        };
        state.db.save_row(&upload.id, &checked.stored()).await.map_err(internal)?;
        review::save_edits(state, &upload, &records, &what).await.map_err(internal)?;
    }
    Ok(checker.json(&checked))
}

/// A row's cells as the file has them after the edits: the stored ones, else from the file.
async fn current_cells(
    state: &AppState,
    upload: &Upload,
    checker: &RowChecker,
    edits: &Edits,
    row: u64,
) -> anyhow::Result<Option<Vec<String>>> {
    let mut cells = match state.db.stored_row(&upload.id, row).await? {
        Some(stored) => serde_json::from_str(&stored.cells).unwrap_or_default(),
        None => match review::read_row(state, upload, row).await? {
            Some(cells) => cells,
            None => return Ok(None),
        },
    };
    if let Some(edit) = edits.row(row) {
        edit.apply(&checker.headers, &mut cells);
    }
    Ok(Some(cells))
}

#[derive(Deserialize)]
pub struct ReplaceRequest {
    pub(crate) column: String,
    pub(crate) from: String,
    pub(crate) to: String,
}

/// `POST /api/uploads/{id}/replace` with `{"column", "from", "to"}`: the value replaced in every
/// row of the column that holds it (a pass over the staged file), as edits; `{"changed": N}`.
pub async fn replace(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    request: Result<Json<ReplaceRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(request)) = request else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"column\": \"Header\", \"from\": \"old value\", \"to\": \"new value\"}",
        );
    };
    match replace_in_column(&state, &current, &id, request).await {
        Ok(changed) => Json(json!({ "changed": changed })).into_response(),
        Err(response) => response,
    }
}

/// "Replace in column": the cells changed, or the refusal. Shared by the API and the page.
pub(crate) async fn replace_in_column(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
    request: ReplaceRequest,
) -> Result<usize, Response> {
    let (upload, checker) = editable(state, id).await?;
    let Some(index) = checker.headers.iter().position(|header| *header == request.column && !header.is_empty()) else {
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &format!("the file has no column {:?}", request.column)));
    };
    let (accepted, edits) =
        match (state.db.accepted_rows(&run_name(&upload.id)).await, state.db.upload_edits(&upload.id).await) {
            (Ok(accepted), Ok(edits)) => (accepted, edits),
            (Err(e), _) | (_, Err(e)) => return Err(internal(e)),
        };
    let personal = checker.personal[index];
    let by = current.user.email.as_str().to_owned();
    let matched = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (headers, keep, from, at_ms) = (checker.headers.clone(), matched.clone(), request.from.clone(), now_ms());
    let (to, column) = (request.to.clone(), request.column.clone());
    let scanned = review::scan_staged(state, &upload, move |row, mut cells| {
        if let Some(edit) = edits.row(row) {
            edit.apply(&headers, &mut cells);
        }
        let value = cells.get(index).map(String::as_str).unwrap_or_default();
        if value.trim() == from.trim() && value != to && !accepted.contains(&row) {
            keep.lock().expect("not poisoned").push(EditRecord {
                row,
                column: Some(column.clone()),
                excluded: None,
                personal,
                old: (!personal).then(|| value.to_owned()),
                new: Some(to.clone()),
                by: by.clone(),
                at_ms,
            });
        }
        true
    })
    .await;
    scanned.map_err(internal)?;
    let records = std::mem::take(&mut *matched.lock().expect("not poisoned"));
    let what = format!("replaced in column {:?}: {} cells", request.column, records.len());
    review::save_edits(state, &upload, &records, &what).await.map_err(internal)?;
    Ok(records.len())
}

/// The rows with exceptions, as edited: those to fix.
async fn rows_to_fix(state: &AppState, id: &str) -> Result<(Upload, RowChecker, Vec<CheckedRow>), Response> {
    let upload = upload_of(state, id).await?;
    let checker = review::checker(state, &upload).await.map_err(refused)?;
    let rows = checked_rows(state, &upload, &checker, 0, u64::MAX, i64::MAX).await.map_err(internal)?;
    let rows = rows.into_iter().filter(|row| row.state == RowState::Exception).collect();
    Ok((upload, checker, rows))
}

fn attachment(content_type: &str, file_name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/uploads/{id}/rejected.csv`.
pub async fn rejected_csv(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match rows_to_fix(&state, &id).await {
        Ok((upload, checker, rows)) => attachment(
            "text/csv; charset=utf-8",
            format!("{}-to-fix.csv", run_name(&upload.id)),
            rejected::csv(&checker, &rows),
        ),
        Err(response) => response,
    }
}

/// `GET /api/uploads/{id}/rejected.xlsx`.
pub async fn rejected_xlsx(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match rows_to_fix(&state, &id).await {
        Ok((upload, checker, rows)) => match rejected::xlsx(&checker, &rows) {
            Ok(bytes) => attachment(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                format!("{}-to-fix.xlsx", run_name(&upload.id)),
                bytes,
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot write the workbook: {e}")),
        },
        Err(response) => response,
    }
}

/// `POST /api/uploads/{id}/corrections` (multipart: `csrf` first for a session, then `file`):
/// each row of the file, matched by `Row`, replaces that row's cells as edits, and is checked
/// again. An empty cell of a personal-data column keeps the file's value (the download leaves
/// those cells empty). `{"rows_replaced": N}`: rows with a cell changed.
pub async fn corrections(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    csrf: Option<Extension<CsrfPending>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    // A page's form goes back to the page; a script gets JSON.
    let from_page = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let form = match Form::of(request) {
        Ok(form) => form,
        Err(refusal) => return error(refusal.status, &refusal.message),
    };
    // The token first: nothing else of the form is read before it is checked.
    let file = match receive_file(&state, csrf.map(|Extension(pending)| pending), form).await {
        Ok(file) => file,
        Err(refusal) => return error(refusal.status, &refusal.message),
    };
    let (upload, checker) = match editable(&state, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let headers = checker.headers.clone();
    let read = tokio::task::spawn_blocking(move || read_corrections(file, &headers)).await;
    let corrected = match read {
        Ok(Ok(corrected)) => corrected,
        Ok(Err(e)) => return error(StatusCode::UNPROCESSABLE_ENTITY, &format!("{e:#}")),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "the corrections could not be read"),
    };
    let (accepted, mut edits) =
        match (state.db.accepted_rows(&run_name(&upload.id)).await, state.db.upload_edits(&upload.id).await) {
            (Ok(accepted), Ok(edits)) => (accepted, edits),
            (Err(e), _) | (_, Err(e)) => return internal(e),
        };
    let by = current.user.email.as_str().to_owned();
    let (mut records, mut replaced, mut skipped) = (Vec::new(), Vec::new(), 0u64);
    for (row, values) in corrected {
        let stored = match state.db.stored_row(&upload.id, row).await {
            Ok(Some(stored)) if !accepted.contains(&row) => stored,
            Ok(_) => {
                skipped += 1;
                continue;
            }
            Err(e) => return internal(e),
        };
        let current_row = CheckedRow::from_stored(&stored, &checker.headers, edits.row(row));
        let masked = checker.masked(&current_row.problems);
        let before = records.len();
        for (index, new) in values.into_iter().enumerate() {
            let Some(new) = new else { continue };
            let old = current_row.cells.get(index).cloned().unwrap_or_default();
            if old == new || (masked[index] && (new.trim().is_empty() || new == MASK)) {
                continue;
            }
            let personal = checker.personal[index];
            let column = checker.headers[index].clone();
            edits.rows.entry(row).or_default().set(&column, &new);
            records.push(EditRecord {
                row,
                column: Some(column),
                excluded: None,
                personal,
                old: (!personal).then_some(old),
                new: Some(new),
                by: by.clone(),
                at_ms: now_ms(),
            });
        }
        if records.len() > before {
            replaced.push((row, current_row.cells));
        }
    }
    for (row, cells) in replaced.iter().take(RECHECKED_AT_ONCE) {
        let checked = checker.recheck(*row, cells.clone(), edits.row(*row));
        if let Err(e) = state.db.save_row(&upload.id, &checked.stored()).await {
            return internal(e);
        }
    }
    let what = format!("corrections uploaded: {} rows replaced, {} cells", replaced.len(), records.len());
    if let Err(e) = review::save_edits(&state, &upload, &records, &what).await {
        return internal(e);
    }
    if from_page {
        let to = format!("/uploads/{}/fix?replaced={}", upload.id, replaced.len());
        return axum::response::Redirect::to(&to).into_response();
    }
    Json(json!({ "rows_replaced": replaced.len(), "rows_skipped": skipped })).into_response()
}

/// The form's file, in an anonymous temporary file (no name on disk), within `--max-upload`.
async fn receive_file(
    state: &AppState,
    csrf: Option<CsrfPending>,
    mut form: Form,
) -> Result<std::fs::File, UploadError> {
    if let Some(expected) = &csrf {
        let token = match form.next_part().await? {
            Some(part) if part.name() == "csrf" => part.text().await?,
            _ => return Err(UploadError::new(StatusCode::FORBIDDEN, CSRF_MESSAGE)),
        };
        if !same_secret(&token, &expected.0) {
            return Err(UploadError::new(StatusCode::FORBIDDEN, CSRF_MESSAGE));
        }
    }
    while let Some(mut part) = form.next_part().await? {
        if part.name() != "file" {
            drop(part.text().await?);
            continue;
        }
        let mut file = tempfile::tempfile().map_err(|e| UploadError::internal(e.into()))?;
        let mut size = 0u64;
        while let Some(bytes) = part.chunk().await? {
            size += bytes.len() as u64;
            if size > state.config.max_upload {
                return Err(UploadError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the corrections are larger than the upload limit (--max-upload)",
                ));
            }
            file.write_all(&bytes).map_err(|e| UploadError::internal(e.into()))?;
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| UploadError::internal(e.into()))?;
        return Ok(file);
    }
    Err(UploadError::new(StatusCode::BAD_REQUEST, "the form had no file: choose the corrected file"))
}

/// The corrected rows: by `Row`, the value of each of the upload's columns the file has
/// (`None` for a column it lacks).
fn read_corrections(file: std::fs::File, headers: &[String]) -> anyhow::Result<Vec<(u64, Vec<Option<String>>)>> {
    let mut expected: Vec<String> = vec![ROW_HEADER.to_owned(), PROBLEM_HEADER.to_owned()];
    expected.extend(headers.iter().cloned());
    let reading = Reading { encoding: Encoding::Auto, delimiter: None, sheet: None, expected: &expected };
    let mut input = read::open(std::path::Path::new("the corrections"), file, &reading)?;
    let file_headers = input.headers().to_vec();
    let Some(row_at) = file_headers.iter().position(|header| header == ROW_HEADER) else {
        anyhow::bail!("the corrections have no {ROW_HEADER:?} column: upload the file of rows to fix, with its {ROW_HEADER:?} column kept");
    };
    let at: Vec<Option<usize>> = headers
        .iter()
        .map(|header| (!header.is_empty()).then(|| file_headers.iter().position(|h| h == header)).flatten())
        .collect();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    let mut source_row = SourceRow::default();
    while input.next_row(&mut source_row)? {
        let cell = |index: usize| source_row.cells.get(index).map(|cell| unneutralise(&String::from_utf8_lossy(cell)));
        let Some(row) = cell(row_at).and_then(|text| text.trim().parse::<f64>().ok()).filter(|row| *row >= 1.0) else {
            continue;
        };
        let row = row as u64;
        if seen.insert(row) {
            rows.push((row, at.iter().map(|index| index.and_then(cell)).collect()));
        }
    }
    Ok(rows)
}

/// A cell as written before `report::neutralise` guarded it.
fn unneutralise(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_owned(),
        _ => cell.to_owned(),
    }
}

/// One edit as the history shows it: personal values masked, an exclusion as its two states.
pub(crate) fn edit_json(record: &EditRecord) -> Value {
    let shown = |value: &Option<String>| -> Value {
        match value {
            _ if record.personal => MASK.into(),
            Some(value) => value.clone().into(),
            None => Value::Null,
        }
    };
    match record.excluded {
        Some(excluded) => json!({
            "row": record.row, "column": null,
            "old": if excluded { "included" } else { "excluded" },
            "new": if excluded { "excluded" } else { "included" },
            "by": record.by, "at_ms": record.at_ms,
        }),
        None => json!({
            "row": record.row, "column": record.column,
            "old": shown(&record.old), "new": shown(&record.new),
            "by": record.by, "at_ms": record.at_ms,
        }),
    }
}

/// `GET /api/uploads/{id}/edits`: every edit, personal data masked.
pub async fn edits(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let upload = match upload_of(&state, &id).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let records = match state.db.edits(&upload.id).await {
        Ok(records) => records,
        Err(e) => return internal(e),
    };
    let list: Vec<Value> = records.iter().map(edit_json).collect();
    Json(list).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_are_read_by_row_and_header() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"Row,A,Email,Problem\n2,'-x,,bad\n5,y,new@example.com,bad\nnot a row,z,,\n").unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let headers = vec!["Email".to_owned(), "A".to_owned(), "B".to_owned()];
        let rows = read_corrections(file, &headers).unwrap();
        assert_eq!(
            rows,
            vec![
                (2, vec![Some(String::new()), Some("-x".to_owned()), None]),
                (5, vec![Some("new@example.com".to_owned()), Some("y".to_owned()), None]),
            ]
        );
    }
}
