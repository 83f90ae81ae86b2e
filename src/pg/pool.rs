//! The rayon pool a call computes in. Built per call (never in `_PG_init`: a pool created before the
//! postmaster forks would be dead in every backend) and sized by `mkt.threads`.

use crate::pg::error::{invalid, SqlResult};
use crate::pg::gucs::THREADS;

pub fn pool() -> SqlResult<rayon::ThreadPool> {
    let n = match THREADS.get() {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n as usize,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("pg_marketing-{i}"))
        .build()
        .map_err(|e| invalid(format!("cannot start {n} threads: {e}")))
}
