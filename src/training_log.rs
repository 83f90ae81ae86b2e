//! Per-epoch progress of a training run: live while it runs, stored with the model after.
//!
//! A function's own inserts stay invisible to other sessions until it commits, so the live part
//! cannot be a table: each training backend keeps a small JSON file under the data directory,
//! rewritten atomically after every epoch and removed when the call ends (also on error, through
//! Drop). `mkt.training_log` shows those files beside the committed rows of
//! `mkt.training_epochs`. A backend that dies leaves its file behind; readers skip files whose
//! process is gone.

use crate::error::{OrSql, SqlResult};
use mkt_core::progress::EpochReport;
use pgrx::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Relative to the data directory, which is every backend's working directory.
const DIR: &str = "pg_marketing_progress";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The live log of this backend's running training call.
pub struct Live {
    path: PathBuf,
    header: Value,
    pub epochs: Vec<(EpochReport, f64)>,
}

impl Live {
    pub fn start(model_name: &str, algorithm: &str) -> Self {
        let pid = std::process::id();
        let role = unsafe {
            // SAFETY: GetUserNameFromId returns a palloc'd name for the current user's oid.
            std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false))
        }
        .to_string_lossy()
        .into_owned();
        Live {
            path: PathBuf::from(DIR).join(format!("{pid}.json")),
            header: json!({"pid": pid, "model_name": model_name, "algorithm": algorithm,
                           "role": role, "started_at": now()}),
            epochs: Vec::new(),
        }
    }

    /// Records one epoch.
    pub fn record(&mut self, e: &EpochReport) {
        self.epochs.push((e.clone(), now()));
        let mut doc = self.header.clone();
        doc["epochs"] = Value::Array(
            self.epochs
                .iter()
                .map(|(e, at)| json!([e.epoch, e.epochs, e.loss, e.metric, e.seconds, at]))
                .collect(),
        );
        write_atomically(&self.path, &doc);
    }

    /// Stores the epochs with the version they trained.
    pub fn store(&self, model_id: i64) -> SqlResult<()> {
        Spi::connect_mut(|c| {
            for (e, at) in &self.epochs {
                c.update(
                    "INSERT INTO mkt.training_epochs (model_id, epoch, loss, metric, seconds, logged_at) \
                     VALUES ($1, $2, $3, $4, $5, to_timestamp($6))",
                    None,
                    &[
                        model_id.into(),
                        (e.epoch as i32).into(),
                        e.loss.into(),
                        e.metric.into(),
                        e.seconds.into(),
                        (*at).into(),
                    ],
                )?;
            }
            Ok::<_, pgrx::spi::Error>(())
        })
        .sql()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn phase_path() -> PathBuf {
    PathBuf::from(DIR).join(format!("{}.phase", std::process::id()))
}

/// Publishes where this backend's running call is (for calls without epochs: ALS sweeps, EASE's
/// solve, profiling scans ...); atomically replaced, so readers never see half a file.
pub fn record_phase(p: &mkt_core::progress::Progress) {
    let doc = json!({"pid": std::process::id(), "phase": p.phase, "done": p.done,
                     "total": p.total, "at": now()});
    write_atomically(&phase_path(), &doc);
}

/// Replaces a live file whole (written aside, then renamed), so readers never see half of one; a
/// file that cannot be written only costs the live view.
fn write_atomically(path: &std::path::Path, doc: &Value) {
    let tmp = path.with_extension("tmp");
    let written = std::fs::create_dir_all(DIR)
        .and_then(|_| std::fs::write(&tmp, doc.to_string()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        pgrx::debug1!("pg_marketing: cannot write {}: {e}", path.display());
    }
}

pub fn clear_phase() {
    let _ = std::fs::remove_file(phase_path());
}

/// The phase of every call running now that has reported one (calls shorter than a second do
/// not): the part of live progress that is not per epoch.
#[pg_extern(volatile, parallel_restricted)]
fn live_progress() -> TableIterator<
    'static,
    (
        name!(pid, i32),
        name!(phase, String),
        name!(done, i64),
        name!(total, i64),
        name!(updated_at, f64),
    ),
> {
    let mut rows: Vec<_> = live_docs("phase")
        .into_iter()
        .map(|(pid, doc)| {
            (
                pid,
                doc["phase"].as_str().unwrap_or("").to_string(),
                doc["done"].as_i64().unwrap_or(0),
                doc["total"].as_i64().unwrap_or(0),
                doc["at"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    TableIterator::new(rows)
}

/// The live files with extension `ext` whose backend still runs, as (pid, document); files of
/// processes that are gone are removed.
fn live_docs(ext: &str) -> Vec<(i32, Value)> {
    let Ok(dir) = std::fs::read_dir(DIR) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(ext) {
            continue;
        }
        let Ok(doc) = std::fs::read_to_string(&path)
            .map_err(|_| ())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|_| ()))
        else {
            continue;
        };
        let pid = doc["pid"].as_i64().unwrap_or(0) as i32;
        if alive(pid) {
            out.push((pid, doc));
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc_kill(pid, 0) } == 0
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Epochs of training calls running now in any backend (the live half of mkt.training_log).
#[pg_extern(volatile, parallel_restricted)]
fn live_training() -> TableIterator<
    'static,
    (
        name!(pid, i32),
        name!(model_name, String),
        name!(algorithm, String),
        name!(role, String),
        name!(epoch, i32),
        name!(epochs, i32),
        name!(loss, f64),
        name!(metric, Option<f64>),
        name!(seconds, f64),
        name!(logged_at, f64),
    ),
> {
    let mut rows = Vec::new();
    for (pid, doc) in live_docs("json") {
        let text = |k: &str| doc[k].as_str().unwrap_or("").to_string();
        for e in doc["epochs"].as_array().into_iter().flatten() {
            let f = |i: usize| e[i].as_f64().unwrap_or(0.0);
            rows.push((
                pid,
                text("model_name"),
                text("algorithm"),
                text("role"),
                f(0) as i32,
                f(1) as i32,
                f(2),
                e[3].as_f64(),
                f(4),
                f(5),
            ));
        }
    }
    rows.sort_by_key(|r| (r.0, r.4));
    TableIterator::new(rows)
}
