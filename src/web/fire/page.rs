//! The fire part of an upload's page: Fire / Resume for an operator, the live progress with
//! Cancel while it fires (server-sent events with JavaScript, a refreshing page without), and
//! the fire's counts once it has run.

use maud::{html, Markup};

use super::Progress;
use crate::db::uploads::{Upload, UploadState};
use crate::web::authentication::CurrentUser;
use crate::web::state::AppState;

/// What the page says of the fire: `firing`, `finished`, `cancelled`, `interrupted` or nothing.
pub fn status_word(upload: &Upload) -> &'static str {
    match upload.state {
        UploadState::Firing => "firing",
        UploadState::Finished => "finished",
        UploadState::Interrupted if upload.error.as_deref().is_some_and(|note| note.starts_with("cancelled")) => {
            "cancelled"
        }
        UploadState::Interrupted => "interrupted",
        _ => "",
    }
}

pub fn progress_markup(progress: &Progress) -> Markup {
    let eta = progress.eta_seconds.map(|s| format!("{}:{:02}", s / 60, s % 60)).unwrap_or_else(|| "…".into());
    html! {
        progress #fire-bar max=(progress.total.max(1)) value=(progress.done) {}
        table #fire-progress {
            tr { th { "rows sent" } td { span #fire-done { (progress.done) } " / " span #fire-total { (progress.total) } } }
            tr { th { "rows a second" } td #fire-rate { (progress.rate) "/s" } }
            tr { th { "time left" } td #fire-eta { (eta) } }
            tr { th { "accepted" } td #fire-accepted { (progress.accepted) } }
            tr { th { "refused" } td #fire-refused { (progress.refused) } }
            tr { th { "failed" } td #fire-failed { (progress.failed) } }
            tr { th { "sent before (skipped)" } td #fire-already { (progress.already_fired) } }
        }
    }
}

/// The fire section of the upload's page.
pub fn section(state: &AppState, upload: &Upload, current: &CurrentUser) -> Markup {
    let csrf = current.csrf.clone().unwrap_or_default();
    let running = state.fires.get(&upload.id);
    let can_fire = current.user.role.can_fire();
    let word = status_word(upload);
    let counts = &upload.counts;
    let n = |count: i64| crate::out::terminal::separated(u64::try_from(count).unwrap_or_default());
    html! {
        h2 { "Sending" }
        div #fire data-id=(upload.id) data-state=(upload.state.as_str()) {
            @if !word.is_empty() {
                p { "Sending: " strong #fire-status { (word) } }
            }
            @if let Some(running) = &running {
                (progress_markup(&running.progress()))
                noscript { meta http-equiv="refresh" content="2"; }
                @if can_fire {
                    form #cancel-form method="post" action={ "/uploads/" (upload.id) "/cancel" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button #cancel-button type="submit" { "Cancel" }
                        " (the rows on their way are finished and recorded; the rest can be sent later)"
                    }
                }
                script src="/assets/fire.js" defer {}
            } @else if matches!(upload.state, UploadState::Finished | UploadState::Interrupted) {
                table #fire-counts {
                    tr { th { "rows sent" } td #fire-fired { (n(counts.fired)) } }
                    tr { th { "accepted" } td #fire-accepted { (n(counts.accepted)) } }
                    tr { th { "refused" } td #fire-refused { (n(counts.refused)) } }
                    tr { th { "failed" } td #fire-failed { (n(counts.failed)) } }
                    tr { th { "sent before (skipped)" } td #fire-already { (n(counts.already_fired)) } }
                }
            }
            @if running.is_none() && upload.staged {
                @if !can_fire {
                    p #fire-role { "Only operators send rows; an analyst uploads, checks, fixes, downloads and deletes." }
                } @else if upload.state == UploadState::Interrupted {
                    p { a #resume-link.button href={ "/uploads/" (upload.id) "/fire" } { "Resume" } " (rows already accepted are skipped)" }
                } @else if upload.state == UploadState::Finished {
                    p { a #fire-link.button href={ "/uploads/" (upload.id) "/fire" } { "Send again…" } " (the rows refused or failed; accepted rows are skipped)" }
                } @else if upload.state == UploadState::Checked && upload.error.is_none() {
                    p { a #fire-link.button href={ "/uploads/" (upload.id) "/fire" } { "Send the rows…" } " (a page to confirm comes first)" }
                }
            } @else if running.is_none() && upload.state == UploadState::Finished && counts.exceptions == 0 {
                p #fire-done-note { "Every row was accepted: the file is no longer kept; its history, its files and the record of the rows sent stay." }
            }
        }
    }
}
