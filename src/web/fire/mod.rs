//! Firing an upload from the server (SPEC §10): the command line's live run
//! (`crate::fire::live::fire_file`) on the staged file, with its journal and lock, progress kept here
//! for the pages and the API, and a `Stop` for Cancel.

pub mod page;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

pub use run::{launch, wrong_number, Refusal};

use crate::db::uploads::UploadId;
use crate::fire::Stop;
use crate::out::summary::StopReason;

/// The fires under way, by upload.
#[derive(Default)]
pub struct Fires {
    running: Mutex<HashMap<UploadId, Arc<RunningFire>>>,
}

impl Fires {
    /// The fire of this upload, once confirmed (a pre-flight under way is not a fire).
    pub fn get(&self, id: &UploadId) -> Option<Arc<RunningFire>> {
        let fire = self.running.lock().expect("fires lock").get(id).cloned()?;
        let confirmed = fire.firing_since.lock().expect("fire lock").is_some();
        confirmed.then_some(fire)
    }

    /// Whether this server runs a fire (or its pre-flight) of this upload.
    pub fn is_here(&self, id: &UploadId) -> bool {
        self.running.lock().expect("fires lock").contains_key(id)
    }

    /// Registers a fire; `None` when this upload is already firing.
    fn insert(&self, id: &UploadId) -> Option<Arc<RunningFire>> {
        let mut running = self.running.lock().expect("fires lock");
        if running.contains_key(id) {
            return None;
        }
        let fire = Arc::new(RunningFire::default());
        running.insert(id.clone(), fire.clone());
        Some(fire)
    }

    fn remove(&self, id: &UploadId) {
        self.running.lock().expect("fires lock").remove(id);
    }

    /// Stops a fire as Ctrl-C does; false when none is under way.
    pub fn cancel(&self, id: &UploadId, by: &str) -> bool {
        match self.get(id) {
            Some(fire) => {
                fire.cancelled_by.lock().expect("fire lock").get_or_insert_with(|| by.to_owned());
                fire.stop.set(StopReason::Interrupted);
                crate::web::log::upload_event(crate::web::log::UploadEvent::Cancelled, id, by, "the fire stops");
                true
            }
            None => false,
        }
    }
}

impl Fires {
    /// Stops every fire as Cancel does (the server is stopping), and waits at most `within`
    /// for them to record how they ended.
    pub async fn stop_all(&self, by: &str, within: std::time::Duration) {
        let ids: Vec<UploadId> = self.running.lock().expect("fires lock").keys().cloned().collect();
        for id in &ids {
            self.cancel(id, by);
        }
        let deadline = Instant::now() + within;
        while !self.running.lock().expect("fires lock").is_empty() && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// One fire under way: its stop and its counts so far.
#[derive(Default)]
pub struct RunningFire {
    pub stop: Arc<Stop>,
    pub cancelled_by: Mutex<Option<String>>,
    /// Set once the pre-flight is confirmed.
    firing_since: Mutex<Option<Instant>>,
    total: AtomicU64,
    fired: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    already_fired: AtomicU64,
}

/// What the pages and the API show of a fire under way.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
    pub already_fired: u64,
    /// Requests answered a second.
    pub rate: f64,
    /// Seconds still to go at this rate; `None` before the first answers.
    pub eta_seconds: Option<u64>,
    pub cancelling: bool,
}

impl RunningFire {
    pub fn progress(&self) -> Progress {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (done, total) = (load(&self.fired), load(&self.total));
        let seconds = self.firing_since.lock().expect("fire lock").map_or(0.0, |since| since.elapsed().as_secs_f64());
        let rate = if seconds > 0.0 { done as f64 / seconds } else { 0.0 };
        let eta_seconds = (rate > 0.0).then(|| (total.saturating_sub(done) as f64 / rate).ceil() as u64);
        Progress {
            done,
            total,
            accepted: load(&self.accepted),
            refused: load(&self.refused),
            failed: load(&self.failed),
            already_fired: load(&self.already_fired),
            rate: (rate * 10.0).round() / 10.0,
            eta_seconds,
            cancelling: self.stop.reason().is_some(),
        }
    }
}
