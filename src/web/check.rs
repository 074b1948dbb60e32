//! The check of a staged upload: the staged chunks are written back to an anonymous temporary file
//! and the command line's dry run (`crate::run::dry_run`, with `--dump-data`) reads it, with
//! settings made by the command line's own parser. Also: an upload's dump files, and its deletion.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::{Context, Result};
use clap::Parser;

use super::clients;
use super::lease::{take_upload, Lease};
use super::log::{upload_event, UploadEvent};
use super::report;
use super::state::AppState;
use crate::cli::Cli;
use crate::db::review::{Review, StoredRow};
use crate::db::uploads::{CheckOutcome, Counts, Upload, UploadId, UploadState};
use crate::out::dump::DumpType;
use crate::problem::{Problem, Severity};
use crate::row::check::KnownAccounts;
use crate::run::Progress;
use crate::settings::{ProblemRows, Settings, StoredMapping};

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

/// Checks a staged upload and records the outcome; errors are recorded on the upload too. The
/// upload's lease (taken when it arrived, else here) tells the other servers on the database
/// that this one checks it; without it, another server does, and this one leaves it alone.
pub async fn check_upload(state: AppState, id: UploadId, lease: Option<Lease>) {
    let lease = match lease {
        Some(lease) => lease,
        None => match take_upload(&state.db, &id).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                // Another server checks it (and reads the edits then).
                CHECKING_AGAIN.lock().expect("not poisoned").remove(&id);
                return;
            }
            Err(error) => {
                tracing::error!(upload = id.as_str(), error = %format!("{error:#}"), "cannot take an upload's lease");
                CHECKING_AGAIN.lock().expect("not poisoned").remove(&id);
                return;
            }
        },
    };
    let _slot = state.check_slots.clone().acquire_owned().await;
    let row = Arc::new(AtomicU64::new(0));
    state.progress.lock().expect("progress lock").insert(id.clone(), row.clone());
    loop {
        let outcome = match state.db.upload(&id).await {
            Ok(Some(upload)) if upload.staged && upload.state == UploadState::Checking => {
                // What an earlier check cut short (a crash) left is not the dumps of this one.
                remove_dumps(&state.config.output_dir, &upload, Some(&dump_paths(&upload)));
                let checked = run_check(&state, &upload, row.clone()).await;
                // Edited while it ran: what it found is no longer the file's; check it again.
                if edited_meanwhile(&id, false) {
                    continue;
                }
                Some((upload, checked.unwrap_or_else(|error| CheckOutcome::failed(format!("{error:#}")))))
            }
            _ => None,
        };
        if let Some((upload, outcome)) = outcome {
            if let Err(error) = state.db.record_check(&id, &outcome).await {
                tracing::error!(upload = id.as_str(), error = %format!("{error:#}"), "cannot record a check");
            }
            let counts = &outcome.counts;
            let detail = match &outcome.error {
                Some(_) => "the file could not be checked (see its page)".to_owned(),
                None => format!("{} rows, {} valid, {} with exceptions", counts.rows, counts.valid, counts.exceptions),
            };
            upload_event(UploadEvent::Checked, &id, &upload.uploaded_by, &detail);
            // Deleted while it was checked: the dumps it wrote go too.
            if state.db.upload_deleted(&id).await.unwrap_or(false) {
                remove_dumps(&state.config.output_dir, &upload, None);
            }
        }
        // Edited between the end of the check and its record: once more.
        if !edited_meanwhile(&id, true) {
            break;
        }
        if let Err(error) = state.db.set_upload_state(&id, UploadState::Checking, None).await {
            tracing::error!(upload = id.as_str(), error = %format!("{error:#}"), "cannot check an upload again");
            edited_meanwhile(&id, true);
            break;
        }
    }
    state.progress.lock().expect("progress lock").remove(&id);
    lease.release().await;
}

/// Uploads checked again after edits (SPEC §12): true when edits came since the check started.
static CHECKING_AGAIN: LazyLock<Mutex<HashMap<UploadId, bool>>> = LazyLock::new(Mutex::default);

/// Whether the upload was edited since its check started (and then its check starts again);
/// `ending`: the check is over unless it was, and the upload leaves the list.
fn edited_meanwhile(id: &UploadId, ending: bool) -> bool {
    let mut checking = CHECKING_AGAIN.lock().expect("not poisoned");
    match checking.get_mut(id) {
        Some(again) if *again => {
            *again = false;
            true
        }
        Some(_) if ending => {
            checking.remove(id);
            false
        }
        _ => false,
    }
}

/// Checks an upload again, with its edits, in the background (as when it arrived): it is
/// `checking` until then, so it cannot be fired meanwhile. Edits made while a check runs are
/// followed by one more check, and only the last one's outcome is recorded.
pub async fn check_again(state: &AppState, id: &UploadId) -> Result<()> {
    // Decided before the state is written: a check that is ending sees the flag and goes on,
    // and one that has ended can no longer record over the state written here.
    let running = {
        let mut checking = CHECKING_AGAIN.lock().expect("not poisoned");
        match checking.get_mut(id) {
            Some(again) => {
                *again = true;
                true
            }
            None => {
                checking.insert(id.clone(), false);
                false
            }
        }
    };
    let written = state.db.set_upload_state(id, UploadState::Checking, None).await;
    if !running {
        tokio::spawn(check_upload(state.clone(), id.clone(), None));
    }
    written
}

async fn run_check(state: &AppState, upload: &Upload, row: Arc<AtomicU64>) -> Result<CheckOutcome> {
    // The client's latest mapping (SPEC §13), with the upload's column matching; the upload
    // records which version it was checked with, and its fire uses the same.
    let (version, mapping) = clients::upload_mapping(&state.db, upload, None).await?;
    state.db.set_upload_mapping_version(&upload.id, version).await?;
    let staged = stage_to_file(state, &upload.id).await?;
    let name = run_name(&upload.id);
    let mut settings = run_settings(state, &name, upload, staged, mapping, ["--dump-data".into()])?;
    // The pages read the problems as the check kept them.
    settings.problems_dump = true;
    // The page's edits are read as the file's (SPEC §12), and its rows with problems kept.
    settings.edits = Some(Arc::new(state.db.upload_edits(&upload.id).await?));
    let kept = Arc::new(ProblemRows::default());
    settings.problem_rows = Some(kept.clone());
    let accounts = known_accounts(state).await;
    let now = chrono::Utc::now();
    let checked =
        tokio::task::spawn_blocking(move || crate::run::dry_run(settings, now, accounts, &SharedProgress(row)))
            .await
            .context("the check stopped unexpectedly")?;
    let mut summary = match checked {
        Ok(summary) => summary,
        Err(error) => return Ok(CheckOutcome::failed(format!("{error:#}"))),
    };
    let dumps: BTreeMap<&str, String> = summary
        .files_written
        .iter()
        .filter_map(|path| Some((dump_type_of(&name, path)?.name(), path.display().to_string())))
        .collect();
    let problems = dumps.get(DumpType::Problems.name()).map(PathBuf::from);
    keep_for_review(state, &upload.id, &kept, problems.as_deref(), &summary).await?;
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

/// What the page's review reads without the file (SPEC §12): the cells of the rows with
/// problems and their problems, the header, the identifier coverage.
async fn keep_for_review(
    state: &AppState,
    id: &UploadId,
    kept: &ProblemRows,
    problems_dump: Option<&Path>,
    summary: &crate::out::summary::Summary,
) -> Result<()> {
    let mut by_row: HashMap<u64, Vec<Problem>> = HashMap::new();
    if let Some(path) = problems_dump {
        let every = report::read_all(path, Severity::Exception)?.chain(report::read_all(path, Severity::Warning)?);
        for problem in every {
            let problem = problem?;
            if let Some(row) = problem.row {
                by_row.entry(row).or_default().push(problem);
            }
        }
    }
    let cells = std::mem::take(&mut *kept.rows.lock().expect("not poisoned"));
    let rows: Vec<StoredRow> = cells
        .into_iter()
        .map(|(row, cells)| {
            let problems = by_row.remove(&row).unwrap_or_default();
            let exception = problems.iter().any(|problem| problem.severity == Severity::Exception);
            StoredRow {
                row,
                state: if exception { "exception" } else { "valid" }.to_owned(),
                cells,
                problems: serde_json::to_string(&problems).unwrap_or_default(),
            }
        })
        .collect();
    state.db.replace_checked_rows(id, &rows).await?;
    let review = Review {
        headers: kept.headers.lock().expect("not poisoned").clone(),
        names_cells: kept.names_cells.load(Ordering::Relaxed),
        coverage: serde_json::to_string(&summary.coverage).unwrap_or_default(),
    };
    state.db.save_review(id, &review).await
}

/// The settings of `replayer --name N --load-file F --output-dir O --request-url U --quiet
/// <extra…>` with the stored `mapping` (as `--client` reads it), through the command line's own
/// parser and checks: the check and the fire of a staged file run on exactly what the command
/// line would. `staged` is read; the upload's file name is only what the messages show. The
/// database is the server's, passed to the run, never one from the environment.
pub(crate) fn run_settings(
    state: &AppState,
    name: &str,
    upload: &Upload,
    staged: std::fs::File,
    mapping: StoredMapping,
    extra: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Settings> {
    let config = &state.config;
    let mut arguments: Vec<std::ffi::OsString> = vec![
        "replayer".into(),
        "--name".into(),
        name.into(),
        // One argument, so that a file name starting with '-' is not read as an option.
        format!("--load-file={}", upload.file_name).into(),
        "--output-dir".into(),
        config.output_dir.clone().into(),
        "--request-url".into(),
        config.request_url.clone().into(),
        "--quiet".into(),
    ];
    arguments.extend(extra);
    let cli = Cli::try_parse_from(arguments).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut settings = Settings::from_args_with(cli.run, Some(staged), Some(mapping))?;
    settings.database_url = None;
    Ok(settings)
}

/// The accounts of the server's database, when it has an attrib_account with rows (SPEC §8).
pub(crate) async fn known_accounts(state: &AppState) -> Option<KnownAccounts> {
    let accounts = state.db.accounts().await.ok()?;
    (!accounts.is_empty()).then(|| KnownAccounts::new(accounts))
}

/// The staged chunks, in order, in an anonymous temporary file: it has no name on disk, so
/// nothing can open it but this process, and the kernel frees it when the process ends, even
/// by `kill -9`. Personal data stays at rest only in the database.
pub(crate) async fn stage_to_file(state: &AppState, id: &UploadId) -> Result<std::fs::File> {
    let mut file = tempfile::tempfile()
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

/// The dump files of an upload, by type, as its last check or fire recorded them.
pub fn dump_paths(upload: &Upload) -> BTreeMap<String, PathBuf> {
    upload.dumps.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// Removes the dump files of an upload: every one that any of its checks and fires wrote, found
/// by name in the output folder, cut short or whole, but those of `keep`.
pub fn remove_dumps(output_dir: &Path, upload: &Upload, keep: Option<&BTreeMap<String, PathBuf>>) {
    let name = run_name(&upload.id);
    let kept = |path: &Path| keep.is_some_and(|keep| keep.values().any(|kept| kept.file_name() == path.file_name()));
    let found = std::fs::read_dir(output_dir).into_iter().flatten().flatten().map(|entry| entry.path());
    let recorded = dump_paths(upload).into_values();
    for path in found.chain(recorded) {
        if dump_type_of(&name, &path).is_some() && !kept(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Deletes an upload: staged chunks and every dump file removed, history kept. A fire under way
/// stops as Cancel stops it (what it sent stays in the journal); an upload still arriving stops
/// at its next chunk; a check under way finishes, and its dumps go then.
pub async fn delete_upload(state: &AppState, upload: &Upload, by: &str) -> Result<()> {
    state.fires.cancel(&upload.id, by);
    state.db.unstage_upload(&upload.id, Some(by)).await?;
    remove_dumps(&state.config.output_dir, upload, None);
    upload_event(UploadEvent::Deleted, &upload.id, by, &format!("{:?}", upload.file_name));
    Ok(())
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
