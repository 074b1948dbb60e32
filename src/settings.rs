//! What the program runs on: the command line and the mapping, checked once, in one place.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::cli::{check_name, Delimiter, RunArgs};
use crate::out::terminal::ColorChoice;
use crate::read::mapping::Mapping;
use crate::read::Encoding;

#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub load_file: PathBuf,
    /// The file to read when it is already open (the server's staged file, which has no name
    /// on disk); `load_file` is then only the name its messages show.
    pub opened_file: Option<Arc<File>>,
    pub mapping_path: PathBuf,
    pub mapping: Mapping,
    pub request_url: String,
    pub dump_data: bool,
    pub fire_tag: bool,
    pub yes: bool,
    pub output_dir: PathBuf,
    pub database_url: Option<String>,
    pub concurrency: usize,
    /// Requests a second; `None` for no limit.
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub limit: Option<u64>,
    pub refire: bool,
    pub encoding: Encoding,
    pub delimiter: Option<u8>,
    /// `--sheet`, else the mapping's `sheet`: the workbook's sheet to read.
    pub sheet: Option<String>,
    pub quiet: bool,
    /// `--ca-cert`: CA certificates to trust for an `https:` DCS, besides the system's store.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// Write every problem as JSON lines beside the dumps (the server's pages read them).
    pub problems_dump: bool,
    /// `--color`.
    pub color: ColorChoice,
    /// `--proxy`, else the environment's proxy variables: which proxy each request goes through.
    pub proxies: std::sync::Arc<crate::proxy::Proxies>,
    /// The page's edits (SPEC §12), laid over the file wherever it is read.
    pub edits: Option<Arc<crate::read::Edits>>,
    /// Where a check keeps the cells of its rows with problems (the server's page edits them).
    pub problem_rows: Option<Arc<ProblemRows>>,
}

/// The cells of the rows with problems, as a check found them: (row, the cells as a JSON
/// array), at most `ProblemRows::MAX` rows.
#[derive(Debug, Default)]
pub struct ProblemRows {
    pub rows: std::sync::Mutex<Vec<(u64, String)>>,
    /// The file's header row, and whether its messages name cells as Excel does.
    pub headers: std::sync::Mutex<Vec<String>>,
    pub names_cells: std::sync::atomic::AtomicBool,
}

impl ProblemRows {
    /// Rows kept at most: past these, the page reads a row from the file when it is edited.
    pub const MAX: usize = 250_000;
}

/// A mapping stored in the database (SPEC §13), and how messages name it
/// (`client example, version 3`).
#[derive(Debug, Clone)]
pub struct StoredMapping {
    pub mapping: Mapping,
    pub shown_as: String,
}

impl Settings {
    pub fn from_args(args: RunArgs) -> Result<Settings> {
        Settings::from_args_reading(args, None)
    }

    /// As `from_args`, reading `opened` (already open, e.g. an anonymous temporary file) in place
    /// of the file `--load-file` names: that name is then only shown.
    pub fn from_args_reading(args: RunArgs, opened: Option<File>) -> Result<Settings> {
        Settings::from_args_with(args, opened, None)
    }

    /// As `from_args_reading`, with the mapping already read from the database (`--client`, and
    /// the server's uploads, SPEC §13) instead of a file.
    pub fn from_args_with(args: RunArgs, opened: Option<File>, stored: Option<StoredMapping>) -> Result<Settings> {
        if args.client.is_some() && stored.is_none() {
            bail!(
                "--client reads the client's mapping from the database, which could not be read; give --database-url"
            );
        }
        let (Some(name), Some(load_file)) = (args.name, args.load_file) else {
            bail!("--name and --load-file are required; see replayer --help");
        };
        check_name(&name).map_err(anyhow::Error::msg)?;
        let request_url = check_request_url(&args.request_url)?;
        let mapping_path = match (&stored, args.mapping) {
            (Some(stored), _) => PathBuf::from(&stored.shown_as),
            (None, Some(path)) => path,
            (None, None) => {
                load_file.parent().map(|folder| folder.join("mapping.json")).unwrap_or_else(|| "mapping.json".into())
            }
        };
        if opened.is_none() && !load_file.is_file() {
            bail!("--load-file {}: no such file; check the path", load_file.display());
        }
        let mapping = match stored {
            Some(stored) => stored.mapping,
            None => Mapping::load(&mapping_path)?,
        };
        let ca_certs = match &args.ca_cert {
            Some(path) => load_ca_certs(path)?,
            None => Vec::new(),
        };
        let sheet = args.sheet.or_else(|| mapping.sheet.clone());
        Ok(Settings {
            name,
            load_file,
            opened_file: opened.map(Arc::new),
            mapping_path,
            mapping,
            request_url,
            dump_data: args.dump_data,
            fire_tag: args.fire_tag,
            yes: args.yes,
            output_dir: args.output_dir,
            database_url: args.database_url.filter(|url| !url.trim().is_empty()),
            concurrency: args.concurrency as usize,
            rate: (args.rate > 0.0).then_some(args.rate),
            timeout: Duration::from_secs_f64(args.timeout),
            max_retries: args.max_retries,
            limit: args.limit,
            refire: args.refire,
            encoding: args.encoding,
            delimiter: match args.delimiter {
                Delimiter::Auto => None,
                Delimiter::Byte(byte) => Some(byte),
            },
            sheet,
            quiet: args.quiet,
            ca_certs,
            problems_dump: false,
            color: args.color,
            proxies: std::sync::Arc::new(crate::proxy::Proxies::new(args.proxy.as_deref())?),
            edits: None,
            problem_rows: None,
        })
    }
}

fn check_request_url(text: &str) -> Result<String> {
    let url = url::Url::parse(text.trim()).map_err(|error| {
        anyhow::anyhow!("--request-url {text:?} is not a URL ({error}); give one like http://127.0.0.1:8080/tag")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("--request-url {text:?} must be an http:// or https:// URL with a host, like http://127.0.0.1:8080/tag");
    }
    if url.fragment().is_some() {
        bail!("--request-url {text:?} has a #fragment, which would swallow the tag's query; remove it");
    }
    if text.trim().parse::<hyper::Uri>().is_err() {
        bail!("--request-url {text:?} has characters an HTTP request line cannot carry; write the host in ASCII (punycode) and percent-encode the path");
    }
    Ok(text.trim().to_owned())
}

/// The certificates of a PEM file given with `--ca-cert`, checked as trust roots before any work.
fn load_ca_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|error| anyhow!("cannot read --ca-cert {shown}: {error}; check the path"))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| anyhow!("--ca-cert {shown} is not a valid PEM file ({error}); give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)"))?;
    if certificates.is_empty() {
        bail!("--ca-cert {shown} holds no certificate; give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)");
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in &certificates {
        roots
            .add(certificate.clone())
            .map_err(|error| anyhow!("--ca-cert {shown}: a certificate cannot be used as a CA ({error})"))?;
    }
    Ok(certificates)
}
