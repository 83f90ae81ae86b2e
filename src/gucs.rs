//! Settings (GUCs) of the extension.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Threads used by one training or batch-scoring call; 0 means one per CPU core.
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn init() {
    GucRegistry::define_int_guc(
        c"mkt.threads",
        c"Threads one pg_marketing call may use for training and batch scoring.",
        c"0 uses one thread per CPU core. Each call builds its own pool; serving a single user is single-threaded.",
        &THREADS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called from _PG_init on the main thread with a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"mkt".as_ptr()) };
}
