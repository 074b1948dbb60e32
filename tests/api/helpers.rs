//! `spawn_app()`: the real server on a random port with a fresh SQLite database, and a client
//! that signs in the way a browser does (cookies, CSRF tokens from the pages).

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use replayer::db::uploads::UploadId;
use replayer::db::users::{Email, Role};
use replayer::db::Database;
use replayer::web::authentication::password;
use replayer::web::startup::Application;
use replayer::web::ServeConfig;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{replayer_to, summary_value, DumpName};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub db: Database,
    pub http: reqwest::Client,
    pub output_dir: PathBuf,
    pub dir: TempDir,
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn config(dir: &Path) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        clients_dir: repo("clients"),
        max_upload: 512 << 20,
        retention: Duration::from_secs(7 * 86_400),
        secure_cookies: false,
        max_connections: 512,
        database_url: format!("sqlite:{}", dir.join("replayer.sqlite").display()),
        output_dir: dir.join("output"),
        request_url: "http://127.0.0.1:9/tag".into(),
        firing: Default::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The server with the test's changes to its settings.
pub async fn spawn_app_with(change: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    change(&mut config);
    std::fs::create_dir_all(&config.output_dir).unwrap();
    let output_dir = config.output_dir.clone();
    let application = Application::build(config).await.expect("the server starts");
    let address = format!("http://{}", application.address());
    let db = application.state.db.clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    TestApp { address, db, http, output_dir, dir }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn add_user(&self, email: &str, role: Role) {
        let hash = password::hash(PASSWORD).unwrap();
        self.db.save_user(&Email::parse(email).unwrap(), role, &hash).await.unwrap();
    }

    /// Signs in through the sign-in page; the user must exist.
    pub async fn sign_in(&self, email: &str) -> Browser<'_> {
        self.sign_in_with(email, PASSWORD).await
    }

    /// Signs in with this password.
    pub async fn sign_in_with(&self, email: &str, password: &str) -> Browser<'_> {
        let (login, cookie) = self.login_page().await;
        let response = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, cookie)
            .form(&[("email", email), ("password", password), ("csrf", &csrf_of(&login))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "signing in as {email}");
        let session = cookie_of(response.headers(), "replayer_session").expect("a session cookie");
        let mut browser = Browser { app: self, cookie: format!("replayer_session={session}"), csrf: String::new() };
        let home = browser.get("/").await.text().await.unwrap();
        browser.csrf = csrf_of(&home);
        browser
    }

    /// The sign-in page's HTML and its CSRF cookie (`name=value`).
    pub async fn login_page(&self) -> (String, String) {
        let response = self.http.get(self.url("/login")).send().await.unwrap();
        let cookie = cookie_of(response.headers(), "replayer_signin").expect("the sign-in form's cookie");
        (response.text().await.unwrap(), format!("replayer_signin={cookie}"))
    }

    pub async fn chunks(&self, id: &str) -> i64 {
        self.db.chunk_count(&UploadId::parse(id).unwrap()).await.unwrap()
    }
}

/// A signed-in user's session: its cookie and the CSRF token of its forms.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
    pub csrf: String,
}

impl Browser<'_> {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.app.http.get(self.app.url(path)).header(COOKIE, &self.cookie).send().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.app.http.post(self.app.url(path)).header(COOKIE, &self.cookie).form(fields).send().await.unwrap()
    }

    /// The page's upload form: csrf, client, then the file.
    pub async fn upload(&self, path: &str, client: &str, file_name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf.clone())
            .text("client", client.to_owned())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()));
        self.app.http.post(self.app.url(path)).header(COOKIE, &self.cookie).multipart(form).send().await.unwrap()
    }

    /// A JSON request with the session and its CSRF header.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.app
            .http
            .request(method, self.app.url(path))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads through the page and waits for the check; returns the upload's id.
    pub async fn upload_and_check(&self, client: &str, file: &Path) -> String {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let response = self.upload("/uploads", client, &name, std::fs::read(file).unwrap()).await;
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let id = location.strip_prefix("/uploads/").unwrap().to_owned();
        self.wait_checked(&id).await;
        id
    }

    pub async fn api(&self, id: &str) -> Value {
        self.get(&format!("/api/uploads/{id}")).await.json().await.unwrap()
    }

    /// The upload's API view once its check is over.
    pub async fn wait_checked(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let upload = self.api(id).await;
            if upload["state"] != "checking" {
                return upload;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "the check of {id} did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(SET_COOKIE).iter().find_map(|value| {
        let value = value.to_str().ok()?;
        let (key, rest) = value.split_once('=')?;
        (key == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

/// The first CSRF token of a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// What the command line's dry run with --dump-data gives for a file.
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dumps: std::collections::BTreeMap<String, String>,
    pub _dir: TempDir,
}

pub fn run_cli(csv: &Path, mapping: &Path) -> CliRun {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--dump-data", "--quiet", "--mapping", mapping.to_str().unwrap()];
    let output = replayer_to("cli", csv, dir.path(), "http://127.0.0.1:9/tag", &extra).output().unwrap();
    let mut dumps = std::collections::BTreeMap::new();
    for (kind, path) in dumps_of_run(dir.path(), "cli") {
        dumps.insert(kind, std::fs::read_to_string(path).unwrap());
    }
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dumps,
        _dir: dir,
    }
}

/// The dumps of §6 the run named `name` wrote in `dir`, by type (not the server's problems dump).
fn dumps_of_run(dir: &Path, name: &str) -> std::collections::BTreeMap<String, PathBuf> {
    let mut dumps = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(parsed) =
            DumpName::parse(&file_name).filter(|parsed| parsed.name == name && parsed.extension == "txt")
        {
            dumps.insert(parsed.kind.to_owned(), entry.path());
        }
    }
    dumps
}

/// A count of the summary, e.g. `valid` in `  valid:              32`.
pub fn summary_count(summary: &str, label: &str) -> i64 {
    let value = summary_value(summary, label);
    let number = value.split_whitespace().next().unwrap_or_default().replace(',', "");
    number.parse().unwrap_or_else(|_| panic!("no count for {label:?} in the summary:\n{summary}"))
}

impl TestApp {
    /// The dump files the server wrote for an upload, by type.
    pub fn dumps_of(&self, id: &str) -> std::collections::BTreeMap<String, String> {
        let name = replayer::web::check::run_name(&UploadId::parse(id).unwrap());
        dumps_of_run(&self.output_dir, &name)
            .into_iter()
            .map(|(kind, path)| (kind, std::fs::read_to_string(path).unwrap()))
            .collect()
    }
}

/// `replayer serve`, the real binary, as a child process (killed when dropped).
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary serving `database_url` with its output in `dir`, on `port`, with these
/// further arguments; its log (standard error) is appended to `dir/serve.log`. `configure`
/// changes the command (environment, limits) before it starts.
pub async fn serve_binary_on(
    dir: &Path,
    port: u16,
    clients: &Path,
    database_url: &str,
    arguments: &[&str],
    configure: impl FnOnce(&mut std::process::Command),
) -> ServerProcess {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("serve.log")).unwrap();
    let mut command = crate::support::replayer();
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(arguments)
        .arg("--clients-dir")
        .arg(clients)
        .arg("--output-dir")
        .arg(dir.join("output"))
        .arg("--database-url")
        .arg(database_url)
        .stdout(std::process::Stdio::null())
        .stderr(log);
    configure(&mut command);
    let server = ServerProcess(command.spawn().unwrap());
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "replayer serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

/// A `TestApp` for a server run by the binary on this directory's SQLite database.
pub async fn app_of_binary(dir: TempDir, port: u16) -> TestApp {
    let url = format!("sqlite:{}", dir.path().join("replayer.sqlite").display());
    app_of_binary_at(dir, port, &url).await
}

/// A `TestApp` for a server run by the binary on `database_url`.
pub async fn app_of_binary_at(dir: TempDir, port: u16, database_url: &str) -> TestApp {
    let db = Database::connect(database_url).await.unwrap();
    db.ensure_web_tables().await.unwrap();
    let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    TestApp { address: format!("http://127.0.0.1:{port}"), db, http, output_dir: dir.path().join("output"), dir }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The URL of a database of its own on the server of `variable` (REPLAYER_TEST_MYSQL_URL or
/// REPLAYER_TEST_POSTGRES_URL, set by `.ci/run`), made for this test: tests that fire share no
/// journal. `None` (the test skipped) when the variable is not set, except under CI.
pub async fn fresh_database(variable: &str, tag: &str) -> Option<String> {
    let url = match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must set {variable}");
            eprintln!("SKIPPED: set {variable} to run this test");
            return None;
        }
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (url.clone(), String::new()),
    };
    // Named after the test database: its user may create those (MariaDB grants `name%`).
    let (server, database) = base.rsplit_once('/').unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("{database}_{tag}_{}_{:x}", std::process::id(), nanos);
    let create = format!("CREATE DATABASE {name}");
    if url.starts_with("mysql") {
        let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
        sqlx::query(&create).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(&create).execute(&pool).await.unwrap();
        pool.close().await;
    }
    Some(format!("{server}/{name}{query}"))
}
