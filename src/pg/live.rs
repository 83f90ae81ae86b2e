//! Live progress of long calls, visible to other sessions while they run (mkt-core's live files,
//! under the data directory, which is every backend's working directory).

use mkt_core::live::{self, EpochRow, LiveTraining, PhaseRow};
use mkt_core::progress::{EpochReport, Progress};
use pgrx::pg_sys;
use std::path::Path;

const DIR: &str = "pg_marketing_progress";

fn dir() -> &'static Path {
    Path::new(DIR)
}

/// The live log of this backend's running training call.
pub struct Live(LiveTraining);

impl Live {
    pub fn start(model_name: &str, algorithm: &str) -> Self {
        // SAFETY: GetUserNameFromId returns a palloc'd name for the current user's oid.
        let role = unsafe {
            std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false))
        }
        .to_string_lossy()
        .into_owned();
        Live(LiveTraining::start(dir(), std::process::id(), model_name, algorithm, &role))
    }

    /// Records one epoch; a file that cannot be written only costs the live view.
    pub fn record(&mut self, e: &EpochReport) {
        if let Err(err) = self.0.record(e) {
            pgrx::debug1!("pg_marketing: cannot write live progress: {err}");
        }
    }

    pub fn epochs(&self) -> &[(EpochReport, f64)] {
        &self.0.epochs
    }
}

/// Publishes where this backend's running call is (ALS sweeps, EASE's solve, profiling scans...).
pub fn record_phase(p: &Progress) {
    if let Err(err) = live::record_phase(dir(), std::process::id(), p) {
        pgrx::debug1!("pg_marketing: cannot write live progress: {err}");
    }
}

pub fn clear_phase() {
    live::clear_phase(dir(), std::process::id());
}

/// The phase of every call running now that has reported one (calls shorter than a second do
/// not).
pub fn phases() -> Vec<PhaseRow> {
    live::phases(dir())
}

/// Epochs of training calls running now in any backend (the live half of mkt.training_log).
pub fn epochs() -> Vec<EpochRow> {
    live::epochs(dir())
}
