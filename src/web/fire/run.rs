//! One fire: the staged file written back to an anonymous temporary file, and the command line's
//! live run on it in a thread of its own (its own runtime and database pool, as a command-line
//! run has), so the server and the command line fire the same way.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::http::StatusCode;
use tokio::sync::oneshot;

use super::RunningFire;
use crate::ctrl_c::Presses;
use crate::db::fires::FireOutcome;
use crate::db::uploads::{Counts, Upload, UploadId, UploadState};
use crate::db::Database;
use crate::fire::live::{fire_file, FireFrontEnd, Preflight, NOT_CONFIRMED};
use crate::out::summary::{FireStats, StopReason, Summary};
use crate::web::check::{dump_type_of, known_accounts, remove_dumps, run_name, run_settings, stage_to_file};
use crate::web::clients;
use crate::web::log::{upload_event, UploadEvent};
use crate::web::state::AppState;

/// Why a fire did not start, with the HTTP status that says so.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// The pre-flight, when it got that far (a wrong number typed).
    pub preflight: Option<Preflight>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into(), preflight: None }
    }
}

/// The server's front end of a live run: the pre-flight goes to the request that asked for it,
/// and is confirmed when the operator typed its number of rows; the counts go to `running`.
struct Server {
    confirm_rows: Option<u64>,
    decision: Option<oneshot::Sender<Result<Preflight, String>>>,
    running: Arc<RunningFire>,
}

impl FireFrontEnd for Server {
    fn confirm(&mut self, preflight: &Preflight, _runtime: &tokio::runtime::Runtime) -> Result<bool> {
        let confirmed = self.confirm_rows == Some(preflight.sending);
        if confirmed {
            self.running.total.store(preflight.sending, Ordering::Relaxed);
            self.running.already_fired.store(preflight.already_fired, Ordering::Relaxed);
            *self.running.firing_since.lock().expect("fire lock") = Some(Instant::now());
        }
        if let Some(decision) = self.decision.take() {
            let _ = decision.send(Ok(preflight.clone()));
        }
        Ok(confirmed)
    }

    fn progress(&mut self, stats: &FireStats, _total: u64) {
        let running = &self.running;
        running.fired.store(stats.fired, Ordering::Relaxed);
        running.accepted.store(stats.accepted, Ordering::Relaxed);
        running.refused.store(stats.refused, Ordering::Relaxed);
        running.failed.store(stats.failed, Ordering::Relaxed);
    }

    fn ctrl_c(&self) -> Option<Arc<Presses>> {
        None
    }
}

/// Whether this upload can be fired now, and if not, why.
fn refusal_of(upload: &Upload) -> Option<Refusal> {
    let conflict = |message: String| Some(Refusal::new(StatusCode::CONFLICT, message));
    if !upload.staged {
        return conflict("the file is no longer in the database: upload it again to fire it".into());
    }
    match upload.state {
        UploadState::Checked if upload.error.is_some() => {
            conflict("the check could not read this file, so it cannot be fired; see its error".into())
        }
        UploadState::Checked | UploadState::Finished | UploadState::Interrupted => None,
        state => conflict(format!("this upload is {}; it can be fired once it is checked", state.as_str())),
    }
}

/// Why a fire was not started: `typed` (as the operator typed it) is not the number of rows.
pub fn wrong_number(typed: &str, sending: u64) -> String {
    format!("you typed {typed}, and {sending} rows are to be fired; nothing was sent. Type the number of rows to fire")
}

/// The pre-flight (`confirm_rows` None: nothing is sent, nothing written) or the fire of an
/// upload. A fire returns once the pre-flight is confirmed and goes on in the background.
pub async fn launch(
    state: &AppState,
    upload: &Upload,
    by: &str,
    confirm_rows: Option<u64>,
) -> Result<Preflight, Refusal> {
    if let Some(refusal) = refusal_of(upload) {
        return Err(refusal);
    }
    let registered = state.fires.insert(&upload.id);
    let Some(running) = registered else {
        return Err(Refusal::new(StatusCode::CONFLICT, "this upload is firing already"));
    };
    let started = start_thread(state, upload, confirm_rows, running.clone()).await;
    let (decision, done) = match started {
        Ok(started) => started,
        Err(error) => {
            state.fires.remove(&upload.id);
            return Err(Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")));
        }
    };
    let preflight = match decision.await {
        Ok(Ok(preflight)) => preflight,
        Ok(Err(message)) => {
            let _ = done.await;
            state.fires.remove(&upload.id);
            return Err(Refusal::new(StatusCode::CONFLICT, message));
        }
        Err(_) => {
            state.fires.remove(&upload.id);
            return Err(Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "the fire stopped before its pre-flight"));
        }
    };
    if confirm_rows != Some(preflight.sending) {
        let _ = done.await;
        state.fires.remove(&upload.id);
        return match confirm_rows {
            None => Ok(preflight),
            Some(typed) => Err(Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: wrong_number(&typed.to_string(), preflight.sending),
                preflight: Some(preflight),
            }),
        };
    }
    if let Err(error) = state.db.start_fire(&upload.id, by).await {
        tracing::error!(upload = upload.id.as_str(), error = %format!("{error:#}"), "cannot record a fire");
    }
    upload_event(UploadEvent::Fired, &upload.id, by, &format!("started: {} rows to send", preflight.sending));
    let (state, id) = (state.clone(), upload.id.clone());
    tokio::spawn(async move {
        let result = done.await.unwrap_or_else(|_| Err(anyhow::anyhow!("the fire stopped unexpectedly")));
        finish(&state, &id, result, &running).await;
        state.fires.remove(&id);
    });
    Ok(preflight)
}

type Started = (oneshot::Receiver<Result<Preflight, String>>, oneshot::Receiver<Result<Summary>>);

/// Stages the file, then runs `fire_file` in a thread of its own.
async fn start_thread(
    state: &AppState,
    upload: &Upload,
    confirm_rows: Option<u64>,
    running: Arc<RunningFire>,
) -> Result<Started> {
    // The mapping version the upload was checked with (SPEC §13), not one saved since.
    let (_, mapping) = clients::upload_mapping(&state.db, upload, upload.mapping_version).await?;
    let staged = stage_to_file(state, &upload.id).await?;
    let mut extra: Vec<OsString> = vec!["--fire-tag".into(), "--dump-data".into(), "--yes".into()];
    extra.extend(state.config.firing.arguments());
    let mut settings = run_settings(state, &run_name(&upload.id), upload, staged, mapping, extra)?;
    // What is fired is the file with the page's edits (SPEC §12), as the check read it.
    settings.edits = Some(Arc::new(state.db.upload_edits(&upload.id).await?));
    let accounts = known_accounts(state).await;
    let database_url = state.config.database_url.clone();
    let (decision_sender, decision) = oneshot::channel();
    let (done_sender, done) = oneshot::channel();
    let stop = running.stop.clone();
    let mut front = Server { confirm_rows, decision: Some(decision_sender), running };
    std::thread::Builder::new()
        .name("replayer-fire".into())
        .spawn(move || {
            let result = (|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the fire's runtime")?;
                let database = runtime.block_on(Database::connect(&database_url))?;
                let now = chrono::Utc::now();
                let fired = fire_file(settings, now, &runtime, Some(database.clone()), accounts, &mut front, stop);
                runtime.block_on(database.close());
                fired
            })();
            if let (Some(decision), Err(error)) = (front.decision.take(), &result) {
                let _ = decision.send(Err(format!("{error:#}")));
            }
            let _ = done_sender.send(result);
        })
        .context("cannot start the fire's thread")?;
    Ok((decision, done))
}

/// Records how a fire ended; every row accepted (or excluded in the page): the staged file goes.
/// Rows with exceptions keep it, so that they can still be fixed and fired (SPEC §12).
async fn finish(state: &AppState, id: &UploadId, result: Result<Summary>, running: &RunningFire) {
    let exceptions = result.as_ref().map_or(0, |summary| summary.rows_with_exceptions);
    let outcome = outcome_of(id, result, running);
    let all_accepted = outcome.state == UploadState::Finished && outcome.note.is_none() && exceptions == 0;
    // The file goes before the state says finished, so that no one sees a finished fire with
    // its file still staged.
    if all_accepted {
        if let Err(error) = state.db.unstage_upload(id, None).await {
            tracing::error!(upload = id.as_str(), error = %format!("{error:#}"), "cannot remove a staged file");
        }
    }
    if let Err(error) = state.db.record_fire(id, &outcome).await {
        tracing::error!(upload = id.as_str(), error = %format!("{error:#}"), "cannot record a fire");
    }
    let counts = &outcome.counts;
    let detail = format!(
        "{}: {} sent, {} accepted, {} refused, {} failed, {} already fired",
        outcome.state.as_str(),
        counts.fired,
        counts.accepted,
        counts.refused,
        counts.failed,
        counts.already_fired
    );
    let by = running.cancelled_by.lock().expect("fire lock").clone();
    let fired_by = state.db.upload(id).await.ok().flatten();
    let user = fired_by.as_ref().and_then(|upload| upload.fired_by.clone()).or(by).unwrap_or_default();
    upload_event(UploadEvent::Fired, id, &user, &detail);
    // Deleted while it fired: the dumps it has just written go too.
    if let Some(upload) = fired_by.filter(|upload| upload.state == UploadState::Deleted) {
        remove_dumps(&state.config.output_dir, &upload, None);
    }
}

fn outcome_of(id: &UploadId, result: Result<Summary>, running: &RunningFire) -> FireOutcome {
    let mut summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let progress = running.progress();
            let message = format!("{error:#}");
            let note = if message == NOT_CONFIRMED { "the fire was not confirmed".to_owned() } else { message };
            return FireOutcome {
                state: UploadState::Interrupted,
                note: Some(format!("the fire stopped: {note}")),
                counts: Counts {
                    fired: progress.done as i64,
                    accepted: progress.accepted as i64,
                    refused: progress.refused as i64,
                    failed: progress.failed as i64,
                    already_fired: progress.already_fired as i64,
                    ..Counts::default()
                },
                summary: None,
                dumps: None,
            };
        }
    };
    let name = run_name(id);
    let dumps: BTreeMap<&str, String> = summary
        .files_written
        .iter()
        .filter_map(|path| Some((dump_type_of(&name, path)?.name(), path.display().to_string())))
        .collect();
    let stats = summary.fire.take().unwrap_or_default();
    let counts = Counts {
        fired: stats.fired as i64,
        accepted: stats.accepted as i64,
        refused: stats.refused as i64,
        failed: stats.failed as i64,
        already_fired: stats.already_fired_total() as i64,
        ..Counts::default()
    };
    let (state, note) = match stats.stop {
        Some(StopReason::Interrupted) => {
            let by = running.cancelled_by.lock().expect("fire lock").clone();
            let who = by.map(|by| format!(" by {by}")).unwrap_or_default();
            (
                UploadState::Interrupted,
                Some(format!("cancelled{who}: {} rows not sent; resume to fire them", stats.not_sent)),
            )
        }
        Some(reason) => {
            let detail = stats.stop_detail.clone().map(|detail| format!(" ({detail})")).unwrap_or_default();
            (
                UploadState::Interrupted,
                Some(format!(
                    "stopped: {}{detail}; {} rows not sent; resume to fire them",
                    describe(reason),
                    stats.not_sent
                )),
            )
        }
        None if stats.refused + stats.failed > 0 => (
            UploadState::Finished,
            Some(format!(
                "{} refused and {} failed: see the exceptions; fire again to send them again",
                stats.refused, stats.failed
            )),
        ),
        None => (UploadState::Finished, None),
    };
    summary.fire = Some(stats);
    FireOutcome {
        state,
        note,
        counts,
        summary: Some(summary.render()),
        dumps: Some(serde_json::to_string(&dumps).unwrap_or_default()),
    }
}

fn describe(reason: StopReason) -> &'static str {
    match reason {
        StopReason::DcsDown => "the DCS looked down (20 failures in a row)",
        StopReason::AccountRefused => "the DCS refused the account (401/403)",
        StopReason::Interrupted => "interrupted",
        StopReason::LockLost => "the lock on the accounts was lost",
        StopReason::CannotConnect => "the DCS's name or certificate failed",
        StopReason::DatabaseFailed => "the journal could not be written",
        StopReason::OutputFailed => "a dump file could not be written",
    }
}
