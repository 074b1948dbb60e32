//! Bounded input (SPEC §14) on the real server in process: the upload form's small fields and part
//! headers, the CSRF token before any other part (or in X-CSRF-Token), a delete during an upload,
//! and `GET /healthz`.

use std::time::{Duration, Instant};

use replayer::db::users::{Email, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{repo, spawn_app, TestApp};

fn example() -> Vec<u8> {
    std::fs::read(repo("clients/example/example.csv")).unwrap()
}

async fn analyst(app: &TestApp) -> crate::helpers::Browser<'_> {
    app.add_user("ann@example.com", Role::Analyst).await;
    app.sign_in("ann@example.com").await
}

#[tokio::test]
async fn a_field_over_64_kib_and_part_headers_over_8_kib_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let browser = analyst(&app).await;
    let send = |form: reqwest::multipart::Form| {
        app.http
            .post(app.url("/api/uploads"))
            .header("cookie", &browser.cookie)
            .header("x-csrf-token", &browser.csrf)
            .multipart(form)
            .send()
    };
    let big_client = reqwest::multipart::Form::new()
        .text("client", "x".repeat(65 * 1024))
        .part("file", reqwest::multipart::Part::bytes(example()).file_name("example.csv"));
    let response = send(big_client).await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("larger than 64 KiB"));
    let long_name = reqwest::multipart::Form::new()
        .text("client", "example")
        .part("file", reqwest::multipart::Part::bytes(example()).file_name(format!("{}.csv", "n".repeat(9 * 1024))));
    let response = send(long_name).await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("headers larger than 8 KiB"));
    let unknown = reqwest::multipart::Form::new()
        .text("notes", "y".repeat(100 * 1024))
        .text("client", "example")
        .part("file", reqwest::multipart::Part::bytes(example()).file_name("example.csv"));
    assert_eq!(send(unknown).await.unwrap().status(), 413);
    assert!(app.db.uploads(10).await.unwrap().is_empty());
    // Within the limits, the same form goes through.
    let fine = reqwest::multipart::Form::new()
        .text("client", "example")
        .part("file", reqwest::multipart::Part::bytes(example()).file_name("example.csv"));
    assert_eq!(send(fine).await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_sessions_upload_needs_its_csrf_token_first_or_in_the_header() {
    let app = spawn_app().await;
    let browser = analyst(&app).await;
    let late_token = reqwest::multipart::Form::new()
        .text("client", "example")
        .text("csrf", browser.csrf.clone())
        .part("file", reqwest::multipart::Part::bytes(example()).file_name("example.csv"));
    let response = app
        .http
        .post(app.url("/uploads"))
        .header("cookie", &browser.cookie)
        .multipart(late_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("must come first"));
    assert!(app.db.uploads(10).await.unwrap().is_empty());
    // The page's form: the token first.
    let response = browser.upload("/uploads", "example", "example.csv", example()).await;
    assert_eq!(response.status(), 303);
    // Or the header, and no field.
    let form = reqwest::multipart::Form::new()
        .text("client", "example")
        .part("file", reqwest::multipart::Part::bytes(example()).file_name("example.csv"));
    let response = app
        .http
        .post(app.url("/uploads"))
        .header("cookie", &browser.cookie)
        .header("x-csrf-token", &browser.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let wrong = reqwest::multipart::Form::new().text("client", "example");
    let response = app
        .http
        .post(app.url("/uploads"))
        .header("cookie", &browser.cookie)
        .header("x-csrf-token", "0".repeat(64))
        .multipart(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.db.uploads(10).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_an_upload_stops_it_and_leaves_no_chunk() {
    let app = spawn_app().await;
    app.add_user("bot@example.com", Role::Analyst).await;
    let token = app.db.new_api_token(&Email::parse("bot@example.com").unwrap()).await.unwrap();
    // A form of 40 MiB, sent by hand a MiB at a time.
    let boundary = "b0undary7";
    let mut head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"client\"\r\n\r\nexample\r\n");
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    ));
    let example = String::from_utf8(example()).unwrap();
    let rows: String = example.lines().skip(1).map(|line| format!("{line}\n")).collect();
    let mut file = format!("{}\n", example.lines().next().unwrap());
    while file.len() < 40 << 20 {
        file.push_str(&rows);
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() + file.len() + tail.len();
    let address = app.address.trim_start_matches("http://").to_owned();
    let (mut reader, mut stream) = tokio::net::TcpStream::connect(&address).await.unwrap().into_split();
    // The answer is read as it comes: the server answers before the body ends.
    let answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let request = format!(
        "POST /api/uploads HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n{head}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut pieces = file.as_bytes().chunks(1 << 20);
    for piece in pieces.by_ref().take(4) {
        stream.write_all(piece).await.unwrap();
    }
    let started = Instant::now();
    let id = loop {
        let uploads = app.db.uploads(1).await.unwrap();
        if let Some(upload) = uploads.first() {
            if app.chunks(upload.id.as_str()).await >= 2 {
                break upload.id.to_string();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no chunk was staged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let deleted = app.http.delete(app.url(&format!("/api/uploads/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    // The rest of the file: the server stops reading it.
    for piece in pieces {
        if stream.write_all(piece).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(tail.as_bytes()).await;
    let answer = answer.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert!(answer.contains("deleted while it arrived"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.chunks(&id).await, 0);
    let upload: serde_json::Value = app
        .http
        .get(app.url(&format!("/api/uploads/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((upload["state"].as_str(), upload["staged"].as_bool()), (Some("deleted"), Some(false)), "{upload}");
}

#[tokio::test]
async fn healthz_answers_200_while_the_database_answers_and_503_after() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "no sign-in needed");
    app.db.close().await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.text().await.unwrap().contains("database"));
}

#[tokio::test]
async fn a_password_or_key_in_the_request_url_is_masked_in_the_preflight_and_on_the_pages() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.request_url = "http://dcs:s3cr3t-pw@127.0.0.1:9/tag?api_key=k3y-value&site=7".into();
    })
    .await;
    app.add_user("olga@example.com", Role::Operator).await;
    let operator = app.sign_in("olga@example.com").await;
    let id = operator.upload_and_check("example", &repo("clients/example/example.csv")).await;
    let preflight: serde_json::Value =
        operator.get(&format!("/api/uploads/{id}/preflight")).await.json().await.unwrap();
    let text = preflight["preflight"].as_str().unwrap();
    assert!(text.contains("http://dcs:****@127.0.0.1:9/tag?api_key=****&site=7"), "{text}");
    let page = operator.get(&format!("/uploads/{id}/fire")).await.text().await.unwrap();
    for shown in [text, page.as_str()] {
        assert!(!shown.contains("s3cr3t-pw") && !shown.contains("k3y-value"), "{shown}");
    }
}

#[tokio::test]
async fn at_start_the_server_removes_the_dumps_of_uploads_it_does_not_know() {
    let orphan = "upload-0123456789ab-requests-abcd1234-2024-06-01.txt";
    let other = "norton-requests-abcd1234-2024-06-01.txt";
    let app = crate::helpers::spawn_app_with(|config| {
        std::fs::create_dir_all(&config.output_dir).unwrap();
        std::fs::write(config.output_dir.join(orphan), "http://dcs/tag?a=1\n").unwrap();
        std::fs::write(config.output_dir.join(other), "http://dcs/tag?a=1\n").unwrap();
    })
    .await;
    assert!(!app.output_dir.join(orphan).exists(), "a dump of no known upload is removed");
    assert!(app.output_dir.join(other).exists(), "a command-line run's dump is not the server's");
}
