//! What every handler shares: the database, the settings of the server and the checks running.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::authentication::signin_throttle::SigninThrottle;
use super::authentication::signin_token::SigninTokens;
use super::ServeConfig;
use crate::db::uploads::UploadId;
use crate::db::Database;

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub config: Arc<ServeConfig>,
    /// The row each running check has reached, for the live updates of its page.
    pub progress: Arc<Mutex<HashMap<UploadId, Arc<AtomicU64>>>>,
    /// One check at a time: a check already uses every core.
    pub check_slots: Arc<Semaphore>,
    pub signin_throttle: Arc<SigninThrottle>,
    pub signin_tokens: Arc<SigninTokens>,
    /// The fires under way, by upload.
    pub fires: Arc<super::fire::Fires>,
}

impl AppState {
    pub fn new(db: Database, config: ServeConfig, signin_tokens: SigninTokens) -> AppState {
        AppState {
            db,
            config: Arc::new(config),
            progress: Arc::default(),
            check_slots: Arc::new(Semaphore::new(1)),
            signin_throttle: Arc::default(),
            signin_tokens: Arc::new(signin_tokens),
            fires: Arc::default(),
        }
    }

    pub fn rows_so_far(&self, id: &UploadId) -> Option<u64> {
        let progress = self.progress.lock().expect("progress lock");
        progress.get(id).map(|row| row.load(std::sync::atomic::Ordering::Relaxed))
    }
}
