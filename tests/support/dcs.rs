//! A real HTTP server on 127.0.0.1:0 standing in for the DCS: it records every tag it receives
//! and answers as the test scripts it. And a forwarding HTTP proxy, as a company's would be.

use std::collections::HashMap;
use std::net::SocketAddr;
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
async fn forward(client: tokio::net::TcpStream, seen: Seen) -> std::io::Result<()> {
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
