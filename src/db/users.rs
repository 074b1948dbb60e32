//! The users of `replayer serve` (SPEC §10): e-mail, role and Argon2id hash, their sessions and
//! their API tokens. Session ids and API tokens are stored only as SHA-256 hashes, so a copy of
//! the database signs nobody in.

use std::fmt;

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{now_ms, random_secret, Backend, Database};

/// An e-mail address as a sign-in name: trimmed, lower-cased, one `@` with text on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, String> {
        let email = text.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Email(email))
        } else {
            Err(format!("{:?} is not an e-mail address; give one like analyst@example.com", text.trim()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do: an analyst uploads, checks, downloads and deletes; an operator also fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Analyst,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Operator => "operator",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "analyst" => Some(Role::Analyst),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    pub fn can_fire(self) -> bool {
        self == Role::Operator
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: Email,
    pub role: Role,
}

/// A signed-in user and the CSRF token of the session's forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
}

/// SHA-256 hex of a secret: what the tables hold instead of the secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

const USERS_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_users (
  email         VARCHAR(255) NOT NULL PRIMARY KEY,
  role          VARCHAR(16)  NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at    BIGINT       NOT NULL
)";

const SESSIONS_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_sessions (
  id_hash       CHAR(64)     NOT NULL PRIMARY KEY,
  email         VARCHAR(255) NOT NULL,
  csrf          CHAR(64)     NOT NULL,
  created_at    BIGINT       NOT NULL,
  expires_at    BIGINT       NOT NULL
)";

const TOKENS_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_api_tokens (
  token_hash    CHAR(64)     NOT NULL PRIMARY KEY,
  email         VARCHAR(255) NOT NULL,
  created_at    BIGINT       NOT NULL
)";

/// Keys the servers on one database share (the sign-in token's HMAC key).
const KEYS_DDL: &str = "CREATE TABLE IF NOT EXISTS replayer_server_keys (
  name          VARCHAR(64)  NOT NULL PRIMARY KEY,
  secret        CHAR(64)     NOT NULL
)";

impl Database {
    /// Creates the tables of `replayer serve` when missing: users, sessions, tokens and uploads.
    pub async fn ensure_web_tables(&self) -> Result<()> {
        let engine = if self.backend() == Backend::MySql { " ENGINE=InnoDB" } else { "" };
        let tables = [
            ("replayer_users", USERS_DDL.to_owned()),
            ("replayer_sessions", SESSIONS_DDL.to_owned()),
            ("replayer_api_tokens", TOKENS_DDL.to_owned()),
            ("replayer_uploads", super::uploads::UPLOADS_DDL.to_owned()),
            ("replayer_upload_chunks", super::uploads::chunks_ddl(self.backend())),
            ("replayer_server_keys", KEYS_DDL.to_owned()),
            ("replayer_upload_edits", super::review::edits_ddl(self.backend())),
            ("replayer_upload_rows", super::review::rows_ddl(self.backend())),
            ("replayer_upload_review", super::review::review_ddl(self.backend())),
        ];
        for (table, ddl) in tables {
            let probe = format!("SELECT 1 FROM {table} WHERE 1 = 0");
            let exists = with_pool!(self, pool => sqlx::query(&probe).execute(pool).await.map(|_| ()));
            let Err(missing) = exists else { continue };
            if !super::journal::is_missing_table(&missing) {
                return Err(self.fail(&format!("reading {table}"), missing));
            }
            let ddl = format!("{ddl}{engine}");
            let created = with_pool!(self, pool => sqlx::query(&ddl).execute(pool).await.map(|_| ()));
            if let Err(e) = created {
                bail!(
                    "cannot create the {table} table in {}: {}; give this user the CREATE privilege once, or ask the DBA to create it:\n{ddl};",
                    self.redacted_url(),
                    self.scrub(&e)
                );
            }
        }
        // The clients' mappings (SPEC §13), and the uploads' columns that name theirs.
        self.ensure_client_tables().await?;
        Ok(())
    }

    /// The key of this name that every server on the database shares, made on first use.
    pub async fn server_key(&self, name: &str) -> Result<String> {
        let select = self.sql("SELECT secret FROM replayer_server_keys WHERE name = ?");
        let insert = self.sql("INSERT INTO replayer_server_keys (name, secret) VALUES (?, ?)");
        for _ in 0..2 {
            let found: Result<Option<String>, sqlx::Error> = with_pool!(self, pool => {
                match sqlx::query(&select).bind(name).fetch_optional(pool).await {
                    Ok(Some(row)) => row.try_get(0).map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            });
            if let Some(secret) = found.map_err(|e| self.fail("reading replayer_server_keys", e))? {
                return Ok(secret);
            }
            let inserted = with_pool!(self, pool => sqlx::query(&insert).bind(name).bind(random_secret()).execute(pool).await.map(|_| ()));
            match inserted {
                Ok(()) => {}
                // Another server made it first: read theirs.
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {}
                Err(e) => return Err(self.fail("saving a key in replayer_server_keys", e)),
            }
        }
        bail!("the key {name:?} of replayer_server_keys in {} could not be read back", self.redacted_url())
    }

    /// Adds a user, or changes the role and password of an existing one; true when added. A
    /// changed password ends every session of the user (SPEC §14).
    pub async fn save_user(&self, email: &Email, role: Role, password_hash: &str) -> Result<bool> {
        let exists = self.user_password_hash(email).await?.is_some();
        let result = if exists {
            self.set_password(email, Some(role), password_hash).await?;
            Ok(())
        } else {
            let sql =
                self.sql("INSERT INTO replayer_users (email, role, password_hash, created_at) VALUES (?, ?, ?, ?)");
            with_pool!(self, pool => sqlx::query(&sql).bind(email.as_str()).bind(role.as_str()).bind(password_hash).bind(now_ms()).execute(pool).await.map(|_| ()))
        };
        result.map_err(|e| self.fail(&format!("saving the user {email}"), e))?;
        Ok(!exists)
    }

    /// A new password (and role, when given) for an existing user, whose sessions all end;
    /// false when there is no such user. One transaction: no session outlives the old password.
    pub async fn set_password(&self, email: &Email, role: Option<Role>, password_hash: &str) -> Result<bool> {
        let update = self.sql("UPDATE replayer_users SET role = COALESCE(?, role), password_hash = ? WHERE email = ?");
        let end_sessions = self.sql("DELETE FROM replayer_sessions WHERE email = ?");
        let done: Result<u64, sqlx::Error> = with_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let changed = sqlx::query(&update)
                .bind(role.map(Role::as_str))
                .bind(password_hash)
                .bind(email.as_str())
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            sqlx::query(&end_sessions).bind(email.as_str()).execute(&mut *transaction).await?;
            transaction.commit().await?;
            Ok(changed)
        }
        .await);
        Ok(done.map_err(|e| self.fail(&format!("changing the password of {email}"), e))? > 0)
    }

    /// The user and their Argon2id hash, for a sign-in.
    pub async fn user_password_hash(&self, email: &Email) -> Result<Option<(User, String)>> {
        let sql = self.sql("SELECT role, password_hash FROM replayer_users WHERE email = ?");
        let found: Result<Option<(String, String)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(email.as_str()).fetch_optional(pool).await {
                Ok(Some(row)) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = found.map_err(|e| self.fail("reading replayer_users", e))?;
        Ok(found.and_then(|(role, hash)| Some((User { email: email.clone(), role: Role::parse(&role)? }, hash))))
    }

    /// Every user, by e-mail.
    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = "SELECT email, role FROM replayer_users ORDER BY email";
        let rows: Result<Vec<(String, String)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(sql).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect(),
                Err(e) => Err(e),
            }
        });
        let rows = rows.map_err(|e| self.fail("reading replayer_users", e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(email, role)| Some(User { email: Email::parse(&email).ok()?, role: Role::parse(&role)? }))
            .collect())
    }

    /// Removes a user with their sessions and API token; false when there was no such user.
    pub async fn remove_user(&self, email: &Email) -> Result<bool> {
        let mut removed = false;
        for table in ["replayer_sessions", "replayer_api_tokens", "replayer_users"] {
            let sql = self.sql(&format!("DELETE FROM {table} WHERE email = ?")).into_owned();
            let done = with_pool!(self, pool => sqlx::query(&sql).bind(email.as_str()).execute(pool).await.map(|r| r.rows_affected()));
            let rows = done.map_err(|e| self.fail(&format!("removing the user {email}"), e))?;
            removed = table == "replayer_users" && rows > 0;
        }
        Ok(removed)
    }

    /// Starts a session; returns its id (for the cookie) and its CSRF token.
    pub async fn create_session(&self, email: &Email, lifetime_ms: i64) -> Result<(String, String)> {
        let (id, csrf) = (random_secret(), random_secret());
        let now = now_ms();
        let sql = self
            .sql("INSERT INTO replayer_sessions (id_hash, email, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(secret_hash(&id)).bind(email.as_str()).bind(&csrf).bind(now).bind(now + lifetime_ms).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("saving a session", e))?;
        Ok((id, csrf))
    }

    /// The live session with this id, with its user.
    pub async fn session(&self, id: &str) -> Result<Option<Session>> {
        let sql = self.sql(
            "SELECT u.email, u.role, s.csrf FROM replayer_sessions s JOIN replayer_users u ON u.email = s.email \
             WHERE s.id_hash = ? AND s.expires_at > ?",
        );
        let found: Result<Option<(String, String, String)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(secret_hash(id)).bind(now_ms()).fetch_optional(pool).await {
                Ok(Some(row)) => Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = found.map_err(|e| self.fail("reading replayer_sessions", e))?;
        Ok(found.and_then(|(email, role, csrf)| {
            Some(Session { user: User { email: Email::parse(&email).ok()?, role: Role::parse(&role)? }, csrf })
        }))
    }

    pub async fn end_session(&self, id: &str) -> Result<()> {
        let sql = self.sql("DELETE FROM replayer_sessions WHERE id_hash = ? OR expires_at < ?");
        let done = with_pool!(self, pool => sqlx::query(&sql).bind(secret_hash(id)).bind(now_ms()).execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("ending a session", e))
    }

    /// A new API token for the user, replacing any earlier one; only its hash is kept.
    pub async fn new_api_token(&self, email: &Email) -> Result<String> {
        let token = random_secret();
        let delete = self.sql("DELETE FROM replayer_api_tokens WHERE email = ?");
        let insert = self.sql("INSERT INTO replayer_api_tokens (token_hash, email, created_at) VALUES (?, ?, ?)");
        let done = with_pool!(self, pool => {
            match sqlx::query(&delete).bind(email.as_str()).execute(pool).await {
                Ok(_) => sqlx::query(&insert).bind(secret_hash(&token)).bind(email.as_str()).bind(now_ms()).execute(pool).await.map(|_| ()),
                Err(e) => Err(e),
            }
        });
        done.map_err(|e| self.fail(&format!("saving an API token for {email}"), e))?;
        Ok(token)
    }

    /// The user an API token belongs to.
    pub async fn api_token_user(&self, token: &str) -> Result<Option<User>> {
        let sql = self.sql(
            "SELECT u.email, u.role FROM replayer_api_tokens t JOIN replayer_users u ON u.email = t.email WHERE t.token_hash = ?",
        );
        let found: Result<Option<(String, String)>, sqlx::Error> = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(secret_hash(token)).fetch_optional(pool).await {
                Ok(Some(row)) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = found.map_err(|e| self.fail("reading replayer_api_tokens", e))?;
        Ok(found.and_then(|(email, role)| Some(User { email: Email::parse(&email).ok()?, role: Role::parse(&role)? })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_parsed_once() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "@example.com", "ann@", "ann@localhost", "a b@example.com", "a@b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles() {
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Operator.can_fire() && !Role::Analyst.can_fire());
    }
}
