//! What a server does for the work that no live server holds (SPEC §14): at start, and every few
//! seconds after, since several servers may share one database and any of them may die.
//!
//! - An upload left `checking` whose lease is not live: checked again when staged, else (it was
//!   still arriving) interrupted and its chunks removed.
//! - An upload left `firing` whose run lock is not live: `interrupted`, resumable from any
//!   server, with its counts rebuilt from the journal.
//! - The retention sweep, on one server at a time (a lease).
//! - At start, the files a server left behind: the named temporary files of older versions, and
//!   the dumps of uploads that are deleted or unknown.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::check::{check_upload, dump_type_of, remove_dumps, run_name};
use super::lease::{take_upload, upload_key, Lease, SWEEP_KEY};
use super::log::{upload_event, UploadEvent};
use super::state::AppState;
use crate::db::fires::FireOutcome;
use crate::db::now_ms;
use crate::db::uploads::{Counts, Upload, UploadState};

/// How often abandoned work is looked for.
pub const WATCH_EVERY: Duration = Duration::from_secs(5);
/// A fire takes its run lock only once confirmed and checked: until then, no lock says it lives.
const FIRE_START_GRACE: Duration = Duration::from_secs(60);

/// At start: the leftovers on disk, then the abandoned work.
pub async fn at_start(state: &AppState) -> Result<()> {
    clear_temporary_files(&std::env::temp_dir());
    clear_dumps_of_gone_uploads(state).await?;
    take_over_abandoned(state).await
}

/// Looks for abandoned work every WATCH_EVERY and sweeps every `sweep_interval`; for ever.
pub async fn watch(state: AppState) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        every.tick().await;
        if let Err(error) = take_over_abandoned(&state).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot look for abandoned uploads");
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_interval(state.config.retention)) {
            last_sweep = Some(tokio::time::Instant::now());
            if let Err(error) = sweep(&state).await {
                tracing::warn!(error = %format!("{error:#}"), "the retention sweep failed");
            }
            state.signin_throttle.forget_idle();
        }
    }
}

async fn take_over_abandoned(state: &AppState) -> Result<()> {
    for upload in state.db.uploads_in_state(UploadState::Checking).await? {
        if state.rows_so_far(&upload.id).is_some() || state.db.lock_is_live(&upload_key(&upload.id)).await? {
            continue;
        }
        if upload.staged {
            tokio::spawn(check_upload(state.clone(), upload.id.clone(), None));
        } else if let Some(lease) = take_upload(&state.db, &upload.id).await? {
            state.db.unstage_upload(&upload.id, None).await?;
            let message = "the server stopped while this file was being uploaded; upload it again";
            state.db.interrupt_upload(&upload.id, message).await?;
            lease.release().await;
        }
    }
    for upload in state.db.uploads_in_state(UploadState::Firing).await? {
        if state.fires.is_here(&upload.id) {
            continue;
        }
        let started_long_ago =
            upload.fired_at_ms.is_none_or(|at| now_ms().saturating_sub(at) > FIRE_START_GRACE.as_millis() as i64);
        let abandoned = match state.db.run_locks_live(&run_name(&upload.id)).await? {
            Some(live) => !live,
            None => started_long_ago,
        };
        if abandoned {
            interrupt_abandoned_fire(state, &upload).await?;
        }
    }
    Ok(())
}

/// A fire whose server died: `interrupted`, with what the journal says it did.
async fn interrupt_abandoned_fire(state: &AppState, upload: &Upload) -> Result<()> {
    let counts = match state.db.run_outcomes(&run_name(&upload.id)).await {
        Ok(outcomes) => counts_of(&outcomes, upload.counts.already_fired),
        // No journal yet: it died before sending anything.
        Err(_) => Counts { already_fired: upload.counts.already_fired, ..Counts::default() },
    };
    let note =
        "interrupted: the server firing it stopped; resume it to fire the rest (rows already accepted are skipped)";
    let outcome = FireOutcome {
        state: UploadState::Interrupted,
        note: Some(note.to_owned()),
        counts: counts.clone(),
        summary: None,
        dumps: None,
    };
    if state.db.interrupt_fire(&upload.id, &outcome).await? {
        let by = upload.fired_by.as_deref().unwrap_or("unknown");
        let detail = format!("interrupted (its server stopped): {} accepted of {} sent", counts.accepted, counts.fired);
        upload_event(UploadEvent::Fired, &upload.id, by, &detail);
    }
    Ok(())
}

/// The counts of a fire from its journal records: `(state, HTTP status, rows)`.
fn counts_of(outcomes: &[(String, Option<i32>, i64)], already_fired: i64) -> Counts {
    let mut counts = Counts { already_fired, ..Counts::default() };
    for (state, status, rows) in outcomes {
        counts.fired += rows;
        match (state.as_str(), status) {
            ("accepted", _) => counts.accepted += rows,
            ("failed", Some(status)) if !crate::fire::is_retryable_status(*status as u16) => counts.refused += rows,
            ("failed", _) => counts.failed += rows,
            _ => {}
        }
    }
    counts
}

/// How often the retention sweep looks: a tenth of the retention, between 1 s and 1 h.
pub fn sweep_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Removes the staged files older than --retention (their history stays), on one server at a
/// time; returns how many.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let Some(lease) = Lease::take(&state.db, SWEEP_KEY, "replayer serve").await? else { return Ok(0) };
    let retention = i64::try_from(state.config.retention.as_millis()).unwrap_or(i64::MAX);
    let before = now_ms().saturating_sub(retention);
    let swept: Result<usize> = async {
        let old = state.db.staged_before(before).await?;
        for id in &old {
            state.db.unstage_upload(id, None).await?;
            upload_event(UploadEvent::Swept, id, "the retention sweep", "the staged file was removed");
        }
        Ok(old.len())
    }
    .await;
    lease.release().await;
    swept
}

/// The named temporary files that servers of earlier versions wrote the staged files to
/// (`replayer-upload-XXXXXX.csv`): left for ever by a crash, with the file's personal data.
fn clear_temporary_files(folder: &Path) {
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("replayer-upload-") && name.ends_with(".csv") && entry.path().is_file();
        if ours && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %entry.path().display(), "removed a staged file a stopped server left");
        }
    }
}

/// The dumps in the output folder of uploads that are deleted, or that the database does not
/// know: a delete or a crash can leave them (a check or fire still writing).
async fn clear_dumps_of_gone_uploads(state: &AppState) -> Result<()> {
    let output_dir = &state.config.output_dir;
    let mut prefixes = BTreeSet::new();
    for entry in std::fs::read_dir(output_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(prefix) = name.strip_prefix("upload-").and_then(|rest| rest.get(..12)) else { continue };
        let named = format!("upload-{prefix}");
        if dump_type_of(&named, &entry.path()).is_some() {
            prefixes.insert(prefix.to_owned());
        }
    }
    for prefix in prefixes {
        let uploads = state.db.uploads_by_prefix(&prefix).await?;
        for upload in uploads.iter().filter(|upload| upload.state == UploadState::Deleted) {
            remove_dumps(output_dir, upload, None);
        }
        if uploads.is_empty() {
            for entry in std::fs::read_dir(output_dir).into_iter().flatten().flatten() {
                if dump_type_of(&format!("upload-{prefix}"), &entry.path()).is_some() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_rebuilt_from_the_journal() {
        let outcomes = [
            ("accepted".to_owned(), Some(200), 508),
            ("failed".to_owned(), Some(400), 3),
            ("failed".to_owned(), Some(503), 2),
            ("failed".to_owned(), None, 1),
            ("sent".to_owned(), None, 7),
        ];
        let counts = counts_of(&outcomes, 4);
        assert_eq!((counts.fired, counts.accepted, counts.refused, counts.failed), (521, 508, 3, 3));
        assert_eq!(counts.already_fired, 4);
    }

    #[test]
    fn old_named_temporary_files_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("replayer-upload-abc123.csv"), "Email\nann@example.com\n").unwrap();
        std::fs::write(dir.path().join("other.csv"), "x").unwrap();
        clear_temporary_files(dir.path());
        assert!(!dir.path().join("replayer-upload-abc123.csv").exists());
        assert!(dir.path().join("other.csv").exists());
    }
}
