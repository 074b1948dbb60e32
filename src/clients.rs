//! `replayer clients list|show|import|export` (SPEC §2, §13): the clients' mappings move between
//! folders and the database. Also what the main job's `--client` and the server share with them:
//! the import of client folders, and a stored mapping read back through the one mapping checker.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::commands::ClientsCommand;
use crate::db::clients::{ClientName, ClientVersion, CLIENT_NAME_RULE};
use crate::db::{default_sqlite_url, open_embedded, Database};
use crate::read::mapping::{changed_keys, Mapping};
use crate::settings::StoredMapping;

/// Who saved the versions an import adds.
pub const IMPORTED_BY: &str = "import";

/// A client folder: its name and its `mapping.json`.
#[derive(Debug, Clone)]
pub struct Folder {
    pub name: ClientName,
    pub mapping_path: PathBuf,
}

/// The client folders of `dir`: `dir` itself when it holds a `mapping.json` (one client, named
/// after the folder), else each subfolder with one, sorted by name. Folders whose name is not a
/// client name are left out.
pub fn folders(dir: &Path) -> Vec<Folder> {
    if dir.join("mapping.json").is_file() {
        let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let name = path.file_name().and_then(|name| name.to_str()).and_then(ClientName::parse);
        return name.map(|name| Folder { name, mapping_path: dir.join("mapping.json") }).into_iter().collect();
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut folders: Vec<Folder> = entries
        .flatten()
        .filter_map(|entry| {
            let name = ClientName::parse(entry.file_name().to_str()?)?;
            let mapping_path = entry.path().join("mapping.json");
            mapping_path.is_file().then_some(Folder { name, mapping_path })
        })
        .collect();
    folders.sort_by(|a, b| a.name.cmp(&b.name));
    folders
}

/// A folder's mapping: its text, checked.
pub fn read_folder(folder: &Folder) -> Result<(String, Mapping)> {
    let text = std::fs::read_to_string(&folder.mapping_path)
        .with_context(|| format!("cannot read {}", folder.mapping_path.display()))?;
    let mapping = Mapping::parse(&text).with_context(|| format!("mapping {}", folder.mapping_path.display()))?;
    Ok((text, mapping))
}

/// At the server's start: each folder whose client is not yet in the database is imported as
/// version 1. A folder whose mapping cannot be used is skipped with a warning in the log.
pub async fn import_new(db: &Database, dir: &Path) -> Result<()> {
    for folder in folders(dir) {
        match read_folder(&folder) {
            Ok((text, mapping)) => {
                if db.save_client_version(&folder.name, &mapping.client, &text, IMPORTED_BY, true).await?.is_some() {
                    tracing::info!(client = folder.name.as_str(), "imported the client's mapping.json as version 1");
                }
            }
            Err(error) => {
                if db.client_version(&folder.name, None).await?.is_none() {
                    tracing::warn!(client = folder.name.as_str(), error = %format!("{error:#}"), "client not imported");
                }
            }
        }
    }
    Ok(())
}

/// The stored mapping of a client, checked: the latest version, or `version`.
pub async fn stored_mapping(
    db: &Database,
    name: &ClientName,
    version: Option<i64>,
) -> Result<(ClientVersion, Mapping)> {
    let Some(stored) = db.client_version(name, version).await? else {
        match version {
            Some(version) => bail!("client {name} has no version {version} in {}; see replayer clients show {name}", db.redacted_url()),
            None => bail!(
                "there is no client {name} in {}; import its folder with replayer clients import clients/{name}, or see replayer clients list",
                db.redacted_url()
            ),
        }
    };
    let mapping = Mapping::parse(&stored.mapping)
        .with_context(|| format!("the mapping of client {name}, version {}, in the database", stored.version))?;
    Ok((stored, mapping))
}

/// `--client NAME`: the latest stored mapping, from `--database-url`, else the embedded SQLite
/// file when it exists.
pub async fn mapping_for_run(name: &str, database_url: Option<&str>, output_dir: &Path) -> Result<StoredMapping> {
    let Some(name) = ClientName::parse(name) else {
        bail!("--client {name:?} is not a client's name: {CLIENT_NAME_RULE}");
    };
    let database = match database_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => Database::connect(url).await?,
        None => match open_embedded(output_dir).await? {
            Some(database) => database,
            None => bail!(
                "--client {name} reads the mapping stored in a database, and there is none: give --database-url (or REPLAYER_DATABASE_URL), or import the client first with replayer clients import clients/{name} (which fills {})",
                output_dir.join("replayer.sqlite").display()
            ),
        },
    };
    let found = stored_mapping(&database, &name, None).await;
    database.close().await;
    let (stored, mapping) = found?;
    Ok(StoredMapping { mapping, shown_as: format!("client {name}, version {}", stored.version) })
}

/// Runs a `clients` subcommand against the given database, else the embedded SQLite file.
pub async fn run_clients(command: ClientsCommand, database_url: Option<&str>, output_dir: &Path) -> Result<()> {
    let url = match database_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => url.to_owned(),
        None => {
            std::fs::create_dir_all(output_dir).with_context(|| {
                format!("cannot create the output directory {}; choose another with --output-dir", output_dir.display())
            })?;
            default_sqlite_url(output_dir)
        }
    };
    let database = Database::connect(&url).await?;
    let result = async {
        database.ensure_web_tables().await?;
        run_on(&database, command).await
    }
    .await;
    database.close().await;
    let text = result?;
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(())
}

fn client_name(text: &str) -> Result<ClientName> {
    ClientName::parse(text).with_context(|| format!("{text:?} is not a client's name: {CLIENT_NAME_RULE}"))
}

async fn run_on(database: &Database, command: ClientsCommand) -> Result<String> {
    let where_ = database.redacted_url();
    Ok(match command {
        ClientsCommand::List => {
            let clients = database.clients().await?;
            if clients.is_empty() {
                return Ok(format!("no clients in {where_}; import them with: replayer clients import clients\n"));
            }
            let mut text = String::new();
            for client in &clients {
                text.push_str(&format!(
                    "{}  {:?}  version {}  saved by {} at {}\n",
                    client.name,
                    client.label,
                    client.version,
                    client.saved_by,
                    time(client.saved_at_ms)
                ));
            }
            text + &format!("{} client{} in {where_}\n", clients.len(), if clients.len() == 1 { "" } else { "s" })
        }
        ClientsCommand::Show { name } => {
            let name = client_name(&name)?;
            let (latest, _) = stored_mapping(database, &name, None).await?;
            let history = database.client_history(&name).await?;
            let mut text =
                format!("client {name}: {:?}, version {} of {where_}\nversions:\n", latest.label, latest.version);
            let mut previous: Option<&ClientVersion> = None;
            for version in &history {
                let changed = match previous {
                    None => "first version".to_owned(),
                    Some(before) => match changed_keys(&before.mapping, &version.mapping) {
                        keys if keys.is_empty() => "nothing changed".to_owned(),
                        keys => format!("changed {}", crate::field::capped_list(keys)),
                    },
                };
                text.push_str(&format!(
                    "  {}  saved by {} at {}: {changed}\n",
                    version.version,
                    version.saved_by,
                    time(version.saved_at_ms)
                ));
                previous = Some(version);
            }
            text.push_str("mapping:\n");
            text.push_str(latest.mapping.trim_end());
            text.push('\n');
            text
        }
        ClientsCommand::Import { dir } => import(database, &dir).await?,
        ClientsCommand::Export { name, output, version } => {
            let name = client_name(&name)?;
            let (stored, _) = stored_mapping(database, &name, version).await?;
            let mut json = stored.mapping.clone();
            if !json.ends_with('\n') {
                json.push('\n');
            }
            match output {
                None => json,
                Some(path) => {
                    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).with_context(|| {
                        format!("cannot create {}; it may exist already (it is never overwritten): choose another --output", path.display())
                    })?;
                    std::io::Write::write_all(&mut file, json.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    format!("wrote {}: the mapping of client {name}, version {}\n", path.display(), stored.version)
                }
            }
        }
    })
}

/// `clients import DIR`: every mapping checked before any is saved; a client not yet stored
/// gets version 1, a changed mapping a new version, an unchanged one nothing.
async fn import(database: &Database, dir: &Path) -> Result<String> {
    if !dir.is_dir() {
        bail!(
            "{}: no such folder; give a clients folder (e.g. clients) or one client's folder (e.g. clients/example)",
            dir.display()
        );
    }
    let found = folders(dir);
    if found.is_empty() {
        bail!(
            "{} holds no mapping.json, nor folders that hold one; give a clients folder (e.g. clients) or one client's folder",
            dir.display()
        );
    }
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for folder in found {
        match read_folder(&folder) {
            Ok((text, mapping)) => checked.push((folder, text, mapping)),
            Err(error) => wrong.push(format!("{error:#}")),
        }
    }
    if !wrong.is_empty() {
        bail!("nothing imported: {}; fix the mapping and import again", wrong.join("; "));
    }
    let mut text = String::new();
    for (folder, json, mapping) in checked {
        let name = &folder.name;
        let latest = database.client_version(name, None).await?;
        if latest.as_ref().is_some_and(|latest| changed_keys(&latest.mapping, &json).is_empty()) {
            text.push_str(&format!("{name}: unchanged (version {})\n", latest.map(|l| l.version).unwrap_or_default()));
            continue;
        }
        let version = database.save_client_version(name, &mapping.client, &json, IMPORTED_BY, false).await?;
        let version = version.unwrap_or_default();
        text.push_str(&format!("{name}: imported {} as version {version}\n", folder.mapping_path.display()));
    }
    Ok(text + &format!("into {}\n", database.redacted_url()))
}

/// A time for people, in UTC.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
