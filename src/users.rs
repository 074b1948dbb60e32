//! `replayer users add|password|list|remove|token` (SPEC §2, §10, §14): who may sign in to
//! `replayer serve`.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::commands::UsersCommand;
use crate::db::{default_sqlite_url, Database};
use crate::web::authentication::password;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Runs a `users` subcommand against the given database, else the embedded SQLite file.
pub async fn run_users(command: UsersCommand, database_url: Option<&str>, output_dir: &Path) -> Result<()> {
    let url = match database_url {
        Some(url) => url.to_owned(),
        None => {
            std::fs::create_dir_all(output_dir).with_context(|| {
                format!("cannot create the output directory {}; choose another with --output-dir", output_dir.display())
            })?;
            default_sqlite_url(output_dir)
        }
    };
    // Ask before connecting: a slow database must not eat into the typing.
    let new_password = match &command {
        UsersCommand::Add { password_stdin, .. } | UsersCommand::Password { password_stdin, .. } => {
            Some(read_password(*password_stdin)?)
        }
        _ => None,
    };
    let database = Database::connect(&url).await?;
    let result = run_on(&database, command, new_password).await;
    database.close().await;
    result
}

async fn run_on(database: &Database, command: UsersCommand, new_password: Option<String>) -> Result<()> {
    database.ensure_web_tables().await?;
    let where_ = database.redacted_url();
    let message = match command {
        UsersCommand::Add { email, role, .. } => {
            let password = new_password.unwrap_or_default();
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            if database.save_user(&email, role, &hash).await? {
                format!("added {email} as {} to {where_}\n", role.as_str())
            } else {
                format!(
                    "updated {email} in {where_}: role {}, new password; their sessions have ended\n",
                    role.as_str()
                )
            }
        }
        UsersCommand::Password { email, .. } => {
            let password = new_password.unwrap_or_default();
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            if !database.set_password(&email, None, &hash).await? {
                bail!("there is no user {email} in {where_}; add them with replayer users add");
            }
            format!("changed the password of {email} in {where_}; their sessions have ended (they sign in again)\n")
        }
        UsersCommand::List => {
            let users = database.users().await?;
            if users.is_empty() {
                format!(
                    "no users in {where_}; add one with: replayer users add --email <EMAIL> --role analyst|operator\n"
                )
            } else {
                let mut text = String::new();
                for user in &users {
                    text.push_str(&format!("{}  {}\n", user.role.as_str(), user.email));
                }
                text + &format!("{} user{} in {where_}\n", users.len(), if users.len() == 1 { "" } else { "s" })
            }
        }
        UsersCommand::Remove { email } => {
            if !database.remove_user(&email).await? {
                bail!("there is no user {email} in {where_}; see replayer users list");
            }
            format!("removed {email}, their sessions and their API token from {where_}\n")
        }
        UsersCommand::Token { email } => {
            if database.user_password_hash(&email).await?.is_none() {
                bail!("there is no user {email} in {where_}; add them first with replayer users add");
            }
            let token = database.new_api_token(&email).await?;
            // The token alone on stdout, for scripts; it is shown once and stored only as a hash.
            format!("{token}\n")
        }
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout(), message.as_bytes());
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to type the password on; give it on standard input with --password-stdin");
        }
        let first = rpassword::prompt_password("password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("password again: ").context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ; nothing changed");
        }
        first
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password is shorter than {MIN_PASSWORD_CHARS} characters; choose a longer one");
    }
    Ok(password)
}
