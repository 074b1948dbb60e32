//! The clients' pages (SPEC §13): `GET /clients` lists them with their own names and latest
//! version, and (operators) creates one; `GET /clients/{name}` shows a client's mapping in a
//! form, its versions with who, when and what changed; `POST /clients/{name}` saves the form
//! (or the mapping as JSON) as a new version through the API's own save, or previews an
//! uploaded file's first rows under what was typed. Analysts see, operators change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde_json::Value;

use super::api::save_mapping;
use super::form::MappingForm;
use crate::db::clients::{ClientName, ClientVersion, CLIENT_NAME_RULE};
use crate::db::uploads::{Upload, UploadId, UploadState};
use crate::db::users::Role;
use crate::field::Field;
use crate::read::mapping::{changed_keys, Mapping};
use crate::web::authentication::CurrentUser;
use crate::web::matching::{read_head, shown_cell, FIRST_ROWS};
use crate::web::pages::{error_page, layout, render, time};
use crate::web::state::AppState;

/// Uploads offered for a preview.
const PREVIEW_UPLOADS: i64 = 200;

fn internal(error: anyhow::Error) -> Response {
    error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}"))
}

/// `GET /clients`.
pub async fn list(State(state): State<AppState>, Extension(current): Extension<CurrentUser>) -> Response {
    list_page(&state, &current, StatusCode::OK, None, &[]).await
}

async fn list_page(
    state: &AppState,
    current: &CurrentUser,
    status: StatusCode,
    message: Option<&str>,
    typed: &[(String, String)],
) -> Response {
    let clients = match state.db.clients().await {
        Ok(clients) => clients,
        Err(error) => return internal(error),
    };
    let typed = |key: &str| typed.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_default();
    let content = html! {
        h1 { "Clients" }
        p.lead { "Each client's mapping says which column of its files holds what. Every change is kept as a new version." }
        @if clients.is_empty() { p { "No clients yet." } } @else {
            p.wide-note { "The table scrolls sideways." }
            div.wide {
                table #clients {
                    thead { tr { th { "Client" } th { "Short name" } th { "Version" } th { "Last saved" } } }
                    tbody {
                        @for client in &clients {
                            tr {
                                td { a href={ "/clients/" (client.name) } { (client.label) } }
                                td { (client.name) }
                                td.count { (client.version) }
                                td { (time(client.saved_at_ms)) " by " (client.saved_by) }
                            }
                        }
                    }
                }
            }
        }
        @if current.user.role == Role::Operator {
            h2 #new-client { "New client" }
            @if let Some(message) = message { p.error #client-error { (message) } }
            form #new-client-form method="post" action="/clients" {
                input type="hidden" name="csrf" value=(current.csrf.clone().unwrap_or_default());
                label { "Client's name, as people read it (e.g. Example Ltd) " input type="text" name="client" value=(typed("client")) required; }
                label { "Short name, for addresses and the command line (letters, digits, '.', '_' or '-'; e.g. example) " input type="text" name="name" value=(typed("name")) required; }
                label { "Account token " input type="text" name="account_token" value=(typed("account_token")); }
                button #create-client type="submit" { "Create the client" }
                p.hint { "Then set its columns, events and formats on its page." }
            }
        } @else {
            p.hint { "Only operators create clients and change mappings." }
        }
        p { a href="/" { "Uploads" } }
    };
    render(status, layout("Clients", Some(current), content))
}

/// `POST /clients` (operators): a new client, version 1, from its names and token.
pub async fn create(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    match create_client(&state, &current, &posted).await {
        Ok(name) => Redirect::to(&format!("/clients/{name}")).into_response(),
        Err((status, message)) => list_page(&state, &current, status, Some(&message), &posted).await,
    }
}

async fn create_client(
    state: &AppState,
    current: &CurrentUser,
    posted: &[(String, String)],
) -> Result<ClientName, (StatusCode, String)> {
    let get = |key: &str| posted.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let Some(name) = ClientName::parse(&get("name")) else {
        let message = format!("{:?} cannot be the short name: {CLIENT_NAME_RULE}", get("name"));
        return Err((StatusCode::UNPROCESSABLE_ENTITY, message));
    };
    let existing = state.db.client_version(&name, None).await;
    match existing {
        Ok(Some(_)) => {
            return Err((StatusCode::CONFLICT, format!("there is already a client {name}; choose another short name")))
        }
        Ok(None) => {}
        Err(error) => return Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))),
    }
    let mut mapping = serde_json::Map::new();
    mapping.insert("client".into(), Value::String(get("client")));
    if !get("account_token").is_empty() {
        mapping.insert("account_token".into(), Value::String(get("account_token")));
    }
    match save_mapping(state, current, &name, &Value::Object(mapping).to_string()).await {
        Ok(_) => Ok(name),
        Err(refusal) => Err((refusal.status, refusal.message)),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Shown {
    /// The version just saved, to say so.
    saved: Option<i64>,
}

/// `GET /clients/{name}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let history = match history_of(&state, &name).await {
        Ok(history) => history,
        Err(page) => return page,
    };
    let latest = history.last().expect("a client has a version");
    let mapping: Value = serde_json::from_str(&latest.mapping).unwrap_or(Value::Null);
    let view = View {
        form: MappingForm::of_mapping(&mapping),
        json: latest.mapping.clone(),
        saved: shown.saved,
        ..View::default()
    };
    client_page(&state, &current, &history, view, StatusCode::OK).await
}

async fn history_of(state: &AppState, name: &str) -> Result<Vec<ClientVersion>, Response> {
    let Some(name) = ClientName::parse(name) else {
        return Err(error_page(StatusCode::NOT_FOUND, "there is no such client"));
    };
    match state.db.client_history(&name).await {
        Ok(history) if !history.is_empty() => Ok(history),
        Ok(_) => Err(error_page(StatusCode::NOT_FOUND, "there is no such client")),
        Err(error) => Err(internal(error)),
    }
}

/// What a client's page shows besides the versions.
#[derive(Default)]
struct View {
    form: MappingForm,
    /// The mapping as JSON, as saved or as typed.
    json: String,
    /// The checker's message for the form, or for the JSON.
    form_error: Option<String>,
    json_error: Option<String>,
    saved: Option<i64>,
    preview: Option<Markup>,
    upload: Option<String>,
}

/// `POST /clients/{name}`: `do=save` (the form), `do=save-json` (the mapping as JSON), or
/// `do=preview` (the first rows of an upload under what the form says; nothing is saved).
pub async fn save(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(name): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let history = match history_of(&state, &name).await {
        Ok(history) => history,
        Err(page) => return page,
    };
    let latest = history.last().expect("a client has a version");
    let before: Value = serde_json::from_str(&latest.mapping).unwrap_or(Value::Null);
    let get = |key: &str| posted.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let action = get("do").unwrap_or_else(|| "save".to_owned());
    let (form, text) = match action.as_str() {
        "save-json" => (MappingForm::of_mapping(&before), get("json").unwrap_or_default()),
        _ => {
            let form = MappingForm::of_posted(&posted);
            let json = serde_json::to_string_pretty(&form.to_json(Some(&before))).unwrap_or_default();
            (form, json)
        }
    };
    let mut view = View { form, json: text.clone(), upload: get("upload"), ..View::default() };
    if action == "preview" {
        view.preview = Some(preview(&state, &latest.name, view.upload.as_deref(), &text).await);
        return client_page(&state, &current, &history, view, StatusCode::OK).await;
    }
    match save_mapping(&state, &current, &latest.name, &text).await {
        Ok((version, _)) => Redirect::to(&format!("/clients/{}?saved={version}", latest.name)).into_response(),
        Err(refusal) => {
            if action == "save-json" {
                view.json_error = Some(refusal.message);
            } else {
                view.form_error = Some(refusal.message);
            }
            client_page(&state, &current, &history, view, refusal.status).await
        }
    }
}

/// The client's uploads whose file is still kept, the newest first.
async fn uploads_of(state: &AppState, name: &ClientName) -> Vec<Upload> {
    let uploads = state.db.uploads(PREVIEW_UPLOADS).await.unwrap_or_default();
    uploads.into_iter().filter(|u| u.client == name.as_str() && u.staged && u.state != UploadState::Deleted).collect()
}

async fn client_page(
    state: &AppState,
    current: &CurrentUser,
    history: &[ClientVersion],
    view: View,
    status: StatusCode,
) -> Response {
    let latest = history.last().expect("a client has a version");
    let name = &latest.name;
    let editable = current.user.role == Role::Operator;
    let csrf = current.csrf.clone().unwrap_or_default();
    let uploads = uploads_of(state, name).await;
    let content = html! {
        h1 { (latest.label) }
        dl.facts {
            dt { "Short name" } dd { (name) }
            dt { "Mapping" } dd #client-version { "version " (latest.version) ", saved " (time(latest.saved_at_ms)) " by " (latest.saved_by) }
            dt { "Templates" } dd { a href={ "/clients/" (name) "/template.xlsx" } { "workbook" } " · " a href={ "/clients/" (name) "/template.csv" } { "CSV" } }
        }
        @if let Some(version) = view.saved { p.saved #saved { "Saved as version " (version) "." } }
        @if !editable { p.hint #read-only { "Only operators change mappings; you can read this one." } }
        h2 { "The mapping" }
        @if let Some(message) = &view.form_error { p.error #mapping-error { (message) } }
        form #mapping-form.mapping method="post" action={ "/clients/" (name) } {
            input type="hidden" name="csrf" value=(csrf);
            (view.form.inputs(editable))
            fieldset #preview-choice {
                legend { "Try it on an uploaded file before saving" }
                @if uploads.is_empty() {
                    p.hint { "No file of this client is kept to try it on; upload one first." }
                } @else {
                    label { "File "
                        select name="upload" {
                            @for upload in &uploads {
                                option value=(upload.id) selected[view.upload.as_deref() == Some(upload.id.as_str())] { (upload.file_name) " (" (time(upload.uploaded_at_ms)) ")" }
                            }
                        }
                    }
                    button #preview-mapping.secondary type="submit" name="do" value="preview" { "Show its first rows with this mapping" }
                }
            }
            @if let Some(preview) = &view.preview { (preview) }
            @if editable {
                p.actions { button #save-mapping type="submit" name="do" value="save" { "Save as a new version" } }
            }
        }
        h2 #versions { "Versions" }
        (versions(history))
        details #as-json open[view.json_error.is_some()] {
            summary { "The mapping as JSON (mapping.json), for engineers" }
            @if let Some(message) = &view.json_error { p.error #json-error { (message) } }
            form method="post" action={ "/clients/" (name) } {
                input type="hidden" name="csrf" value=(csrf);
                textarea #mapping-json name="json" rows="20" cols="70" readonly[!editable] { (view.json) }
                @if editable { p { button #save-json type="submit" name="do" value="save-json" { "Save this JSON as a new version" } } }
            }
        }
        p { a href="/clients" { "All clients" } " · " a href="/" { "Uploads" } }
    };
    render(status, layout(&latest.label, Some(current), content))
}

fn versions(history: &[ClientVersion]) -> Markup {
    html! {
        p.wide-note { "The table scrolls sideways." }
        div.wide {
            table #history {
                thead { tr { th { "Version" } th { "Saved" } th { "By" } th { "What changed" } } }
                tbody {
                    @for (at, version) in history.iter().enumerate().rev() {
                        tr {
                            td.count { (version.version) }
                            td { (time(version.saved_at_ms)) }
                            td { (version.saved_by) }
                            td.changed {
                                @match at.checked_sub(1).map(|before| changed_keys(&history[before].mapping, &version.mapping)) {
                                    None => "the first version",
                                    Some(changed) if changed.is_empty() => "nothing",
                                    Some(changed) => (changed.join(", ")),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The first rows of an upload under a mapping that is not saved: its columns as the check
/// would find them, or the checker's message.
async fn preview(state: &AppState, client: &ClientName, upload: Option<&str>, json: &str) -> Markup {
    let shown =
        |body: Markup| html! { div #mapping-preview { h3 { "The first rows with this mapping (not saved)" } (body) } };
    let mapping = match Mapping::parse(json) {
        Ok(mapping) => mapping,
        Err(e) => return shown(html! { p.error { "This mapping cannot be used: " (format!("{e:#}")) } }),
    };
    let upload = match upload.and_then(UploadId::parse) {
        Some(id) => state.db.upload(&id).await.ok().flatten(),
        None => None,
    };
    let Some(upload) = upload.filter(|u| u.client == client.as_str() && u.staged) else {
        return shown(html! { p.error { "Choose one of this client's files." } });
    };
    let head = match read_head(state, &upload, &mapping).await {
        Ok(head) => head,
        Err(e) => return shown(html! { p.error { "The file could not be read: " (format!("{e:#}")) } }),
    };
    let columns = match crate::read::resolve_columns(&head.headers, &mapping) {
        Ok((columns, _)) => columns,
        Err(message) => {
            return shown(
                html! { p.error #preview-error { "With this mapping, the check of " (upload.file_name) " would stop: " (message) } },
            )
        }
    };
    let fields: Vec<(Field, usize)> =
        Field::ALL.into_iter().filter_map(|field| columns.of(field).map(|column| (field, column))).collect();
    shown(html! {
        p.ok { "Every column this mapping reads is in " (upload.file_name) "." }
        p.wide-note { "The table scrolls sideways." }
        div.wide {
            table #mapping-preview-rows {
                thead { tr { th { "Row" } @for (field, column) in &fields { th { (field.name()) br; small { "\"" (head.headers[*column]) "\"" } } } @for (key, _) in &columns.custom { th { (key) } } } }
                tbody {
                    @for (at, row) in head.rows.iter().take(FIRST_ROWS).enumerate() {
                        tr {
                            td.row { (at + 2) }
                            @for (field, column) in &fields { td { (shown_cell(Some(*field), row.get(*column).map(String::as_str).unwrap_or_default())) } }
                            @for (_, column) in &columns.custom { td { (row.get(*column).map(String::as_str).unwrap_or_default()) } }
                        }
                    }
                }
            }
        }
    })
}
