//! `work_mem` for the statements of one call, so that the sorts and hashes of a generated query
//! stay within `mkt.max_memory_mb` together.

use crate::pg::error::SqlResult;
use crate::pg::gucs::MAX_MEMORY_MB;
use crate::pg::spi;

/// While it lives, `work_mem` is `mkt.max_memory_mb` divided among `parts` sorts or hashes; the
/// previous setting comes back when it is dropped.
pub struct WorkMem(String);

impl WorkMem {
    pub fn limit(parts: usize) -> SqlResult<WorkMem> {
        let kb = (MAX_MEMORY_MB.get() as usize * 1024 / parts.max(1)).max(64);
        let old = spi::select_first::<String>("SELECT pg_catalog.current_setting('work_mem')", &[])?
            .unwrap_or_else(|| "4MB".into());
        set(&format!("{kb}kB"))?;
        Ok(WorkMem(old))
    }
}

fn set(value: &str) -> SqlResult<()> {
    spi::execute(
        "SELECT pg_catalog.set_config('work_mem', $1, true)",
        &[value.into()],
    )
    .map(|_| ())
}

impl Drop for WorkMem {
    fn drop(&mut self) {
        // On an error the transaction (sub)aborts and takes the local setting with it; running
        // SQL while unwinding from an error is not allowed anyway.
        if std::thread::panicking() {
            return;
        }
        let _ = set(&std::mem::take(&mut self.0));
    }
}
