//! The home page: the upload form (client, file, template link) and the history of uploads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};

use crate::db::uploads::Upload;
use crate::web::authentication::CurrentUser;
use crate::web::clients;
use crate::web::pages::{error_page, layout, render, time};
use crate::web::staging::human_size;
use crate::web::state::AppState;

/// Uploads listed on the home page.
const HISTORY: i64 = 200;

pub async fn home(State(state): State<AppState>, Extension(current): Extension<CurrentUser>) -> Response {
    let uploads = match state.db.uploads(HISTORY).await {
        Ok(uploads) => uploads,
        Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    };
    let clients = match clients::all(&state.db).await {
        Ok(clients) => clients,
        Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    };
    let csrf = current.csrf.clone().unwrap_or_default();
    let content = html! {
        h1 { "Upload a client's file" }
        @if clients.is_empty() {
            p.error { "No clients: the database has none, and " (state.config.clients_dir.display()) " has no folder with a mapping.json to import." }
        }
        form #upload-form method="post" action="/uploads" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            label {
                "Client "
                select #client name="client" required {
                    @for client in &clients {
                        @match &client.mapping {
                            Ok(_) => option value=(client.name) data-headers=(serde_json::to_string(&client.headers()).unwrap_or_default()) { (client.shown()) },
                            Err(_) => option value=(client.name) disabled { (client.shown()) " (its mapping cannot be used)" },
                        }
                    }
                }
            }
            p.templates {
                "Templates: "
                @for client in clients.iter().filter(|c| c.mapping.is_ok()) {
                    a href={ "/clients/" (client.name) "/template.xlsx" } { (client.name) ".xlsx" } " "
                    a href={ "/clients/" (client.name) "/template.csv" } { (client.name) ".csv" } " "
                }
            }
            p #clients-link { a href="/clients" { "Clients and their mappings" } }
            label { "CSV file or workbook " input #file type="file" name="file" accept=".csv,.txt,.tsv,text/csv,.xlsx,.xlsm,.xls,.ods" required; }
            p #header-check aria-live="polite" {}
            p.hint { "At most " (human_size(state.config.max_upload)) "." }
            progress #upload-progress max="100" value="0" hidden {}
            button #upload-button type="submit" { "Upload and check" }
        }
        h2 { "Uploads" }
        (history(&uploads))
    };
    render(StatusCode::OK, layout("Uploads", Some(&current), content))
}

fn history(uploads: &[Upload]) -> Markup {
    let count = |count: i64| crate::out::terminal::separated(u64::try_from(count).unwrap_or_default());
    html! {
        @if uploads.is_empty() {
            p { "No uploads yet." }
        } @else {
            p.wide-note { "The table scrolls sideways." }
            div.wide {
            table #uploads {
                thead { tr {
                    th { "Uploaded" } th { "By" } th { "Client" } th { "File" } th { "State" } th { "File kept" }
                    th { "Rows" } th { "Ready" } th { "Need a fix" } th {}
                } }
                tbody {
                    @for upload in uploads {
                        tr {
                            td { a href={ "/uploads/" (upload.id) } { (time(upload.uploaded_at_ms)) } }
                            td { (upload.uploaded_by) }
                            td { (upload.client) }
                            td { (upload.file_name) }
                            td.state { (upload.state.as_str()) }
                            td { @if upload.staged { "yes" } @else { "no" } }
                            td.count { (count(upload.counts.rows)) }
                            td.count { (count(upload.counts.valid)) }
                            td.count { (count(upload.counts.exceptions)) }
                            td {
                                @if upload.state != crate::db::uploads::UploadState::Deleted {
                                    a href={ "/uploads/" (upload.id) "/delete" } { "Delete…" }
                                }
                            }
                        }
                    }
                }
            }
            }
        }
    }
}
