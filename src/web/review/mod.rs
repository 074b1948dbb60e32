//! Reviewing and fixing an upload in the page (SPEC §12): edits kept beside the staged file and
//! laid over it wherever it is read, one row re-checked at once, the whole upload checked again
//! in the background so that its counts and dumps become those of the edited file.

pub mod problems;
pub mod rejected;
pub mod rows;

use std::ffi::OsString;
use std::sync::Mutex;

use anyhow::{Context, Result};
use axum::http::StatusCode;

use self::rows::RowChecker;
use super::check::{check_again, known_accounts, run_name, run_settings, stage_to_file};
use super::clients;
use super::log::{upload_event, UploadEvent};
use super::state::AppState;
use crate::db::review::EditRecord;
use crate::db::uploads::{Upload, UploadState};
use crate::read::{self, Reading, SourceRow};
use crate::settings::Settings;

/// Why an edit is refused: the status and what to tell the person.
pub type Refused = (StatusCode, String);

fn internal(error: anyhow::Error) -> Refused {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))
}

/// Whether the upload can be edited now: its file staged, and no fire under way.
pub fn refusal(state: &AppState, upload: &Upload) -> Option<Refused> {
    let conflict = |message: &str| Some((StatusCode::CONFLICT, message.to_owned()));
    if state.fires.get(&upload.id).is_some() || upload.state == UploadState::Firing {
        return conflict("this upload is being sent; edits wait until it ends");
    }
    if !upload.staged || upload.state == UploadState::Deleted {
        return conflict("the file is no longer in the database, so it cannot be edited; upload it again");
    }
    None
}

/// The handlers, the header and the personal-data columns of the upload's last check.
pub async fn checker(state: &AppState, upload: &Upload) -> Result<RowChecker, Refused> {
    let review = state.db.review(&upload.id).await.map_err(internal)?;
    let Some(review) = review else {
        return Err((StatusCode::CONFLICT, "this upload has not been checked yet; wait for its check".into()));
    };
    // The mapping the upload was checked with (SPEC §13), with its column matching.
    let (_, stored) = clients::upload_mapping(&state.db, upload, upload.mapping_version)
        .await
        .map_err(|problem| (StatusCode::CONFLICT, format!("{problem:#}")))?;
    let mapping = stored.mapping;
    let accounts = known_accounts(state).await;
    RowChecker::new(&mapping, &review, &state.config.request_url, accounts, chrono::Utc::now()).map_err(internal)
}

/// Saves edits, logs the event (counts, never a cell), and checks the upload again.
pub async fn save_edits(state: &AppState, upload: &Upload, records: &[EditRecord], what: &str) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    state.db.add_edits(&upload.id, records).await?;
    let by = records[0].by.as_str();
    upload_event(UploadEvent::Edited, &upload.id, by, what);
    check_again(state, &upload.id).await
}

/// The settings that read the staged file as a check would (without its edits).
async fn staged_settings(state: &AppState, upload: &Upload) -> Result<Settings> {
    let (_, mapping) = clients::upload_mapping(&state.db, upload, upload.mapping_version).await?;
    let staged = stage_to_file(state, &upload.id).await?;
    run_settings(state, &run_name(&upload.id), upload, staged, mapping, Vec::<OsString>::new())
}

/// Every row of the staged file as it was uploaded, in order, to `visit` (which says whether to
/// go on): a pass over the file, on a thread of its own.
pub async fn scan_staged<F>(state: &AppState, upload: &Upload, mut visit: F) -> Result<()>
where
    F: FnMut(u64, Vec<String>) -> bool + Send + 'static,
{
    let settings = staged_settings(state, upload).await?;
    let scanned = tokio::task::spawn_blocking(move || -> Result<()> {
        let expected = read::expected_headers(&settings.mapping);
        let reading = Reading {
            encoding: settings.encoding,
            delimiter: settings.delimiter,
            sheet: settings.sheet.as_deref(),
            expected: &expected,
        };
        let file = settings.opened_file.as_ref().context("no staged file")?.try_clone()?;
        let mut input = read::open(&settings.load_file, file, &reading)?;
        let mut row = SourceRow::default();
        while input.next_row(&mut row)? {
            let cells = row.cells.iter().map(|cell| String::from_utf8_lossy(cell).into_owned()).collect();
            if !visit(row.meta.row, cells) {
                break;
            }
        }
        Ok(())
    });
    scanned.await.context("the pass over the file stopped unexpectedly")?
}

/// One row of the staged file as uploaded, read from the file (a row the check did not keep).
pub async fn read_row(state: &AppState, upload: &Upload, wanted: u64) -> Result<Option<Vec<String>>> {
    let found = std::sync::Arc::new(Mutex::new(None));
    let keep = found.clone();
    scan_staged(state, upload, move |row, cells| {
        if row == wanted {
            *keep.lock().expect("not poisoned") = Some(cells);
        }
        row < wanted
    })
    .await?;
    let row = found.lock().expect("not poisoned").take();
    Ok(row)
}
