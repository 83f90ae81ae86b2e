//! Progress of long calls: the callback the pure crates tick between chunks of work (it checks for
//! interrupts and reports) and the NOTICEs of neural training's epochs.

use crate::pg::gucs::PROGRESS_INTERVAL;
use mkt_core::progress::{Progress, Tick};
use std::time::{Duration, Instant};

/// Progress callback for the pure crates: runs on the backend's main thread between chunks of
/// parallel work, so query cancel and statement_timeout stop training promptly; reports how far
/// the call is with a NOTICE every `mkt.progress_interval` seconds, and, once the call has run
/// for a second, to other sessions through `live::record_phase` (mkt.jobs shows it).
pub fn progress() -> Reporter {
    let now = Instant::now();
    Reporter {
        last_notice: now,
        last_shared: now,
        shared: false,
    }
}

pub struct Reporter {
    last_notice: Instant,
    last_shared: Instant,
    shared: bool,
}

/// How often other sessions see a running call's phase.
const SHARE_EVERY: Duration = Duration::from_secs(1);

impl Tick for Reporter {
    fn tick(&mut self, p: &Progress) {
        pgrx::check_for_interrupts!();
        let every = PROGRESS_INTERVAL.get();
        if every > 0 && self.last_notice.elapsed().as_secs() >= every as u64 {
            self.last_notice = Instant::now();
            let pct = if p.total > 0 {
                format!(" ({:.0}%)", 100.0 * p.done as f64 / p.total as f64)
            } else {
                String::new()
            };
            pgrx::notice!("pg_marketing: {} {}/{}{pct}", p.phase, p.done, p.total);
        }
        if self.last_shared.elapsed() >= SHARE_EVERY {
            self.last_shared = Instant::now();
            self.shared = true;
            crate::pg::live::record_phase(p);
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if self.shared {
            crate::pg::live::clear_phase();
        }
    }
}

/// NOTICE for one epoch of a neural trainer: at most one per `mkt.progress_interval` (the first
/// epoch and the last always), so short runs stay quiet and long ones report as they go.
pub fn epoch_notice(e: &mkt_core::progress::EpochReport, last: &mut Option<std::time::Instant>) {
    let every = PROGRESS_INTERVAL.get();
    if every == 0 {
        return;
    }
    let due = match last {
        None => true,
        Some(t) => t.elapsed().as_secs() >= every as u64 || e.epoch == e.epochs,
    };
    if due {
        *last = Some(std::time::Instant::now());
        let metric = e
            .metric
            .map_or(String::new(), |m| format!(" validation ndcg@10 {m:.4}"));
        pgrx::notice!(
            "pg_marketing: epoch {}/{} loss {:.4}{metric} ({:.2} s)",
            e.epoch,
            e.epochs,
            e.loss,
            e.seconds
        );
    }
}
