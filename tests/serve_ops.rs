//! `replayer serve` as operations run it (SPEC §14), the real binary in a process of its own:
//! its memory whatever a request sends (read from /proc), half-sent requests closed within the
//! header timeout, a connection cap, nothing of a file on disk after a `kill -9` mid-check, and
//! its log: a line per request and per upload event, and never a secret or a cell.

#[path = "api/helpers.rs"]
mod helpers;

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use replayer::db::users::{Email, Role};
use serde_json::Value;

use helpers::{app_of_binary, free_port, serve_binary_on, ServerProcess, TestApp, PASSWORD};

const USER: &str = "ops@example.com";

/// A client `mail` whose rows carry e-mail addresses (`person{N}@example.org`): the personal data
/// that must never be on disk outside the database.
fn mail_client(directory: &Path, rows: usize) -> PathBuf {
    let folder = directory.join("clients").join("mail");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("mapping.json"),
        r#"{"client": "Mail", "account_token": "m41l-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
            "events": ["offline_sale"], "columns": {"event_time": "Date", "email": "Email"},
            "defaults": {"event_name": "offline_sale"}}"#,
    )
    .unwrap();
    let mut csv = String::from("Date,Email,order_id\n");
    // A day over 12: no day-and-month warning (SPEC §11.2) adds a dump to those of a clean file.
    for index in 0..rows {
        csv.push_str(&format!("20/06/2024 10:{:02},person{index}@example.org,o-{index}\n", index % 60));
    }
    let path = folder.join("mail.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// A server on its own SQLite database in a folder of its own, with a user and their API token.
async fn server(clients: &Path, arguments: &[&str], configure: impl FnOnce(&mut std::process::Command)) -> Served {
    let (dir, port) = (tempfile::tempdir().unwrap(), free_port());
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("replayer.sqlite").display());
    let tmp = dir.path().join("tmp");
    let process = serve_binary_on(dir.path(), port, clients, &database_url, arguments, |command| {
        command.env("TMPDIR", &tmp);
        configure(command);
    })
    .await;
    let app = app_of_binary(dir, port).await;
    app.add_user(USER, Role::Operator).await;
    let token = app.db.new_api_token(&Email::parse(USER).unwrap()).await.unwrap();
    Served { process, app, token, port }
}

struct Served {
    process: ServerProcess,
    app: TestApp,
    token: String,
    port: u16,
}

impl Served {
    fn pid(&self) -> u32 {
        self.process.0.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.app.dir.path().join("serve.log")).unwrap_or_default()
    }
}

/// `(peak, current)` resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Sends an upload form by hand whose part `name` (a field, or a part's headers) is `bytes` long,
/// 1 MiB at a time; stops when the server stops reading. Returns what the server answered.
fn send_huge_part(port: u16, token: &str, huge_headers: bool, bytes: usize) -> String {
    let boundary = "hugeb0undary";
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let length = bytes + 4096;
    let head = format!(
        "POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\""
    );
    stream.write_all(head.as_bytes()).unwrap();
    if !huge_headers {
        stream.write_all(b"client\"\r\n\r\n").unwrap();
    }
    let piece = vec![b'x'; 1 << 20];
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    });
    for _ in 0..bytes / piece.len() {
        if stream.write_all(&piece).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    answer.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_field_or_part_header_leaves_the_servers_memory_flat() {
    let directory = tempfile::tempdir().unwrap();
    mail_client(directory.path(), 10);
    let served = server(&directory.path().join("clients"), &[], |_| {}).await;
    // Warm: a sign-in page and a small upload, so the idle figure is the working one.
    assert_eq!(served.app.http.get(served.app.url("/login")).send().await.unwrap().status(), 200);
    let (_, idle) = memory_kib(served.pid());
    let (port, token) = (served.port, served.token.clone());
    let field = tokio::task::spawn_blocking(move || send_huge_part(port, &token, false, 200 << 20)).await.unwrap();
    assert!(field.starts_with("HTTP/1.1 413") || field.is_empty(), "{field}");
    let (port, token) = (served.port, served.token.clone());
    let headers = tokio::task::spawn_blocking(move || send_huge_part(port, &token, true, 200 << 20)).await.unwrap();
    assert!(headers.starts_with("HTTP/1.1 413") || headers.is_empty(), "{headers}");
    let (peak, _) = memory_kib(served.pid());
    eprintln!("idle {idle} KiB, peak {peak} KiB");
    assert!(peak < idle + 48 * 1024, "the server grew from {idle} KiB to {peak} KiB");
    assert!(served.app.db.uploads(10).await.unwrap().is_empty(), "nothing was accepted");
}

/// Opens `count` connections that send half a request line and nothing more.
fn half_sent(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.write_all(b"GET /login HT").unwrap();
            stream
        })
        .collect()
}

/// Whether the server closed the connection (or reset it) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 64];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_half_sent_requests_are_closed_within_the_header_timeout_and_sign_in_still_answers() {
    let directory = tempfile::tempdir().unwrap();
    mail_client(directory.path(), 10);
    // As in the finding: a file limit of 256.
    let served = server(&directory.path().join("clients"), &[], |command| {
        use std::os::unix::process::CommandExt;
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                Ok(())
            });
        }
    })
    .await;
    let port = served.port;
    let started = Instant::now();
    let mut streams = tokio::task::spawn_blocking(move || half_sent(port, 300)).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let login = http.get(served.app.url("/login")).send().await.expect("/login answers");
    assert_eq!(login.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(15), "/login took {:?}", started.elapsed());
    let closed = tokio::task::spawn_blocking(move || {
        streams.iter_mut().map(|stream| closed_within(stream, Duration::from_secs(15))).filter(|&closed| closed).count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 300, "every half-sent request closed");
    assert!(started.elapsed() < Duration::from_secs(30), "closed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let directory = tempfile::tempdir().unwrap();
    mail_client(directory.path(), 10);
    let served = server(&directory.path().join("clients"), &["--max-connections", "2"], |_| {}).await;
    let port = served.port;
    let held = tokio::task::spawn_blocking(move || half_sent(port, 2)).await.unwrap();
    let quick = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    assert!(quick.get(served.app.url("/healthz")).send().await.is_err(), "served beyond the cap");
    let started = Instant::now();
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let answer = patient.get(served.app.url("/healthz")).send().await.expect("served once the held ones close");
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(held);
}

/// Every file under `folder` but the database's, with the paths of those holding `needle`.
fn files_holding(folder: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                folders.push(path);
            } else if !name.starts_with("replayer.sqlite") {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|window| window == needle) {
                    found.push(path);
                }
            }
        }
    }
    found
}

async fn api(served: &Served, id: &str) -> Value {
    let url = served.app.url(&format!("/api/uploads/{id}"));
    served.app.http.get(url).bearer_auth(&served.token).send().await.unwrap().json().await.unwrap()
}

async fn upload(served: &Served, client: &str, csv: &Path) -> String {
    let form = reqwest::multipart::Form::new()
        .text("client", client.to_owned())
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(csv).unwrap()).file_name("mail.csv"));
    let response = served
        .app
        .http
        .post(served.app.url("/api/uploads"))
        .bearer_auth(&served.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn wait_checked(served: &Served, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let upload = api(served, id).await;
        if upload["state"] != "checking" {
            return upload;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "the check did not end: {upload}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_check_of_300000_rows_leaves_no_cell_on_disk_and_a_restart_checks_it_again() {
    const ROWS: usize = 300_000;
    let directory = tempfile::tempdir().unwrap();
    let csv = mail_client(directory.path(), ROWS);
    let clients = directory.path().join("clients");
    let mut served = server(&clients, &[], |_| {}).await;
    let id = upload(&served, "mail", &csv).await;
    let start = Instant::now();
    loop {
        let upload = api(&served, &id).await;
        if upload["counts"]["rows_so_far"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert_eq!(upload["state"], "checking", "the check ended before the kill: {upload}");
        assert!(start.elapsed() < Duration::from_secs(60), "the check did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.process.0.kill().unwrap();
    served.process.0.wait().unwrap();
    let cell = b"person1234@example.org";
    assert_eq!(files_holding(served.app.dir.path(), cell), Vec::<PathBuf>::new(), "a cell on disk after kill -9");

    // A restarted server checks it again, and what the killed check wrote goes.
    let dir = served.app.dir.path().to_path_buf();
    let database_url = format!("sqlite:{}", dir.join("replayer.sqlite").display());
    let tmp = dir.join("tmp");
    served.process = serve_binary_on(&dir, served.port, &clients, &database_url, &[], |command| {
        command.env("TMPDIR", &tmp);
    })
    .await;
    let upload = wait_checked(&served, &id).await;
    assert_eq!(upload["counts"]["valid"], ROWS as u64, "{upload}");
    let name = replayer::web::check::run_name(&replayer::db::uploads::UploadId::parse(&id).unwrap());
    let dumps: Vec<String> = std::fs::read_dir(dir.join("output"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|file| file.starts_with(&name))
        .collect();
    assert_eq!(dumps.len(), upload["dumps"].as_array().unwrap().len(), "only the last check's dumps: {dumps:?}");
    assert_eq!(files_holding(&dir, cell), Vec::<PathBuf>::new());
}

async fn sign_in_and_upload_and_delete(served: &Served) -> (String, String) {
    let app = &served.app;
    let (login, cookie) = app.login_page().await;
    let csrf = helpers::csrf_of(&login);
    let wrong = app
        .http
        .post(app.url("/login"))
        .header("cookie", &cookie)
        .form(&[("email", USER), ("password", "not the password 9"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let browser = app.sign_in(USER).await;
    let id = browser.upload_and_check("mail", &served.app.dir.path().join("mail.csv")).await;
    let deleted = browser.post_form(&format!("/uploads/{id}/delete?confirm=1"), &[("csrf", &browser.csrf)]).await;
    assert_eq!(deleted.status(), 303);
    let session = browser.cookie.trim_start_matches("replayer_session=").to_owned();
    (id, format!("{session}\n{}\n{csrf}", browser.csrf))
}

async fn log_of_a_session(format: &str) -> (String, String, Vec<String>) {
    let directory = tempfile::tempdir().unwrap();
    let csv = mail_client(directory.path(), 20);
    let served = server(&directory.path().join("clients"), &["--log-format", format], |_| {}).await;
    std::fs::copy(&csv, served.app.dir.path().join("mail.csv")).unwrap();
    let (id, secrets) = sign_in_and_upload_and_delete(&served).await;
    let mut secrets: Vec<String> = secrets.lines().map(str::to_owned).collect();
    secrets.extend([served.token.clone(), PASSWORD.to_owned(), "not the password 9".to_owned()]);
    secrets.extend((0..20).map(|n| format!("person{n}@example.org")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    (served.log(), id, secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_a_line_per_request_and_per_upload_event_and_no_secret_nor_cell() {
    let (log, id, secrets) = log_of_a_session("text").await;
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret:?} in the log:\n{log}");
    }
    let requests: Vec<&str> = log.lines().filter(|line| line.contains("request{")).collect();
    for (method, path, status) in [("GET", "/login", "200"), ("POST", "/login", "401"), ("POST", "/login", "303")] {
        assert!(
            requests.iter().any(|line| line.contains(&format!("method={method} path=\"{path}\""))
                && line.contains(&format!("status={status}"))
                && line.contains("duration_ms=")),
            "{method} {path} {status} in:\n{log}"
        );
    }
    let deleted = format!("path=\"/uploads/{id}/delete\" user=\"{USER}\"");
    assert!(requests.iter().any(|line| line.contains(&deleted)), "no query, and the user:\n{log}");
    assert!(!log.contains("confirm=1"), "the query is not logged:\n{log}");
    for event in ["uploaded", "checked", "deleted"] {
        let wanted = format!("event=\"{event}\" upload=\"{id}\" user=\"{USER}\"");
        assert!(log.lines().any(|line| line.contains(&wanted)), "{wanted} in:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_can_be_json_one_object_a_line() {
    let (log, id, secrets) = log_of_a_session("json").await;
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret:?} in the log:\n{log}");
    }
    let lines: Vec<Value> = log.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    let requests: Vec<&Value> = lines.iter().filter(|line| line["message"] == "request").collect();
    assert!(requests.iter().any(|line| line["span"]["path"] == "/login" && line["status"] == 401), "{log}");
    assert!(requests.iter().all(|line| line["duration_ms"].is_number() && line["span"]["method"].is_string()));
    let events: Vec<&Value> = lines.iter().filter(|line| line["message"] == "upload").collect();
    for event in ["uploaded", "checked", "deleted"] {
        assert!(
            events.iter().any(|line| line["event"] == event && line["upload"] == id.as_str() && line["user"] == USER),
            "{event} in {log}"
        );
    }
}
