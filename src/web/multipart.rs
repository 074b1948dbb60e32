//! A multipart form read with bounded memory (SPEC §14): every field but the file at most
//! 64 KiB, every part's headers at most 8 KiB, at most 16 parts, and never more than 1 MiB of the
//! body read ahead of what the handler has taken, whatever the request sends. multer parses;
//! this module keeps it from buffering without end (it reads a part's headers whole, and reads
//! the body as fast as it comes).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use futures_util::task::AtomicWaker;
use futures_util::Stream;

/// Why an upload was refused: a status and a message for a person.
#[derive(Debug)]
pub struct UploadError {
    pub status: StatusCode,
    pub message: String,
}

impl UploadError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> UploadError {
        UploadError { status, message: message.into() }
    }

    pub fn internal(error: anyhow::Error) -> UploadError {
        UploadError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))
    }
}

/// The largest field but the file.
pub const FIELD_LIMIT: u64 = 64 * 1024;
/// The largest headers of one part.
pub const PART_HEADERS_LIMIT: usize = 8 * 1024;
/// Parts in one form at most.
const MAX_PARTS: usize = 16;
/// Body bytes read but not yet taken by the handler, at most.
const READ_AHEAD: usize = 1 << 20;

/// What the body has given multer and the handler has not taken yet.
#[derive(Default)]
struct Gauge {
    unread: AtomicUsize,
    /// Set when the body was held back because `unread` was over READ_AHEAD.
    held: AtomicBool,
    waker: AtomicWaker,
}

impl Gauge {
    fn taken(&self, bytes: usize) {
        let _ =
            self.unread.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |unread| Some(unread.saturating_sub(bytes)));
        self.waker.wake();
    }
}

/// The request body, held back while too much of it is unread.
struct HeldBack {
    body: BodyDataStream,
    gauge: Arc<Gauge>,
}

impl Stream for HeldBack {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let gauge = self.gauge.clone();
        if gauge.unread.load(Ordering::SeqCst) > READ_AHEAD {
            gauge.waker.register(cx.waker());
            if gauge.unread.load(Ordering::SeqCst) > READ_AHEAD {
                gauge.held.store(true, Ordering::SeqCst);
                return Poll::Pending;
            }
        }
        gauge.held.store(false, Ordering::SeqCst);
        let next = Pin::new(&mut self.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            gauge.unread.fetch_add(bytes.len(), Ordering::SeqCst);
        }
        next
    }
}

/// An upload form, read part by part.
pub struct Form {
    multipart: multer::Multipart<'static>,
    gauge: Arc<Gauge>,
    parts: usize,
}

/// One part of the form: a small field or the file.
pub struct Part {
    field: multer::Field<'static>,
    gauge: Arc<Gauge>,
}

fn too_large(message: impl Into<String>) -> UploadError {
    UploadError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
}

fn broken(error: impl std::fmt::Display) -> UploadError {
    UploadError::new(StatusCode::BAD_REQUEST, format!("the upload did not arrive whole ({error}); try again"))
}

fn refused(error: multer::Error) -> UploadError {
    match error {
        multer::Error::FieldSizeExceeded { field_name, .. } => too_large(format!(
            "the form's field {:?} is larger than {} KiB; no field of the upload form is",
            field_name.unwrap_or_default(),
            FIELD_LIMIT / 1024
        )),
        error => broken(error),
    }
}

/// multer is stuck with all the body it may hold: what it waits for (the end of a part's
/// headers) is not within the read-ahead.
fn overflow() -> UploadError {
    too_large(format!(
        "a part of the form has headers larger than {} KiB; no part of the upload form has",
        PART_HEADERS_LIMIT / 1024
    ))
}

impl Form {
    /// The form of a `multipart/form-data` request; any other is refused.
    pub fn of(request: Request) -> Result<Form, UploadError> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            UploadError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the upload as multipart/form-data, with the fields csrf (for a session), client, then file",
            )
        })?;
        let gauge = Arc::new(Gauge::default());
        let body = HeldBack { body: request.into_body().into_data_stream(), gauge: gauge.clone() };
        let limits = multer::SizeLimit::new().per_field(FIELD_LIMIT).for_field("file", u64::MAX);
        let multipart =
            multer::Multipart::with_constraints(body, boundary, multer::Constraints::new().size_limit(limits));
        Ok(Form { multipart, gauge, parts: 0 })
    }

    /// The next part, once its headers are read and checked.
    pub async fn next_part(&mut self) -> Result<Option<Part>, UploadError> {
        let gauge = self.gauge.clone();
        let multipart = &mut self.multipart;
        let field = poll_fn(|cx| match multipart.poll_next_field(cx) {
            Poll::Pending if gauge.held.load(Ordering::SeqCst) => Poll::Ready(Err(overflow())),
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => Poll::Ready(result.map_err(refused)),
        })
        .await?;
        let Some(field) = field else { return Ok(None) };
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(UploadError::new(
                StatusCode::BAD_REQUEST,
                format!("the form has more than {MAX_PARTS} parts; the upload form has three"),
            ));
        }
        let header_bytes: usize =
            field.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
        if header_bytes > PART_HEADERS_LIMIT {
            return Err(overflow());
        }
        // The headers and boundaries before this part are multer's, never the handler's.
        self.gauge.unread.store(0, Ordering::SeqCst);
        self.gauge.waker.wake();
        Ok(Some(Part { field, gauge: self.gauge.clone() }))
    }
}

impl Part {
    pub fn name(&self) -> &str {
        self.field.name().unwrap_or_default()
    }

    pub fn file_name(&self) -> &str {
        self.field.file_name().unwrap_or_default()
    }

    /// The next piece of the part's data.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, UploadError> {
        let gauge = self.gauge.clone();
        let field = &mut self.field;
        let chunk = poll_fn(|cx| match Pin::new(&mut *field).poll_next(cx) {
            Poll::Pending if gauge.held.load(Ordering::SeqCst) => Poll::Ready(Err(overflow())),
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(Ok(None)),
            Poll::Ready(Some(result)) => Poll::Ready(result.map(Some).map_err(refused)),
        })
        .await?;
        if let Some(bytes) = &chunk {
            self.gauge.taken(bytes.len());
        }
        Ok(chunk)
    }

    /// A small field's text (at most FIELD_LIMIT bytes, which multer enforces as it reads).
    pub async fn text(mut self) -> Result<String, UploadError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8(bytes).map_err(|_| {
            UploadError::new(StatusCode::BAD_REQUEST, format!("the form's field {:?} is not UTF-8 text", self.name()))
        })
    }
}
