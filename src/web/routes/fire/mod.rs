//! Firing from the page (SPEC §10): the confirmation page with the pre-flight, its form, Cancel,
//! and the live progress as server-sent events. Operators only.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use futures_util::stream::Stream;
use maud::html;
use serde::Deserialize;

use super::uploads::find;
use crate::db::uploads::Upload;
use crate::fire::live::Preflight;
use crate::web::authentication::CurrentUser;
use crate::web::fire::{launch, page, wrong_number, Refusal};
use crate::web::pages::{error_page, layout, render};
use crate::web::state::AppState;

pub const OPERATORS_ONLY: &str = "only operators fire; an analyst uploads, checks, downloads and deletes";

fn confirmation(upload: &Upload, current: &CurrentUser, preflight: &Preflight, error: Option<&str>) -> maud::Markup {
    let csrf = current.csrf.clone().unwrap_or_default();
    let content = html! {
        h1 { "Send the rows of " (upload.file_name) }
        p { "Client " strong { (upload.client) } ". Once sent, the rows count on the client's dashboard for their dates; a row is never sent twice." }
        table #preflight-counts {
            tr { th { "rows to send" } td #rows-to-fire { (crate::out::terminal::separated(preflight.sending)) } }
            tr { th { "sent before (skipped)" } td #rows-already { (crate::out::terminal::separated(preflight.already_fired)) } }
            tr { th { "rows that need a fix (not sent)" } td #rows-exceptions { (crate::out::terminal::separated(preflight.with_exceptions)) } }
        }
        details open { summary { "What will be sent, in detail" } pre #preflight { (preflight.text) } }
        @if let Some(error) = error {
            p.error #error { (error) }
        }
        form #fire-form method="post" action={ "/uploads/" (upload.id) "/fire" } {
            input type="hidden" name="csrf" value=(csrf);
            label for="confirm-rows" { "Type the number of rows to send (" (preflight.sending) ") to confirm: " }
            input #confirm-rows type="text" inputmode="numeric" name="confirm_rows" autocomplete="off" required;
            " "
            button #fire-button type="submit" { "Send" }
        }
        p { a href={ "/uploads/" (upload.id) } { "Back to the upload" } }
    };
    layout("Send the rows", Some(current), content)
}

/// The upload a fire page acts on, or the error page: only operators fire.
async fn operators_upload(state: &AppState, current: &CurrentUser, id: &str) -> Result<Upload, Response> {
    if !current.user.role.can_fire() {
        return Err(error_page(StatusCode::FORBIDDEN, OPERATORS_ONLY));
    }
    find(state, id).await.map_err(|(status, message)| error_page(status, &message))
}

/// `GET /uploads/{id}/fire`: the pre-flight and the confirmation form.
pub async fn confirm_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let upload = match operators_upload(&state, &current, &id).await {
        Ok(upload) => upload,
        Err(page) => return page,
    };
    if state.fires.get(&upload.id).is_some() {
        return Redirect::to(&format!("/uploads/{}", upload.id)).into_response();
    }
    match launch(&state, &upload, current.user.email.as_str(), None).await {
        Ok(preflight) => render(StatusCode::OK, confirmation(&upload, &current, &preflight, None)),
        Err(refusal) => error_page(refusal.status, &refusal.message),
    }
}

#[derive(Deserialize)]
pub struct FireForm {
    confirm_rows: String,
}

/// `POST /uploads/{id}/fire`: fires when the number typed is the pre-flight's.
pub async fn fire_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<FireForm>,
) -> Response {
    let upload = match operators_upload(&state, &current, &id).await {
        Ok(upload) => upload,
        Err(page) => return page,
    };
    // The number as the page shows it, with its thousands separators, is the number.
    let typed: String = form.confirm_rows.trim().chars().filter(|c| !matches!(c, ',' | ' ' | '\u{a0}' | '_')).collect();
    let by = current.user.email.as_str();
    let Ok(rows) = typed.parse::<u64>() else {
        // Not a number, so a wrong number: the pre-flight only, nothing is sent.
        return match launch(&state, &upload, by, None).await {
            Ok(preflight) => {
                let message = wrong_number(&format!("{typed:?}"), preflight.sending);
                render(StatusCode::UNPROCESSABLE_ENTITY, confirmation(&upload, &current, &preflight, Some(&message)))
            }
            Err(refusal) => error_page(refusal.status, &refusal.message),
        };
    };
    match launch(&state, &upload, by, Some(rows)).await {
        Ok(_) => Redirect::to(&format!("/uploads/{}", upload.id)).into_response(),
        Err(Refusal { status, message, preflight: Some(preflight) }) => {
            render(status, confirmation(&upload, &current, &preflight, Some(&message)))
        }
        Err(refusal) => error_page(refusal.status, &refusal.message),
    }
}

/// `POST /uploads/{id}/cancel`.
pub async fn cancel_form(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Response {
    let upload = match operators_upload(&state, &current, &id).await {
        Ok(upload) => upload,
        Err(page) => return page,
    };
    state.fires.cancel(&upload.id, current.user.email.as_str());
    Redirect::to(&format!("/uploads/{}", upload.id)).into_response()
}

/// How often a fire's page is sent its counts.
const EVENTS_EVERY: Duration = Duration::from_millis(250);

/// `GET /uploads/{id}/events`: `progress` events while the upload fires, then one `end` event
/// with its final state. Keep-alive comments keep proxies from closing a quiet stream, and
/// `X-Accel-Buffering: no` keeps nginx from holding it back.
pub async fn events(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let upload = match find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return (status, message).into_response(),
    };
    let stream = progress_stream(state, upload.id);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn progress_stream(
    state: AppState,
    id: crate::db::uploads::UploadId,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures_util::stream::unfold(Some((state, id)), |next| async move {
        let (state, id) = next?;
        if let Some(running) = state.fires.get(&id) {
            let first = running.progress();
            tokio::time::sleep(EVENTS_EVERY).await;
            let progress = state.fires.get(&id).map(|running| running.progress()).unwrap_or(first);
            let event = Event::default().event("progress").json_data(&progress).unwrap_or_default();
            return Some((Ok(event), Some((state, id))));
        }
        let upload = state.db.upload(&id).await.ok().flatten()?;
        let end = serde_json::json!({
            "state": upload.state.as_str(),
            "status": page::status_word(&upload),
            "counts": upload.counts,
            "note": upload.error,
        });
        Some((Ok(Event::default().event("end").json_data(&end).unwrap_or_default()), None))
    })
}
