//! mkt.raise_error: how the extension's own SQL code (the campaign runtime, mkt.citus_setup)
//! raises its errors, so their SQLSTATEs come from the one mapping in `pg::error`.

use crate::pg::error::{report, required, OrSql};
use mkt_core::Error;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_safe)]
fn raise_error(
    kind: Option<&str>,
    message: Option<&str>,
    hint: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let kind = required(kind, "kind")?;
    let message = required(message, "message")?;
    let e = Error::of_kind(kind, message.to_string()).sql()?;
    Err(match hint {
        Some(h) => report(e).set_hint(h),
        None => report(e),
    })
}
