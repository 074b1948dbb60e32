//! Downloads of an upload: the five dump files and the exceptions report (CSV, formulas
//! neutralised). Files are streamed from a blocking thread, never read whole.

use std::io::Read;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::out::dump::DumpType;
use crate::problem::Severity;
use crate::web::check::{dump_paths, run_name};
use crate::web::report::{read_all, report_header, report_record};
use crate::web::state::AppState;

/// The exceptions dump as CSV: `row,column,field,message`.
pub const EXCEPTIONS_REPORT: &str = "exceptions-report";
const PIECE_BYTES: usize = 64 * 1024;

pub async fn download(State(state): State<AppState>, Path((id, kind)): Path<(String, String)>) -> Response {
    let upload = match super::find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return (status, message).into_response(),
    };
    let report = kind == EXCEPTIONS_REPORT;
    let Some(dump) = DumpType::ALL.into_iter().find(|d| d.name() == kind || (report && *d == DumpType::Exceptions))
    else {
        let kinds: Vec<&str> = DumpType::ALL.iter().map(|d| d.name()).chain([EXCEPTIONS_REPORT]).collect();
        return (StatusCode::NOT_FOUND, format!("no dump type {kind:?}; the types are {}", kinds.join(", ")))
            .into_response();
    };
    let paths = dump_paths(&upload);
    let name = run_name(&upload.id);
    // The report is made from the problems as the check kept them.
    let path = if report { paths.get(DumpType::Problems.name()) } else { paths.get(dump.name()) }.cloned();
    let Some(path) = path.filter(|path| path.is_file()) else {
        // A check with no exceptions writes no exceptions dump: its report is the header alone.
        if report && upload.error.is_none() && upload.summary.is_some() {
            return csv_response(&name, Body::from(report_header()));
        }
        let message = format!("this upload has no {} dump (none was written, or the upload was deleted)", dump.name());
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    if report {
        return csv_response(&name, stream(move |send| stream_report(path, send)));
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        stream(move |send| stream_file(path, send)),
    )
        .into_response()
}

fn csv_response(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}-exceptions.csv\"")),
        ],
        body,
    )
        .into_response()
}

type Sender = tokio::sync::mpsc::Sender<std::io::Result<Bytes>>;

/// A body fed by `produce` on a blocking thread, a piece at a time.
fn stream(produce: impl FnOnce(&Sender) -> std::io::Result<()> + Send + 'static) -> Body {
    let (send, receive) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = produce(&send) {
            let _ = send.blocking_send(Err(error));
        }
    });
    Body::from_stream(futures_util::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|piece| (piece, receive))
    }))
}

fn stream_file(path: PathBuf, send: &Sender) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    loop {
        let mut piece = vec![0u8; PIECE_BYTES];
        let read = file.read(&mut piece)?;
        if read == 0 {
            return Ok(());
        }
        piece.truncate(read);
        if send.blocking_send(Ok(Bytes::from(piece))).is_err() {
            return Ok(());
        }
    }
}

fn stream_report(path: PathBuf, send: &Sender) -> std::io::Result<()> {
    let mut piece = report_header();
    for problem in read_all(&path, Severity::Exception)? {
        piece.extend_from_slice(&report_record(&problem?));
        if piece.len() >= PIECE_BYTES && send.blocking_send(Ok(Bytes::from(std::mem::take(&mut piece)))).is_err() {
            return Ok(());
        }
    }
    let _ = send.blocking_send(Ok(Bytes::from(piece)));
    Ok(())
}
