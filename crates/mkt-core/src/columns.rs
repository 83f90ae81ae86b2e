//! The columns of a source as the extension reads them: a name, the SQL type's name, and the kind
//! it can be used as. Finding a column a caller named, with errors that list what exists.

use crate::ids::IdKind;
use crate::names::{quote_literal, quote_shown};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColKind {
    Id(IdKind),
    Number,
    Time,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    pub kind: ColKind,
}

impl Column {
    pub fn new(name: &str, type_name: &str, kind: ColKind) -> Self {
        Column {
            name: name.to_string(),
            type_name: type_name.to_string(),
            kind,
        }
    }

    /// Numbers and integer ids: what can be read as float8.
    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, ColKind::Number | ColKind::Id(IdKind::Int))
    }
}

/// Finds a column by exact name, else case-insensitively; the error lists what exists.
pub fn find<'a>(cols: &'a [Column], name: &str, role: &str) -> Result<&'a Column> {
    cols.iter()
        .find(|c| c.name == name)
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            let have: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
            Error::UndefinedColumn(format!(
                "{role} column {} does not exist in the source; its columns are: {}",
                quote_shown(name),
                have.join(", ")
            ))
        })
}

/// Finds a column by its exact name (for names that end up in generated code or output column
/// names); a name that matches only case-insensitively is an error that says so.
pub fn find_exact<'a>(cols: &'a [Column], name: &str, role: &str) -> Result<&'a Column> {
    let col = find(cols, name, role)?;
    if col.name != name {
        return Err(Error::UndefinedColumn(format!(
            "{role} column {} does not exist in the source (did you mean {}?)",
            quote_shown(name),
            quote_literal(&col.name)
        )));
    }
    Ok(col)
}

pub fn id_kind(col: &Column, role: &str) -> Result<IdKind> {
    match col.kind {
        ColKind::Id(k) => Ok(k),
        _ => Err(Error::WrongType(format!(
            "{role} column {} has type {}; ids must be an integer or text type",
            quote_literal(&col.name),
            col.type_name
        ))),
    }
}

/// A time column: a timestamp, date or number (seconds).
pub fn check_time(col: &Column, role: &str) -> Result<()> {
    check_kind(col, role, true, "a timestamp, a date or a number of seconds")
}

pub fn check_number(col: &Column, role: &str) -> Result<()> {
    check_kind(col, role, false, "numeric")
}

/// A timestamp or date column (not seconds), by name.
pub fn find_timestamp<'a>(cols: &'a [Column], name: &str) -> Result<&'a Column> {
    let time = find(cols, name, "time")?;
    if time.kind != ColKind::Time {
        return Err(Error::WrongType(format!(
            "time column {} has type {}; it must be a timestamp or date",
            quote_literal(&time.name),
            time.type_name
        )));
    }
    Ok(time)
}

/// Numbers (and integer ids) pass, and times where `time_ok`; anything else is WrongType.
fn check_kind(col: &Column, role: &str, time_ok: bool, wanted: &str) -> Result<()> {
    match col.kind {
        ColKind::Number | ColKind::Id(IdKind::Int) => Ok(()),
        ColKind::Time if time_ok => Ok(()),
        _ => Err(Error::WrongType(format!(
            "{role} column {} has type {}; it must be {wanted}",
            quote_literal(&col.name),
            col.type_name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("UserId", "bigint", ColKind::Id(IdKind::Int)),
            Column::new("ts", "timestamp with time zone", ColKind::Time),
            Column::new("label", "text", ColKind::Id(IdKind::Text)),
        ]
    }

    #[test]
    fn names_match_exactly_then_case_insensitively() {
        let c = cols();
        assert_eq!(find(&c, "userid", "user").unwrap().name, "UserId");
        let e = find_exact(&c, "userid", "user").unwrap_err().to_string();
        assert!(e.contains("did you mean 'UserId'"), "{e}");
        let e = find(&c, "nope", "item").unwrap_err();
        assert_eq!(
            e.to_string(),
            "item column 'nope' does not exist in the source; its columns are: UserId, ts, label"
        );
        assert!(matches!(e, Error::UndefinedColumn(_)));
    }

    #[test]
    fn kinds_are_checked_for_their_use() {
        let c = cols();
        assert_eq!(id_kind(&c[0], "user").unwrap(), IdKind::Int);
        assert!(matches!(id_kind(&c[1], "user"), Err(Error::WrongType(_))));
        assert!(check_time(&c[1], "time").is_ok() && check_time(&c[0], "time").is_ok());
        assert!(check_number(&c[1], "weight").is_err());
        assert!(check_time(&c[2], "time").unwrap_err().to_string().contains("has type text"));
        assert!(find_timestamp(&c, "UserId").is_err() && find_timestamp(&c, "ts").is_ok());
        assert!(c[0].is_numeric() && !c[2].is_numeric());
    }
}
