//! Checks of argument values that several areas share.

use crate::pg::error::{invalid, SqlResult};

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
