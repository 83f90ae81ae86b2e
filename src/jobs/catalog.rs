//! SQL of background jobs (mkt.job_queue).

use crate::pg::error::{missing_row, OrSql, SqlResult};
use crate::pg::spi;
use pgrx::prelude::*;

/// Marks running jobs whose worker is gone as failed.
pub fn reap_dead() -> SqlResult<()> {
    Spi::run(
        "UPDATE mkt.job_queue q SET state = 'failed', finished_at = now(),
                error = 'the worker ended without finishing (killed, or the server restarted)'
         WHERE q.state = 'running'
           AND (q.started_at < pg_postmaster_start_time()
                OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = q.worker_pid))",
    )
    .sql()
}

pub fn insert(command: &str, priority: i32, role: pg_sys::Oid, db: pg_sys::Oid) -> SqlResult<i64> {
    spi::update_first::<i64>(
        "INSERT INTO mkt.job_queue (command, priority, role_oid, database_oid)
         VALUES ($1, $2, $3, $4) RETURNING job_id",
        &[command.into(), priority.into(), role.into(), db.into()],
    )?
    .ok_or_else(|| missing_row("INSERT INTO mkt.job_queue"))
}

/// Asks a job to stop: a queued one is cancelled at once. Returns its state and worker, or None
/// when there is no such job.
pub fn request_cancel(job_id: i64) -> SqlResult<Option<(Option<String>, Option<i32>)>> {
    Spi::connect_mut(|c| {
        let t = c.update(
            "UPDATE mkt.job_queue SET cancel_requested = true,
                    state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                    finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
             WHERE job_id = $1 RETURNING state, worker_pid",
            None,
            &[job_id.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some((r.get::<String>(1)?, r.get::<i32>(2)?)))
    })
    .sql()
}

/// Sends the running job's worker a cancel.
pub fn cancel_backend(pid: i32) -> SqlResult<bool> {
    spi::update_first::<bool>("SELECT pg_cancel_backend($1)", &[pid.into()]).map(|b| b.unwrap_or(false))
}

/// Microseconds in an interval.
pub fn micros(timeout: pgrx::datum::Interval) -> SqlResult<f64> {
    spi::select_first::<f64>(
        "SELECT (extract(epoch FROM $1::interval) * 1e6)::float8",
        &[timeout.into()],
    )
    .map(|m| m.unwrap_or(0.0))
}

/// A job's state as mkt.jobs shows it. Run read-write, so each call takes a fresh snapshot and
/// sees what the worker committed meanwhile.
pub fn state(job_id: i64) -> SqlResult<Option<String>> {
    spi::update_first::<String>(
        "SELECT state FROM mkt.jobs WHERE job_id = $1",
        &[job_id.into()],
    )
}

/// Claims `job_id` if a worker slot of this database is free (`max_workers` run at once).
/// Returns the command to run.
pub fn claim(job_id: i64, max_workers: i64) -> SqlResult<Option<String>> {
    reap_dead()?;
    // One claimer at a time per database, so the count below cannot race.
    Spi::run("SELECT pg_advisory_xact_lock(hashtext('pg_marketing.jobs'))").sql()?;
    let running = spi::update_first::<i64>(
        "SELECT count(*) FROM mkt.job_queue WHERE state = 'running'",
        &[],
    )?
    .unwrap_or(0);
    if running >= max_workers {
        return Ok(None);
    }
    spi::update_first::<String>(
        "UPDATE mkt.job_queue SET state = 'running', started_at = now(), worker_pid = pg_backend_pid()
         WHERE job_id = $1 AND state = 'queued' RETURNING command",
        &[job_id.into()],
    )
}

/// Runs a command (which writes: read-write) and returns its rows as a JSON array.
pub fn run(command: &str) -> SqlResult<pgrx::JsonB> {
    spi::update_first::<pgrx::JsonB>(
        &format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(mkt_job)), '[]') FROM ({command}) AS mkt_job"
        ),
        &[],
    )
    .map(|j| j.unwrap_or(pgrx::JsonB(serde_json::json!([]))))
}

pub fn succeeded(job_id: i64, result: pgrx::JsonB) -> SqlResult<()> {
    spi::execute(
        "UPDATE mkt.job_queue SET state = 'succeeded', result = $2, finished_at = now()
         WHERE job_id = $1",
        &[job_id.into(), result.into()],
    )
    .map(|_| ())
}

pub fn failed(job_id: i64, message: &str) -> SqlResult<()> {
    spi::execute(
        "UPDATE mkt.job_queue SET finished_at = now(), error = $2,
                state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END
         WHERE job_id = $1",
        &[job_id.into(), message.into()],
    )
    .map(|_| ())
}

/// The next queued job of this database and its role, highest priority first.
pub fn next_queued() -> SqlResult<Option<(i64, u32)>> {
    Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT job_id, role_oid::bigint FROM mkt.job_queue WHERE state = 'queued'
             ORDER BY priority DESC, job_id LIMIT 1",
            &[],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(r.get::<i64>(1)?.zip(r.get::<i64>(2)?.map(|o| o as u32)))
    })
    .sql()
}
