//! Fixing rows in the page (SPEC §12): the rows with problems as a grid of the file's own
//! columns, bad cells marked; a cell edited (or emptied), a row excluded, each row checked again
//! at once by the same handlers (with JavaScript without a reload, without it by the row's Save
//! button); "replace in column"; the rows to fix downloaded and their corrections uploaded back.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::review::{checked_rows, edit_row, replace_in_column, ReplaceRequest, RowEditRequest};
use super::uploads::find;
use crate::out::terminal::separated;
use crate::web::authentication::CurrentUser;
use crate::web::pages::{error_page, layout, render};
use crate::web::review::rows::{RowState, MASK};
use crate::web::state::AppState;

/// Rows on one page of the grid.
const GRID_ROWS: i64 = 50;
/// The prefix of a cell's field in a row's form: `c:Sale Date`.
const CELL: &str = "c:";

#[derive(Deserialize, Default)]
pub struct GridQuery {
    /// The first row shown (a spreadsheet row number).
    from: Option<u64>,
    /// Every row with a problem, also those sent with a warning.
    all: Option<String>,
    /// What the last action did, to say it.
    changed: Option<usize>,
    replaced: Option<usize>,
}

/// `GET /uploads/{id}/fix`.
pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Query(query): Query<GridQuery>,
) -> Response {
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error_page(status, &message),
    };
    let back = format!("/uploads/{}", upload.id);
    let checker = match crate::web::review::checker(&state, &upload).await {
        Ok(checker) => checker,
        Err((_, message)) => {
            let content = html! {
                h1 { "Fix rows: " (upload.file_name) }
                p #grid-refused { "The rows cannot be fixed now: " (message) "." }
                p { a href=(back) { "Back to the upload" } }
            };
            return render(StatusCode::OK, layout("Fix rows", Some(&current), content));
        }
    };
    let refusal = crate::web::review::refusal(&state, &upload).map(|(_, message)| message);
    let from = query.from.unwrap_or(0);
    let all = query.all.is_some();
    let rows = match checked_rows(&state, &upload, &checker, from, u64::MAX, i64::MAX).await {
        Ok(rows) => rows,
        Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    };
    // The rows the page lists, in order: rendered (and masked) only for the page shown.
    let mut listed = rows.iter().filter(|row| all || row.state != RowState::Valid);
    let shown: Vec<Value> = listed.by_ref().take(GRID_ROWS as usize).map(|row| checker.json(row)).collect();
    let next = listed.next().map(|row| row.row);
    let headers: Vec<&String> = checker.headers.iter().filter(|header| !header.is_empty()).collect();
    let csrf = current.csrf.clone().unwrap_or_default();
    let exceptions = upload.counts.exceptions;
    let content = html! {
        h1 { "Fix rows: " (upload.file_name) }
        div #verdict class=(if exceptions > 0 { "warn" } else { "good" }) {
            p #verdict-line {
                @if exceptions > 0 { (separated(u64::try_from(exceptions).unwrap_or_default())) " rows need a fix." } @else { "No row needs a fix." }
            }
            p { "Change a cell and its row is checked again at once (without JavaScript, press the row's Save). Empty a cell to remove its value; exclude a row to leave it out of what is sent. The file as uploaded is kept as it is: the changes are kept beside it, with who made them." }
        }
        @if let Some(message) = &refusal { p.error #grid-refused { "Changes cannot be made now: " (message) "." } }
        @if let Some(changed) = query.changed { p.ok #grid-message { "Replaced in " (separated(changed as u64)) " cells. The file is being checked again." } }
        @if let Some(replaced) = query.replaced { p.ok #grid-message { (separated(replaced as u64)) " rows were replaced by their corrections. The file is being checked again." } }
        p { a href=(back) { "Back to the upload" } " · "
            @if all { a href={ "/uploads/" (upload.id) "/fix" } { "Only the rows that need a fix" } }
            @else { a href={ "/uploads/" (upload.id) "/fix?all=1" } { "Also the rows sent with a correction" } } }
        p.wide-note { "The table scrolls sideways." }
        div.wide {
            table #grid data-upload=(upload.id) {
                thead { tr {
                    th { "Row" } th { "State" }
                    @for header in &headers { th { (header) } }
                    th { "Leave out" } th {}
                } }
                tbody {
                    @for row in &shown { (grid_row(&upload.id.to_string(), row, &headers, &csrf)) }
                }
            }
        }
        @if shown.is_empty() { p #grid-empty { "No rows to show." } }
        @if let Some(next) = next {
            p.pager { a href={ "/uploads/" (upload.id) "/fix?from=" (next) @if all { "&all=1" } } { "next rows →" } }
        }
        h2 { "Replace in a column" }
        form #replace-form method="post" action={ "/uploads/" (upload.id) "/replace" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Column " select name="column" { @for header in &headers { option value=(header) { (header) } } } }
            label { "Replace " input type="text" name="from" required; }
            label { "with " input type="text" name="to"; }
            button #replace-button type="submit" { "Replace in every row" }
        }
        h2 { "Fix them in Excel" }
        p { "Download the rows that need a fix, correct them in Excel (keep the Row column), and upload the file back: its rows replace those of the upload. Cells of e-mail addresses and phone numbers are left empty in the download; an empty one keeps its value." }
        ul #round-trip {
            li { a href={ "/api/uploads/" (upload.id) "/rejected.xlsx" } { "The rows that need a fix (Excel)" } }
            li { a href={ "/api/uploads/" (upload.id) "/rejected.csv" } { "The rows that need a fix (CSV)" } }
        }
        form #corrections-form method="post" enctype="multipart/form-data" action={ "/api/uploads/" (upload.id) "/corrections" } {
            input type="hidden" name="csrf" value=(csrf);
            label { "Corrected file " input #corrections-file type="file" name="file" accept=".csv,.xlsx,.xlsm,.xls,.ods" required; }
            button #corrections-button type="submit" { "Upload the corrections" }
        }
    };
    render(StatusCode::OK, layout("Fix rows", Some(&current), content))
}

fn grid_row(upload: &str, row: &Value, headers: &[&String], csrf: &str) -> Markup {
    let number = row["row"].as_u64().unwrap_or_default();
    let state = row["state"].as_str().unwrap_or_default();
    let problems = row["problems"].as_array().cloned().unwrap_or_default();
    let bad = |header: &str| problems.iter().any(|problem| problem["column"] == header);
    let masked = |header: &str| row["masked"].as_array().is_some_and(|masked| masked.iter().any(|m| m == header));
    let form = format!("row-form-{number}");
    html! {
        tr.grid-row id={ "row-" (number) } data-row=(number) class=(state) {
            td.row { (number) }
            td.state { (state_words(state)) }
            @for header in headers {
                @let value = row["cells"][header.as_str()].as_str().unwrap_or_default();
                td class=(if bad(header) { "cell bad" } else { "cell" }) {
                    @if masked(header) {
                        input form=(form) name={ (CELL) (header) } value="" aria-label=(header) data-masked="1"
                            placeholder=(if value.is_empty() { "" } else { "hidden: type to replace" });
                    } @else {
                        input form=(form) name={ (CELL) (header) } value=(value) aria-label=(header);
                    }
                }
            }
            td { input form=(form) type="checkbox" name="excluded" value="1" checked[state == "excluded"] aria-label="Leave this row out"; }
            td {
                form id=(form) method="post" action={ "/uploads/" (upload) "/rows/" (number) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="excluded_shown" value="1";
                    button type="submit" { "Save" }
                }
            }
        }
        tr.grid-problems id={ "problems-" (number) } {
            td colspan=(headers.len() + 4) {
                @for problem in &problems {
                    div class=(problem["severity"].as_str().unwrap_or_default()) {
                        (problem["column"].as_str().unwrap_or("the row")) ": " (problem["message"].as_str().unwrap_or_default())
                    }
                }
            }
        }
    }
}

/// A row's state for people.
fn state_words(state: &str) -> &'static str {
    match state {
        "valid" => "ready",
        "exception" => "needs a fix",
        "excluded" => "left out",
        _ => "empty",
    }
}

/// `POST /uploads/{id}/rows/{row}`: a row's form, without JavaScript.
pub async fn save_row(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path((id, row)): Path<(String, u64)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    // A hidden personal-data cell comes back empty: left empty, it keeps its value.
    let personal: Vec<String> = match find(&state, &id).await {
        Ok(upload) => match crate::web::review::checker(&state, &upload).await {
            Ok(checker) => checker
                .headers
                .iter()
                .zip(&checker.personal)
                .filter(|(_, personal)| **personal)
                .map(|(header, _)| header.clone())
                .collect(),
            Err((status, message)) => return error_page(status, &message),
        },
        Err((status, message)) => return error_page(status, &message),
    };
    let mut cells = BTreeMap::new();
    let mut excluded = None;
    for (name, value) in &fields {
        if let Some(header) = name.strip_prefix(CELL) {
            let hidden = personal.iter().any(|p| p == header);
            if !(hidden && (value.is_empty() || value == MASK)) {
                cells.insert(header.to_owned(), value.clone());
            }
        }
        if name == "excluded_shown" {
            excluded = Some(fields.iter().any(|(n, _)| n == "excluded"));
        }
    }
    let request = RowEditRequest { cells: Some(cells), excluded };
    match edit_row(&state, &current, &id, row, request).await {
        Ok(_) => Redirect::to(&format!("/uploads/{id}/fix#row-{row}")).into_response(),
        Err(response) => {
            let (status, message) = refusal_text(response).await;
            error_page(status, &message)
        }
    }
}

#[derive(Deserialize)]
pub struct ReplaceForm {
    column: String,
    from: String,
    #[serde(default)]
    to: String,
}

/// `POST /uploads/{id}/replace`: "replace in column", from the page's form.
pub async fn replace_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<ReplaceForm>,
) -> Response {
    let request = ReplaceRequest { column: form.column, from: form.from, to: form.to };
    match replace_in_column(&state, &current, &id, request).await {
        Ok(changed) => Redirect::to(&format!("/uploads/{id}/fix?changed={changed}")).into_response(),
        Err(response) => {
            let (status, message) = refusal_text(response).await;
            error_page(status, &message)
        }
    }
}

/// The API's refusal (`{"error": …}`) as a status and a message for a page.
async fn refusal_text(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| value["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "the change could not be made".to_owned());
    (status, message)
}
