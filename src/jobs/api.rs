//! Background jobs' SQL functions: mkt.submit_job, mkt.cancel_job, mkt.wait_job, and
//! mkt.live_progress (what mkt.jobs shows of running work).

use crate::jobs::worker;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe)]
fn submit_job(command: &str, priority: default!(i32, 0)) -> Result<i64, ErrorReport> {
    worker::submit(command, priority)
}

#[pg_extern(volatile, parallel_unsafe)]
fn cancel_job(job_id: i64) -> Result<bool, ErrorReport> {
    worker::cancel(job_id)
}

#[pg_extern(volatile, parallel_unsafe)]
fn wait_job(
    job_id: i64,
    timeout: default!(pgrx::datum::Interval, "'1 hour'"),
) -> Result<String, ErrorReport> {
    worker::wait(job_id, timeout)
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
    TableIterator::new(crate::pg::live::phases())
}
