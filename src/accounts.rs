//! `replayer accounts add|list` (SPEC §2, §8): manage `attrib_account` without hand-written SQL.

use std::path::Path;

use anyhow::{anyhow, Result};

use crate::cli::commands::AccountsCommand;
use crate::db::{default_sqlite_url, Account, AccountChange, Database};

/// Runs an `accounts` subcommand against the given database, else against the embedded SQLite
/// file in the output directory (created when missing).
pub async fn run_accounts(command: AccountsCommand, database_url: Option<&str>, output_dir: &Path) -> Result<()> {
    let url = match database_url {
        Some(url) => url.to_owned(),
        None => {
            std::fs::create_dir_all(output_dir).map_err(|e| {
                anyhow!(
                    "cannot create the output directory {}: {e}; choose another with --output-dir",
                    output_dir.display()
                )
            })?;
            default_sqlite_url(output_dir)
        }
    };
    let database = Database::connect(&url).await?;
    let result = run_on(&database, command).await;
    database.close().await;
    result
}

async fn run_on(database: &Database, command: AccountsCommand) -> Result<()> {
    database.ensure_accounts_table().await?;
    let where_ = database.redacted_url();
    let message = match command {
        AccountsCommand::Add { token, connection, label } => {
            let label = match label {
                Some(label) => label,
                None => database.account(&token).await?.map(|account| account.label).unwrap_or_default(),
            };
            match database.add_account(&token, &connection, &label).await? {
                AccountChange::Added => {
                    format!("added account {token} (connection {connection:?}, label {label:?}) to {where_}\n")
                }
                AccountChange::Updated { previous } => {
                    let mut changes = Vec::new();
                    if previous.connection != connection {
                        changes.push(format!("connection {:?} → {connection:?}", previous.connection));
                    }
                    if previous.label != label {
                        changes.push(format!("label {:?} → {label:?}", previous.label));
                    }
                    format!("updated account {token} in {where_}: {}\n", changes.join(", "))
                }
                AccountChange::Unchanged => {
                    format!("account {token} is already in {where_} with this connection and label; nothing changed\n")
                }
            }
        }
        AccountsCommand::List => {
            let accounts = database.accounts().await?;
            if accounts.is_empty() {
                format!("no accounts in {where_}; add one with: replayer accounts add --token <TOKEN> --connection <CONNECTION> [--label <LABEL>]\n")
            } else {
                let count =
                    format!("{} account{} in {where_}\n", accounts.len(), if accounts.len() == 1 { "" } else { "s" });
                render_table(&accounts) + &count
            }
        }
    };
    // Not print!: a closed pipe (`accounts list | head`) must not panic once the work is done.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), message.as_bytes());
    Ok(())
}

/// Aligned columns with a header; control characters in a cell become spaces so a row stays one line.
pub fn render_table(accounts: &[Account]) -> String {
    let clean = |text: &str| -> String { text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect() };
    let rows: Vec<[String; 3]> =
        accounts.iter().map(|a| [clean(&a.token), clean(&a.connection), clean(&a.label)]).collect();
    let header = ["TOKEN", "CONNECTION", "LABEL"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for cells in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let line = format!("{:<w0$}  {:<w1$}  {}", cells[0], cells[1], cells[2], w0 = widths[0], w1 = widths[1]);
        table.push_str(line.trim_end());
        table.push('\n');
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let accounts = vec![
            Account { token: "ex4mpl3-t0k3n-0001".into(), connection: "dcs-eu-1".into(), label: "Example Ltd".into() },
            Account { token: "other-token".into(), connection: "c\nx".into(), label: String::new() },
        ];
        assert_eq!(
            render_table(&accounts),
            "TOKEN               CONNECTION  LABEL\n\
             ex4mpl3-t0k3n-0001  dcs-eu-1    Example Ltd\n\
             other-token         c x\n"
        );
    }
}
