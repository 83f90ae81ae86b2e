//! mkt.demo_data: the built-in synthetic shop (schema mkt_demo).

use crate::error::{invalid, OrSql};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Rows per INSERT .. unnest(...) statement.
const CHUNK: usize = 50_000;

/// Runs `sql` once per chunk of `n` rows, with the chunk's columns as array parameters.
fn insert_chunked<'a>(
    c: &mut pgrx::spi::SpiClient,
    n: usize,
    sql: &str,
    args: impl Fn(std::ops::Range<usize>) -> Vec<DatumWithOid<'a>>,
) -> Result<(), pgrx::spi::Error> {
    for s in (0..n).step_by(CHUNK) {
        c.update(sql, None, &args(s..(s + CHUNK).min(n)))?;
        pgrx::check_for_interrupts!();
    }
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn demo_data(
    scale: default!(i32, 1),
) -> Result<TableIterator<'static, (name!(table_name, String), name!(rows, i64))>, ErrorReport> {
    if !(1..=100).contains(&scale) {
        return Err(invalid(format!(
            "scale must be between 1 and 100, got {scale}"
        )));
    }
    let d = mkt_demo::generate(scale as u32);
    pgrx::check_for_interrupts!();
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
    .sql()?;
    Ok(TableIterator::new(vec![
        ("mkt_demo.users".to_string(), d.users.user_id.len() as i64),
        ("mkt_demo.items".to_string(), d.items.item_id.len() as i64),
        ("mkt_demo.events".to_string(), d.events.user_id.len() as i64),
    ]))
}
