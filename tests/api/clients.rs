//! The clients' API of SPEC §13: the clients imported from `--clients-dir` at start, their
//! mappings and versions, a mapping saved by an operator (and refused to an analyst, or with a
//! wrong key), and an upload whose headers differ from the template checked again with a column
//! matching, giving the template's tags. On SQLite, MariaDB and PostgreSQL.

use replayer::db::users::Role;
use reqwest::header::COOKIE;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, repo, spawn_app, spawn_app_with, Browser, TestApp};

impl Browser<'_> {
    async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, body.to_string()).await
    }
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn example_mapping() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("clients/example/mapping.json")).unwrap()).unwrap()
}

/// Every route of the clients with its roles and refusals, and two versions in the history.
async fn clients_versions_and_roles(app: TestApp) {
    let tag = format!("{}-{:x}", std::process::id(), rand_suffix());
    let (operator_email, analyst) = (format!("op-{tag}@example.com"), format!("an-{tag}@example.com"));
    app.add_user(&operator_email, Role::Operator).await;
    app.add_user(&analyst, Role::Analyst).await;
    let operator = app.sign_in(&operator_email).await;
    let analyst = app.sign_in(&analyst).await;

    // Imported at start from --clients-dir, saved by "import".
    let list = json_of(analyst.get("/api/clients").await, 200).await;
    let example = list.as_array().unwrap().iter().find(|c| c["name"] == "example").expect("example imported");
    assert_eq!(example["client"], "Example Ltd");
    assert_eq!(example["version"], 1);
    assert_eq!(example["saved_by"], "import");
    let shown = json_of(analyst.get("/api/clients/example").await, 200).await;
    assert_eq!(shown["mapping"], example_mapping());
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["history"].as_array().unwrap().len(), 1);
    // The upload form shows the client's own name, and sends the folder's.
    let home = analyst.get("/").await.text().await.unwrap();
    assert!(home.contains("value=\"example\"") && home.contains("Example Ltd (example)"), "{home}");

    assert_eq!(analyst.get("/api/clients/nobody").await.status(), 404);
    assert_eq!(analyst.get("/api/clients/example?version=9").await.status(), 404);
    let signed_out = app.http.get(app.url("/api/clients")).send().await.unwrap();
    assert_eq!(signed_out.status(), 401);

    // Only operators save; an analyst is refused before the body is looked at.
    let mut mapping = example_mapping();
    mapping["events"] = json!(["offline_sale", "store_visit", "phone_order"]);
    let refused = json_of(analyst.put("/api/clients/example", mapping.to_string()).await, 403).await;
    assert!(refused["error"].as_str().unwrap().contains("only operators"), "{refused}");
    // A session's PUT carries its CSRF token.
    let no_csrf = app
        .http
        .put(app.url("/api/clients/example"))
        .header(COOKIE, &operator.cookie)
        .body(mapping.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);

    // A typo key: 422 naming it, with "did you mean".
    let mut typo = example_mapping();
    typo["colums"] = typo["columns"].take();
    typo.as_object_mut().unwrap().remove("columns");
    let wrong = json_of(operator.put("/api/clients/example", typo.to_string()).await, 422).await;
    let message = wrong["error"].as_str().unwrap();
    assert!(message.contains("unknown key \"colums\" (did you mean \"columns\"?)"), "{wrong}");
    assert_eq!(wrong["messages"][0], message);
    let bad_zone = json_of(operator.put("/api/clients/example", r#"{"timezone": "Europe/Londn"}"#).await, 422).await;
    assert!(bad_zone["error"].as_str().unwrap().contains("did you mean \"Europe/London\""), "{bad_zone}");
    assert_eq!(operator.put("/api/clients/example", "{").await.status(), 422);
    assert_eq!(operator.put("/api/clients/-bad", "{}").await.status(), 400);
    let huge = format!("{{\"client\": \"{}\"}}", "x".repeat(100 * 1024));
    assert_eq!(operator.put("/api/clients/example", huge).await.status(), 413);

    // A save is a new version; the history says who, when and what changed.
    let saved = json_of(operator.put("/api/clients/example", mapping.to_string()).await, 200).await;
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["mapping"], mapping);
    let history = saved["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["saved_by"], "import");
    assert_eq!(history[1]["saved_by"], operator_email.as_str());
    assert_eq!(history[1]["changed"], json!(["events"]));
    assert!(history[1]["saved_at_ms"].as_i64().unwrap() >= history[0]["saved_at_ms"].as_i64().unwrap());
    let first = json_of(analyst.get("/api/clients/example?version=1").await, 200).await;
    assert_eq!(first["mapping"], example_mapping());
    assert_eq!(first["latest_version"], 2);

    // An operator creates a client by saving its first mapping.
    let name = format!("newco-{tag}");
    let new = json!({"client": "New Co", "account_token": "n3wc0-t0k3n-0001", "events": ["offline_sale"]});
    let created = json_of(operator.put(&format!("/api/clients/{name}"), new.to_string()).await, 201).await;
    assert_eq!((created["version"].clone(), created["client"].clone()), (json!(1), json!("New Co")));
    let list = json_of(analyst.get("/api/clients").await, 200).await;
    assert!(list.as_array().unwrap().iter().any(|c| c["name"] == name.as_str() && c["version"] == 1), "{list}");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 0xffff_ffff
}

#[tokio::test]
async fn clients_are_listed_shown_and_saved_by_operators_only() {
    clients_versions_and_roles(spawn_app().await).await;
}

#[tokio::test]
async fn clients_and_versions_on_mariadb() {
    if let Some(url) = fresh_database("REPLAYER_TEST_MYSQL_URL", "clients").await {
        clients_versions_and_roles(spawn_app_with(|config| config.database_url = url).await).await;
    }
}

#[tokio::test]
async fn clients_and_versions_on_postgres() {
    if let Some(url) = fresh_database("REPLAYER_TEST_POSTGRES_URL", "clients").await {
        clients_versions_and_roles(spawn_app_with(|config| config.database_url = url).await).await;
    }
}

/// The example with two headers renamed, as a client might write them.
fn renamed_example(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo("clients/example/example.csv")).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let header = header.replace("Sale Date", "Date of Sale").replace("Order Ref", "Order Reference");
    let path = dir.join("renamed.csv");
    std::fs::write(&path, format!("{header}\n{rest}")).unwrap();
    path
}

async fn column_matching(app: TestApp) {
    let email = format!("analyst-{}-{:x}@example.com", std::process::id(), rand_suffix());
    app.add_user(&email, Role::Analyst).await;
    let analyst = app.sign_in(&email).await;

    let template = analyst.upload_and_check("example", &repo("clients/example/example.csv")).await;
    let template_upload = analyst.api(&template).await;
    assert_eq!(template_upload["mapping_version"], 1, "{template_upload}");
    let expected = app.dumps_of(&template);

    let dir = tempfile::tempdir().unwrap();
    let renamed = analyst.upload_and_check("example", &renamed_example(dir.path())).await;
    let before = analyst.api(&renamed).await;
    assert!(
        before["error"].as_str().unwrap_or_default().contains("Sale Date"),
        "the file lacks the template's headers: {before}"
    );

    let path = format!("/api/uploads/{renamed}/columns");
    let typo = json_of(analyst.post_json(&path, &json!({"columns": {"evnt_time": "Date of Sale"}})).await, 422).await;
    assert!(typo["error"].as_str().unwrap().contains("did you mean \"event_time\""), "{typo}");
    let required = json_of(analyst.post_json(&path, &json!({"columns": {"event_time": null}})).await, 422).await;
    assert!(required["error"].as_str().unwrap().contains("event_time is required"), "{required}");
    assert_eq!(analyst.post_json(&path, &json!({"rows": 1})).await.status(), 400);
    assert_eq!(
        analyst
            .post_json("/api/uploads/0123456789abcdef0123456789abcdef/columns", &json!({"columns": {}}))
            .await
            .status(),
        404
    );

    // Matched: checked again, the same tags as the template's headers give.
    let matching = json!({"event_time": "Date of Sale", "order_id": "Order Reference", "referrer": null});
    let accepted = json_of(analyst.post_json(&path, &json!({ "columns": matching })).await, 202).await;
    assert_eq!(accepted["state"], "checking");
    let after = analyst.wait_checked(&renamed).await;
    assert_eq!(after["error"], Value::Null, "{after}");
    assert_eq!(after["counts"]["valid"], 32, "{after}");
    assert_eq!(after["mapping_version"], 1);
    assert_eq!(after["column_matching"], matching);
    let dumps = app.dumps_of(&renamed);
    assert_eq!(dumps["requests"], expected["requests"], "the same tags, rids included");
    assert_eq!(dumps["requests-validated"], expected["requests-validated"]);
    let page = analyst.get(&format!("/uploads/{renamed}")).await.text().await.unwrap();
    assert!(page.contains("version 1, with this upload's own column matching"), "{page}");

    // Deleted: nothing to check again.
    let deleted = analyst.send_json(reqwest::Method::DELETE, &format!("/api/uploads/{renamed}"), "").await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(analyst.post_json(&path, &json!({ "columns": matching })).await.status(), 409);
}

#[tokio::test]
async fn a_column_matching_gives_the_template_s_tags() {
    column_matching(spawn_app().await).await;
}

#[tokio::test]
async fn a_column_matching_on_mariadb() {
    if let Some(url) = fresh_database("REPLAYER_TEST_MYSQL_URL", "matching").await {
        column_matching(spawn_app_with(|config| config.database_url = url).await).await;
    }
}

#[tokio::test]
async fn a_column_matching_on_postgres() {
    if let Some(url) = fresh_database("REPLAYER_TEST_POSTGRES_URL", "matching").await {
        column_matching(spawn_app_with(|config| config.database_url = url).await).await;
    }
}
