//! The check of a staged upload: the staged chunks are written back to a private temporary file
//! and the command line's dry run (`crate::run::dry_run`, with `--dump-data`) reads it, with
//! settings made by the command line's own parser. Also: the retention sweep and what a
//! restarted server does with the checks a stopped one left.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use super::clients;
use super::state::AppState;
use crate::cli::Cli;
use crate::db::uploads::{CheckOutcome, Counts, Upload, UploadId, UploadState};
use crate::out::dump::DumpType;
use crate::row::check::KnownAccounts;
use crate::run::Progress;
use crate::settings::Settings;

/// The run name of an upload's dumps: `upload-` and the first 12 digits of its id.
pub fn run_name(id: &UploadId) -> String {
    format!("upload-{}", &id.as_str()[..12])
}

struct SharedProgress(Arc<AtomicU64>);

impl Progress for SharedProgress {
    fn row(&self, row: u64) {
        self.0.store(row, Ordering::Relaxed);
    }
}

/// Checks a staged upload and records the outcome; errors are recorded on the upload too.
pub async fn check_upload(state: AppState, id: UploadId) {
    let _slot = state.check_slots.clone().acquire_owned().await;
    let row = Arc::new(AtomicU64::new(0));
    state.progress.lock().expect("progress lock").insert(id.clone(), row.clone());
    let outcome = match state.db.upload(&id).await {
        Ok(Some(upload)) if upload.staged && upload.state == UploadState::Checking => run_check(&state, &upload, row)
            .await
            .unwrap_or_else(|error| CheckOutcome { error: Some(format!("{error:#}")), ..CheckOutcome::default() }),
        _ => {
            state.progress.lock().expect("progress lock").remove(&id);
            return;
        }
    };
    if let Err(error) = state.db.record_check(&id, &outcome).await {
        eprintln!("replayer serve: upload {id}: {error:#}");
    }
    // Deleted while it was checked: the dumps it wrote go too.
    if let Ok(Some(upload)) = state.db.upload(&id).await {
        if upload.state == UploadState::Deleted {
            remove_dumps(&upload);
        }
    }
    state.progress.lock().expect("progress lock").remove(&id);
}

async fn run_check(state: &AppState, upload: &Upload, row: Arc<AtomicU64>) -> Result<CheckOutcome> {
    let client = clients::find(&state.config.clients_dir, &upload.client).with_context(|| {
        format!("the client {:?} is no longer in {}", upload.client, state.config.clients_dir.display())
    })?;
    let staged = stage_to_file(state, &upload.id).await?;
    let name = run_name(&upload.id);
    let mut settings = run_settings(state, &name, staged.path(), &client.mapping_path, ["--dump-data".into()])?;
    // The pages read the problems as the check kept them.
    settings.problems_dump = true;
    let accounts = known_accounts(state).await;
    let now = chrono::Utc::now();
    let checked =
        tokio::task::spawn_blocking(move || crate::run::dry_run(settings, now, accounts, &SharedProgress(row)))
            .await
            .context("the check stopped unexpectedly")?;
    let temp_path = staged.path().display().to_string();
    drop(staged);
    let mut summary = match checked {
        Ok(summary) => summary,
        // The messages name the file: the upload's name, not the temporary copy's.
        Err(error) => {
            let message = format!("{error:#}").replace(&temp_path, &upload.file_name);
            return Ok(CheckOutcome { error: Some(message), ..CheckOutcome::default() });
        }
    };
    let dumps: BTreeMap<&str, String> = summary
        .files_written
        .iter()
        .filter_map(|path| Some((dump_type_of(&name, path)?.name(), path.display().to_string())))
        .collect();
    Ok(CheckOutcome {
        error: None,
        counts: Counts {
            rows: summary.rows_read as i64,
            valid: summary.rows_valid as i64,
            exceptions: summary.rows_with_exceptions as i64,
            warnings: summary.rows_with_warnings as i64,
            ..Counts::default()
        },
        summary: Some(summary.render()),
        dumps: Some(serde_json::to_string(&dumps).unwrap_or_default()),
    })
}

/// The settings of `replayer --name N --load-file F --mapping M --output-dir O --request-url U
/// --quiet <extra…>`, through the command line's own parser and checks: the check and the fire
/// of a staged file run on exactly what the command line would. The database is the server's,
/// passed to the run, never one from the environment.
pub(crate) fn run_settings(
    state: &AppState,
    name: &str,
    file: &Path,
    mapping: &Path,
    extra: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Settings> {
    let config = &state.config;
    let mut arguments: Vec<std::ffi::OsString> = vec![
        "replayer".into(),
        "--name".into(),
        name.into(),
        "--load-file".into(),
        file.into(),
        "--mapping".into(),
        mapping.into(),
        "--output-dir".into(),
        config.output_dir.clone().into(),
        "--request-url".into(),
        config.request_url.clone().into(),
        "--quiet".into(),
    ];
    arguments.extend(extra);
    let cli = Cli::try_parse_from(arguments).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut settings = Settings::from_args(cli.run)?;
    settings.database_url = None;
    Ok(settings)
}

/// The accounts of the server's database, when it has an attrib_account with rows (SPEC §8).
pub(crate) async fn known_accounts(state: &AppState) -> Option<KnownAccounts> {
    let accounts = state.db.accounts().await.ok()?;
    (!accounts.is_empty()).then(|| KnownAccounts::new(accounts))
}

/// The staged chunks, in order, in a private temporary file (mode 0600, removed on drop).
pub(crate) async fn stage_to_file(state: &AppState, id: &UploadId) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("replayer-upload-")
        .suffix(".csv")
        .tempfile()
        .context("cannot create a temporary file for the check; check the free space of the temporary folder")?;
    let mut seq = 0;
    while let Some(chunk) = state.db.chunk(id, seq).await? {
        file.write_all(&chunk).context("cannot write the temporary file of the check")?;
        seq += 1;
    }
    file.flush()?;
    Ok(file)
}

/// Which dump a file of this run is: `{name}-{type}-{token}-{date}.txt`.
pub fn dump_type_of(name: &str, path: &Path) -> Option<DumpType> {
    let file_name = path.file_name()?.to_str()?;
    let rest = file_name.strip_prefix(name)?.strip_prefix('-')?;
    DumpType::EVERY.into_iter().find(|kind| {
        rest.strip_prefix(kind.name())
            .and_then(|tail| tail.strip_prefix('-'))
            .and_then(|tail| tail.strip_suffix(".txt").or_else(|| tail.strip_suffix(".jsonl")))
            .is_some_and(|tail| tail.len() == "abcd1234-2024-06-01".len())
    })
}

/// The dump files of an upload, by type.
pub fn dump_paths(upload: &Upload) -> BTreeMap<String, PathBuf> {
    upload.dumps.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

pub fn remove_dumps(upload: &Upload) {
    for path in dump_paths(upload).values() {
        let _ = std::fs::remove_file(path);
    }
}

/// Deletes an upload: staged chunks and dump files removed, history kept.
pub async fn delete_upload(state: &AppState, upload: &Upload, by: &str) -> Result<()> {
    // A fire under way stops as Cancel stops it; what it sent stays in the journal.
    state.fires.cancel(&upload.id, by);
    state.db.unstage_upload(&upload.id, Some(by)).await?;
    remove_dumps(upload);
    Ok(())
}

/// Checks left `checking` by a stopped server start again; an upload that was still arriving
/// is interrupted (its chunks removed): it must be uploaded again.
pub async fn resume_after_restart(state: &AppState) -> Result<()> {
    for upload in state.db.uploads_in_state(UploadState::Checking).await? {
        if upload.staged {
            tokio::spawn(check_upload(state.clone(), upload.id.clone()));
        } else {
            state.db.unstage_upload(&upload.id, None).await?;
            let message = "the server stopped while this file was being uploaded; upload it again";
            state.db.set_upload_state(&upload.id, UploadState::Interrupted, Some(message)).await?;
        }
    }
    Ok(())
}

/// Removes the staged files older than --retention; their history stays.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let retention = i64::try_from(state.config.retention.as_millis()).unwrap_or(i64::MAX);
    let before = crate::db::now_ms().saturating_sub(retention);
    let old = state.db.staged_before(before).await?;
    for id in &old {
        state.db.unstage_upload(id, None).await?;
    }
    Ok(old.len())
}

/// How often the retention sweep looks: a tenth of the retention, between 1 s and 1 h.
pub fn sweep_interval(retention: std::time::Duration) -> std::time::Duration {
    (retention / 10).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(3600))
}

pub async fn sweep_periodically(state: AppState) {
    let mut interval = tokio::time::interval(sweep_interval(state.config.retention));
    loop {
        interval.tick().await;
        if let Err(error) = sweep(&state).await {
            eprintln!("replayer serve: the retention sweep failed: {error:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_types_are_read_from_the_file_names() {
        let name = "upload-0123456789ab";
        let kind = |file: &str| dump_type_of(name, Path::new(file));
        assert_eq!(kind("/o/upload-0123456789ab-requests-abcd1234-2024-06-01.txt"), Some(DumpType::Requests));
        assert_eq!(
            kind("upload-0123456789ab-requests-validated-abcd1234-2024-06-01.txt"),
            Some(DumpType::RequestsValidated)
        );
        assert_eq!(kind("upload-0123456789ab-exceptions-abcd1234-2024-06-01.txt"), Some(DumpType::Exceptions));
        assert_eq!(kind("other-requests-abcd1234-2024-06-01.txt"), None);
    }
}
