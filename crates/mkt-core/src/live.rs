//! Live progress of long calls, for other sessions to read while they run: a training call's
//! epochs and any other call's phase.
//!
//! A function's own inserts stay invisible to other sessions until it commits, so the live part
//! cannot be a table: each running call keeps a small JSON file in a folder (the data directory's
//! `pg_marketing_progress`), replaced whole after every epoch or phase and removed when the call
//! ends. Files of processes that are gone are skipped and removed by readers.

use crate::progress::{EpochReport, Progress};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Replaces a live file whole (written aside, then renamed), so readers never see half of one.
fn write_atomically(dir: &Path, path: &Path, doc: &Value) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::create_dir_all(dir)?;
    std::fs::write(&tmp, doc.to_string())?;
    std::fs::rename(&tmp, path)
}

/// The live log of one process's running training call; its file goes when this is dropped.
pub struct LiveTraining {
    dir: PathBuf,
    path: PathBuf,
    header: Value,
    pub epochs: Vec<(EpochReport, f64)>,
}

impl LiveTraining {
    pub fn start(dir: &Path, pid: u32, model_name: &str, algorithm: &str, role: &str) -> Self {
        LiveTraining {
            dir: dir.to_path_buf(),
            path: dir.join(format!("{pid}.json")),
            header: json!({"pid": pid, "model_name": model_name, "algorithm": algorithm,
                           "role": role, "started_at": now()}),
            epochs: Vec::new(),
        }
    }

    /// Records one epoch (a file that cannot be written only costs the live view).
    pub fn record(&mut self, e: &EpochReport) -> std::io::Result<()> {
        self.epochs.push((e.clone(), now()));
        let mut doc = self.header.clone();
        doc["epochs"] = Value::Array(
            self.epochs
                .iter()
                .map(|(e, at)| json!([e.epoch, e.epochs, e.loss, e.metric, e.seconds, at]))
                .collect(),
        );
        write_atomically(&self.dir, &self.path, &doc)
    }
}

impl Drop for LiveTraining {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn phase_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.phase"))
}

/// Publishes where process `pid`'s running call is (for calls without epochs).
pub fn record_phase(dir: &Path, pid: u32, p: &Progress) -> std::io::Result<()> {
    let doc = json!({"pid": pid, "phase": p.phase, "done": p.done, "total": p.total, "at": now()});
    write_atomically(dir, &phase_path(dir, pid), &doc)
}

pub fn clear_phase(dir: &Path, pid: u32) {
    let _ = std::fs::remove_file(phase_path(dir, pid));
}

/// (pid, phase, done, total, updated_at) of a running call.
pub type PhaseRow = (i32, String, i64, i64, f64);

/// (pid, model_name, algorithm, role, epoch, epochs, loss, metric, seconds, logged_at).
pub type EpochRow = (i32, String, String, String, i32, i32, f64, Option<f64>, f64, f64);

/// Whether a process runs (on Linux, where PostgreSQL backends are processes).
fn alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The live files with extension `ext` whose process still runs, as (pid, document); files of
/// processes that are gone are removed.
fn live_docs(dir: &Path, ext: &str) -> Vec<(i32, Value)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(ext) {
            continue;
        }
        let Some(doc) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
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

/// The phase of every call running now that has reported one.
pub fn phases(dir: &Path) -> Vec<PhaseRow> {
    let mut rows: Vec<PhaseRow> = live_docs(dir, "phase")
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
    rows
}

/// Epochs of the training calls running now.
pub fn epochs(dir: &Path) -> Vec<EpochRow> {
    let mut rows = Vec::new();
    for (pid, doc) in live_docs(dir, "json") {
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
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_calls_are_seen_and_files_of_dead_processes_go() {
        let dir = std::env::temp_dir().join(format!("mkt-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let me = std::process::id();
        {
            let mut t = LiveTraining::start(&dir, me, "m", "neural", "alice");
            for epoch in 1..=2 {
                t.record(&EpochReport { epoch, epochs: 5, loss: 1.0 / epoch as f64, metric: Some(0.1), seconds: 0.5 })
                    .unwrap();
            }
            let rows = epochs(&dir);
            assert_eq!(rows.len(), 2);
            assert_eq!((rows[1].1.as_str(), rows[1].3.as_str(), rows[1].4, rows[1].6), ("m", "alice", 2, 0.5));
            record_phase(&dir, me, &Progress { phase: "als", done: 3, total: 10 }).unwrap();
            assert_eq!(phases(&dir)[0].1, "als");
            clear_phase(&dir, me);
            assert!(phases(&dir).is_empty());
        }
        assert!(epochs(&dir).is_empty(), "the file goes with the call");
        // a file left by a process that is gone is skipped and removed
        std::fs::write(dir.join("999999999.phase"), r#"{"pid": 999999999, "phase": "x"}"#).unwrap();
        assert!(phases(&dir).is_empty() && !dir.join("999999999.phase").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
