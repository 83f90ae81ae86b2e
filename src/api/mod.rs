//! The SQL functions, one module per area.

mod campaign;
mod demo;
mod evaluate;
mod explain;
mod forget;
mod lifecycle;
mod models;
mod offpolicy;
mod policy;
mod prep;
mod report;
mod reward_trigger;
mod serve;
mod split;
mod train;
mod tune;

/// Largest k any function accepts: beyond it a result stops being a ranking and becomes an export.
pub const MAX_K: i32 = 100_000;

pub fn check_k(k: i32) -> crate::error::SqlResult<usize> {
    if k <= 0 || k > MAX_K {
        return Err(crate::error::invalid(format!(
            "k must be between 1 and {MAX_K}, got {k}"
        )));
    }
    Ok(k as usize)
}

/// The elements of a text[] argument (NULL: none); a NULL element is an error naming `what`.
pub fn no_nulls(
    v: Option<Vec<Option<String>>>,
    what: &str,
) -> crate::error::SqlResult<Vec<String>> {
    v.unwrap_or_default()
        .into_iter()
        .map(|s| s.ok_or_else(|| crate::error::invalid(format!("{what} must not contain NULL"))))
        .collect()
}
