//! `replayer serve` (SPEC §10): the web front end. Pages rendered on the server, a little
//! JavaScript shipped inside the binary, and a JSON API beside them; the check runs the
//! command line's pipeline (`crate::run`) on the staged file.

pub mod authentication;
pub mod check;
pub mod clients;
pub mod fire;
pub mod lease;
pub mod log;
pub mod matching;
pub mod multipart;
pub mod pages;
pub mod recovery;
pub mod report;
pub mod review;
pub mod routes;
pub mod server;
pub mod staging;
pub mod startup;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::serve::{FiringArgs, ServeArgs};
use crate::db::default_sqlite_url;

/// What the server runs on, checked once.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub clients_dir: PathBuf,
    pub max_upload: u64,
    pub retention: Duration,
    pub secure_cookies: bool,
    /// Open connections at most (`--max-connections`).
    pub max_connections: usize,
    pub database_url: String,
    pub output_dir: PathBuf,
    pub request_url: String,
    /// The firing options of a run (§7), as the command line takes them.
    pub firing: FiringArgs,
}

impl ServeConfig {
    pub fn from_args(args: ServeArgs) -> Result<ServeConfig> {
        if !args.clients_dir.is_dir() {
            bail!(
                "--clients-dir {}: no such folder; give the folder that holds the client folders (each with a mapping.json)",
                args.clients_dir.display()
            );
        }
        std::fs::create_dir_all(&args.output_dir).with_context(|| {
            format!(
                "cannot create the output directory {}; choose another with --output-dir",
                args.output_dir.display()
            )
        })?;
        let url = url::Url::parse(args.request_url.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if url.is_none() {
            bail!("--request-url {:?} must be an http:// or https:// URL with a host", args.request_url);
        }
        let database_url = match args.database_url.filter(|url| !url.trim().is_empty()) {
            Some(url) => url,
            None => default_sqlite_url(&args.output_dir),
        };
        Ok(ServeConfig {
            listen: args.listen,
            clients_dir: args.clients_dir,
            max_upload: args.max_upload,
            retention: args.retention,
            secure_cookies: args.secure_cookies,
            max_connections: args.max_connections as usize,
            database_url,
            output_dir: args.output_dir,
            request_url: args.request_url.trim().to_owned(),
            firing: args.firing.checked()?,
        })
    }
}

/// `replayer serve`: runs until Ctrl-C or SIGTERM (what systemd and Docker send), which stop it
/// alike: fires interrupted and resumable, connections drained, exit 0.
pub fn serve(args: ServeArgs) -> Result<()> {
    log::init(args.log_format);
    let config = ServeConfig::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let application = startup::Application::build(config).await?;
        tracing::info!("replayer serve: listening on http://{}", application.address());
        let stop = stop_signal()?;
        application.run_until_stopped(stop).await
    })
}

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
fn stop_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "Ctrl-C",
        };
        tracing::info!(signal = name, "stop asked");
    })
}
