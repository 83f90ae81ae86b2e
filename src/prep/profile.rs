//! mkt.profile: runs mkt-prep's three scans per group of columns within `mkt.max_memory_mb`.

use crate::pg::error::SqlResult;
use crate::pg::progress;
use crate::pg::source::{Column, Resolved};
use crate::pg::work_mem::WorkMem;
use crate::prep::catalog::read_json;
use mkt_core::progress::{Progress, Tick};
use mkt_prep::profile::{self, ProfileRow, GROUP, PASSES};
use serde_json::Value;

pub fn profile(src: &Resolved, cols: &[Column]) -> SqlResult<Vec<ProfileRow>> {
    let mut out = Vec::with_capacity(cols.len());
    let mut tick = progress::progress();
    let total = cols.len().div_ceil(GROUP) * PASSES;
    let mut done = 0;
    let mut report = |done: &mut usize| {
        *done += 1;
        tick.tick(&Progress {
            phase: "profile scans",
            done: *done,
            total,
        });
    };
    for group in cols.chunks(GROUP) {
        let budget = WorkMem::limit(profile::stats_sorts(group))?;
        let stats = read_json(&profile::stats_query(group, &src.from))?;
        drop(budget);
        report(&mut done);
        let bounds = profile::outlier_bounds(&stats, group.len());
        let outliers = match profile::outliers_query(group, &bounds, &src.from) {
            Some(q) => read_json(&q)?,
            None => Value::Null,
        };
        report(&mut done);
        let frequent = profile::frequent(&stats, group.len());
        // One hash table per grouping set, each allowed hash_mem_multiplier (2) x work_mem.
        let budget = WorkMem::limit(2 * profile::top_values_hashes(&frequent))?;
        let top = match profile::top_values_query(group, &frequent, &src.from) {
            Some(q) => read_json(&q)?,
            None => Value::Null,
        };
        drop(budget);
        report(&mut done);
        out.extend(profile::rows(group, &stats, &outliers, &frequent, &top));
        pgrx::check_for_interrupts!();
    }
    Ok(out)
}
