//! Erasure's SQL function: mkt.forget_subject.

use crate::erasure::forget;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn forget_subject(
    subject: &str,
) -> Result<TableIterator<'static, (name!(what, String), name!(removed, i64))>, ErrorReport> {
    Ok(TableIterator::new(forget::forget(subject)?))
}
