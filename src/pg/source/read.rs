//! Streaming a source's columns through the executor into columnar buffers.

use super::{read_only, Column, ColKind, Resolved};
use crate::pg::error::{invalid, report, OrSql, SqlResult};
use crate::pg::spi;
use mkt_core::ids::{IdColumn, IdKind};
use mkt_core::names::quote_ident;
use mkt_core::Error;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

/// What to read: two id columns and optionally a weight and a time.
pub struct PairSpec<'a> {
    pub user: (&'a str, IdKind),
    pub item: (&'a str, IdKind),
    pub weight: Option<&'a str>,
    /// A timestamp, date or numeric column, read as seconds.
    pub time: Option<&'a Column>,
}

pub struct Pairs {
    pub users: IdColumn,
    pub items: IdColumn,
    pub weights: Vec<f64>,
    /// Empty unless a time column was read.
    pub times: Vec<f64>,
    /// Rows skipped because an id (or the weight) was NULL.
    pub skipped_nulls: u64,
}

/// One column the executor fills: ids (int8 or text) or float8s.
pub enum Target {
    Ids(IdColumn),
    Floats(Vec<f64>),
}

impl Target {
    fn cast(&self) -> &'static str {
        match self {
            Target::Ids(IdColumn::Int(_)) => "int8",
            Target::Ids(IdColumn::Text(_)) => "text",
            Target::Floats(_) => "float8",
        }
    }

    /// SAFETY: `datum` is a non-NULL value of this target's cast type, alive for the call.
    unsafe fn push(&mut self, datum: pg_sys::Datum) {
        match self {
            Target::Ids(IdColumn::Int(v)) => v.push(datum.value() as i64),
            Target::Ids(IdColumn::Text(v)) => {
                let s = <&str>::from_datum(datum, false).unwrap_or_default();
                v.push(s.to_string());
            }
            Target::Floats(v) => v.push(f64::from_bits(datum.value() as u64)),
        }
    }

    pub fn into_ids(self) -> IdColumn {
        match self {
            Target::Ids(c) => c,
            Target::Floats(_) => IdColumn::Int(Vec::new()),
        }
    }

    pub fn into_floats(self) -> Vec<f64> {
        match self {
            Target::Floats(v) => v,
            Target::Ids(_) => Vec::new(),
        }
    }
}

/// Receives the rows of a columnar read straight from the executor's slots: no tuple is copied
/// into an SPI table, which roughly halves the cost of a read. The executor checks for interrupts
/// as it scans, so a long read stays cancellable.
#[repr(C)]
struct ColumnarReceiver {
    /// Must come first: the executor sees a plain DestReceiver.
    base: pg_sys::DestReceiver,
    out: *mut Vec<Target>,
    skipped_nulls: u64,
    /// Holds detoasted text ids between resets.
    scratch: pg_sys::MemoryContext,
    since_reset: u32,
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_row(
    slot: *mut pg_sys::TupleTableSlot,
    dest: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `dest` is the ColumnarReceiver read_columnar passed to the executor, alive for the
    // call; the slot holds the query's columns, typed by the targets' casts.
    let r = &mut *(dest as *mut ColumnarReceiver);
    let out = &mut *r.out;
    let natts = out.len() as i32;
    if ((*slot).tts_nvalid as i32) < natts {
        pg_sys::slot_getsomeattrs_int(slot, natts);
    }
    let values = std::slice::from_raw_parts((*slot).tts_values, natts as usize);
    let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts as usize);
    if nulls.iter().any(|&n| n) {
        r.skipped_nulls += 1;
        return true;
    }
    let old = pg_sys::MemoryContextSwitchTo(r.scratch);
    for (target, &v) in out.iter_mut().zip(values) {
        target.push(v);
    }
    pg_sys::MemoryContextSwitchTo(old);
    r.since_reset += 1;
    if r.since_reset == 4096 {
        pg_sys::MemoryContextReset(r.scratch);
        r.since_reset = 0;
    }
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn receiver_startup(
    _dest: *mut pg_sys::DestReceiver,
    _operation: std::ffi::c_int,
    _desc: pg_sys::TupleDesc,
) {
}

#[pg_guard]
unsafe extern "C-unwind" fn receiver_noop(_dest: *mut pg_sys::DestReceiver) {}

/// Streams `exprs` (SQL expressions over the source, each cast to its target's type) into the
/// targets, skipping rows with a NULL in any of them; returns how many were skipped.
pub fn read_columnar(src: &Resolved, exprs: &[String], targets: &mut Vec<Target>) -> SqlResult<u64> {
    let select: Vec<String> = exprs
        .iter()
        .zip(targets.iter())
        .map(|(e, t)| format!("({e})::{}", t.cast()))
        .collect();
    let sql = format!("SELECT {} FROM {}", select.join(", "), src.from);
    let mut scratch = PgMemoryContexts::new("pg_marketing read");
    let mut receiver = ColumnarReceiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_row),
            rStartup: Some(receiver_startup),
            rShutdown: Some(receiver_noop),
            rDestroy: Some(receiver_noop),
            mydest: pg_sys::CommandDest::DestNone,
        },
        out: targets,
        skipped_nulls: 0,
        scratch: scratch.value(),
        since_reset: 0,
    };
    let sql_c = std::ffi::CString::new(sql)
        .map_err(|_| invalid("the source contains a NUL character"))?;
    read_only(|| {
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection, on the main thread; the receiver and the buffers
            // it points to outlive the execution, which runs to completion or raises an ERROR.
            unsafe {
                let plan = pg_sys::SPI_prepare(sql_c.as_ptr(), 0, std::ptr::null_mut());
                if plan.is_null() {
                    let code = pg_sys::SPI_result;
                    return Err(report(Error::Internal(format!(
                        "could not prepare the read of the source: SPI code {code}"
                    ))));
                }
                let options = pg_sys::SPIExecuteOptions {
                    read_only: true,
                    dest: &mut receiver.base,
                    ..Default::default()
                };
                let rc = pg_sys::SPI_execute_plan_extended(plan, &options);
                pg_sys::SPI_freeplan(plan);
                // A SELECT whose rows go to a DestNone receiver reports SPI_OK_UTILITY.
                if rc != pg_sys::SPI_OK_SELECT as i32 && rc != pg_sys::SPI_OK_UTILITY as i32 {
                    return Err(report(Error::Internal(format!(
                        "reading the source failed: SPI code {rc}"
                    ))));
                }
            }
            Ok(())
        })
    })?;
    let skipped = receiver.skipped_nulls;
    // SAFETY: nothing refers to the context any more.
    unsafe { scratch.reset() };
    Ok(skipped)
}

/// Streams the pairs from the executor into columnar buffers.
pub fn read_pairs(src: &Resolved, spec: &PairSpec) -> SqlResult<Pairs> {
    let mut exprs = vec![quote_ident(spec.user.0), quote_ident(spec.item.0)];
    let mut targets = vec![
        Target::Ids(IdColumn::new(spec.user.1)),
        Target::Ids(IdColumn::new(spec.item.1)),
    ];
    if let Some(w) = spec.weight {
        exprs.push(quote_ident(w));
        targets.push(Target::Floats(Vec::new()));
    }
    if let Some(c) = spec.time {
        exprs.push(match c.kind {
            ColKind::Time => format!("pg_catalog.date_part('epoch', {})", quote_ident(&c.name)),
            _ => quote_ident(&c.name),
        });
        targets.push(Target::Floats(Vec::new()));
    }
    let skipped_nulls = read_columnar(src, &exprs, &mut targets)?;
    let mut t = targets.into_iter();
    let users = t.next().map(Target::into_ids).unwrap_or(IdColumn::Int(Vec::new()));
    let items = t.next().map(Target::into_ids).unwrap_or(IdColumn::Int(Vec::new()));
    let weights = if spec.weight.is_some() { t.next().map(Target::into_floats).unwrap_or_default() } else { Vec::new() };
    let times = if spec.time.is_some() { t.next().map(Target::into_floats).unwrap_or_default() } else { Vec::new() };
    Ok(Pairs { users, items, weights, times, skipped_nulls })
}

/// The type one column is read as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Want {
    Float,
    Text,
    Json,
}

/// One column of a source, read in full.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Json(Vec<Option<serde_json::Value>>),
}

fn read_as(wanted: &str) -> pgrx::pg_sys::panic::ErrorReport {
    report(Error::Internal(format!("a column was not read as {wanted}")))
}

impl ColumnData {
    pub fn floats(&self) -> SqlResult<&[Option<f64>]> {
        match self {
            ColumnData::Float(v) => Ok(v),
            _ => Err(read_as("float8")),
        }
    }
    pub fn texts(&self) -> SqlResult<&[Option<String>]> {
        match self {
            ColumnData::Text(v) => Ok(v),
            _ => Err(read_as("text")),
        }
    }
    pub fn jsons(&self) -> SqlResult<&[Option<serde_json::Value>]> {
        match self {
            ColumnData::Json(v) => Ok(v),
            _ => Err(read_as("jsonb")),
        }
    }
}

/// Reads whole columns (cast to float8, text or jsonb) through a cursor, checking for interrupts
/// between batches. For modest sources (decision logs); pairs for training use `read_pairs`.
pub fn read_columns(src: &Resolved, cols: &[(&str, Want)]) -> SqlResult<Vec<ColumnData>> {
    let exprs: Vec<String> = cols
        .iter()
        .map(|(name, want)| {
            let cast = match want {
                Want::Float => "float8",
                Want::Text => "text",
                Want::Json => "jsonb",
            };
            format!("{}::{cast}", quote_ident(name))
        })
        .collect();
    let sql = format!("SELECT {} FROM {}", exprs.join(", "), src.from);
    let mut out: Vec<ColumnData> = cols
        .iter()
        .map(|(_, w)| match w {
            Want::Float => ColumnData::Float(Vec::new()),
            Want::Text => ColumnData::Text(Vec::new()),
            Want::Json => ColumnData::Json(Vec::new()),
        })
        .collect();
    read_only(|| {
        Spi::connect(|c| {
            let mut cursor = spi::open_cursor(c, &sql, &[])?;
            loop {
                let table = cursor.fetch(10_000)?;
                if table.is_empty() {
                    break;
                }
                for row in table {
                    for (i, col) in out.iter_mut().enumerate() {
                        match col {
                            ColumnData::Float(v) => v.push(row.get::<f64>(i + 1)?),
                            ColumnData::Text(v) => v.push(row.get::<String>(i + 1)?),
                            ColumnData::Json(v) => {
                                v.push(row.get::<pgrx::JsonB>(i + 1)?.map(|j| j.0))
                            }
                        }
                    }
                }
                pgrx::check_for_interrupts!();
            }
            Ok::<_, pgrx::spi::Error>(())
        })
    })
    .sql()?;
    Ok(out)
}

