//! Jobs in background workers: mkt.submit_job, mkt.cancel_job, mkt.wait_job and the worker.
//!
//! A job is one call of a long mkt function, queued in `mkt.job_queue` of the submitter's
//! database. When the submitting transaction commits, a dynamic background worker starts that
//! connects to that database *as the submitting role*, so a job can read and write only what its
//! submitter can. The worker marks the job running (committed, so other sessions see it), runs the
//! command in its own transaction, and records the result or the error. At most `mkt.max_workers`
//! jobs of a database run at once; a worker that finishes starts the next queued job. A job whose
//! worker is gone (killed, or the server restarted) is marked failed the next time a job is
//! submitted or started, and `mkt.jobs` never shows it as running.

use crate::error::{invalid, OrSql, SqlResult};
use crate::gucs::MAX_WORKERS;
use crate::source::check_single_select;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::prelude::*;
use pgrx::{register_xact_callback, PgXactCallbackEvent};
use std::time::{Duration, Instant};

/// Functions a job may call: the ones that take long enough to want a worker.
const ALLOWED: [&str; 15] = [
    "train_recommender",
    "retrain",
    "tune_recommender",
    "evaluate_recommender",
    "train_policy",
    "evaluate_policy",
    "estimate_policy_value",
    "simulate_campaign",
    "profile",
    "clean",
    "fit_transform",
    "apply_transform",
    "rfm",
    "user_features",
    "split",
];

/// The mkt function a command calls, if it is one plain `SELECT ... FROM mkt.f(...)` or
/// `SELECT mkt.f(...)` of an allowed function.
fn called_function(command: &str) -> Option<&'static str> {
    let lower = command.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("select")?;
    let at = rest.find("mkt.")?;
    let before = rest[..at].trim();
    if !(before.is_empty() || before == "*" || before.ends_with("from")) {
        return None;
    }
    let name: String = rest[at + 4..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !rest[at + 4 + name.len()..].trim_start().starts_with('(') {
        return None;
    }
    ALLOWED.iter().find(|a| **a == name).copied()
}

/// Marks running jobs whose worker is gone as failed.
fn reap_dead() -> SqlResult<()> {
    Spi::run(
        "UPDATE mkt.job_queue q SET state = 'failed', finished_at = now(),
                error = 'the worker ended without finishing (killed, or the server restarted)'
         WHERE q.state = 'running'
           AND (q.started_at < pg_postmaster_start_time()
                OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = q.worker_pid))",
    )
    .sql()
}

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

#[pg_extern(volatile, parallel_unsafe)]
fn submit_job(command: &str, priority: default!(i32, 0)) -> Result<i64, ErrorReport> {
    if called_function(command).is_none() {
        return Err(invalid(format!(
            "a job must be one SELECT of one of the functions mkt.{}; got: {command}",
            ALLOWED.join(", mkt.")
        )));
    }
    check_single_select(command)?;
    reap_dead()?;
    let (db, role) = unsafe { (pg_sys::MyDatabaseId, pg_sys::GetUserId()) };
    let id = Spi::get_one_with_args::<i64>(
        "INSERT INTO mkt.job_queue (command, priority, role_oid, database_oid)
         VALUES ($1, $2, $3, $4) RETURNING job_id",
        &[command.into(), priority.into(), role.into(), db.into()],
    )
    .sql()?
    .expect("RETURNING gives a row");
    // The worker must see the row: start it once this transaction has committed.
    register_xact_callback(PgXactCallbackEvent::Commit, move || {
        launch(id, db, role);
    });
    Ok(id)
}

#[pg_extern(volatile, parallel_unsafe)]
fn cancel_job(job_id: i64) -> Result<bool, ErrorReport> {
    let row = Spi::get_two_with_args::<String, i32>(
        "UPDATE mkt.job_queue SET cancel_requested = true,
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
         WHERE job_id = $1 RETURNING state, worker_pid",
        &[job_id.into()],
    );
    let (state, pid) = match row {
        Ok(r) => r,
        Err(pgrx::spi::Error::InvalidPosition) => (None, None),
        Err(e) => return Err(e).sql(),
    };
    match (state.as_deref(), pid) {
        (None, _) => Err(crate::error::report(mkt_core::Error::UndefinedObject(format!(
            "job {job_id} does not exist"
        )))),
        (Some("cancelled"), _) => Ok(true),
        (Some("running"), Some(pid)) => Spi::get_one_with_args::<bool>(
            "SELECT pg_cancel_backend($1)",
            &[pid.into()],
        )
        .sql()
        .map(|b| b.unwrap_or(false)),
        _ => Ok(false),
    }
}

#[pg_extern(volatile, parallel_unsafe)]
fn wait_job(
    job_id: i64,
    timeout: default!(pgrx::datum::Interval, "'1 hour'"),
) -> Result<String, ErrorReport> {
    let micros = Spi::get_one_with_args::<f64>(
        "SELECT (extract(epoch FROM $1::interval) * 1e6)::float8",
        &[timeout.into()],
    )
    .sql()?
    .unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_micros(micros.max(0.0) as u64);
    loop {
        // Each statement of a volatile function takes a fresh snapshot: the worker's commits show.
        let state = Spi::get_one_with_args::<String>(
            "SELECT state FROM mkt.jobs WHERE job_id = $1",
            &[job_id.into()],
        )
        .sql()?
        .ok_or_else(|| {
            crate::error::report(mkt_core::Error::UndefinedObject(format!(
                "job {job_id} does not exist"
            )))
        })?;
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

/// Claims `job_id` if a worker slot of this database is free. Returns the command to run.
fn claim(job_id: i64) -> SqlResult<Option<String>> {
    reap_dead()?;
    // One claimer at a time per database, so the count below cannot race.
    Spi::run("SELECT pg_advisory_xact_lock(hashtext('pg_marketing.jobs'))").sql()?;
    let running = Spi::get_one::<i64>("SELECT count(*) FROM mkt.job_queue WHERE state = 'running'")
        .sql()?
        .unwrap_or(0);
    if running >= MAX_WORKERS.get() as i64 {
        return Ok(None);
    }
    Spi::get_one_with_args::<String>(
        "UPDATE mkt.job_queue SET state = 'running', started_at = now(), worker_pid = pg_backend_pid()
         WHERE job_id = $1 AND state = 'queued' RETURNING command",
        &[job_id.into()],
    )
    .or_else(|e| match e {
        pgrx::spi::Error::InvalidPosition => Ok(None),
        e => Err(e),
    })
    .sql()
}

/// Runs a command and returns its rows as a JSON array.
fn run(command: &str) -> SqlResult<pgrx::JsonB> {
    Spi::get_one::<pgrx::JsonB>(&format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(mkt_job)), '[]') FROM ({command}) AS mkt_job"
    ))
    .sql()
    .map(|j| j.unwrap_or(pgrx::JsonB(serde_json::json!([]))))
}

/// The next queued job of this database and its role, highest priority first.
fn next_queued() -> SqlResult<Option<(i64, u32)>> {
    let r = Spi::get_two::<i64, i64>(
        "SELECT job_id, role_oid::bigint FROM mkt.job_queue WHERE state = 'queued'
         ORDER BY priority DESC, job_id LIMIT 1",
    );
    match r {
        Ok((Some(id), Some(role))) => Ok(Some((id, role as u32))),
        Ok(_) | Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        Err(e) => Err(e).sql(),
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
    let (db, role) = (pg_sys::Oid::from(extra[0]), pg_sys::Oid::from(extra[1]));
    // SIGINT (mkt.cancel_job) keeps its default: cancel the running statement.
    unsafe { pg_sys::BackgroundWorkerUnblockSignals() };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), Some(role));

    let command = BackgroundWorker::transaction(|| claim(job_id).ok().flatten());
    let ran = command.is_some();
    if let Some(command) = command {
        let outcome = PgTryBuilder::new(|| {
            BackgroundWorker::transaction(|| {
                let result = run(&command).map_err(|e| format!("{e:?}"))?;
                Spi::run_with_args(
                    "UPDATE mkt.job_queue SET state = 'succeeded', result = $2, finished_at = now()
                     WHERE job_id = $1",
                    &[job_id.into(), result.into()],
                )
                .map_err(|e| e.to_string())
            })
        })
        .catch_others(|e| Err(caught_message(&e)))
        .execute();
        if let Err(message) = outcome {
            unsafe { pg_sys::AbortCurrentTransaction() };
            BackgroundWorker::transaction(|| {
                let _ = Spi::run_with_args(
                    "UPDATE mkt.job_queue SET finished_at = now(), error = $2,
                            state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END
                     WHERE job_id = $1",
                    &[job_id.into(), message.as_str().into()],
                );
            });
        }
    }
    // Hand the slot on (a worker that found every slot taken leaves its job to those that run).
    if !ran {
        return;
    }
    if let Some((next, next_role)) = BackgroundWorker::transaction(|| next_queued().ok().flatten()) {
        launch(next, db, pg_sys::Oid::from(next_role));
    }
}
