//! Checks of argument values that several areas share, and arguments passed on as given.

use crate::pg::error::{invalid, SqlResult};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;

/// Largest k any function accepts: beyond it a result stops being a ranking and becomes an export.
pub const MAX_K: i32 = 100_000;

pub fn check_k(k: i32) -> SqlResult<usize> {
    if k <= 0 || k > MAX_K {
        return Err(invalid(format!(
            "k must be between 1 and {MAX_K}, got {k}"
        )));
    }
    Ok(k as usize)
}

/// The elements of a text[] argument (NULL: none); a NULL element is an error naming `what`.
pub fn no_nulls(v: Option<Vec<Option<String>>>, what: &str) -> SqlResult<Vec<String>> {
    v.unwrap_or_default()
        .into_iter()
        .map(|s| s.ok_or_else(|| invalid(format!("{what} must not contain NULL"))))
        .collect()
}

/// A jsonb argument of the current call exactly as the caller passed it, for storing: read
/// through serde_json and written back, 19.90 would become 19.9, an integer past 2^53 would be
/// rounded and 1e-400 would become 0.
#[derive(Clone, Copy)]
pub struct GivenJsonb(Option<pg_sys::Datum>);

impl GivenJsonb {
    /// Argument `n` (from 0) of the call `fcinfo` stands for, which the function's signature
    /// declares jsonb.
    pub fn of(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> Self {
        // SAFETY: `fcinfo` is the current call's, read on the main thread while the call lasts;
        // its first `nargs` arguments are set, and a NULL pointer or a shorter list gives None.
        let datum = unsafe {
            fcinfo.as_ref().and_then(|f| {
                let nargs = usize::try_from(f.nargs).unwrap_or(0);
                let a = (n < nargs).then(|| f.args.as_slice(nargs)[n])?;
                (!a.isnull).then_some(a.value)
            })
        };
        GivenJsonb(datum)
    }

    /// The value as a statement parameter of type jsonb (NULL when the argument was NULL).
    pub fn param(&self) -> DatumWithOid<'_> {
        match self.0 {
            // SAFETY: a jsonb datum the executor passed to this call, which outlives the statement
            // it is given to.
            Some(d) => unsafe { DatumWithOid::new(d, pg_sys::JSONBOID) },
            None => DatumWithOid::null_oid(pg_sys::JSONBOID),
        }
    }
}
