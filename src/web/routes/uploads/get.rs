//! An upload's page (SPEC §12): the verdict and the next step first, its state (updated live
//! while it is checked), the counts, the problems grouped by column and kind with a filter and a
//! search, the sending, the downloads, and the command line's summary folded.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::dumps::EXCEPTIONS_REPORT;
use crate::db::uploads::{Upload, UploadId, UploadState};
use crate::out::dump::DumpType;
use std::collections::BTreeMap;

use crate::out::summary::Coverage;
use crate::out::terminal::separated;
use crate::problem::Severity;
use crate::web::authentication::CurrentUser;
use crate::web::check::dump_paths;
use crate::web::pages::{error_page, layout, render, time};
use crate::web::report;
use crate::web::staging::human_size;
use crate::web::state::AppState;

/// Problems on one page of a list.
pub const PAGE_ROWS: usize = 100;

#[derive(Deserialize, Default)]
pub struct Pages {
    /// The page of rows not sent, from 1.
    ep: Option<usize>,
    /// The page of rows sent with a correction, from 1.
    wp: Option<usize>,
    /// The group of problems shown (`report::group_id`), or all.
    group: Option<String>,
    /// A row number or text to look for.
    q: Option<String>,
}

impl Pages {
    /// This page's address with one list on another page.
    fn link(&self, id: &UploadId, severity: Severity, to: usize) -> String {
        let (ep, wp) = match severity {
            Severity::Exception => (to, self.wp.unwrap_or(1)),
            Severity::Warning => (self.ep.unwrap_or(1), to),
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("ep", &ep.to_string()).append_pair("wp", &wp.to_string());
        if let Some(group) = self.group.as_deref().filter(|g| !g.is_empty()) {
            query.append_pair("group", group);
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.trim().is_empty()) {
            query.append_pair("q", q);
        }
        format!("/uploads/{id}?{}#problems", query.finish())
    }
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
    let coverage: BTreeMap<String, Coverage> = match state.db.review(&upload.id).await {
        Ok(Some(review)) => serde_json::from_str(&review.coverage).unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    let edits: Vec<serde_json::Value> = state
        .db
        .edits(&upload.id)
        .await
        .unwrap_or_default()
        .iter()
        .map(crate::web::routes::review::edit_json)
        .collect();
    let checking = upload.state == UploadState::Checking;
    let rows_so_far = state.rows_so_far(&upload.id).unwrap_or(0);
    let checked = upload.summary.is_some();
    let content = html! {
        h1 { (upload.file_name) }
        (verdict(&state, &upload, &current))
        (crate::web::routes::columns::upload_block(&upload))
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
                dt { "File kept" } dd #staged { @if upload.staged { "yes: the file as uploaded is kept, so it can be checked and sent" } @else { "no: the file is no longer kept" } }
                @if let (Some(by), Some(at)) = (&upload.deleted_by, upload.deleted_at_ms) {
                    dt { "Deleted" } dd { (time(at)) " by " (by) }
                }
            }
            @if checking {
                p #checking { "Checking the file… row " span #rows-so-far { (separated(rows_so_far)) } " so far. This page updates itself." }
                noscript { meta http-equiv="refresh" content="2"; }
            }
        }
        @if let Some(error) = &upload.error {
            p.error #error { (error) }
        }
        @if checked {
            (counts(&upload))
            (coverage_table(&coverage))
            (problems(&upload, &pages))
        }
        (crate::web::fire::page::section(&state, &upload, &current))
        (edit_history(&edits))
        (downloads(&upload))
        @if let Some(summary) = &upload.summary {
            details #details { summary { "Details for engineers: the check's summary, as the command line prints it" } pre #summary { (summary) } }
        }
        @if upload.state != UploadState::Deleted {
            p { a #delete-button.button.danger href={ "/uploads/" (upload.id) "/delete" } { "Delete this upload…" } }
        }
        p { a href="/" { "All uploads" } }
    };
    render(StatusCode::OK, layout(&upload.file_name, Some(&current), content))
}

/// What can happen now, in one line, and the next step as a button (SPEC §12).
fn verdict(state: &AppState, upload: &Upload, current: &CurrentUser) -> Markup {
    let counts = &upload.counts;
    let n = |count: i64| separated(u64::try_from(count).unwrap_or_default());
    let rows = |count: i64| if count == 1 { "row" } else { "rows" };
    let fix = (counts.exceptions > 0).then(|| {
        format!(
            "{} {} need a fix before {} can be sent.",
            n(counts.exceptions),
            rows(counts.exceptions),
            if counts.exceptions == 1 { "it" } else { "they" }
        )
    });
    let can_fire = current.user.role.can_fire();
    let running = state.fires.get(&upload.id).is_some();
    let (line, class) = match upload.state {
        UploadState::Deleted => (
            "This upload was deleted: the file and the results of its checks are gone. Its history below stays."
                .to_owned(),
            "info",
        ),
        UploadState::Checking => ("Checking the file…".to_owned(), "info"),
        _ if upload.summary.is_none() => (
            "This file could not be checked, so nothing can be sent yet. Below: why, and what to do.".to_owned(),
            "bad",
        ),
        UploadState::Firing if running => (format!("Sending {} rows now.", n(counts.valid)), "info"),
        UploadState::Finished => {
            let mut line = format!("Sent: {} {} accepted.", n(counts.accepted), rows(counts.accepted));
            let failed = counts.refused + counts.failed;
            if failed > 0 {
                line.push_str(&format!(" {} were refused or failed; sending again retries them.", n(failed)));
            }
            (line, if failed > 0 || counts.exceptions > 0 { "warn" } else { "good" })
        }
        UploadState::Interrupted | UploadState::Firing => {
            let cancelled = crate::web::fire::page::status_word(upload) == "cancelled";
            let how =
                if cancelled { "Sending was cancelled" } else { "Sending stopped before the end (the server stopped)" };
            (
                format!(
                    "{how} after {} {} were accepted. Resume to send the rest: rows already accepted are skipped.",
                    n(counts.accepted),
                    rows(counts.accepted)
                ),
                "warn",
            )
        }
        UploadState::Checked if counts.valid == 0 => ("Nothing can be sent: no row is ready.".to_owned(), "bad"),
        UploadState::Checked => (
            format!("Ready to send {} {}.", n(counts.valid), rows(counts.valid)),
            if counts.exceptions > 0 { "warn" } else { "good" },
        ),
    };
    let open = upload.state != UploadState::Deleted && upload.summary.is_some() && !running;
    let sendable = open && upload.staged && counts.valid > 0 && upload.error.is_none();
    html! {
        div #verdict class=(class) {
            p #verdict-line { (line) @if open { @if let Some(fix) = &fix { " " (fix) } } }
            @if open {
                p.next {
                    @if counts.exceptions > 0 { a #fix-rows.button href={ "/uploads/" (upload.id) "/fix" } { "Fix rows" } " " a href="#problems" { "See the problems" } " " }
                    @if sendable && can_fire && upload.state != UploadState::Firing {
                        a #verdict-send.button href={ "/uploads/" (upload.id) "/fire" } {
                            @if upload.state == UploadState::Interrupted { "Resume sending…" } @else if upload.state == UploadState::Finished { "Send again…" } @else { "Send " (n(counts.valid)) " " (rows(counts.valid)) "…" }
                        }
                    }
                    @if sendable && !can_fire { span #verdict-operator { "An operator sends the rows once they are right." } }
                }
            }
        }
    }
}

fn counts(upload: &Upload) -> Markup {
    let counts = &upload.counts;
    // For people: thousands separators, as on the terminal.
    let shown = |count: i64| separated(u64::try_from(count).unwrap_or_default());
    html! {
        table #counts {
            tr { th { "Rows in the file" } td #count-rows { (shown(counts.rows)) } }
            tr { th { "Ready to send" } td #count-valid { (shown(counts.valid)) } }
            tr { th { "Need a fix (not sent)" } td #count-exceptions { (shown(counts.exceptions)) } }
            tr { th { "Sent with a correction (warnings)" } td #count-warnings { (shown(counts.warnings)) } }
        }
    }
}

/// Every change made in the page (SPEC §12): who, when, row, column, old and new value, personal
/// data masked; the last 200, newest first.
fn edit_history(edits: &[serde_json::Value]) -> Markup {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned).unwrap_or_default();
    html! {
        @if !edits.is_empty() {
            h2 { "Changes made in the page" }
            p { (separated(edits.len() as u64)) " changes. The file as uploaded is kept as it is; every check and send reads it with these changes." }
            p.wide-note { "The table scrolls sideways." }
            div.wide {
                table #edits {
                    thead { tr { th { "When" } th { "By" } th { "Row" } th { "Column" } th { "Was" } th { "Now" } } }
                    tbody {
                        @for edit in edits.iter().rev().take(200) {
                            tr {
                                td { (time(edit["at_ms"].as_i64().unwrap_or_default())) }
                                td { (text(&edit["by"])) }
                                td.row { (edit["row"]) }
                                td { @if edit["column"].is_null() { "the row" } @else { (text(&edit["column"])) } }
                                td.value { (text(&edit["old"])) }
                                td.value { (text(&edit["new"])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per account, how well the rows ready to send can be attributed (SPEC §12): how many carry
/// each kind of identifier, and how many only one kind.
fn coverage_table(coverage: &BTreeMap<String, Coverage>) -> Markup {
    let n = |count: u64| separated(count);
    html! {
        @if !coverage.is_empty() {
            h2 { "How the rows can be attributed" }
            p { "Rows ready to send, by the identifiers they carry. The more kinds a row carries, the better the platform can match it to a visit." }
            p.wide-note { "The table scrolls sideways." }
            div.wide {
                table #coverage {
                    thead { tr { th { "Account" } th { "Ready" } th { "Visitor id" } th { "Customer id" } th { "E-mail" } th { "Phone" } th { "Only one kind" } } }
                    tbody {
                        @for (account, c) in coverage {
                            tr { td { (account) } td.count { (n(c.valid)) } td.count { (n(c.visitor_id)) } td.count { (n(c.customer_id)) } td.count { (n(c.email)) } td.count { (n(c.phone)) } td.count { (n(c.only_one_kind)) } }
                        }
                    }
                }
            }
        }
    }
}

fn downloads(upload: &Upload) -> Markup {
    let paths = dump_paths(upload);
    let label = |kind: DumpType| match kind {
        DumpType::Requests => "The rows to send, as the addresses requested (requests)",
        DumpType::RequestsValidated => "The rows to send, as data (requests-validated)",
        DumpType::Responses => "What the data collection server answered (responses)",
        DumpType::Warnings => "Rows sent with a correction, and why (warnings)",
        DumpType::Exceptions => "Rows not sent, and why (exceptions)",
        _ => kind.name(),
    };
    html! {
        @if !paths.is_empty() && upload.state != UploadState::Deleted {
            h2 { "Files to download" }
            ul #downloads {
                @for kind in DumpType::ALL {
                    @if paths.contains_key(kind.name()) {
                        li { a href={ "/uploads/" (upload.id) "/dumps/" (kind.name()) } { (label(kind)) } }
                    }
                }
                li { a href={ "/uploads/" (upload.id) "/dumps/" (EXCEPTIONS_REPORT) } { "The problems, as a spreadsheet (CSV)" } }
            }
        }
    }
}

/// The problems grouped by column and kind, a filter and a search, then the problems shown,
/// paged with their totals (SPEC §12).
fn problems(upload: &Upload, pages: &Pages) -> Markup {
    let counts = &upload.counts;
    let path = dump_paths(upload).get(DumpType::Problems.name()).cloned();
    let group = pages.group.as_deref().filter(|g| !g.is_empty());
    let query = pages.q.as_deref().unwrap_or_default();
    let groups = match (&path, upload.state) {
        (_, UploadState::Deleted) => None,
        (Some(path), _) => report::groups(path).ok(),
        // A check that found nothing writes no problems.
        (None, _) if counts.exceptions == 0 && counts.warnings == 0 => Some(Vec::new()),
        (None, _) => None,
    };
    html! {
        h2 #problems { "Problems" }
        @match &groups {
            None if upload.state == UploadState::Deleted => p { "The results of the check were deleted with the upload." },
            None => p { "The results of the check are no longer there; check the file again by uploading it." },
            Some(groups) if groups.is_empty() => p #no-problems { "No problems: every row can be sent as it is." },
            Some(groups) => {
                p {
                    (separated(u64::try_from(counts.exceptions).unwrap_or_default())) " rows need a fix; "
                    (separated(u64::try_from(counts.warnings).unwrap_or_default())) " rows are sent with a correction. The same problem in many rows is one line here."
                }
                p.wide-note { "The table scrolls sideways." }
                div.wide {
                    table #groups {
                        thead { tr { th { "Column" } th { "Problem" } th { "Rows" } th { "First rows" } th { "Example" } th {} } }
                        tbody {
                            @for g in groups {
                                tr.group class=(if g.severity == Severity::Exception { "exception" } else { "warning" }) data-group=(g.id) {
                                    td { (g.column.as_deref().unwrap_or(if g.example_rows.is_empty() { "the file" } else { "the row" })) }
                                    td { (g.kind.title()) @if g.severity == Severity::Warning { " (sent)" } }
                                    td.count { (separated(g.rows)) }
                                    td { (g.example_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) @if g.rows > g.example_rows.len() as u64 { " …" } }
                                    td.value { (shown_value(g.field.as_deref(), g.value.as_deref())) }
                                    td { a href={ "/uploads/" (upload.id) "?group=" (g.id) "#problems" } { "Show these" } }
                                }
                            }
                        }
                    }
                }
                form #problem-search method="get" action={ "/uploads/" (upload.id) "#problems" } {
                    label {
                        "Show "
                        select name="group" {
                            option value="" selected[group.is_none()] { "every problem" }
                            @for g in groups {
                                option value=(g.id) selected[group == Some(g.id.as_str())] {
                                    (g.column.as_deref().unwrap_or("the row")) " — " (g.kind.title()) " (" (separated(g.rows)) ")"
                                }
                            }
                        }
                    }
                    label { "Row number or text " input type="search" name="q" value=(query); }
                    button type="submit" { "Show" }
                }
                @if let Some(path) = &path {
                    (problem_list(upload, path, Severity::Exception, pages))
                    (problem_list(upload, path, Severity::Warning, pages))
                }
            }
        }
    }
}

/// A value for people: personal data is never shown, only that it is there.
fn shown_value(field: Option<&str>, value: Option<&str>) -> String {
    match (field, value) {
        (Some("email" | "phone"), _) => "(personal data, not shown)".to_owned(),
        (_, Some(value)) => format!("{value:?}"),
        (_, None) => String::new(),
    }
}

fn problem_list(upload: &Upload, path: &std::path::Path, severity: Severity, pages: &Pages) -> Markup {
    let (title, id, page) = match severity {
        Severity::Exception => ("Rows not sent", "exceptions", pages.ep.unwrap_or(1).max(1)),
        Severity::Warning => ("Rows sent with a correction", "warnings", pages.wp.unwrap_or(1).max(1)),
    };
    let group = pages.group.as_deref().filter(|g| !g.is_empty());
    let query = pages.q.as_deref().unwrap_or_default();
    let read = report::filtered_page(path, Some(severity), group, query, (page - 1) * PAGE_ROWS, PAGE_ROWS);
    let Ok((list, total)) = read else {
        return html! { p { "The results of the check are no longer there." } };
    };
    let last = total.div_ceil(PAGE_ROWS).max(1);
    html! {
        @if total > 0 {
            h3 { (title) }
            p.wide-note { "The table scrolls sideways." }
            div.wide {
                table id=(id) {
                    thead { tr { th { "Row" } th { "Column" } th { "Value" } th { "What is wrong, and what to do" } } }
                    tbody {
                        @for problem in &list {
                            tr {
                                td.row { @if let Some(row) = problem.row { (row) } @else { "file" } }
                                td { (problem.column.as_deref().or(problem.cell.as_deref()).unwrap_or_default()) @if let (Some(_), Some(cell)) = (&problem.column, &problem.cell) { " (" (cell) ")" } }
                                td.value { (shown_value(problem.field.as_deref(), problem.value.as_deref())) }
                                td { (problem.message) }
                            }
                        }
                    }
                }
            }
            p.pager {
                @if page > 1 { a href=(pages.link(&upload.id, severity, page - 1)) { "← previous" } " " }
                "page " (page) " of " (separated(last as u64)) " (" (separated(total as u64)) " problems)"
                @if page < last { " " a href=(pages.link(&upload.id, severity, page + 1)) { "next →" } }
            }
        }
    }
}
