//! What a live run holds while it fires: the lock on its accounts and its heartbeat, the
//! journal, and the spool of rows still to fire.

use std::sync::Arc;

use anyhow::Result;

use super::look_up::{look_up, Earlier};
use super::spool::Spool;
use crate::db::{Database, RunInfo, HEARTBEAT_EVERY};
use crate::fire::journal::Journal;
use crate::fire::Stop;
use crate::out::summary::StopReason;
use crate::settings::Settings;

pub struct Held {
    pub lock: crate::db::Lock,
    pub heartbeat: tokio::task::JoinHandle<()>,
    pub journal: Journal,
    pub spool: Option<Spool>,
    pub earlier: Earlier,
}

/// Take the lock on `tokens`, start its heartbeat, fold what a dead run left, and take out of the
/// spool the rows accepted before (counting what the journal says of the rest).
pub async fn hold(
    database: &Database,
    run: &RunInfo,
    tokens: &[String],
    spool: Spool,
    settings: &Settings,
    stop: Arc<Stop>,
) -> Result<Held> {
    database.ensure_journal().await?;
    let lock = database.acquire_lock(tokens, run).await?;
    if let Some(note) = lock.took_over() {
        eprintln!("note: {note}");
    }
    let journal = Journal::new(database.clone(), run.clone(), tokens);
    // What a run that died left in the log goes into the journal before the look-up.
    journal.fold().await?;
    let (spool, earlier) = look_up(&journal, spool, &settings.output_dir, settings.refire).await?;
    // The heartbeat runs from now on, the confirmation included; losing the lock stops the run,
    // since another run may then be firing the same accounts.
    // Hidden, for tests: a shorter heartbeat, so losing the lock can be seen in seconds.
    let every = std::env::var("REPLAYER_HEARTBEAT_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .filter(|seconds: &f64| seconds.is_finite() && *seconds > 0.0 && *seconds < 3600.0)
        .map_or(HEARTBEAT_EVERY, std::time::Duration::from_secs_f64);
    let heartbeat = {
        let (lock, stop) = (lock.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = lock.heartbeat().await {
                    eprintln!("error: {error:#}");
                    stop.set_with(StopReason::LockLost, format!("{error:#}"));
                    return;
                }
            }
        })
    };
    Ok(Held { lock, heartbeat, journal, spool: Some(spool), earlier })
}
