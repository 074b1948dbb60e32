//! Receiving an upload: the multipart fields `csrf` (for a session), `client` then `file`, the
//! file streamed into the staging table in chunks of the raw bytes, never whole in memory, and
//! limited by --max-upload; the other fields and every part's headers are bounded by
//! `multipart::Form`. A session's CSRF token is checked before any other part is read.

use axum::http::StatusCode;

use super::authentication::{same_secret, CsrfPending, CurrentUser, CSRF_MESSAGE};
use super::clients;
use super::lease::{take_upload, Lease};
use super::log::{upload_event, UploadEvent};
use super::multipart::{Form, Part};
use super::state::AppState;
use crate::db::uploads::UploadId;

/// The size of one staged chunk.
pub const CHUNK_BYTES: usize = 1 << 20;
/// How much of the start of a file is looked at to tell a CSV from a binary file.
const SNIFF_BYTES: usize = 8 * 1024;
/// File names are shown, never used as paths; longer ones are cut.
const MAX_FILE_NAME_CHARS: usize = 200;

pub use super::multipart::UploadError;
use crate::read::workbook::Sniffed;

/// A session's form proves itself first: its first part must be the `csrf` field.
const CSRF_FIRST: &str = "this form's security token is missing or out of date (CSRF check: the csrf field must come first, or the X-CSRF-Token header be sent); reload the page and try again";

/// Said when the upload was deleted while it arrived.
pub const DELETED_WHILE_ARRIVING: &str = "this upload was deleted while it arrived; nothing of it was kept";

/// Reads the form, stages the file and starts its check; returns the new upload's id.
pub async fn receive(
    state: &AppState,
    user: &CurrentUser,
    csrf: Option<CsrfPending>,
    mut form: Form,
) -> Result<UploadId, UploadError> {
    if let Some(expected) = &csrf {
        let token = match form.next_part().await? {
            Some(part) if part.name() == "csrf" => part.text().await?,
            _ => return Err(UploadError::new(StatusCode::FORBIDDEN, CSRF_FIRST)),
        };
        if !same_secret(&token, &expected.0) {
            return Err(UploadError::new(StatusCode::FORBIDDEN, CSRF_MESSAGE));
        }
    }
    let mut client_name = None;
    while let Some(part) = form.next_part().await? {
        match part.name() {
            "client" => client_name = Some(part.text().await?.trim().to_owned()),
            "file" => {
                let Some(client_name) = client_name.take().filter(|name| !name.is_empty()) else {
                    return Err(UploadError::new(
                        StatusCode::BAD_REQUEST,
                        "choose a client before the file (the form's client field must come before its file field)",
                    ));
                };
                let found = clients::find(&state.db, &client_name)
                    .await
                    .map_err(|e| UploadError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
                let Some(client) = found else {
                    return Err(UploadError::new(
                        StatusCode::BAD_REQUEST,
                        format!("there is no client {client_name:?}; choose one of the list"),
                    ));
                };
                if let Err(problem) = &client.mapping {
                    return Err(UploadError::new(
                        StatusCode::BAD_REQUEST,
                        format!("the mapping of client {client_name:?} cannot be used: {problem}"),
                    ));
                }
                let (id, lease) = stage(state, user, &client.name, part).await?;
                tokio::spawn(super::check::check_upload(state.clone(), id.clone(), Some(lease)));
                return Ok(id);
            }
            // Another field (a second csrf, or one this form does not have): read and dropped,
            // within the field limit.
            _ => drop(part.text().await?),
        }
    }
    Err(UploadError::new(StatusCode::BAD_REQUEST, "the form had no file: choose a CSV file to upload"))
}

/// Streams the file part into the staging table; on any failure, or when the upload is deleted
/// meanwhile, its chunks are removed.
async fn stage(
    state: &AppState,
    user: &CurrentUser,
    client: &str,
    mut part: Part,
) -> Result<(UploadId, Lease), UploadError> {
    let file_name = display_name(part.file_name());
    let id = UploadId::random();
    let db = &state.db;
    // Held from here to the end of its check: no other server takes this upload for abandoned.
    let lease = take_upload(db, &id).await.map_err(UploadError::internal)?;
    let lease = lease.ok_or_else(|| UploadError::internal(anyhow::anyhow!("a new upload's lease was taken")))?;
    db.create_upload(&id, client, &file_name, user.user.email.as_str()).await.map_err(UploadError::internal)?;
    let limit = state.config.max_upload;
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let (mut size, mut seq, mut sniffed) = (0u64, 0i64, false);
    let outcome: Result<(), UploadError> = async {
        loop {
            let next = part.chunk().await?;
            let done = next.is_none();
            if let Some(bytes) = next {
                size += bytes.len() as u64;
                if size > limit {
                    // Read on a little, so the browser is still listening when the answer comes.
                    let mut drained = 0usize;
                    while let Ok(Some(bytes)) = part.chunk().await {
                        drained += bytes.len();
                        if drained > 64 * CHUNK_BYTES {
                            break;
                        }
                    }
                    return Err(UploadError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "the file is larger than the upload limit of {} (--max-upload); split it into smaller files, or ask for a higher limit",
                            human_size(limit)
                        ),
                    ));
                }
                buffer.extend_from_slice(&bytes);
            }
            if !sniffed && (buffer.len() >= SNIFF_BYTES || done) {
                sniffed = true;
                if let Some(problem) = not_csv(&buffer[..buffer.len().min(SNIFF_BYTES)]) {
                    return Err(UploadError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, problem));
                }
            }
            while buffer.len() >= CHUNK_BYTES || (done && !buffer.is_empty()) {
                let take = buffer.len().min(CHUNK_BYTES);
                // A delete (on this server or another) stops the upload at its next chunk.
                if !db.add_chunk(&id, seq, &buffer[..take]).await.map_err(UploadError::internal)? {
                    return Err(UploadError::new(StatusCode::CONFLICT, DELETED_WHILE_ARRIVING));
                }
                buffer.drain(..take);
                seq += 1;
            }
            if done {
                return Ok(());
            }
        }
    }
    .await;
    let outcome = match outcome {
        Ok(()) if size == 0 => {
            Err(UploadError::new(StatusCode::BAD_REQUEST, "the file is empty; choose the CSV file of the client"))
        }
        Ok(()) => match db.upload_staged(&id, size as i64).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(UploadError::new(StatusCode::CONFLICT, DELETED_WHILE_ARRIVING)),
            Err(error) => Err(UploadError::internal(error)),
        },
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => {
            let detail = format!("{file_name:?}, {size} bytes, client {client}");
            upload_event(UploadEvent::Uploaded, &id, user.user.email.as_str(), &detail);
            Ok((id, lease))
        }
        Err(error) => {
            forget(state, &id, &error.message).await;
            lease.release().await;
            Err(error)
        }
    }
}

/// A refused upload leaves its history (why it was refused) and no chunks; a deleted one stays
/// deleted.
async fn forget(state: &AppState, id: &UploadId, why: &str) {
    let _ = state.db.unstage_upload(id, None).await;
    let _ = state.db.interrupt_upload(id, why).await;
}

/// The name the browser gave, for showing only: no path, no control characters, not too long.
fn display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(MAX_FILE_NAME_CHARS).collect();
    if clean.trim().is_empty() {
        "(no name)".to_owned()
    } else {
        clean
    }
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// Why the start of a file shows it is neither a CSV file nor a workbook, if it does: a
/// document or an image (told apart as the command line tells them, `read::workbook::sniff`), or
/// binary bytes. Text in UTF-16 (a byte-order mark, or ASCII with zero bytes between) is a CSV
/// the reader knows; a workbook is read as the command line reads it.
pub fn not_csv(head: &[u8]) -> Option<String> {
    match crate::read::workbook::sniff(head) {
        Sniffed::Zip | Sniffed::Ole => return None,
        Sniffed::Other(what) => {
            return Some(format!(
                "this is {what}, not a CSV file or a workbook; upload the client's file as .xlsx (Excel Workbook) or as CSV UTF-8"
            ))
        }
        Sniffed::Text => {}
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") || looks_like_utf16(head) {
        return None;
    }
    if head.contains(&0) {
        return Some(
            "this is not a CSV file: it holds NUL bytes, so it is a binary file; upload the client's CSV file or workbook"
                .to_owned(),
        );
    }
    None
}

/// ASCII text in UTF-16 without a byte-order mark: every other byte zero.
fn looks_like_utf16(head: &[u8]) -> bool {
    let pairs = head.len() / 2;
    if pairs < 2 {
        return false;
    }
    let zeros_at = |offset: usize| head.iter().skip(offset).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (zeros_at(0), zeros_at(1));
    even.max(odd) * 10 >= pairs * 9 && even.min(odd) * 10 <= pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_files_are_told_apart_from_csv() {
        assert!(not_csv(b"a,b\n1,2\n").is_none());
        assert!(not_csv(b"PK\x03\x04rest").is_none(), "a workbook is read as the command line reads it");
        assert!(not_csv(b"\x89PNG\r\n").unwrap().contains("PNG"));
        assert!(not_csv(b"a,b\n\0\0\0").unwrap().contains("NUL"));
        let utf16: Vec<u8> = "a,b\n1,2\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(not_csv(&utf16).is_none());
        assert!(not_csv(b"\xFF\xFEa\0,\0").is_none());
    }

    #[test]
    fn file_names_are_only_shown() {
        assert_eq!(display_name("C:\\Users\\x\\sales.csv"), "sales.csv");
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("a\u{0}b\n.csv"), "ab.csv");
        assert_eq!(display_name(""), "(no name)");
        assert_eq!(human_size(512 << 20), "512 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }
}
