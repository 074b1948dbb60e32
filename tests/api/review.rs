//! Reviewing and fixing a file in the page (SPEC §12), through its API: problems grouped, rows
//! with problems, a row edited and re-checked at once, replace in column, the rows to fix as CSV
//! and xlsx and their corrections, the history of edits; edits refused while firing and on rows
//! accepted; the edits in the dumps, the pre-flight and what the DCS receives.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use replayer::db::users::{Email, Role};
use reqwest::header::COOKIE;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Browser, TestApp};
use crate::support::{Dcs, Gate, Reply};

const ANALYST: &str = "an@example.com";
const OPERATOR: &str = "op@example.com";

const HEADER: &str = "Account Token,Event,Sale Date,Visitor,Customer,Email,Phone,Order Ref,Sale Value,Currency,Qty,Landing Page,Referrer,utm_source,utm_medium,utm_campaign,utm_term,utm_content,gclid,IP,User Agent,Store,Sold By,Notes";

/// A row of the example client's file: event, date, e-mail, order ref.
fn line(event: &str, date: &str, email: &str, order: &str) -> String {
    format!("ex4mpl3-t0k3n-0001,{event},{date},v-{order},CUST-{order},{email},,{order},10.00,GBP,1,,,,,,,,,,,ST01,Bob,")
}

/// Row 2 valid; rows 3 and 4 a date that is not one; rows 5 and 6 a misspelt event; row 7 a
/// broken e-mail address (a warning: the row still fires on its other identifiers).
fn file() -> Vec<u8> {
    let rows = [
        line("offline_sale", "02/06/2024 10:07", "sam.1@example.com", "EX-1"),
        line("offline_sale", "32/13/2024 10:00", "jo.2@example.com", "EX-2"),
        line("offline_sale", "32/13/2024 10:00", "al.3@example.com", "EX-3"),
        line("ofline_sale", "03/06/2024 10:00", "pat.4@example.com", "EX-4"),
        line("ofline_sale", "03/06/2024 11:00", "kim.5@example.com", "EX-5"),
        line("offline_sale", "04/06/2024 11:00", "broken.6@", "EX-6"),
    ];
    format!("{HEADER}\n{}\n", rows.join("\n")).into_bytes()
}

/// The in-process DCS, started outside the test's runtime.
struct TestDcs(Dcs);

impl TestDcs {
    fn start(script: impl Fn(&crate::support::Hit, usize) -> Reply + Send + Sync + 'static) -> TestDcs {
        TestDcs(std::thread::spawn(move || Dcs::start(script)).join().unwrap())
    }
}

impl Drop for TestDcs {
    fn drop(&mut self) {
        self.0.go_away();
    }
}

async fn app(dcs: Option<&TestDcs>) -> TestApp {
    let url = dcs.map(|dcs| dcs.0.url.clone());
    let app = spawn_app_with(move |config| {
        if let Some(url) = url {
            config.request_url = url;
        }
    })
    .await;
    app.add_user(ANALYST, Role::Analyst).await;
    app.add_user(OPERATOR, Role::Operator).await;
    app
}

impl Browser<'_> {
    async fn patch_row(&self, id: &str, row: u64, body: Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PATCH, &format!("/api/uploads/{id}/rows/{row}"), body.to_string()).await
    }

    async fn json_of(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    async fn upload_file(&self) -> String {
        let response = self.upload("/api/uploads", "example", "sales.csv", file()).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        self.wait_checked(&id).await;
        id
    }

    async fn wait_not(&self, id: &str, state: &str) -> Value {
        let start = Instant::now();
        loop {
            let upload = self.api(id).await;
            if upload["state"] != state {
                return upload;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{id} stayed {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn corrections(&self, id: &str, file_name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf.clone())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()));
        let url = self.app.url(&format!("/api/uploads/{id}/corrections"));
        self.app.http.post(url).header(COOKIE, &self.cookie).multipart(form).send().await.unwrap()
    }

    async fn fire_all(&self, id: &str) -> reqwest::Response {
        let preflight = self.json_of(&format!("/api/uploads/{id}/preflight")).await;
        let rows = preflight["rows_to_fire"].as_u64().unwrap();
        self.send_json(
            reqwest::Method::POST,
            &format!("/api/uploads/{id}/fire"),
            json!({ "confirm_rows": rows }).to_string(),
        )
        .await
    }
}

/// No e-mail address of the file in this answer.
fn assert_no_personal_data(text: &str, what: &str) {
    for local in ["sam.1", "jo.2", "al.3", "pat.4", "kim.5", "broken.6"] {
        assert!(!text.contains(local), "{what} shows personal data ({local}): {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_grouped_and_an_edited_row_is_checked_again_at_once_and_in_the_dumps() {
    let app = app(None).await;
    let analyst = app.sign_in(ANALYST).await;
    let id = analyst.upload_file().await;
    let upload = analyst.api(&id).await;
    assert_eq!(
        (upload["counts"]["rows"].as_i64(), upload["counts"]["exceptions"].as_i64()),
        (Some(6), Some(4)),
        "{upload}"
    );
    assert_eq!(upload["edits"], 0);

    // Problems: grouped by column and kind, most rows first, with their first rows.
    let problems = analyst.json_of(&format!("/api/uploads/{id}/problems")).await;
    assert_no_personal_data(&problems.to_string(), "the problems");
    let groups = problems["groups"].as_array().unwrap();
    let date = groups.iter().find(|group| group["column"] == "Sale Date").expect("a group of the dates");
    assert_eq!((date["kind"].as_str(), date["rows"].as_u64()), (Some("not_a_date"), Some(2)));
    assert_eq!(date["example_rows"], json!([3, 4]));
    assert!(groups.windows(2).all(|pair| pair[0]["rows"].as_u64() >= pair[1]["rows"].as_u64()));
    let email = groups.iter().find(|group| group["column"] == "Email").expect("a group of the e-mail");
    assert_eq!(email["severity"], "warning");
    let all = problems["problems"].as_array().unwrap();
    assert_eq!((problems["page"].as_u64(), problems["pages"].as_u64()), (Some(1), Some(1)));
    let date_problem = all.iter().find(|p| p["row"] == 3 && p["column"] == "Sale Date").unwrap();
    assert_eq!(date_problem["value"], "32/13/2024 10:00", "the cell as written");
    let email_problem = all.iter().find(|p| p["column"] == "Email").unwrap();
    assert_eq!(email_problem["value"], Value::Null, "personal data");
    let group = date["id"].as_str().unwrap();
    let filtered = analyst.json_of(&format!("/api/uploads/{id}/problems?group={group}")).await;
    assert_eq!(filtered["problems"].as_array().unwrap().len(), 2);
    assert!(filtered["problems"].as_array().unwrap().iter().all(|p| p["kind"] == "not_a_date"));
    let searched = analyst.json_of(&format!("/api/uploads/{id}/problems?q=5")).await;
    assert_eq!(
        searched["problems"].as_array().unwrap().iter().map(|p| p["row"].as_u64().unwrap()).collect::<Vec<_>>(),
        [5]
    );
    let searched = analyst.json_of(&format!("/api/uploads/{id}/problems?q=ofline")).await;
    assert_eq!(searched["total"], 2);

    // The rows with problems, as the file has them; personal data shows only that it is there.
    let rows = analyst.json_of(&format!("/api/uploads/{id}/rows")).await;
    assert_no_personal_data(&rows.to_string(), "the rows");
    let numbers: Vec<u64> = rows.as_array().unwrap().iter().map(|row| row["row"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [3, 4, 5, 6, 7]);
    assert_eq!(rows[0]["state"], "exception");
    assert_eq!(rows[0]["cells"]["Sale Date"], "32/13/2024 10:00");
    assert_eq!(rows[0]["cells"]["Email"], "(personal data)");
    assert_eq!(rows[4]["state"], "valid", "a warning's row still fires");
    let some = analyst.json_of(&format!("/api/uploads/{id}/rows?from=4&to=5")).await;
    assert_eq!(some.as_array().unwrap().len(), 2);

    // A session's PATCH needs its CSRF token.
    let url = app.url(&format!("/api/uploads/{id}/rows/3"));
    let forged = app.http.patch(&url).header(COOKIE, &analyst.cookie).json(&json!({"cells": {}})).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let unsigned = app.http.patch(&url).json(&json!({"cells": {}})).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let unknown = analyst.patch_row(&id, 3, json!({"cells": {"No Such": "x"}})).await;
    assert_eq!(unknown.status(), 422);

    // An analyst fixes row 3: checked again at once, by the same handlers.
    let fixed = analyst.patch_row(&id, 3, json!({"cells": {"Sale Date": "03/06/2024 10:00"}})).await;
    assert_eq!(fixed.status(), 200);
    let fixed: Value = fixed.json().await.unwrap();
    assert_eq!((fixed["row"].as_u64(), fixed["state"].as_str()), (Some(3), Some("valid")), "{fixed}");
    assert_eq!(fixed["problems"], json!([]));
    assert_no_personal_data(&fixed.to_string(), "a patched row");
    // Still wrong: its new problem at once.
    let still =
        analyst.patch_row(&id, 5, json!({"cells": {"Event": "offline_sales"}})).await.json::<Value>().await.unwrap();
    assert_eq!(still["state"], "exception");
    assert_eq!(still["problems"][0]["value"], "offline_sales");
    // Excluded: neither sent nor an exception.
    let excluded = analyst.patch_row(&id, 4, json!({"excluded": true})).await.json::<Value>().await.unwrap();
    assert_eq!(excluded["state"], "excluded", "{excluded}");
    // A personal-data cell can be retyped, never shown.
    let retyped = analyst.patch_row(&id, 7, json!({"cells": {"Email": "fixed.7@example.com"}})).await;
    let retyped: Value = retyped.json().await.unwrap();
    assert_eq!(
        (retyped["state"].as_str(), retyped["cells"]["Email"].as_str()),
        (Some("valid"), Some("(personal data)"))
    );
    assert!(!retyped.to_string().contains("fixed.7"), "{retyped}");

    // The upload is checked again: its counts and dumps are those of the edited file.
    let upload = analyst.wait_not(&id, "checking").await;
    assert_eq!(upload["state"], "checked", "{upload}");
    assert_eq!(upload["counts"]["rows"], 5, "the excluded row is not read: {upload}");
    assert_eq!(upload["counts"]["exceptions"], 2, "{upload}");
    assert_eq!(upload["counts"]["warnings"], 0, "{upload}");
    assert_eq!(upload["edits"], 4);
    let coverage = &upload["coverage"]["ex4mpl3-t0k3n-0001"];
    assert_eq!(
        (coverage["valid"].as_u64(), coverage["email"].as_u64(), coverage["visitor_id"].as_u64()),
        (Some(3), Some(3), Some(3)),
        "{upload}"
    );
    assert_eq!(coverage["only_one_kind"], 0);
    let exceptions = analyst.get(&format!("/api/uploads/{id}/dumps/exceptions")).await.text().await.unwrap();
    assert!(exceptions.contains("row 5") && exceptions.contains("row 6"), "{exceptions}");
    assert!(!exceptions.contains("row 3") && !exceptions.contains("row 4"), "{exceptions}");
    let requests = analyst.get(&format!("/api/uploads/{id}/dumps/requests")).await.text().await.unwrap();
    assert!(requests.contains("order_id=EX-2"), "the fixed row is sent: {requests}");
    assert!(!requests.contains("order_id=EX-3"), "the excluded row is not: {requests}");
    let summary = upload["exceptions"].to_string();
    assert!(!summary.contains("\"row\":3"), "{summary}");

    // The history: who, when, row, column, old and new value, personal data masked.
    let edits = analyst.json_of(&format!("/api/uploads/{id}/edits")).await;
    assert_no_personal_data(&edits.to_string(), "the edits");
    assert!(!edits.to_string().contains("fixed.7"), "{edits}");
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 4);
    assert_eq!(edits[0]["row"], 3);
    assert_eq!(edits[0]["column"], "Sale Date");
    assert_eq!(edits[0]["old"], "32/13/2024 10:00");
    assert_eq!(edits[0]["new"], "03/06/2024 10:00");
    assert_eq!(edits[0]["by"], ANALYST);
    assert!(edits[0]["at_ms"].as_i64().unwrap() > 0);
    assert_eq!((edits[2]["column"].clone(), edits[2]["new"].as_str()), (Value::Null, Some("excluded")));
    assert_eq!(
        (edits[3]["old"].as_str(), edits[3]["new"].as_str()),
        (Some("(personal data)"), Some("(personal data)"))
    );

    // The rows answer shows the edited file: row 4 excluded, row 3 valid.
    let rows = analyst.json_of(&format!("/api/uploads/{id}/rows")).await;
    let state_of = |row: u64| rows.as_array().unwrap().iter().find(|r| r["row"] == row).map(|r| r["state"].clone());
    assert_eq!(state_of(4), Some(json!("excluded")));
    assert_eq!(state_of(3), None, "a fixed row is no longer one with problems");
    // Included again: a row the check did not keep is read from the file.
    let again = analyst.patch_row(&id, 4, json!({"excluded": false})).await.json::<Value>().await.unwrap();
    assert_eq!(again["state"], "exception");
    let valid = analyst.patch_row(&id, 2, json!({"excluded": true})).await.json::<Value>().await.unwrap();
    assert_eq!(valid["state"], "excluded", "a valid row, read from the file: {valid}");
    assert_eq!(analyst.patch_row(&id, 99, json!({"excluded": true})).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_is_replaced_in_a_column_with_a_bearer_token_and_the_preflight_follows() {
    let app = app(None).await;
    let analyst = app.sign_in(ANALYST).await;
    let id = analyst.upload_file().await;
    let token = app.db.new_api_token(&Email::parse(OPERATOR).unwrap()).await.unwrap();
    let url = app.url(&format!("/api/uploads/{id}/replace"));
    let body = json!({"column": "Event", "from": "ofline_sale", "to": "offline_sale"});
    let replaced = app.http.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(replaced.status(), 200);
    assert_eq!(replaced.json::<Value>().await.unwrap(), json!({"changed": 2}));
    let missing = app
        .http
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"column": "Nope", "from": "a", "to": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    let operator = app.sign_in(OPERATOR).await;
    let upload = operator.wait_not(&id, "checking").await;
    assert_eq!(upload["counts"]["exceptions"], 2, "{upload}");
    let preflight = operator.json_of(&format!("/api/uploads/{id}/preflight")).await;
    assert_eq!(preflight["rows_to_fire"], 4, "{preflight}");
    // A session's JSON POST without its token is refused.
    let forged = app.http.post(&url).header(COOKIE, &analyst.cookie).json(&body).send().await.unwrap();
    assert_eq!(forged.status(), 403);
}

fn rid_counts(dcs: &Dcs) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for hit in dcs.hits() {
        *counts.entry(hit.rid().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_refused_while_firing_and_on_accepted_rows_and_the_file_stays_staged_beside_exceptions() {
    let gate = Gate::shut();
    let held = gate.clone();
    let dcs = TestDcs::start(move |_, _| Reply::Held(held.clone(), 200));
    let app = app(Some(&dcs)).await;
    let operator = app.sign_in(OPERATOR).await;
    let id = operator.upload_file().await;
    let fired = operator.fire_all(&id).await;
    assert_eq!(fired.status(), 202, "{}", fired.text().await.unwrap());
    let firing = operator.patch_row(&id, 3, json!({"cells": {"Sale Date": "03/06/2024 10:00"}})).await;
    assert_eq!(firing.status(), 409);
    let replace = json!({"column": "Event", "from": "ofline_sale", "to": "offline_sale"});
    assert_eq!(
        operator
            .send_json(reqwest::Method::POST, &format!("/api/uploads/{id}/replace"), replace.to_string())
            .await
            .status(),
        409
    );
    assert_eq!(operator.corrections(&id, "c.csv", b"Row,Event\n5,offline_sale\n".to_vec()).await.status(), 409);
    gate.open();
    let upload = operator.wait_not(&id, "firing").await;
    assert_eq!(upload["state"], "finished", "{upload}");
    assert_eq!(upload["counts"]["accepted"], 2, "{upload}");
    // Rows with exceptions are left: the file stays, to fix them.
    assert_eq!(upload["staged"], true, "{upload}");
    assert!(app.chunks(&id).await > 0);
    // An accepted row cannot be changed; a row with exceptions can.
    let accepted = operator.patch_row(&id, 2, json!({"cells": {"Qty": "3"}})).await;
    assert_eq!(accepted.status(), 409);
    assert!(accepted.text().await.unwrap().contains("already accepted"));
    let fixed = operator.patch_row(&id, 5, json!({"cells": {"Event": "offline_sale"}})).await;
    assert_eq!(fixed.json::<Value>().await.unwrap()["state"], "valid");
    operator.wait_not(&id, "checking").await;
    // The journal skips what was accepted: only the fixed row is sent.
    assert_eq!(operator.fire_all(&id).await.status(), 202);
    let upload = operator.wait_not(&id, "firing").await;
    assert_eq!(upload["counts"]["fired"], 1, "{upload}");
    let orders: Vec<String> = dcs.0.hits().iter().map(|hit| hit.get("order_id").unwrap().to_owned()).collect();
    assert_eq!(orders.iter().filter(|order| *order == "EX-4").count(), 1, "{orders:?}");
    assert!(rid_counts(&dcs.0).values().all(|&count| count == 1));
    assert_eq!(upload["staged"], true, "rows 3, 4 and 6 still need a fix: {upload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_to_fix_go_through_excel_and_back_as_corrections_and_are_fired_once() {
    let dcs = TestDcs::start(|_, _| Reply::Status(200));
    let app = app(Some(&dcs)).await;
    let analyst = app.sign_in(ANALYST).await;
    let id = analyst.upload_file().await;

    let xlsx = analyst.get(&format!("/api/uploads/{id}/rejected.xlsx")).await;
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.headers()["content-type"].to_str().unwrap().contains("spreadsheetml"));
    let bytes = xlsx.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a workbook");

    let csv = analyst.get(&format!("/api/uploads/{id}/rejected.csv")).await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert_no_personal_data(&text, "the rows to fix");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers.first().map(String::as_str), Some("Row"));
    assert_eq!(headers.last().map(String::as_str), Some("Problem"));
    assert_eq!(&headers[1..headers.len() - 1], HEADER.split(',').collect::<Vec<_>>());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.iter().map(|r| r[0].to_owned()).collect::<Vec<_>>(), ["3", "4", "5", "6"]);
    assert!(records[0][headers.len() - 1].contains("Sale Date"), "{:?}", records[0]);
    assert_eq!(&records[0][6], "", "the e-mail cell is left empty");

    // Corrected in "Excel": the dates and the events.
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&headers).unwrap();
    for record in &records {
        let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if cells[at("Sale Date")].starts_with("32/") {
            cells[at("Sale Date")] = "05/06/2024 09:30".into();
        }
        cells[at("Event")] = "offline_sale".into();
        writer.write_record(&cells).unwrap();
    }
    let corrected = writer.into_inner().unwrap();
    let forged = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(corrected.clone()).file_name("fixed.csv"));
    let url = app.url(&format!("/api/uploads/{id}/corrections"));
    let forged = app.http.post(&url).header(COOKIE, &analyst.cookie).multipart(forged).send().await.unwrap();
    assert_eq!(forged.status(), 403, "the CSRF token comes first");
    let replaced = analyst.corrections(&id, "fixed.csv", corrected).await;
    assert_eq!(replaced.status(), 200);
    assert_eq!(replaced.json::<Value>().await.unwrap()["rows_replaced"], 4);
    let rows = analyst.json_of(&format!("/api/uploads/{id}/rows")).await;
    assert!(rows.as_array().unwrap().iter().all(|row| row["state"] == "valid"), "{rows}");
    let upload = analyst.wait_not(&id, "checking").await;
    assert_eq!(upload["counts"]["exceptions"], 0, "{upload}");
    assert_eq!(upload["counts"]["valid"], 6, "{upload}");
    // The e-mail addresses were kept, not emptied.
    assert_eq!(upload["coverage"]["ex4mpl3-t0k3n-0001"]["email"], 5, "{upload}");

    let operator = app.sign_in(OPERATOR).await;
    assert_eq!(operator.fire_all(&id).await.status(), 202);
    let upload = operator.wait_not(&id, "firing").await;
    assert_eq!(upload["counts"]["accepted"], 6, "{upload}");
    let hits = dcs.0.hits();
    let mut orders: Vec<&str> = hits.iter().map(|hit| hit.get("order_id").unwrap()).collect();
    orders.sort_unstable();
    assert_eq!(orders, ["EX-1", "EX-2", "EX-3", "EX-4", "EX-5", "EX-6"]);
    assert!(hits.iter().all(|hit| hit.get("event_name") == Some("offline_sale")));
    assert!(hits.iter().filter(|hit| hit.get("order_id") != Some("EX-6")).all(|hit| hit.get("email_sha256").is_some()));
    assert!(rid_counts(&dcs.0).values().all(|&count| count == 1));
    // Every row accepted: now the staged file goes, and with it the cells kept for the page.
    assert_eq!(upload["staged"], false, "{upload}");
    let edits = analyst.json_of(&format!("/api/uploads/{id}/edits")).await;
    assert_eq!(edits.as_array().unwrap().len(), 4, "the cells that changed: {edits}");
}
