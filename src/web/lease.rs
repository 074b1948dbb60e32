//! Work one server does for all the servers on a database (SPEC §14): receiving and checking an
//! upload, the retention sweep. A lease is a row of the run lock (`replayer_lock`, SPEC §8) under
//! a key no account token can have, kept alive by a heartbeat; a server that dies leaves it to go
//! stale (at once when it ran on the same machine), and another server then takes the work over.

use anyhow::Result;
use tokio::task::JoinHandle;

use crate::db::uploads::UploadId;
use crate::db::{now_ms, random_secret, Database, RunInfo};
use crate::db::{Lock, HEARTBEAT_EVERY};

/// The key of an upload's lease, held while it is received and checked.
pub fn upload_key(id: &UploadId) -> String {
    format!("upload {id}")
}

/// Takes the lease of an upload, to receive or check it. Its name is not the run name of the
/// upload's fires, whose run locks say whether a fire lives.
pub async fn take_upload(db: &Database, id: &UploadId) -> Result<Option<Lease>> {
    Lease::take(db, &upload_key(id), &format!("checking upload {id}")).await
}

/// The key of the retention sweep's lease.
pub const SWEEP_KEY: &str = "retention sweep";

/// Work this server holds; let go when dropped (or released), the heartbeat stopped.
pub struct Lease {
    lock: Option<Lock>,
    heartbeat: JoinHandle<()>,
}

impl Lease {
    /// Takes the lease of `key` for work named `name`; `None` when a live server holds it.
    pub async fn take(db: &Database, key: &str, name: &str) -> Result<Option<Lease>> {
        if db.lock_is_live(key).await? {
            return Ok(None);
        }
        let run = RunInfo { name: name.to_owned(), token: random_secret()[..8].to_owned(), started_at_ms: now_ms() };
        // Two servers may both have seen it free: the lock's INSERT lets one win.
        let Ok(lock) = db.acquire_lock(&[key.to_owned()], &run).await else { return Ok(None) };
        let beating = lock.clone();
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(error) = beating.heartbeat().await {
                    tracing::warn!(error = %format!("{error:#}"), "a lease's heartbeat failed");
                }
            }
        });
        Ok(Some(Lease { lock: Some(lock), heartbeat }))
    }

    pub async fn release(mut self) {
        self.heartbeat.abort();
        if let Some(lock) = self.lock.take() {
            let _ = lock.release().await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if let Some(lock) = self.lock.take() {
            // Dropped without `release` (an error path): let go in the background.
            tokio::spawn(async move {
                let _ = lock.release().await;
            });
        }
    }
}
