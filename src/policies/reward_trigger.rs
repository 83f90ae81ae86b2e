//! mkt.reward_trigger: a reward for every row inserted into an outcomes table.
//!
//! It reads the two or three columns straight from the inserted tuple: in PL/pgSQL every row was
//! converted to jsonb and mkt.reward called through a query, which cost more than the reward's
//! own write.

use crate::pg::error::{raise, report, SqlResult};
use crate::policies::learn;
use mkt_core::Error;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{JsonB, PgTriggerLevel, PgTriggerOperation, PgTriggerWhen};
use serde_json::Value;
use std::num::NonZeroUsize;

#[pg_trigger]
fn reward_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, std::convert::Infallible> {
    if let Err(e) = fire(trigger) {
        raise(e);
    }
    Ok(None)
}

fn fire(t: &PgTrigger) -> SqlResult<()> {
    let after_insert_row = matches!(t.when(), Ok(PgTriggerWhen::After))
        && matches!(t.level(), PgTriggerLevel::Row)
        && matches!(t.op(), Ok(PgTriggerOperation::Insert));
    if !after_insert_row {
        return Err(report(Error::MisusedCall(
            "mkt.reward_trigger must be an AFTER INSERT ... FOR EACH ROW trigger".into(),
        )));
    }
    let args = t.extra_args().unwrap_or_default();
    if args.len() < 2 {
        return Err(report(Error::invalid(
            "mkt.reward_trigger takes the decision id column and the reward column (or a constant reward), and optionally a next-context column",
        )));
    }
    let row = Row::of(t);
    let Some(id) = row.get(row.column(&args[0])?) else {
        return Ok(()); // an outcome no decision led to
    };
    let Some(id) = as_bigint(id)? else {
        return Ok(());
    };
    let reward = match row.attno(&args[1]) {
        Some(col) => match row.get(col) {
            Some(v) => as_float(v)?,
            None => None,
        },
        None => Some(parse_float(&args[1])?), // a constant: no column has that name
    };
    let next = match args.get(2) {
        Some(col) => row.get(row.column(col)?).map(as_json).transpose()?,
        None => None,
    };
    let Some(reward) = reward else {
        return Err(report(Error::NullValue(format!(
            "the reward column \"{}\" is NULL for decision {id}",
            args[1]
        ))));
    };
    let stored = next.clone().map(JsonB).into();
    learn::reward(id, reward, next, stored, None)
}

/// A column's value with its type.
struct Typed {
    datum: pg_sys::Datum,
    typoid: pg_sys::Oid,
}

/// The inserted row, valid for the trigger's call.
struct Row {
    tuple: *mut pg_sys::HeapTupleData,
    desc: pg_sys::TupleDesc,
    rel: pg_sys::Relation,
}

impl Row {
    fn of(t: &PgTrigger) -> Self {
        let data = t.trigger_data();
        Row {
            tuple: data.tg_trigtuple,
            // SAFETY: the relation is open for the trigger's call.
            desc: unsafe { (*data.tg_relation).rd_att },
            rel: data.tg_relation,
        }
    }

    fn attno(&self, name: &str) -> Option<NonZeroUsize> {
        // SAFETY: `desc` is the relation's descriptor, valid for the call.
        let natts = unsafe { (*self.desc).natts } as usize;
        (0..natts).find_map(|i| {
            // SAFETY: i < natts.
            let att = unsafe { &*(*self.desc).attrs.as_ptr().add(i) };
            (!att.attisdropped && att.name() == name)
                .then(|| NonZeroUsize::new(i + 1))
                .flatten()
        })
    }

    /// The column's number; a name the table lacks is an error.
    fn column(&self, name: &str) -> SqlResult<NonZeroUsize> {
        self.attno(name).ok_or_else(|| {
            // SAFETY: the relation is open for the trigger's call.
            let rel = unsafe { pgrx::PgRelation::from_pg(self.rel) };
            report(Error::UndefinedColumn(format!(
                "column \"{name}\" does not exist in {}.{}",
                rel.namespace(),
                rel.name()
            )))
        })
    }

    /// The column's value, None when it is NULL.
    fn get(&self, attno: NonZeroUsize) -> Option<Typed> {
        // SAFETY: the trigger's tuple matches the relation's descriptor.
        let datum = unsafe { pgrx::heap_getattr_raw(self.tuple, attno, self.desc) };
        // SAFETY: attno is within the descriptor.
        let typoid = unsafe { (*(*self.desc).attrs.as_ptr().add(attno.get() - 1)).atttypid };
        datum.map(|datum| Typed { datum, typoid })
    }
}

fn text_of(v: &Typed) -> String {
    let (mut output, mut varlena) = (pg_sys::InvalidOid, false);
    // SAFETY: the datum is of type `typoid`; the output function returns a palloc'd C string.
    unsafe {
        pg_sys::getTypeOutputInfo(v.typoid, &mut output, &mut varlena);
        let c = pg_sys::OidOutputFunctionCall(output, v.datum);
        std::ffi::CStr::from_ptr(c).to_string_lossy().into_owned()
    }
}

fn as_bigint(v: Typed) -> SqlResult<Option<i64>> {
    // SAFETY: each arm reads the datum as its declared type.
    let n = unsafe {
        match v.typoid {
            pg_sys::INT8OID => i64::from_datum(v.datum, false),
            pg_sys::INT4OID => i32::from_datum(v.datum, false).map(i64::from),
            pg_sys::INT2OID => i16::from_datum(v.datum, false).map(i64::from),
            _ => {
                let text = text_of(&v);
                Some(text.trim().parse::<i64>().map_err(|_| {
                    report(Error::InvalidText(format!(
                        "invalid input syntax for type bigint: \"{text}\""
                    )))
                })?)
            }
        }
    };
    Ok(n)
}

fn parse_float(text: &str) -> SqlResult<f64> {
    text.trim().parse::<f64>().map_err(|_| {
        report(Error::InvalidText(format!(
            "invalid input syntax for type double precision: \"{text}\""
        )))
    })
}

fn as_float(v: Typed) -> SqlResult<Option<f64>> {
    // SAFETY: each arm reads the datum as its declared type.
    unsafe {
        Ok(match v.typoid {
            pg_sys::FLOAT8OID => f64::from_datum(v.datum, false),
            pg_sys::FLOAT4OID => f32::from_datum(v.datum, false).map(f64::from),
            pg_sys::INT8OID => i64::from_datum(v.datum, false).map(|n| n as f64),
            pg_sys::INT4OID => i32::from_datum(v.datum, false).map(f64::from),
            pg_sys::INT2OID => i16::from_datum(v.datum, false).map(f64::from),
            _ => Some(parse_float(&text_of(&v))?),
        })
    }
}

fn as_json(v: Typed) -> SqlResult<Value> {
    if v.typoid != pg_sys::JSONBOID && v.typoid != pg_sys::JSONOID {
        return Err(report(Error::WrongType(
            "the next-context column of mkt.reward_trigger must be jsonb".into(),
        )));
    }
    let text = text_of(&v);
    serde_json::from_str(&text).map_err(|e| report(Error::invalid(format!("next context: {e}"))))
}
