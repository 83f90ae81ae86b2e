//! SQL of data preparation: stored transforms (mkt.transforms), and the one-value reads and
//! statements that profiling and cleaning run over a source.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source;
use crate::pg::spi;
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_prep::{Fitted, TransformSpec};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

/// The spec and fitted statistics stored under `name` (read-only).
pub fn load_transform(name: &str) -> SqlResult<(TransformSpec, Fitted)> {
    let (spec, stats) = load_transform_json(name)?;
    let parsed = TransformSpec::parse(&spec).sql()?;
    let fitted = Fitted::from_json(&parsed, &stats).sql()?;
    Ok((parsed, fitted))
}

/// The spec and statistics stored under `name`, as stored.
pub fn load_transform_json(name: &str) -> SqlResult<(Value, Value)> {
    let row = Spi::connect(|c| {
        let t = spi::select(
            c,
            "SELECT spec, stats FROM mkt.transforms WHERE transform_name = $1",
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        Ok::<_, pgrx::spi::Error>(Some((r.get::<JsonB>(1)?, r.get::<JsonB>(2)?)))
    })
    .sql()?;
    let Some((Some(spec), Some(stats))) = row else {
        return Err(Error::UndefinedObject(format!(
            "transform {} does not exist",
            quote_shown(name)
        )))
        .sql();
    };
    Ok((spec.0, stats.0))
}

/// Stores a fitted transform; with `replace` an existing one of that name is refitted, else it
/// stays and this returns false.
pub fn store_transform(name: &str, source: &str, spec: &Value, fitted: &Fitted, replace: bool) -> SqlResult<bool> {
    let sql = if replace {
        "INSERT INTO mkt.transforms (transform_name, source, spec, stats, created_by, created_at) \
         VALUES ($1, $2, $3, $4, current_user, now()) \
         ON CONFLICT (transform_name) DO UPDATE SET source = EXCLUDED.source, spec = EXCLUDED.spec, \
         stats = EXCLUDED.stats, created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at RETURNING 1"
    } else {
        "INSERT INTO mkt.transforms (transform_name, source, spec, stats) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (transform_name) DO NOTHING RETURNING 1"
    };
    spi::update_first::<i32>(
        sql,
        &[
            name.into(),
            source.into(),
            JsonB(spec.clone()).into(),
            JsonB(fitted.to_json()).into(),
        ],
    )
    .map(|r| r.is_some())
}

/// One jsonb value computed over a source with the transaction read-only.
pub fn read_json(sql: &str) -> SqlResult<Value> {
    source::read_only(|| spi::select_first::<JsonB>(sql, &[]))
        .map(|v| v.map(|j| j.0).unwrap_or(Value::Null))
}

/// Rows of a (temporary working) table.
pub fn count_rows(table: &str) -> SqlResult<i64> {
    spi::select_first::<i64>(&format!("SELECT count(*) FROM {table}"), &[]).map(|n| n.unwrap_or(0))
}

/// The one number a generated query gives.
pub fn read_count(sql: &str) -> SqlResult<i64> {
    spi::select_first::<i64>(sql, &[]).map(|n| n.unwrap_or(0))
}

/// The two numbers a generated query gives (either may be NULL).
pub fn read_pair(sql: &str) -> SqlResult<(Option<f64>, Option<f64>)> {
    Spi::connect(|s| spi::select(s, sql, &[])?.first().get_two::<f64, f64>()).sql()
}

/// Runs a generated statement on a working table; returns the rows it touched.
pub fn exec(sql: &str) -> SqlResult<i64> {
    spi::execute(sql, &[])
}

/// A temporary working copy of `from`, dropped at commit.
pub fn create_work_table(name: &str, from: &str) -> SqlResult<String> {
    source::drop_temp(name)?;
    exec(&format!(
        "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM {from}",
        mkt_core::names::quote_ident(name)
    ))?;
    Ok(format!("pg_temp.{}", mkt_core::names::quote_ident(name)))
}

/// Rows per INSERT .. unnest(...) statement of the demo data.
const CHUNK: usize = 50_000;

/// Runs `sql` once per chunk of `n` rows, with the chunk's columns as array parameters.
fn insert_chunked<'a>(
    c: &mut pgrx::spi::SpiClient,
    n: usize,
    sql: &str,
    args: impl Fn(std::ops::Range<usize>) -> Vec<pgrx::datum::DatumWithOid<'a>>,
) -> Result<(), pgrx::spi::Error> {
    for s in (0..n).step_by(CHUNK) {
        c.update(sql, None, &args(s..(s + CHUNK).min(n)))?;
        pgrx::check_for_interrupts!();
    }
    Ok(())
}

/// (Re)creates schema mkt_demo with the synthetic shop's users, items and events.
pub fn write_demo(d: &mkt_demo::DemoData) -> SqlResult<()> {
    Spi::connect_mut(|c| {
        c.update(
            "CREATE SCHEMA IF NOT EXISTS mkt_demo;
             DROP TABLE IF EXISTS mkt_demo.events, mkt_demo.users, mkt_demo.items;
             CREATE TABLE mkt_demo.users (user_id bigint PRIMARY KEY, segment text NOT NULL,
                 region text NOT NULL, age_band text NOT NULL);
             CREATE TABLE mkt_demo.items (item_id bigint PRIMARY KEY, category text NOT NULL,
                 price numeric(10,2) NOT NULL);
             CREATE TABLE mkt_demo.events (user_id bigint NOT NULL, item_id bigint NOT NULL,
                 event_type text NOT NULL CHECK (event_type IN ('view', 'cart', 'purchase')),
                 ts timestamptz NOT NULL, value numeric(12,2) NOT NULL);",
            None,
            &[],
        )?;
        let u = &d.users;
        insert_chunked(
            c,
            u.user_id.len(),
            "INSERT INTO mkt_demo.users SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[])",
            |r| {
                vec![
                    u.user_id[r.clone()].to_vec().into(),
                    u.segment[r.clone()].to_vec().into(),
                    u.region[r.clone()].to_vec().into(),
                    u.age_band[r].to_vec().into(),
                ]
            },
        )?;
        let it = &d.items;
        insert_chunked(
            c,
            it.item_id.len(),
            "INSERT INTO mkt_demo.items SELECT i, c, p / 100.0 FROM unnest($1::int8[], $2::text[], $3::int8[]) AS t(i, c, p)",
            |r| {
                vec![
                    it.item_id[r.clone()].to_vec().into(),
                    it.category[r.clone()].to_vec().into(),
                    it.price_cents[r].to_vec().into(),
                ]
            },
        )?;
        let ev = &d.events;
        insert_chunked(
            c,
            ev.user_id.len(),
            "INSERT INTO mkt_demo.events SELECT u, i, t, \
             'epoch'::timestamptz + ts * interval '1 microsecond', v / 100.0 \
             FROM unnest($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::int8[]) AS x(u, i, t, ts, v)",
            |r| {
                vec![
                    ev.user_id[r.clone()].to_vec().into(),
                    ev.item_id[r.clone()].to_vec().into(),
                    ev.event_type[r.clone()].to_vec().into(),
                    ev.ts_micros[r.clone()].to_vec().into(),
                    ev.value_cents[r].to_vec().into(),
                ]
            },
        )?;
        c.update(
            "CREATE INDEX ON mkt_demo.events (user_id, ts);
             ANALYZE mkt_demo.users; ANALYZE mkt_demo.items; ANALYZE mkt_demo.events;",
            None,
            &[],
        )?;
        Ok::<_, pgrx::spi::Error>(())
    })
    .sql()
}
