//! An upload's column matching (SPEC §13): `GET /uploads/{id}/columns` shows the file's headers
//! beside the fields of its client's mapping, each with its best match chosen, the first rows
//! under that matching and the mapped columns the file lacks; `POST` shows the rows again with
//! another choice, confirms it (the upload checked again with it), or, for operators, saves it
//! as the client's mapping.

pub mod get;
pub mod post;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use crate::db::clients::{ClientName, ClientVersion};
use crate::db::uploads::{Upload, UploadState};
use crate::field::Field;
use crate::read::mapping::{parse_matching, Mapping};
use crate::web::authentication::CurrentUser;
use crate::web::matching::{is_personal_column, shown_cell, Choice, FieldMatch, FileHead, Why, FIRST_ROWS};
use crate::web::pages::{error_page, layout, render};
use crate::web::state::AppState;

/// What a matching page is built from.
pub struct Matching {
    pub upload: Upload,
    pub stored: ClientVersion,
    pub mapping: Mapping,
    pub head: FileHead,
}

/// The upload, its client's latest mapping and the file's first rows; else the page that says
/// why there is nothing to match.
pub async fn load(state: &AppState, id: &str) -> Result<Matching, Response> {
    let upload = super::uploads::find(state, id).await.map_err(|(status, message)| error_page(status, &message))?;
    if upload.state == UploadState::Deleted || !upload.staged {
        return Err(error_page(
            StatusCode::CONFLICT,
            "this upload's file is no longer kept, so its columns cannot be matched; upload the file again",
        ));
    }
    let stored = match ClientName::parse(&upload.client) {
        Some(name) => state.db.client_version(&name, None).await.ok().flatten(),
        None => None,
    };
    let Some(stored) = stored else {
        return Err(error_page(StatusCode::CONFLICT, "the upload's client is no longer in the database"));
    };
    let mapping = Mapping::parse(&stored.mapping).map_err(|e| {
        error_page(StatusCode::CONFLICT, &format!("the mapping of {} cannot be used: {e:#}", stored.name))
    })?;
    let head = crate::web::matching::read_head(state, &upload, &mapping).await.map_err(|e| {
        error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("this file could not be read, so its columns cannot be matched: {e:#}"),
        )
    })?;
    Ok(Matching { upload, stored, mapping, head })
}

/// The upload's own matching, as kept with it.
pub fn kept_matching(upload: &Upload) -> Vec<(Field, Option<String>)> {
    upload
        .column_matching
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .and_then(|value| parse_matching(&value).ok())
        .unwrap_or_default()
}

/// The value of a choice in the form: `h:` and the header, `none`, or empty.
pub fn choice_value(choice: &Choice) -> String {
    match choice {
        Choice::Header(header) => format!("h:{header}"),
        Choice::Absent => "none".to_owned(),
        Choice::Unchosen => String::new(),
    }
}

pub fn choice_of(value: &str) -> Choice {
    match value {
        "none" => Choice::Absent,
        value => match value.strip_prefix("h:") {
            Some(header) if !header.trim().is_empty() => Choice::Header(header.to_owned()),
            _ => Choice::Unchosen,
        },
    }
}

/// The page; `message` is what a confirm was refused with.
pub fn page(
    matching: &Matching,
    matches: &[FieldMatch],
    current: &CurrentUser,
    status: StatusCode,
    message: Option<&str>,
) -> Response {
    let Matching { upload, stored, mapping, head } = matching;
    let csrf = current.csrf.clone().unwrap_or_default();
    let lacking: Vec<(String, String)> = mapping
        .columns
        .iter()
        .map(|(field, header)| (header.clone(), field.name().to_owned()))
        .chain(mapping.custom.iter().map(|(key, header)| (header.clone(), format!("custom.{key}"))))
        .filter(|(header, _)| head.column(header).is_none())
        .collect();
    let custom_lacking: Vec<&(String, String)> =
        lacking.iter().filter(|(_, what)| what.starts_with("custom.")).collect();
    let can_save = current.user.role == crate::db::users::Role::Operator;
    let content = html! {
        h1 { "Match the columns of " (upload.file_name) }
        p.lead {
            "The file's columns are named differently from what the mapping of " (stored.label) " (version " (stored.version) ") expects. "
            "For each piece of information below, choose the file's column that holds it. The best guesses are already chosen: check them, then confirm."
        }
        @if let Some(message) = message { p.error #matching-error { (message) } }
        @if !lacking.is_empty() {
            div #lacking.note {
                p { "The mapping reads these columns, which this file does not have:" }
                ul { @for (header, what) in &lacking { li { "\"" (header) "\" (" (what) ")" } } }
                @if !custom_lacking.is_empty() {
                    p { "Extra columns sent as they are (custom) cannot be matched here; an operator can change them on the client's page." }
                }
            }
        }
        form #matching-form method="post" action={ "/uploads/" (upload.id) "/columns" } {
            input type="hidden" name="csrf" value=(csrf);
            @let (same, to_check): (Vec<&FieldMatch>, Vec<&FieldMatch>) = matches.iter().partition(|m| m.why == Why::SameHeader);
            @if !to_check.is_empty() {
                h2 { "To check" }
            }
            div #fields {
                @for each in &to_check { (field_row(each, head)) }
            }
            @if !same.is_empty() {
                details #same-fields {
                    summary { (same.len()) " more found under the same names as in the mapping (open to change them)" }
                    @for each in &same { (field_row(each, head)) }
                }
            }
            p.actions {
                button #preview-button.secondary type="submit" name="do" value="preview" { "Show the first rows with this choice" }
                " "
                button #confirm-matching type="submit" name="do" value="confirm" { "Confirm and check the file" }
            }
            @if can_save {
                p.actions {
                    button #save-as-mapping.secondary type="submit" name="do" value="save" { "Save this matching as the mapping of " (stored.label) }
                }
                p.hint { "Saving makes it the client's mapping (a new version) for every file from now on, and checks this file with it." }
            }
        }
        (preview(matches, head, mapping))
        p { a href={ "/uploads/" (upload.id) } { "Back to the upload" } }
    };
    render(status, layout("Match the columns", Some(current), content))
}

fn field_row(each: &FieldMatch, head: &FileHead) -> Markup {
    let name = each.field.name();
    let chosen = choice_value(&each.choice);
    let optional = !each.field.is_required() || each.has_default;
    html! {
        div.match-row id={ "match-" (name) } {
            label for={ "f-" (name) } {
                strong { (describe(each.field)) }
                " "
                span.field-name { "(" (name) @if each.field.is_required() { ", required" } ")" }
            }
            select id={ "f-" (name) } name={ "f." (name) } {
                @if each.choice == Choice::Unchosen || !optional {
                    option value="" selected[each.choice == Choice::Unchosen] { "— choose a column —" }
                }
                @for header in head.headers.iter().filter(|h| !h.is_empty()) {
                    @let value = format!("h:{header}");
                    option value=(value) selected[chosen == value] { (header) }
                }
                @if optional {
                    option value="none" selected[each.choice == Choice::Absent] {
                        @if each.has_default { "Not in this file (use the mapping's default)" } @else { "Not in this file" }
                    }
                }
            }
            p.why {
                @if each.why == Why::SameHeader {
                    (each.why.text(each.field))
                } @else {
                    @if let Some(mapped) = &each.mapped { "The mapping calls it \"" (mapped) "\". " }
                    (each.why.text(each.field))
                }
                @if each.choice == Choice::Unchosen && !optional { span.error { " — required, and the mapping has no default: choose its column" } }
            }
        }
    }
}

/// A field for people.
fn describe(field: Field) -> &'static str {
    match field {
        Field::AccountToken => "Account token",
        Field::EventName => "Event name",
        Field::EventTime => "Date and time of the sale",
        Field::VisitorId => "Visitor id",
        Field::CustomerId => "Customer id",
        Field::Email => "E-mail address",
        Field::Phone => "Phone number",
        Field::OrderId => "Order reference",
        Field::Revenue => "Sale value",
        Field::Currency => "Currency",
        Field::Quantity => "Quantity",
        Field::PageUrl => "Landing page",
        Field::Referrer => "Referrer",
        Field::UtmSource => "utm_source",
        Field::UtmMedium => "utm_medium",
        Field::UtmCampaign => "utm_campaign",
        Field::UtmTerm => "utm_term",
        Field::UtmContent => "utm_content",
        Field::Gclid => "Google click id (gclid)",
        Field::Ip => "IP address",
        Field::UserAgent => "Browser (user agent)",
    }
}

/// The file's first rows as the chosen matching reads them; personal data masked.
fn preview(matches: &[FieldMatch], head: &FileHead, mapping: &Mapping) -> Markup {
    let shown: Vec<(&FieldMatch, usize)> = matches
        .iter()
        .filter_map(|m| match &m.choice {
            Choice::Header(header) => head.column(header).map(|column| (m, column)),
            _ => None,
        })
        .collect();
    let unmatched: Vec<&str> = head
        .headers
        .iter()
        .enumerate()
        .filter(|(column, header)| !header.is_empty() && !shown.iter().any(|(_, c)| c == column))
        .filter(|(_, header)| {
            !mapping.custom.iter().any(|(_, custom)| custom.trim().eq_ignore_ascii_case(header.trim()))
        })
        .map(|(_, header)| header.as_str())
        .collect();
    html! {
        h2 #first-rows { "The first rows with this choice" }
        @if head.rows.is_empty() {
            p { "The file has no rows under its header." }
        } @else {
            p.wide-note { "The table scrolls sideways." }
            div.wide {
                table #preview {
                    thead { tr { th { "Row" } @for (m, column) in &shown { th { (describe(m.field)) br; small { "\"" (head.headers[*column]) "\"" } } } } }
                    tbody {
                        @for (at, row) in head.rows.iter().take(FIRST_ROWS).enumerate() {
                            tr {
                                td.row { (at + 2) }
                                @for (m, column) in &shown {
                                    @let personal = is_personal_column(matches, &head.headers[*column]).or(Some(m.field).filter(|f| f.is_personal()));
                                    td { (shown_cell(personal, row.get(*column).map(String::as_str).unwrap_or_default())) }
                                }
                            }
                        }
                    }
                }
            }
            p.hint { "Row numbers are those a spreadsheet shows. E-mail addresses and phone numbers are not shown, only that they are there." }
        }
        @if !unmatched.is_empty() {
            p #unmatched { "Columns of the file that nothing reads, so they are not sent: "
                (unmatched.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")) }
        }
    }
}

/// The block of the upload's page (SPEC §13): a check that failed on the file's headers leads
/// to the matching page; a file checked with its own matching can change it.
pub fn upload_block(upload: &Upload) -> Markup {
    let open = upload.staged && upload.state != UploadState::Deleted && upload.state != UploadState::Firing;
    let failed_on_headers =
        upload.summary.is_none() && upload.error.as_deref().is_some_and(crate::read::columns::is_header_failure);
    html! {
        @if open && failed_on_headers {
            div #columns-block.note {
                p { "No need to upload it again: this file's columns are named differently from what the client's mapping expects, which is often only a renamed header. Match them, and the file is checked again." }
                p { a #match-columns.button href={ "/uploads/" (upload.id) "/columns" } { "Match the columns" } }
            }
        } @else if open && upload.column_matching.is_some() {
            p #columns-block { "Checked with its own column matching. " a #change-matching href={ "/uploads/" (upload.id) "/columns" } { "See or change the matching" } }
        }
    }
}
