//! What the server tells operations (SPEC §14), through `tracing` on standard error: one line
//! per request (tower-http's trace layer: method, path without its query, status, duration and
//! the signed-in user) and one per event of an upload, as text or JSON. Never a password, token,
//! cookie or cell: nothing of a request but those fields is logged, and an upload's events carry
//! counts, not messages about its cells.

use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnBodyChunk, DefaultOnEos, TraceLayer};
use tracing::Span;

pub use crate::cli::serve::LogFormat;
use crate::db::clients::ClientName;
use crate::db::uploads::UploadId;

/// Sends the server's log lines to standard error; a second call (tests) changes nothing.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadEvent {
    Uploaded,
    Checked,
    Edited,
    MappingSaved,
    Fired,
    Cancelled,
    Deleted,
    Swept,
}

impl UploadEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadEvent::Uploaded => "uploaded",
            UploadEvent::Checked => "checked",
            UploadEvent::Edited => "edited",
            UploadEvent::MappingSaved => "mapping saved",
            UploadEvent::Fired => "fired",
            UploadEvent::Cancelled => "cancelled",
            UploadEvent::Deleted => "deleted",
            UploadEvent::Swept => "swept",
        }
    }
}

/// One line for an event of an upload: who did it, and `detail` (counts, never cells).
pub fn upload_event(event: UploadEvent, upload: &UploadId, user: &str, detail: &str) {
    tracing::info!(event = event.as_str(), upload = upload.as_str(), user, detail, "upload");
}

/// One line for a client's mapping saved (SPEC §13, §14): the client, the new version, who
/// saved it, and which keys changed (names of keys, never values).
pub fn mapping_saved(client: &ClientName, version: i64, user: &str, changed: &str) {
    let event = UploadEvent::MappingSaved.as_str();
    tracing::info!(event, client = client.as_str(), version, user, detail = changed, "client");
}

/// The field of the request's span that the sign-in gate fills.
pub const USER_FIELD: &str = "user";

/// Names the signed-in user in the current request's line.
pub fn record_user(email: &str) {
    Span::current().record(USER_FIELD, email);
}

type RequestSpan = fn(&Request) -> Span;
type ResponseLine = fn(&Response, Duration, &Span);

/// One line per request, when its response is ready: the span holds the method, the path
/// (without the query, which may hold anything) and the user; the line adds status and duration.
pub fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    RequestSpan,
    (),
    ResponseLine,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
> {
    let span: RequestSpan = |request| {
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = request.uri().path(),
            user = tracing::field::Empty,
        )
    };
    let line: ResponseLine = |response, latency, span| {
        tracing::info!(
            parent: span,
            status = response.status().as_u16(),
            duration_ms = latency.as_micros() as f64 / 1000.0,
            "request"
        );
    };
    TraceLayer::new_for_http().make_span_with(span).on_request(()).on_response(line).on_failure(())
}
