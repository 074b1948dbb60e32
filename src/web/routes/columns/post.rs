//! `POST /uploads/{id}/columns`: the form of the matching page. `do=preview` shows the first
//! rows with the choice; `do=confirm` checks the upload again with it (the same code as the
//! API's `POST /api/uploads/{id}/columns`); `do=save` (operators) saves it as the client's
//! mapping, a new version, and checks the upload with that.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use super::{choice_of, kept_matching, load, page};
use crate::read::mapping::{parse_matching, with_matching};
use crate::web::authentication::CurrentUser;
use crate::web::matching::{matching_of, suggest, Choice, FieldMatch, Why};
use crate::web::routes::clients::api::{recheck_with, save_mapping};
use crate::web::state::AppState;

pub async fn columns(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let matching = match load(&state, &id).await {
        Ok(matching) => matching,
        Err(page) => return page,
    };
    let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    // The choices as the form sent them; a field it did not send keeps its suggestion.
    let mut matches: Vec<FieldMatch> = suggest(&matching.mapping, &kept_matching(&matching.upload), &matching.head);
    for each in &mut matches {
        if let Some(sent) = value(&format!("f.{}", each.field.name())) {
            let choice = choice_of(sent);
            if let Choice::Header(header) = &choice {
                if matching.head.column(header).is_none() {
                    continue;
                }
            }
            if choice != each.choice {
                each.choice = choice;
                each.why = Why::Kept;
            }
        }
    }
    let refused = |status: StatusCode, message: &str| page(&matching, &matches, &current, status, Some(message));
    let action = value("do").unwrap_or("confirm");
    if action == "preview" {
        return page(&matching, &matches, &current, StatusCode::OK, None);
    }
    let columns = match matching_of(&matches) {
        Ok(columns) => columns,
        Err(message) => return refused(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    let upload = &matching.upload;
    let done = match action {
        "save" => {
            let saved = parse_matching(&columns)
                .and_then(|parsed| with_matching(&matching.stored.mapping, &parsed))
                .map_err(|e| format!("{e:#}"));
            let json = match saved {
                Ok(json) => json,
                Err(message) => return refused(StatusCode::UNPROCESSABLE_ENTITY, &message),
            };
            match save_mapping(&state, &current, &matching.stored.name, &json).await {
                Ok(_) => recheck_with(&state, &current, upload, None).await,
                Err(refusal) => Err(refusal),
            }
        }
        _ => recheck_with(&state, &current, upload, Some(&columns)).await,
    };
    match done {
        Ok(()) => Redirect::to(&format!("/uploads/{}", upload.id)).into_response(),
        Err(refusal) => refused(refusal.status, &refusal.message),
    }
}
