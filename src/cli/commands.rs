//! What the user typed for `replayer accounts`, `replayer users`, `replayer template` and
//! `replayer clients` (SPEC §2, §8, §10, §11.3, §13); `accounts.rs`, `users.rs`, `template.rs`
//! and `clients.rs` at the top run them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::db::users::{Email, Role};

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum AccountsCommand {
    /// Add an account the DCS accepts tags for, or update the connection and label of an existing one
    Add {
        /// The account token (8 to 64 letters, digits, '_' or '-'), as in the client's mapping.json
        #[arg(long, value_name = "TOKEN")]
        token: String,

        /// The account's connection: the DCS accepts tags only for accounts that have one
        #[arg(long, value_name = "CONNECTION")]
        connection: String,

        /// A label for people, e.g. the client's name [default: kept when updating, else empty]
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
    },
    /// List the accounts: token, connection and label
    List,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum UsersCommand {
    /// Add a user, or change the role and password of an existing one (whose sessions then end)
    Add {
        /// The user's e-mail address: their sign-in name
        #[arg(long, value_name = "EMAIL", value_parser = parse_email)]
        email: Email,

        /// analyst: upload, check, download and delete; operator: also fire
        #[arg(long, value_enum)]
        role: Role,

        /// Read the password from the first line of standard input instead of asking on the terminal
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password; every session of theirs ends (they sign in again)
    Password {
        #[arg(long, value_name = "EMAIL", value_parser = parse_email)]
        email: Email,

        /// Read the password from the first line of standard input instead of asking on the terminal
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users and their roles
    List,
    /// Remove a user, their sessions and their API token
    Remove {
        #[arg(long, value_name = "EMAIL", value_parser = parse_email)]
        email: Email,
    },
    /// Print a new API token for the user (Authorization: Bearer); it replaces the previous one
    Token {
        #[arg(long, value_name = "EMAIL", value_parser = parse_email)]
        email: Email,
    },
}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct TemplateArgs {
    /// The client's mapping, e.g. clients/norton/mapping.json
    #[arg(long, value_name = "JSON")]
    pub mapping: PathBuf,

    /// Where to write the workbook ("-": standard output, when it is not a terminal)
    /// [default: <client>-template.xlsx in the current directory, <client> being the mapping's folder]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Replace the output file when it already exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ClientsCommand {
    /// List the clients stored in the database: name, the mapping's client, latest version
    List,
    /// Show a client's latest mapping and its versions (who saved each, when, what changed)
    Show {
        /// The client's name, e.g. example
        name: String,
    },
    /// Import mappings: DIR is a clients folder (each subfolder with a mapping.json is a client,
    /// named after it) or one client's folder. A changed mapping becomes a new version
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print a client's mapping JSON (its latest version, or --version N), or write it to a file
    Export {
        /// The client's name, e.g. example
        name: String,

        /// Write the mapping to this file instead of standard output (never over an existing one)
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,

        /// The version to export [default: the latest]
        #[arg(long, value_name = "N")]
        version: Option<i64>,
    },
}

fn parse_email(text: &str) -> Result<Email, String> {
    Email::parse(text)
}
