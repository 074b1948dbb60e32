//! The clients, as the database keeps them (SPEC §13): each client's latest mapping, read with
//! the command line's mapping checker, and the mapping an upload is checked and fired with.
//! Read on each request, so a saved mapping needs no restart.

use anyhow::{Context, Result};

use crate::db::clients::{ClientName, ClientVersion};
use crate::db::uploads::Upload;
use crate::db::Database;
use crate::out::template;
use crate::read::mapping::{parse_matching, with_matching, Mapping};
use crate::settings::StoredMapping;

pub struct Client {
    /// The client's name (its folder's): what the forms send and the URLs hold.
    pub name: String,
    /// The mapping's `client` key ("Example Ltd"): what people read.
    pub label: String,
    /// The latest version of its mapping.
    pub version: i64,
    /// The mapping, or why it cannot be used.
    pub mapping: Result<Mapping, String>,
}

impl Client {
    fn of(stored: ClientVersion) -> Client {
        let mapping = Mapping::parse(&stored.mapping).map_err(|e| format!("{e:#}"));
        Client { name: stored.name.to_string(), label: stored.label, version: stored.version, mapping }
    }

    /// What the client list shows: "Example Ltd (example)", or the name alone.
    pub fn shown(&self) -> String {
        if self.label.trim().is_empty() || self.label == self.name {
            self.name.clone()
        } else {
            format!("{} ({})", self.label, self.name)
        }
    }

    /// The headers the mapping reads, in its order: the template's header row, and the headers a
    /// file must have.
    pub fn headers(&self) -> Vec<String> {
        let Ok(mapping) = &self.mapping else { return Vec::new() };
        let mut headers: Vec<String> = mapping.columns.iter().map(|(_, header)| header.clone()).collect();
        headers.extend(mapping.custom.iter().map(|(_, header)| header.clone()));
        headers
    }

    /// The template CSV: the template's header row (SPEC §11.3), as the workbook has it.
    pub fn template_csv(&self) -> Vec<u8> {
        self.mapping.as_ref().map(template::csv).unwrap_or_default()
    }

    /// The template workbook (SPEC §11.3), or why it cannot be made.
    pub fn template_xlsx(&self) -> Result<Vec<u8>, String> {
        let mapping = self.mapping.as_ref().map_err(Clone::clone)?;
        template::workbook(mapping).map_err(|error| format!("cannot build the template workbook: {error}"))
    }
}

/// Every client, sorted by name.
pub async fn all(db: &Database) -> Result<Vec<Client>> {
    Ok(db.clients().await?.into_iter().map(Client::of).collect())
}

/// The client of this name, if the database has it.
pub async fn find(db: &Database, name: &str) -> Result<Option<Client>> {
    let Some(name) = ClientName::parse(name) else { return Ok(None) };
    Ok(db.client_version(&name, None).await?.map(Client::of))
}

/// The mapping an upload is checked or fired with: its client's mapping at `version` (else the
/// latest), with the upload's own column matching applied, checked like any mapping; and the
/// version it is.
pub async fn upload_mapping(db: &Database, upload: &Upload, version: Option<i64>) -> Result<(i64, StoredMapping)> {
    let name =
        ClientName::parse(&upload.client).with_context(|| format!("{:?} is not a client's name", upload.client))?;
    let stored = db
        .client_version(&name, version)
        .await?
        .with_context(|| format!("the client {name} is no longer in the database"))?;
    let (json, shown_as) = match &upload.column_matching {
        None => (stored.mapping.clone(), format!("client {name}, version {}", stored.version)),
        Some(matching) => {
            let matching: serde_json::Value =
                serde_json::from_str(matching).context("the upload's column matching is not JSON")?;
            let json = with_matching(&stored.mapping, &parse_matching(&matching)?)?;
            (json, format!("client {name}, version {}, with this upload's column matching", stored.version))
        }
    };
    let mapping = Mapping::parse(&json).with_context(|| format!("mapping {shown_as}"))?;
    Ok((stored.version, StoredMapping { mapping, shown_as }))
}
