//! A real HTTP server on 127.0.0.1:0 standing in for the DCS: it records every tag it receives
//! and answers as the test scripts it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One tag the server received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub query: Vec<(String, String)>,
    pub raw_query: String,
    pub at: Instant,
    /// How many times this rid had arrived before, this one included.
    pub attempt: usize,
    /// The client's address: one per connection.
    pub peer: SocketAddr,
}

impl Hit {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn rid(&self) -> &str {
        self.get("rid").unwrap_or("")
    }
}

/// How the server answers one hit.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, &'static str),
    /// Wait, then answer.
    Slow(Duration, u16),
    /// Answer, then close the connection (`Connection: close`), as a server does at its
    /// keep-alive limit.
    Close(u16),
    /// Wait until the gate opens, then answer: while it is shut, a run is certainly under way.
    Held(Gate, u16),
}

/// Shut until the test opens it.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn shut() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn pass(&self) {
        let _ = self.0.subscribe().wait_for(|open| *open).await;
    }
}

type Script = dyn Fn(&Hit, usize) -> Reply + Send + Sync;

struct Shared {
    hits: Mutex<Vec<Hit>>,
    per_rid: Mutex<HashMap<String, usize>>,
    script: Box<Script>,
}

pub struct Dcs {
    pub url: String,
    shared: Arc<Shared>,
    /// None once the server went away.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

async fn tag(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw_query = raw.unwrap_or_default();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
    let rid = query.iter().find(|(k, _)| k == "rid").map(|(_, v)| v.clone()).unwrap_or_default();
    let attempt = {
        let mut per_rid = shared.per_rid.lock().unwrap();
        let count = per_rid.entry(rid).or_insert(0);
        *count += 1;
        *count
    };
    let hit = Hit { query, raw_query, at: Instant::now(), attempt, peer };
    let total = {
        let mut hits = shared.hits.lock().unwrap();
        hits.push(hit.clone());
        hits.len()
    };
    match (shared.script)(&hit, total) {
        Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), "ok").into_response(),
        Reply::RetryAfter(code, after) => {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", HeaderValue::from_static(after));
            (StatusCode::from_u16(code).unwrap(), headers, "slow down").into_response()
        }
        Reply::Slow(wait, code) => {
            tokio::time::sleep(wait).await;
            (StatusCode::from_u16(code).unwrap(), "ok").into_response()
        }
        Reply::Held(gate, code) => {
            gate.pass().await;
            (StatusCode::from_u16(code).unwrap(), "ok").into_response()
        }
        Reply::Close(code) => {
            let mut headers = HeaderMap::new();
            headers.insert("connection", HeaderValue::from_static("close"));
            (StatusCode::from_u16(code).unwrap(), headers, "ok").into_response()
        }
    }
}

impl Dcs {
    /// Start a server; `script(hit, hits_so_far)` chooses each answer.
    pub fn start(script: impl Fn(&Hit, usize) -> Reply + Send + Sync + 'static) -> Dcs {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let shared = Arc::new(Shared {
            hits: Mutex::new(Vec::new()),
            per_rid: Mutex::new(HashMap::new()),
            script: Box::new(script),
        });
        let app = axum::Router::new().route("/tag", axum::routing::get(tag)).with_state(shared.clone());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        runtime.spawn(async move { axum::serve(listener, service).await.unwrap() });
        Dcs { url: format!("http://{address}/tag"), shared, runtime: Mutex::new(Some(runtime)) }
    }

    pub fn ok() -> Dcs {
        Dcs::start(|_, _| Reply::Status(200))
    }

    /// The server goes away at once: its listener and every open connection are closed, so
    /// what was in flight gets no answer and new connections are refused.
    pub fn go_away(&self) {
        if let Some(runtime) = self.runtime.lock().unwrap().take() {
            runtime.shutdown_background();
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    pub fn hit_count(&self) -> usize {
        self.shared.hits.lock().unwrap().len()
    }

    /// Wait (at most a minute) until the server has had `count` hits: a run is under way.
    pub fn wait_for_hits(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.hit_count() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `replayer --name <name> --load-file <csv> --output-dir <output> --request-url <url> <extra…>`,
/// with no database or DCS from the environment and nothing on stdin: the real binary as the
/// live-run tests start it.
pub fn replayer(name: &str, csv: &Path, output: &Path, url: &str, extra: &[&str]) -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt as _;
    let mut command = std::process::Command::cargo_bin("replayer").unwrap();
    command
        .args(["--name", name, "--load-file"])
        .arg(csv)
        .arg("--output-dir")
        .arg(output)
        .args(["--request-url", url])
        .args(extra)
        .env_remove("REPLAYER_DATABASE_URL")
        .env_remove("REPLAYER_REQUEST_URL")
        .stdin(std::process::Stdio::null());
    without_proxies(&mut command);
    command
}

/// The proxy variables, any case: the tests' requests go straight to their own servers unless a
/// test sets them.
pub const PROXY_VARIABLES: [&str; 8] =
    ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

pub fn without_proxies(command: &mut std::process::Command) {
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
}

/// A forwarding HTTP proxy on 127.0.0.1, as a company's would be: plain-HTTP requests in
/// absolute form are forwarded to their host, CONNECT opens a tunnel. It records each request
/// line it is given and its Proxy-Authorization.
/// The request lines a proxy received, each with its Proxy-Authorization.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub struct ForwardProxy {
    pub url: String,
    seen: Seen,
    _runtime: tokio::runtime::Runtime,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = forward(client, recorded).await;
                });
            }
        });
        ForwardProxy { url, seen, _runtime: runtime }
    }

    /// The request lines received: `GET http://…/tag?… HTTP/1.1`, `CONNECT host:port HTTP/1.1`.
    pub fn request_lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(line, _)| line.clone()).collect()
    }

    /// The Proxy-Authorization headers received, one a request.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().iter().map(|(_, authorization)| authorization.clone()).collect()
    }
}

/// One client connection of the proxy: its requests forwarded one after the other (a GET has
/// no body), the answers copied back as they come; or, after a CONNECT, bytes both ways.
async fn forward(
    client: tokio::net::TcpStream,
    seen: Seen,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (from_client, to_client) = client.into_split();
    let mut from_client = tokio::io::BufReader::new(from_client);
    let mut to_client = Some(to_client);
    let mut upstream: Option<tokio::net::tcp::OwnedWriteHalf> = None;
    let mut answers: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if from_client.read_line(&mut line).await? == 0 {
                drop(upstream);
                if let Some(answers) = answers {
                    let _ = answers.await;
                }
                return Ok(());
            }
            let end = line == "\r\n";
            head.push(line);
            if end {
                break;
            }
        }
        let request_line = head[0].trim_end().to_owned();
        let authorization = head.iter().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization").then(|| value.trim().to_owned())
        });
        seen.lock().unwrap().push((request_line.clone(), authorization));
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default().to_owned());
        if method == "CONNECT" {
            let Some(mut to_client) = to_client.take() else { return Ok(()) };
            let (mut from_tunnel, mut to_tunnel) = tokio::net::TcpStream::connect(&target).await?.into_split();
            to_client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
            let back = tokio::spawn(async move { tokio::io::copy(&mut from_tunnel, &mut to_client).await });
            let _ = tokio::io::copy(&mut from_client, &mut to_tunnel).await;
            drop(to_tunnel);
            let _ = back.await;
            return Ok(());
        }
        let rest = target.strip_prefix("http://").unwrap_or(&target);
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if upstream.is_none() {
            let (mut from_origin, to_origin) = tokio::net::TcpStream::connect(authority).await?.into_split();
            upstream = Some(to_origin);
            if let Some(mut to_client) = to_client.take() {
                answers = Some(tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_origin, &mut to_client).await;
                }));
            }
        }
        let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
        for line in &head[1..] {
            if !line.to_ascii_lowercase().starts_with("proxy-") {
                forwarded.push_str(line);
            }
        }
        upstream.as_mut().expect("connected above").write_all(forwarded.as_bytes()).await?;
    }
}

/// A URL on 127.0.0.1 where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/tag")
}

/// A client folder with `rows` valid rows (order ids o-2, o-3, … by spreadsheet row).
pub fn client(directory: &Path, rows: usize) -> PathBuf {
    std::fs::write(
        directory.join("mapping.json"),
        r#"{"client": "Test", "account_token": "t3st-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
            "events": ["offline_sale"], "columns": {"event_time": "Date"}, "defaults": {"event_name": "offline_sale"}}"#,
    )
    .unwrap();
    let mut csv = String::from("Date,customer_id,order_id,revenue\n");
    for index in 0..rows {
        csv.push_str(&format!("01/06/2024 10:{:02},c-{index},o-{},{}.50\n", index % 60, index + 2, index % 500));
    }
    let path = directory.join("sales.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// The lines of the one dump file of `kind` in `output`.
pub fn dump_lines(output: &Path, kind: &str) -> Vec<String> {
    match dump_path(output, kind) {
        Some(path) => std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect(),
        None => Vec::new(),
    }
}

pub fn dump_path(output: &Path, kind: &str) -> Option<PathBuf> {
    let pattern = format!("-{kind}-");
    std::fs::read_dir(output).ok()?.filter_map(|entry| entry.ok()).map(|entry| entry.path()).find(|path| {
        let name = path.file_name().unwrap().to_string_lossy();
        name.contains(&pattern) && !(kind == "requests" && name.contains("-requests-validated-"))
    })
}

/// A pseudo-terminal: (the side the test types on, the side the run reads as its terminal).
#[cfg(unix)]
pub fn pseudo_terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let opened =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(opened, 0, "cannot open a pseudo-terminal");
    unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) }
}

/// `replayer accounts add` on the database at `database` (a URL).
pub fn accounts_add(database: &str, token: &str, connection: &str) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_replayer"))
        .args(["accounts", "add", "--token", token, "--connection", connection, "--database-url", database])
        .env_remove("REPLAYER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Waits for a run to end, at most `bound`: a run still going then is killed and the test fails.
pub fn finish_within(mut child: std::process::Child, bound: Duration) -> (std::process::Output, Duration) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > bound {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("the run hung: still going after {bound:?}\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

#[cfg(unix)]
pub fn signal(child: &std::process::Child, signal: i32) {
    unsafe { libc::kill(child.id() as i32, signal) };
}

/// Runs with its standard input on a terminal (a pseudo-terminal), typing `answer` at the question.
#[cfg(unix)]
pub fn answering(mut command: std::process::Command, answer: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let (mut master, slave) = pseudo_terminal();
    let child = command.stdin(Stdio::from(slave)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The terminal keeps the line until the question reads it.
    master.write_all(format!("{answer}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    drop(master);
    output
}

/// What a run printed, on its standard output then its error output, with the lines that the
/// terminal's 80-column wrapping broke joined again: messages are matched whatever their width.
pub fn text(output: &std::process::Output) -> String {
    let both = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    flat(&both)
}

/// `text` with its lines joined by one space, each without its indent: a wrapped message reads
/// whole again (the spaces inside a line stay as they are).
pub fn flat(text: &str) -> String {
    text.lines().map(str::trim_start).collect::<Vec<_>>().join(" ")
}

/// `4997` → `4,997`, as the terminal shows counts.
pub fn separated(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
