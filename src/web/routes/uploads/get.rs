//! An upload's page: its state (updated live while it is checked), the summary of SPEC §9, the
//! downloads, and the exceptions and warnings, paged.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::dumps::EXCEPTIONS_REPORT;
use crate::db::uploads::{Upload, UploadState};
use crate::out::dump::DumpType;
use crate::out::terminal::separated;
use crate::problem::Severity;
use crate::web::authentication::CurrentUser;
use crate::web::check::dump_paths;
use crate::web::pages::{error_page, layout, render, time};
use crate::web::report::read_page;
use crate::web::staging::human_size;
use crate::web::state::AppState;

/// Problems on one page of a list.
pub const PAGE_ROWS: usize = 100;

#[derive(Deserialize, Default)]
pub struct Pages {
    /// The page of exceptions, from 1.
    ep: Option<usize>,
    /// The page of warnings, from 1.
    wp: Option<usize>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(id): Path<String>,
    Query(pages): Query<Pages>,
) -> Response {
    let upload = match super::find(&state, &id).await {
        Ok(upload) => upload,
        Err((status, message)) => return error_page(status, &message),
    };
    let csrf = current.csrf.clone().unwrap_or_default();
    let checking = upload.state == UploadState::Checking;
    let rows_so_far = state.rows_so_far(&upload.id).unwrap_or(0);
    let content = html! {
        h1 { (upload.file_name) }
        div #upload data-id=(upload.id) data-state=(upload.state.as_str()) {
            dl.facts {
                dt { "Client" } dd #client { (upload.client) }
                @if let Some(version) = upload.mapping_version {
                    dt { "Mapping" } dd #mapping-version {
                        "version " (version)
                        @if upload.column_matching.is_some() { ", with this upload's own column matching" }
                    }
                }
                dt { "Uploaded" } dd { (time(upload.uploaded_at_ms)) " by " (upload.uploaded_by) ", " (human_size(upload.size_bytes.max(0) as u64)) }
                dt { "State" } dd #state { (upload.state.as_str()) }
                dt { "Staged" } dd #staged { @if upload.staged { "yes: the file is in the database" } @else { "no: the file is no longer in the database" } }
                @if let (Some(by), Some(at)) = (&upload.deleted_by, upload.deleted_at_ms) {
                    dt { "Deleted" } dd { (time(at)) " by " (by) }
                }
            }
            @if checking {
                p #checking { "Checking… row " span #rows-so-far { (rows_so_far) } " so far. This page updates itself." }
                noscript { meta http-equiv="refresh" content="2"; }
            }
        }
        @if let Some(error) = &upload.error {
            p.error #error { (error) }
        }
        @if upload.summary.is_some() {
            (counts(&upload))
        }
        @if let Some(summary) = &upload.summary {
            details open { summary { "The summary, as the command line prints it" } pre #summary { (summary) } }
        }
        (downloads(&upload))
        @if upload.summary.is_some() {
            (problems(&upload, DumpType::Exceptions, pages.ep.unwrap_or(1), &pages))
            (problems(&upload, DumpType::Warnings, pages.wp.unwrap_or(1), &pages))
        }
        (crate::web::fire::page::section(&state, &upload, &current))
        @if upload.state != UploadState::Deleted {
            form #delete-form method="post" action={ "/uploads/" (upload.id) "/delete" } {
                input type="hidden" name="csrf" value=(csrf);
                button #delete-button type="submit" { "Delete this upload" }
                " (the staged file and the dumps are removed; this history stays)"
            }
        }
        p { a href="/" { "All uploads" } }
    };
    render(StatusCode::OK, layout(&upload.file_name, Some(&current), content))
}

fn counts(upload: &Upload) -> Markup {
    let counts = &upload.counts;
    // For people: thousands separators, as on the terminal.
    let shown = |count: i64| separated(u64::try_from(count).unwrap_or_default());
    html! {
        table #counts {
            tr { th { "rows read" } td #count-rows { (shown(counts.rows)) } }
            tr { th { "valid" } td #count-valid { (shown(counts.valid)) } }
            tr { th { "with exceptions (not fired)" } td #count-exceptions { (shown(counts.exceptions)) } }
            tr { th { "with warnings" } td #count-warnings { (shown(counts.warnings)) } }
        }
    }
}

fn downloads(upload: &Upload) -> Markup {
    let paths = dump_paths(upload);
    html! {
        @if !paths.is_empty() && upload.state != UploadState::Deleted {
            h2 { "Downloads" }
            ul #downloads {
                @for kind in DumpType::ALL {
                    @if paths.contains_key(kind.name()) {
                        li { a href={ "/uploads/" (upload.id) "/dumps/" (kind.name()) } { (kind.name()) } }
                    }
                }
                li { a href={ "/uploads/" (upload.id) "/dumps/" (EXCEPTIONS_REPORT) } { "exceptions report (CSV)" } }
            }
        }
    }
}

fn problems(upload: &Upload, kind: DumpType, page: usize, pages: &Pages) -> Markup {
    let title = if kind == DumpType::Exceptions { "Exceptions (rows not fired)" } else { "Warnings" };
    let page = page.max(1);
    let severity = if kind == DumpType::Exceptions { Severity::Exception } else { Severity::Warning };
    let path = dump_paths(upload).get(DumpType::Problems.name()).cloned();
    let read = path.map(|path| read_page(&path, severity, (page - 1) * PAGE_ROWS, PAGE_ROWS));
    let link = |to: usize| {
        let (ep, wp) =
            if kind == DumpType::Exceptions { (to, pages.wp.unwrap_or(1)) } else { (pages.ep.unwrap_or(1), to) };
        format!("/uploads/{}?ep={ep}&wp={wp}", upload.id)
    };
    html! {
        h2 { (title) }
        @match read {
            None => p { "None." },
            Some(Err(error)) => p.error { "cannot read the " (kind.name()) " dump: " (error) },
            Some(Ok((list, more))) => {
                p.wide-note { "The table scrolls sideways." }
                div.wide {
                table id=(kind.name()) {
                    thead { tr { th { "Row" } th { "Column" } th { "Field" } th { "Value" } th { "Message" } } }
                    tbody {
                        @for problem in &list {
                            tr {
                                td.row { @if let Some(row) = problem.row { (row) } @else { "file" } }
                                td { (problem.column.as_deref().or(problem.cell.as_deref()).unwrap_or_default()) }
                                td { (problem.field.as_deref().unwrap_or_default()) }
                                td.value { (problem.value.as_deref().unwrap_or_default()) }
                                td { (problem.message) }
                            }
                        }
                    }
                }
                }
                p.pager {
                    @if page > 1 { a href=(link(page - 1)) { "← previous" } " " }
                    "page " (page)
                    @if more { " " a href=(link(page + 1)) { "next →" } }
                }
            }
        }
    }
}
