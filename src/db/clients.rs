//! The clients and their mappings (SPEC §13): `replayer_client` keeps every version of every
//! client's mapping (the JSON as saved, who saved it, when). A version is never changed: each
//! save adds the next one. Also the two columns of `replayer_uploads` that say which mapping an
//! upload was checked with.

use std::fmt;

use anyhow::{bail, Result};
use sqlx::Row;

use super::{now_ms, Backend, Database};

/// A client's name: the folder's name, what the forms send and the URLs hold. Plain characters
/// only, never a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(name: &str) -> Option<ClientName> {
        let valid = !name.is_empty()
            && name.len() <= 100
            && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| ClientName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a client name that does not parse is told.
pub const CLIENT_NAME_RULE: &str =
    "a client's name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. example)";

/// One saved version of a client's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersion {
    pub name: ClientName,
    pub version: i64,
    /// The mapping's `client` key ("Example Ltd"), for people.
    pub label: String,
    /// The mapping JSON as it was saved.
    pub mapping: String,
    pub saved_by: String,
    pub saved_at_ms: i64,
}

pub(super) const CLIENT_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_client (
  name           VARCHAR(100) NOT NULL,
  version        BIGINT       NOT NULL,
  label          VARCHAR(255) NOT NULL,
  mapping        TEXT         NOT NULL,
  saved_by       VARCHAR(255) NOT NULL,
  saved_at       BIGINT       NOT NULL,
  PRIMARY KEY (name, version)
)";

/// The columns of `replayer_uploads` added for SPEC §13, for databases made before them.
const UPLOAD_COLUMNS_ADDED: [(&str, &str); 2] = [("mapping_version", "BIGINT NULL"), ("column_matching", "TEXT NULL")];

const VERSION_COLUMNS: &str = "name, version, label, mapping, saved_by, saved_at";

impl Database {
    /// Creates `replayer_client`, and adds the mapping columns to a `replayer_uploads` made
    /// before them (called by `ensure_web_tables`, after the uploads table exists).
    pub(super) async fn ensure_client_tables(&self) -> Result<()> {
        let engine = if self.backend() == Backend::MySql { " ENGINE=InnoDB" } else { "" };
        let probe = "SELECT 1 FROM replayer_client WHERE 1 = 0";
        if let Err(missing) = with_pool!(self, pool => sqlx::query(probe).execute(pool).await.map(|_| ())) {
            if !super::journal::is_missing_table(&missing) {
                return Err(self.fail("reading replayer_client", missing));
            }
            let ddl = format!("{CLIENT_DDL}{engine}");
            let created = with_pool!(self, pool => sqlx::query(&ddl).execute(pool).await.map(|_| ()));
            if let Err(e) = created {
                // Another server made it meanwhile.
                let again = with_pool!(self, pool => sqlx::query(probe).execute(pool).await.map(|_| ()));
                if again.is_err() {
                    bail!(
                        "cannot create the replayer_client table in {}: {}; give this user the CREATE privilege once, or ask the DBA to create it:\n{ddl};",
                        self.redacted_url(),
                        self.scrub(&e)
                    );
                }
            }
        }
        for (column, kind) in UPLOAD_COLUMNS_ADDED {
            let probe = format!("SELECT {column} FROM replayer_uploads WHERE 1 = 0");
            if with_pool!(self, pool => sqlx::query(&probe).execute(pool).await.map(|_| ())).is_ok() {
                continue;
            }
            let alter = format!("ALTER TABLE replayer_uploads ADD COLUMN {column} {kind}");
            let altered = with_pool!(self, pool => sqlx::query(&alter).execute(pool).await.map(|_| ()));
            if let Err(e) = altered {
                let again = with_pool!(self, pool => sqlx::query(&probe).execute(pool).await.map(|_| ()));
                if again.is_err() {
                    bail!(
                        "cannot add the column {column} to replayer_uploads in {}: {}; give this user the ALTER privilege once, or ask the DBA to run:\n{alter};",
                        self.redacted_url(),
                        self.scrub(&e)
                    );
                }
            }
        }
        Ok(())
    }

    /// The latest version of every client, by name.
    pub async fn clients(&self) -> Result<Vec<ClientVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM replayer_client c WHERE version = \
             (SELECT MAX(version) FROM replayer_client l WHERE l.name = c.name) ORDER BY name"
        );
        let found: Result<Vec<ClientVersion>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(version_from).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_client", e))
    }

    /// Every version of a client, the first first; empty when there is no such client.
    pub async fn client_history(&self, name: &ClientName) -> Result<Vec<ClientVersion>> {
        let sql = self
            .sql(&format!("SELECT {VERSION_COLUMNS} FROM replayer_client WHERE name = ? ORDER BY version"))
            .into_owned();
        let found: Result<Vec<ClientVersion>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(name.as_str()).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(version_from).collect(),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_client", e))
    }

    /// One version of a client, or its latest when `version` is `None`.
    pub async fn client_version(&self, name: &ClientName, version: Option<i64>) -> Result<Option<ClientVersion>> {
        let sql = match version {
            Some(_) => format!("SELECT {VERSION_COLUMNS} FROM replayer_client WHERE name = ? AND version = ?"),
            None => {
                format!("SELECT {VERSION_COLUMNS} FROM replayer_client WHERE name = ? ORDER BY version DESC LIMIT 1")
            }
        };
        let sql = self.sql(&sql).into_owned();
        let found: Result<Option<ClientVersion>, sqlx::Error> = with_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(name.as_str());
            if let Some(version) = version {
                query = query.bind(version);
            }
            match query.fetch_optional(pool).await {
                Ok(Some(row)) => version_from(&row).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_client", e))
    }

    /// Saves a mapping (already checked) as the client's next version, and returns its number.
    /// `only_if_new`: saved only when the client has no version yet (the import at start, which
    /// several servers may run at once); `None` when it already had one.
    pub async fn save_client_version(
        &self,
        name: &ClientName,
        label: &str,
        mapping: &str,
        saved_by: &str,
        only_if_new: bool,
    ) -> Result<Option<i64>> {
        let insert = self.sql(
            "INSERT INTO replayer_client (name, version, label, mapping, saved_by, saved_at) VALUES (?, ?, ?, ?, ?, ?)",
        );
        // Two saves at once both read the same latest version: the second insert is a duplicate
        // key, and it tries again with the next number.
        for _ in 0..5 {
            let latest = self.client_version(name, None).await?.map(|version| version.version);
            if only_if_new && latest.is_some() {
                return Ok(None);
            }
            let version = latest.unwrap_or(0) + 1;
            let inserted = with_pool!(self, pool => sqlx::query(&insert)
                .bind(name.as_str())
                .bind(version)
                .bind(label)
                .bind(mapping)
                .bind(saved_by)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()));
            match inserted {
                Ok(()) => return Ok(Some(version)),
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => continue,
                Err(e) => return Err(self.fail(&format!("saving the mapping of client {name}"), e)),
            }
        }
        bail!("the mapping of client {name} could not be saved: other saves kept taking its next version; try again")
    }

    /// Records the mapping version an upload's check uses.
    pub async fn set_upload_mapping_version(&self, id: &super::uploads::UploadId, version: i64) -> Result<()> {
        let sql = self.sql("UPDATE replayer_uploads SET mapping_version = ? WHERE id = ?");
        let done =
            with_pool!(self, pool => sqlx::query(&sql).bind(version).bind(id.as_str()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("recording an upload's mapping version", e))
    }

    /// Keeps a column matching with an upload (`None`: none, its client's mapping alone) and makes
    /// it `checking` again, unless it is being checked or fired, is deleted, or no longer staged
    /// (then false and nothing changes).
    pub async fn recheck_with_matching(&self, id: &super::uploads::UploadId, matching: Option<&str>) -> Result<bool> {
        let sql = self.sql(
            "UPDATE replayer_uploads SET column_matching = ?, state = 'checking', error = NULL \
             WHERE id = ? AND staged = 1 AND state NOT IN ('checking', 'firing', 'deleted')",
        );
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(matching).bind(id.as_str()).execute(pool).await.map(|done| done.rows_affected()));
        Ok(done.map_err(|e| self.fail("recording an upload's column matching", e))? == 1)
    }

    /// The mapping version an upload was checked with, and its column matching (JSON).
    pub async fn upload_mapping(&self, id: &super::uploads::UploadId) -> Result<(Option<i64>, Option<String>)> {
        let sql = self.sql("SELECT mapping_version, column_matching FROM replayer_uploads WHERE id = ?");
        let found: Result<(Option<i64>, Option<String>), sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.as_str()).fetch_optional(pool).await {
                Ok(Some(row)) => row.try_get(0).and_then(|version| Ok((version, row.try_get(1)?))),
                Ok(None) => Ok((None, None)),
                Err(e) => Err(e),
            }
        });
        found.map_err(|e| self.fail("reading replayer_uploads", e))
    }
}

fn version_from<R: Row>(row: &R) -> Result<ClientVersion, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let name: String = row.try_get(0)?;
    Ok(ClientVersion {
        name: ClientName::parse(&name)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad client name {name:?}").into()))?,
        version: row.try_get(1)?,
        label: row.try_get(2)?,
        mapping: row.try_get(3)?,
        saved_by: row.try_get(4)?,
        saved_at_ms: row.try_get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_parsed_once() {
        assert!(ClientName::parse("example").is_some() && ClientName::parse("c-a_b.1").is_some());
        for bad in ["", "../x", ".hidden", "a/b", "a b", &"a".repeat(101), "é"] {
            assert_eq!(ClientName::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn versions_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite:{}", dir.path().join("t.sqlite").display())).await.unwrap();
        db.ensure_web_tables().await.unwrap();
        db.ensure_client_tables().await.unwrap();
        let name = ClientName::parse("example").unwrap();
        assert_eq!(db.save_client_version(&name, "Ex", "{}", "import", true).await.unwrap(), Some(1));
        assert_eq!(db.save_client_version(&name, "Ex", "{}", "import", true).await.unwrap(), None);
        assert_eq!(db.save_client_version(&name, "Ex 2", "{\"a\":1}", "op", false).await.unwrap(), Some(2));
        assert_eq!(db.client_version(&name, None).await.unwrap().unwrap().label, "Ex 2");
        assert_eq!(db.client_version(&name, Some(1)).await.unwrap().unwrap().saved_by, "import");
        assert_eq!(db.client_history(&name).await.unwrap().len(), 2);
        assert_eq!(db.clients().await.unwrap().len(), 1);
    }
}
