//! The attrib database (SPEC §8) through sqlx: `attrib_account`, the `replayer_journal` and the
//! `replayer_lock`. One code path for `sqlite:`, `mysql:` and `postgres:` URLs: runtime queries,
//! portable column types, times as integer unix milliseconds. Every message that shows the URL
//! shows it redacted, and sqlx's own error text is scrubbed of the password.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};

/// Runs `$body` with `$pool` bound to the concrete pool, so sqlx's typed API is written once and
/// compiled for each backend.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::MySql($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}

pub mod clients;
pub mod fires;
mod journal;
mod lock;
pub mod review;
pub mod uploads;
pub mod users;

pub use journal::{JournalEntry, JournalState};
pub use lock::{Lock, RunInfo, HEARTBEAT_EVERY, STALE_AFTER};

/// How long connecting may take before the run stops with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query may wait for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The DDL of SPEC §8, for the error that asks a DBA to create the table.
const ACCOUNTS_DDL_MYSQL: &str = "CREATE TABLE attrib_account (
  id            INTEGER PRIMARY KEY AUTO_INCREMENT,
  account_token VARCHAR(64)  NOT NULL UNIQUE,
  connection    VARCHAR(255) NOT NULL DEFAULT '',
  label         VARCHAR(255) NOT NULL DEFAULT ''
);";

const ACCOUNTS_DDL_POSTGRES: &str = "CREATE TABLE attrib_account (
  id            SERIAL PRIMARY KEY,
  account_token VARCHAR(64)  NOT NULL UNIQUE,
  connection    VARCHAR(255) NOT NULL DEFAULT '',
  label         VARCHAR(255) NOT NULL DEFAULT ''
);";

const ACCOUNTS_DDL_SQLITE: &str = "CREATE TABLE IF NOT EXISTS attrib_account (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  account_token VARCHAR(64)  NOT NULL UNIQUE,
  connection    VARCHAR(255) NOT NULL DEFAULT '',
  label         VARCHAR(255) NOT NULL DEFAULT ''
)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
    Postgres(PgPool),
}

/// A connection pool to the attrib database; cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    redacted_url: Arc<str>,
    /// The password as typed and percent-decoded, scrubbed from every error text.
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &self.redacted_url).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub token: String,
    pub connection: String,
    pub label: String,
}

/// What `add_account` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    Added,
    Updated { previous: Account },
    Unchanged,
}

impl Database {
    /// Connects (creating the SQLite file when missing). An unreachable server or a bad URL is an
    /// error naming the redacted URL and what to do; it never holds the password.
    pub async fn connect(url: &str) -> Result<Database> {
        let redacted_url: Arc<str> = redact_url(url).into();
        let secrets: Arc<[String]> = url_secrets(url).into();
        let url = url.trim();
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let pool = match scheme.as_str() {
            "sqlite" => Pool::Sqlite(open_sqlite(url, &redacted_url, &secrets).await?),
            "mysql" => {
                let options: MySqlConnectOptions = parse_url(url, &redacted_url, &secrets, "mysql://user:password@host:3306/database")?;
                probe(&options, &redacted_url, &secrets).await?;
                Pool::MySql(MySqlPoolOptions::new().max_connections(8).acquire_timeout(ACQUIRE_TIMEOUT).connect_lazy_with(options))
            }
            "postgres" | "postgresql" => {
                let options: PgConnectOptions = parse_url(url, &redacted_url, &secrets, "postgres://user:password@host:5432/database")?;
                probe(&options, &redacted_url, &secrets).await?;
                Pool::Postgres(PgPoolOptions::new().max_connections(8).acquire_timeout(ACQUIRE_TIMEOUT).connect_lazy_with(options))
            }
            _ => bail!(
                "the database URL {redacted_url} names no database this tool knows; it must start with sqlite:, mysql: or postgres: (e.g. sqlite:output/replayer.sqlite)"
            ),
        };
        Ok(Database { pool, redacted_url, secrets })
    }

    pub fn redacted_url(&self) -> String {
        self.redacted_url.to_string()
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::MySql(_) => Backend::MySql,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend() == Backend::Sqlite
    }

    /// Whether the database answers (`GET /healthz`).
    pub async fn ping(&self) -> Result<()> {
        let done = with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()));
        done.map_err(|e| self.fail("asking the database whether it answers", e))
    }

    /// Closes the pool: SQLite checkpoints its WAL file back into the database.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Creates `attrib_account` on SQLite. On MySQL and PostgreSQL the table belongs to the
    /// platform: its absence is an error that gives the DBA the `CREATE TABLE`.
    pub async fn ensure_accounts_table(&self) -> Result<()> {
        let result = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(ACCOUNTS_DDL_SQLITE).execute(pool).await.map(|_| ()),
            Pool::MySql(pool) => sqlx::query("SELECT account_token, connection, label FROM attrib_account WHERE 1 = 0")
                .execute(pool)
                .await
                .map(|_| ()),
            Pool::Postgres(pool) => {
                sqlx::query("SELECT account_token, connection, label FROM attrib_account WHERE 1 = 0")
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
        };
        let Err(error) = result else { return Ok(()) };
        let ddl = if self.backend() == Backend::Postgres { ACCOUNTS_DDL_POSTGRES } else { ACCOUNTS_DDL_MYSQL };
        let code = error.as_database_error().and_then(|e| e.code()).unwrap_or_default();
        // MySQL 1146 / PostgreSQL 42P01: no such table; 1054 / 42703: no such column.
        match code.as_ref() {
            "42S02" | "1146" | "42P01" => bail!(
                "the database {} has no attrib_account table; this tool creates it only on SQLite. Ask the DBA to create it:\n{ddl}",
                self.redacted_url
            ),
            "42S22" | "1054" | "42703" => bail!(
                "the attrib_account table in {} lacks a column this tool needs ({}); it needs account_token, connection and label, as in:\n{ddl}",
                self.redacted_url,
                self.scrub(&error)
            ),
            _ => Err(self.fail("reading attrib_account", error)),
        }
    }

    /// Adds an account, or updates the connection and label of an existing token.
    pub async fn add_account(&self, token: &str, connection: &str, label: &str) -> Result<AccountChange> {
        if !crate::field::is_token(token) {
            bail!("{token:?} is not an account token: use 8 to 64 letters, digits, '_' or '-'");
        }
        if connection.trim().is_empty() {
            bail!(
                "the connection for account {token} is empty; the DCS accepts tags only for accounts with a connection: give --connection"
            );
        }
        for (what, value) in [("connection", connection), ("label", label)] {
            if value.chars().count() > 255 {
                bail!("the {what} for account {token} is longer than 255 characters");
            }
        }
        let previous = self.account(token).await?;
        let new = Account { token: token.to_owned(), connection: connection.to_owned(), label: label.to_owned() };
        let result = match &previous {
            Some(previous) if *previous == new => return Ok(AccountChange::Unchanged),
            Some(_) => {
                let sql = self.sql("UPDATE attrib_account SET connection = ?, label = ? WHERE account_token = ?");
                with_pool!(self, pool => sqlx::query(&sql).bind(connection).bind(label).bind(token).execute(pool).await.map(|_| ()))
            }
            None => {
                let sql = self.sql("INSERT INTO attrib_account (account_token, connection, label) VALUES (?, ?, ?)");
                with_pool!(self, pool => sqlx::query(&sql).bind(token).bind(connection).bind(label).execute(pool).await.map(|_| ()))
            }
        };
        result.map_err(|e| self.fail(&format!("saving account {token} in attrib_account"), e))?;
        Ok(match previous {
            Some(previous) => AccountChange::Updated { previous },
            None => AccountChange::Added,
        })
    }

    /// One account by its exact token.
    pub async fn account(&self, token: &str) -> Result<Option<Account>> {
        let sql = self.sql("SELECT account_token, connection, label FROM attrib_account WHERE account_token = ?");
        let rows: Result<Vec<Account>, sqlx::Error> = with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(token).fetch_all(pool).await;
            rows.and_then(|rows| rows.iter().map(account_from).collect())
        });
        let rows = rows.map_err(|e| self.fail("reading attrib_account", e))?;
        // MySQL compares case-insensitively; a token is exact.
        Ok(rows.into_iter().find(|account| account.token == token))
    }

    /// The accounts of the embedded SQLite file, when it has an `attrib_account` with rows (SPEC
    /// §8: only then are the tokens checked against it). Reads only: no table is created.
    pub async fn embedded_accounts(&self) -> Result<Option<Vec<Account>>> {
        let Pool::Sqlite(pool) = &self.pool else { return Ok(None) };
        let sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'attrib_account'";
        let tables: i64 =
            sqlx::query_scalar(sql).fetch_one(pool).await.map_err(|e| self.fail("reading attrib_account", e))?;
        if tables == 0 {
            return Ok(None);
        }
        let accounts = self.accounts().await?;
        Ok((!accounts.is_empty()).then_some(accounts))
    }

    /// Every account, ordered by token (byte order, the same on every backend).
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let sql = "SELECT account_token, connection, label FROM attrib_account";
        let rows: Result<Vec<Account>, sqlx::Error> = with_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await;
            rows.and_then(|rows| rows.iter().map(account_from).collect())
        });
        let mut accounts = rows.map_err(|e| self.fail("reading attrib_account", e))?;
        accounts.sort_by(|a, b| a.token.cmp(&b.token));
        Ok(accounts)
    }

    /// `?` placeholders as this backend wants them: PostgreSQL numbers them.
    pub(crate) fn sql<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.backend() != Backend::Postgres {
            return Cow::Borrowed(text);
        }
        let mut numbered = String::with_capacity(text.len() + text.len() / 2);
        let mut n = 0;
        for c in text.chars() {
            if c == '?' {
                n += 1;
                let _ = write!(numbered, "${n}");
            } else {
                numbered.push(c);
            }
        }
        Cow::Owned(numbered)
    }

    /// An error for a failed query: what was being done, where, and sqlx's text without secrets.
    pub(crate) fn fail(&self, doing: &str, error: sqlx::Error) -> anyhow::Error {
        let hint = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                "; check that the database server is up and reachable"
            }
            sqlx::Error::Database(e) if e.message().contains("locked") || e.message().contains("busy") => {
                "; another process holds the SQLite file locked, wait for it or stop it"
            }
            _ => "",
        };
        anyhow!("{doing} in the database {} failed: {}{hint}", self.redacted_url, self.scrub(&error))
    }

    fn scrub(&self, error: &dyn std::fmt::Display) -> String {
        scrub_secrets(&error.to_string(), &self.secrets)
    }
}

fn account_from<R: Row>(row: &R) -> Result<Account, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(Account {
        token: row.try_get(0)?,
        // The platform's table may hold NULLs where SPEC §8 says NOT NULL DEFAULT ''.
        connection: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        label: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
    })
}

/// Opens (creating when missing) a SQLite file in WAL mode with a busy timeout.
async fn open_sqlite(url: &str, redacted_url: &str, secrets: &[String]) -> Result<SqlitePool> {
    let options: SqliteConnectOptions = parse_url(url, redacted_url, secrets, "sqlite:path/to/file.sqlite")?;
    let options = options
        .create_if_missing(true)
        // Small pages for a new file: the journal's index is keyed by random rids, so each row
        // folded in touches its own page, and the WAL gets the whole page.
        .page_size(1024)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before mark_sent returns, even across a power cut.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        // The journal's batches are large: keep their pages in memory and checkpoint the WAL
        // less often. Folding the log sorts in temporary files, so memory stays flat.
        .pragma("cache_size", "-16384")
        .pragma("wal_autocheckpoint", "4000");
    if !url.contains("mode=memory") {
        create_private(options.get_filename());
    }
    // One connection: SQLite has one writer anyway, and separate connections would fight over the
    // write lock and throw away each other's page cache.
    let connecting = SqlitePoolOptions::new().max_connections(1).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(pool)) => Ok(pool),
        Ok(Err(e)) => bail!(
            "cannot open the SQLite database {redacted_url}: {}; check that its folder exists and is writable",
            scrub_secrets(&e.to_string(), secrets)
        ),
        Err(_) => bail!(
            "opening the SQLite database {redacted_url} took more than {} s; is another program holding it locked?",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

fn parse_url<O: FromStr<Err = sqlx::Error>>(
    url: &str,
    redacted_url: &str,
    secrets: &[String],
    example: &str,
) -> Result<O> {
    O::from_str(url).map_err(|e| {
        anyhow!(
            "the database URL {redacted_url} is not one sqlx understands: {}; write it as {example}",
            scrub_secrets(&e.to_string(), secrets)
        )
    })
}

/// One direct connection before the pool exists, so an unreachable server fails at once
/// (the pool would retry a refused connection until its timeout) and with a scrubbed message.
async fn probe<O: ConnectOptions>(options: &O, redacted_url: &str, secrets: &[String]) -> Result<()>
where
    O::Connection: Sized,
{
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => {
            let hint = match &error {
                sqlx::Error::Database(_) => "check the user, password and database name in the URL",
                _ => "check that the server is running and that the host and port in the URL are right",
            };
            bail!("cannot connect to the database {redacted_url}: {}; {hint}", scrub_secrets(&error.to_string(), secrets))
        }
        Err(_) => bail!(
            "cannot connect to the database {redacted_url}: no answer within {} s; check that the server is running and reachable from here",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

/// Where the user info of a URL starts: after `scheme:` and, when present, `//`. Both
/// `mysql://user:pw@host` and `mysql:user:pw@host` carry a password there.
fn user_info_start(url: &str) -> Option<usize> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    let rest = colon + 1;
    Some(if url[rest..].starts_with("//") { rest + 2 } else { rest })
}

/// The password of the user info, as the range it takes in `url`.
fn user_info_password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = user_info_start(url)?;
    // The user info ends at the last '@': a password may hold '@', '/' or '?' unencoded.
    let at = start + url[start..].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some(colon + 1..at)
}

/// The URL with its password, and any query parameter that holds one, replaced by `****`:
/// `scheme://user:pw@…`, `scheme:user:pw@…`, `?password=…`, `?sslpassword=…`, and a parameter
/// whose value sets one (PostgreSQL's `options=-c password=…`). Works on text that is not a
/// valid URL too, erring towards hiding more.
pub fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(password) = user_info_password(&redacted) {
        redacted.replace_range(password, "****");
    }
    redact_query_password(&redacted)
}

/// The DCS URL as the pages, the pre-flight and the summary show it (SPEC §14): its password and
/// any query parameter that holds a password or a key (`key`, `api_key`, `token`, `secret`,
/// `sig`, `auth`…) replaced by `****`. The requests themselves are sent with the real URL.
pub fn redact_request_url(url: &str) -> String {
    let redacted = redact_url(url);
    let Some(query_start) = redacted.find('?') else { return redacted };
    let (head, query) = redacted.split_at(query_start + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((key, _)) if is_key_name(key) => format!("{key}=****"),
            _ => part.to_owned(),
        })
        .collect();
    format!("{head}{}", parts.join("&"))
}

fn is_key_name(key: &str) -> bool {
    let key = decode(key).to_ascii_lowercase();
    ["key", "token", "secret", "sig", "auth", "pass", "pwd", "credential"].iter().any(|word| key.contains(word))
}

fn redact_query_password(url: &str) -> String {
    let Some(query_start) = url.find('?') else { return url.to_owned() };
    let (head, query) = url.split_at(query_start + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((key, value)) if is_password_key(key) || sets_password(value) => format!("{key}=****"),
            _ => part.to_owned(),
        })
        .collect();
    format!("{head}{}", parts.join("&"))
}

fn is_password_key(key: &str) -> bool {
    let key = decode(key).to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key == "pass" || key == "pwd" || key == "passwd"
}

/// A parameter value that sets a password inside it, such as `-c password=x`.
fn sets_password(value: &str) -> bool {
    let value = decode(value).to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret"].iter().any(|word| value.contains(word))
}

/// Percent-decoded, `+` as a space; the text itself when it does not decode.
fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().map_or(spaced.clone(), Cow::into_owned)
}

/// The password(s) in a URL as written and as percent-decoded: the strings no message may hold.
fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(password) = user_info_password(url) {
        secrets.push(url[password].to_owned());
    }
    if let Some((_, query)) = url.split_once('?') {
        for part in query.split('&') {
            let Some((key, value)) = part.split_once('=') else { continue };
            if is_password_key(key) {
                secrets.push(value.to_owned());
            } else if sets_password(value) {
                secrets.push(value.to_owned());
                // And the password alone, as a server's message may quote it: what follows `=`
                // or a space after the word, up to the next space.
                let decoded = decode(value);
                for piece in decoded.split(|c: char| c.is_whitespace()) {
                    if let Some((_, inner)) = piece.split_once('=') {
                        secrets.push(inner.to_owned());
                    }
                }
            }
        }
    }
    let decoded: Vec<String> = secrets
        .iter()
        .map(|s| decode(s))
        .chain(
            secrets
                .iter()
                .filter_map(|s| percent_encoding::percent_decode_str(s).decode_utf8().ok().map(Cow::into_owned)),
        )
        .collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty() && s != "****");
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    // Longest first, so a password that contains another is hidden whole.
    for secret in secrets {
        text = text.replace(secret.as_str(), "****");
    }
    text
}

/// Creates a missing SQLite file readable by its owner alone, as the dump files are: it holds
/// account tokens. SQLite gives its -wal and -shm files the same mode. Failing here is left to
/// SQLite, whose error is the one to show.
fn create_private(path: &Path) {
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with("file:") || path.exists() {
        return;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = options.open(path);
}

/// The embedded SQLite file in `output_dir`, opened when it exists: never created here.
pub async fn open_embedded(output_dir: &Path) -> Result<Option<Database>> {
    if !output_dir.join("replayer.sqlite").is_file() {
        return Ok(None);
    }
    Database::connect(&default_sqlite_url(output_dir)).await.map(Some)
}

/// The embedded default database: `replayer.sqlite` in the output directory.
pub fn default_sqlite_url(output_dir: &Path) -> String {
    let path = output_dir.join("replayer.sqlite");
    let path = path.to_string_lossy();
    // sqlx percent-decodes the path and cuts it at '?'.
    let mut url = String::from("sqlite:");
    for c in path.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            _ => url.push(c),
        }
    }
    url
}

/// 32 random bytes as hex: a session id, an API token, a CSRF token, an upload id.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `?, ?, …` for an `IN` list.
pub(crate) fn placeholders(count: usize) -> String {
    let mut list = String::with_capacity(count * 3);
    for i in 0..count {
        list.push_str(if i == 0 { "?" } else { ", ?" });
    }
    list
}

/// Now, in unix milliseconds: the unit of every time in these tables.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_show_no_password_nor_key() {
        assert_eq!(
            redact_request_url("https://dcs:s3cret@dcs.example.com/tag?api_key=abc&site=1&Signature=x%20y&token=t"),
            "https://dcs:****@dcs.example.com/tag?api_key=****&site=1&Signature=****&token=****"
        );
        assert_eq!(redact_request_url("http://127.0.0.1:8080/tag"), "http://127.0.0.1:8080/tag");
        assert_eq!(redact_request_url("http://h/tag?a=1"), "http://h/tag?a=1");
    }

    #[test]
    fn redact_url_hides_the_password() {
        assert_eq!(
            redact_url("mysql://user:s3cret@db.example:3306/attrib"),
            "mysql://user:****@db.example:3306/attrib"
        );
        assert_eq!(redact_url("postgres://u:p%40ss@h/db?sslmode=require"), "postgres://u:****@h/db?sslmode=require");
        assert_eq!(redact_url("mysql://u:pa@ss/w?rd@host/db"), "mysql://u:****@host/db");
        assert_eq!(redact_url("mysql://user@host/db"), "mysql://user@host/db");
        assert_eq!(
            redact_url("mysql://host/db?user=u&password=hunter22&ssl-mode=required"),
            "mysql://host/db?user=u&password=****&ssl-mode=required"
        );
        assert_eq!(redact_url("postgres://h/db?PassWord=x"), "postgres://h/db?PassWord=****");
        assert_eq!(redact_url("sqlite:output/replayer.sqlite"), "sqlite:output/replayer.sqlite");
        assert_eq!(redact_url("mysql://:onlypw@host/db"), "mysql://:****@host/db");
        assert_eq!(redact_url("mysql:user:s3cret@host/db"), "mysql:user:****@host/db");
        assert_eq!(redact_url("postgres:u:p@h:5432/db"), "postgres:u:****@h:5432/db");
        assert_eq!(
            redact_url("postgres://u@h/db?options=-c%20password%3Dhunter22&sslmode=require"),
            "postgres://u@h/db?options=****&sslmode=require"
        );
        assert_eq!(redact_url("postgres://h/db?sslpassword=x&user=u"), "postgres://h/db?sslpassword=****&user=u");
        assert_eq!(redact_url("sqlite:output/replayer.sqlite?mode=rwc"), "sqlite:output/replayer.sqlite?mode=rwc");
    }

    #[test]
    fn redact_url_never_shows_the_password() {
        for (url, password) in [
            ("mysql://u:topsecret@h:3306/d", "topsecret"),
            ("mysql://u:top:secret@h/d", "top:secret"),
            ("mysql://u:top#secret@h/d", "top#secret"),
            ("mysql://u:top/secret@h/d", "top/secret"),
            ("mysql://u:top@secret@h/d", "top@secret"),
            ("mysql://u:topsecret@h/d?x=a@b", "topsecret"),
            ("mysql://h/d?user=u&password=topsecret", "topsecret"),
            ("mysql:u:topsecret@h/d", "topsecret"),
            ("mysql:u:top@secret@h:3306/d", "top@secret"),
            ("postgres://u@h/d?options=-c+password%3Dtopsecret", "topsecret"),
            ("postgres://u@h/d?options=--password=topsecret", "topsecret"),
            ("postgres://u@h/d?Pass%77ord=topsecret", "topsecret"),
            ("postgresql:u:topsecret@h/d?sslmode=disable", "topsecret"),
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains(password), "{url} → {redacted}");
            assert!(redacted.contains("****"), "{url} → {redacted}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_raw_and_decoded() {
        let secrets = url_secrets("mysql://u:p%40ss%20word@h/d");
        let text = scrub_secrets("failed for p%40ss%20word and p@ss word", &secrets);
        assert_eq!(text, "failed for **** and ****");
        let secrets = url_secrets("postgres://u@h/d?options=-c%20password%3Dhunter22");
        assert_eq!(scrub_secrets("server said: bad hunter22", &secrets), "server said: bad ****");
        let secrets = url_secrets("mysql:u:pw-no-slashes@h/d");
        assert_eq!(scrub_secrets("access denied for pw-no-slashes", &secrets), "access denied for ****");
    }

    #[test]
    fn default_sqlite_url_is_in_the_output_directory() {
        assert_eq!(default_sqlite_url(Path::new("output")), "sqlite:output/replayer.sqlite");
        assert_eq!(default_sqlite_url(Path::new("/tmp/a?b#c%d")), "sqlite:/tmp/a%3Fb%23c%25d/replayer.sqlite");
        let options = SqliteConnectOptions::from_str(&default_sqlite_url(Path::new("/tmp/a?b#c%d"))).unwrap();
        assert_eq!(options.get_filename(), Path::new("/tmp/a?b#c%d/replayer.sqlite"));
    }

    #[tokio::test]
    async fn placeholders_are_numbered_for_postgres_only() {
        // `sql` only looks at the backend; a lazy pool needs no server.
        let pool = PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new());
        let db =
            Database { pool: Pool::Postgres(pool), redacted_url: "postgres://h/d".into(), secrets: Vec::new().into() };
        assert_eq!(db.sql("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
    }
}
