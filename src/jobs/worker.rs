//! Jobs in background workers.
//!
//! A job is one call of a long mkt function, queued in `mkt.job_queue` of the submitter's
//! database. When the submitting transaction commits, a dynamic background worker starts that
//! connects to that database *as the submitting role*, so a job can read and write only what its
//! submitter can. The worker marks the job running (committed, so other sessions see it), runs the
//! command in its own transaction, and records the result or the error. At most `mkt.max_workers`
//! jobs of a database run at once; a worker that finishes starts the next queued job. A job whose
//! worker is gone (killed, or the server restarted) is marked failed the next time a job is
//! submitted or started, and `mkt.jobs` never shows it as running.

use crate::jobs::catalog;
use crate::pg::error::{invalid, report, SqlResult};
use crate::pg::gucs::MAX_WORKERS;
use crate::pg::source::check_single_select;
use mkt_core::job_command;
use mkt_core::Error;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{register_xact_callback, PgXactCallbackEvent};
use std::time::{Duration, Instant};

/// Starts a worker for `job_id` as `role` in `db` (no error if no slot is free: the job stays
/// queued for the next worker that finishes).
fn launch(job_id: i64, db: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    BackgroundWorkerBuilder::new(&format!("pg_marketing job {job_id}"))
        .set_library("pg_marketing")
        .set_function("pg_marketing_job_worker")
        .set_argument(Some(pg_sys::Datum::from(job_id)))
        .set_extra(&format!("{} {}", db.to_u32(), role.to_u32()))
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .load_dynamic()
        .is_ok()
}

fn no_such_job(job_id: i64) -> pgrx::pg_sys::panic::ErrorReport {
    report(Error::UndefinedObject(format!("job {job_id} does not exist")))
}

/// Queues `command`; its worker starts when this transaction commits. Returns the job id.
pub fn submit(command: &str, priority: i32) -> SqlResult<i64> {
    if job_command::called_function(command).is_none() {
        return Err(invalid(job_command::refusal(command)));
    }
    check_single_select(command)?;
    catalog::reap_dead()?;
    // SAFETY: plain reads of the backend's database and current user.
    let (db, role) = unsafe { (pg_sys::MyDatabaseId, pg_sys::GetUserId()) };
    let id = catalog::insert(command, priority, role, db)?;
    // The worker must see the row: start it once this transaction has committed.
    register_xact_callback(PgXactCallbackEvent::Commit, move || {
        launch(id, db, role);
    });
    Ok(id)
}

pub fn cancel(job_id: i64) -> SqlResult<bool> {
    match catalog::request_cancel(job_id)? {
        None => Err(no_such_job(job_id)),
        Some((Some(state), _)) if state == "cancelled" => Ok(true),
        Some((Some(state), Some(pid))) if state == "running" => catalog::cancel_backend(pid),
        Some(_) => Ok(false),
    }
}

pub fn wait(job_id: i64, timeout: pgrx::datum::Interval) -> SqlResult<String> {
    let micros = catalog::micros(timeout)?;
    let deadline = Instant::now() + Duration::from_micros(micros.max(0.0) as u64);
    loop {
        let state = catalog::state(job_id)?.ok_or_else(|| no_such_job(job_id))?;
        if !matches!(state.as_str(), "queued" | "running") || Instant::now() >= deadline {
            return Ok(state);
        }
        std::thread::sleep(Duration::from_millis(50));
        pgrx::check_for_interrupts!();
    }
}

fn caught_message(e: &CaughtError) -> String {
    match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
        CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
    }
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pg_marketing_job_worker(arg: pg_sys::Datum) {
    let job_id = arg.value() as i64;
    let extra: Vec<u32> = BackgroundWorker::get_extra()
        .split(' ')
        .filter_map(|s| s.parse().ok())
        .collect();
    let [db, role] = extra[..] else {
        return; // started by something else than `launch`
    };
    let (db, role) = (pg_sys::Oid::from(db), pg_sys::Oid::from(role));
    // SIGINT (mkt.cancel_job) keeps its default: cancel the running statement.
    // SAFETY: called once, at the worker's start, before any statement runs.
    unsafe { pg_sys::BackgroundWorkerUnblockSignals() };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), Some(role));

    let max = MAX_WORKERS.get() as i64;
    let command = BackgroundWorker::transaction(|| catalog::claim(job_id, max).ok().flatten());
    let ran = command.is_some();
    if let Some(command) = command {
        let outcome = PgTryBuilder::new(|| {
            BackgroundWorker::transaction(|| {
                let result = catalog::run(&command).map_err(|e| e.message().to_string())?;
                catalog::succeeded(job_id, result).map_err(|e| e.message().to_string())
            })
        })
        .catch_others(|e| Err(caught_message(&e)))
        .execute();
        if let Err(message) = outcome {
            // SAFETY: the failed job's transaction is aborted before the error is recorded.
            unsafe { pg_sys::AbortCurrentTransaction() };
            BackgroundWorker::transaction(|| {
                let _ = catalog::failed(job_id, &message);
            });
        }
    }
    // Hand the slot on (a worker that found every slot taken leaves its job to those that run).
    if !ran {
        return;
    }
    if let Some((next, next_role)) = BackgroundWorker::transaction(|| catalog::next_queued().ok().flatten()) {
        launch(next, db, pg_sys::Oid::from(next_role));
    }
}
