//! Per-backend caches of catalog rows that stay valid while the epoch of the table they were read
//! from (see `invalidation`) is unchanged.

use crate::pg::error::SqlResult;
use std::cell::RefCell;
use std::collections::HashMap;

/// Values by name, each with the epoch it was read under. Past `limit` entries it starts over: the
/// catalog is the truth, a cache only saves reads.
pub struct EpochCache<V: Clone> {
    entries: RefCell<HashMap<String, (u64, V)>>,
    limit: usize,
}

impl<V: Clone> EpochCache<V> {
    pub fn new(limit: usize) -> Self {
        EpochCache {
            entries: RefCell::new(HashMap::new()),
            limit,
        }
    }

    /// The value cached for `key` under `epoch`, or what `load` reads (and the cache keeps). The
    /// cache is not borrowed while `load` runs, so `load` may use other caches.
    pub fn get_or_load(
        &self,
        key: &str,
        epoch: u64,
        load: impl FnOnce() -> SqlResult<V>,
    ) -> SqlResult<V> {
        if let Some(v) = self.get(key, epoch) {
            return Ok(v);
        }
        let v = load()?;
        let mut m = self.entries.borrow_mut();
        if m.len() >= self.limit {
            m.clear();
        }
        m.insert(key.to_string(), (epoch, v.clone()));
        Ok(v)
    }

    pub fn get(&self, key: &str, epoch: u64) -> Option<V> {
        self.entries
            .borrow()
            .get(key)
            .filter(|(e, _)| *e == epoch)
            .map(|(_, v)| v.clone())
    }

    /// Any value cached under `epoch` that `pred` accepts.
    pub fn find(&self, epoch: u64, pred: impl Fn(&V) -> bool) -> Option<V> {
        self.entries
            .borrow()
            .values()
            .find(|(e, v)| *e == epoch && pred(v))
            .map(|(_, v)| v.clone())
    }
}
