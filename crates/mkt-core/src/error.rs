//! The one error type of the pure crates. The SQL layer maps each variant to a SQLSTATE in one place.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// An argument or parameter has a value outside its domain.
    #[error("{0}")]
    InvalidParameter(String),
    /// A name (algorithm, parameter, method) that is not one of the accepted ones.
    #[error("unknown {what} \"{given}\"; valid values are: {valid}")]
    UnknownName {
        what: &'static str,
        given: String,
        valid: String,
    },
    /// The input holds no usable rows.
    #[error("{0}")]
    EmptyData(String),
    /// A weight that is NaN, infinite or negative.
    #[error("{0}")]
    InvalidWeight(String),
    /// The work would need more memory (or items) than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A relation or query text that cannot be used as a source.
    #[error("{0}")]
    InvalidName(String),
    /// An object of the wrong kind for the operation: a query source that is not one plain SELECT,
    /// a view where a table is needed.
    #[error("{0}")]
    WrongObjectType(String),
    #[error("{0}")]
    UndefinedTable(String),
    #[error("{0}")]
    UndefinedColumn(String),
    /// A column or id of a type the operation cannot use.
    #[error("{0}")]
    WrongType(String),
    /// A model, version or other catalog object that does not exist.
    #[error("{0}")]
    UndefinedObject(String),
    /// A catalog object that exists already.
    #[error("{0}")]
    DuplicateObject(String),
    /// The current role lacks a privilege on a catalog object.
    #[error("{0}")]
    PermissionDenied(String),
    /// NULL for an argument that needs a value.
    #[error("{0}")]
    NullValue(String),
    /// A call that writes, made where nothing may be written (a hot standby).
    #[error("{0}")]
    ReadOnly(String),
    /// An operation that the object's current state does not allow (e.g. a second reward).
    #[error("{0}")]
    InvalidState(String),
    /// A file the extension needs (a text model's weights) that is not where it is looked for.
    #[error("{0}")]
    MissingFile(String),
    /// An operation the chosen model cannot do.
    #[error("{0}")]
    NotSupported(String),
    /// The numeric backend (candle, a GPU driver) failed.
    #[error("tensor computation failed: {0}")]
    Compute(String),
    /// Stored model bytes that do not decode.
    #[error("model data is corrupted: {0}")]
    Corrupted(String),
    /// A value whose text is not of the type it must be read as (a reward that is not a number).
    #[error("{0}")]
    InvalidText(String),
    /// A function called in a way its protocol does not allow (a row trigger attached as a
    /// BEFORE or statement-level trigger).
    #[error("{0}")]
    MisusedCall(String),
    /// A step of the extension's own machinery failed where it never should (a catalog query
    /// that returned no row, a value of an unexpected type): a bug to report, not a bad input.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The kinds of error SQL code of the extension (PL/pgSQL) raises through `mkt.raise_error`, so
/// its SQLSTATEs come from the same mapping as everything else's.
pub const KINDS: [&str; 12] = [
    "invalid_parameter",
    "empty_data",
    "wrong_object_type",
    "undefined_table",
    "undefined_column",
    "wrong_type",
    "undefined_object",
    "duplicate_object",
    "permission_denied",
    "null_value",
    "invalid_state",
    "not_supported",
];

impl Error {
    /// The error of kind `kind` (one of `KINDS`) with `message`.
    pub fn of_kind(kind: &str, message: String) -> Result<Self> {
        Ok(match kind {
            "invalid_parameter" => Error::InvalidParameter(message),
            "empty_data" => Error::EmptyData(message),
            "wrong_object_type" => Error::WrongObjectType(message),
            "undefined_table" => Error::UndefinedTable(message),
            "undefined_column" => Error::UndefinedColumn(message),
            "wrong_type" => Error::WrongType(message),
            "undefined_object" => Error::UndefinedObject(message),
            "duplicate_object" => Error::DuplicateObject(message),
            "permission_denied" => Error::PermissionDenied(message),
            "null_value" => Error::NullValue(message),
            "invalid_state" => Error::InvalidState(message),
            "not_supported" => Error::NotSupported(message),
            other => return Err(Error::unknown("error kind", other, &KINDS)),
        })
    }

    /// The same error with `prefix` before its message (say which row of a log it came from).
    pub fn with_prefix(self, prefix: &str) -> Self {
        let p = |m: String| format!("{prefix}{m}");
        match self {
            Error::InvalidParameter(m) => Error::InvalidParameter(p(m)),
            Error::UnknownName { what, given, valid } => {
                Error::InvalidParameter(p(format!("unknown {what} \"{given}\"; valid values are: {valid}")))
            }
            Error::EmptyData(m) => Error::EmptyData(p(m)),
            Error::InvalidWeight(m) => Error::InvalidWeight(p(m)),
            Error::TooLarge(m) => Error::TooLarge(p(m)),
            Error::InvalidName(m) => Error::InvalidName(p(m)),
            Error::WrongObjectType(m) => Error::WrongObjectType(p(m)),
            Error::UndefinedTable(m) => Error::UndefinedTable(p(m)),
            Error::UndefinedColumn(m) => Error::UndefinedColumn(p(m)),
            Error::WrongType(m) => Error::WrongType(p(m)),
            Error::UndefinedObject(m) => Error::UndefinedObject(p(m)),
            Error::DuplicateObject(m) => Error::DuplicateObject(p(m)),
            Error::PermissionDenied(m) => Error::PermissionDenied(p(m)),
            Error::NullValue(m) => Error::NullValue(p(m)),
            Error::ReadOnly(m) => Error::ReadOnly(p(m)),
            Error::InvalidState(m) => Error::InvalidState(p(m)),
            Error::MissingFile(m) => Error::MissingFile(p(m)),
            Error::NotSupported(m) => Error::NotSupported(p(m)),
            Error::Compute(m) => Error::Compute(p(m)),
            Error::Corrupted(m) => Error::Corrupted(p(m)),
            Error::InvalidText(m) => Error::InvalidText(p(m)),
            Error::MisusedCall(m) => Error::MisusedCall(p(m)),
            Error::Internal(m) => Error::Internal(p(m)),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidParameter(msg.into())
    }

    pub fn unknown(what: &'static str, given: &str, valid: &[&str]) -> Self {
        Error::UnknownName {
            what,
            given: given.to_string(),
            valid: valid.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_variant() {
        for k in KINDS {
            let e = Error::of_kind(k, "m".into()).unwrap();
            assert_eq!(e.to_string(), "m");
        }
        assert!(matches!(Error::of_kind("undefined_object", "x".into()), Ok(Error::UndefinedObject(_))));
        let e = Error::WrongType("m".into()).with_prefix("row 3: ");
        assert_eq!(e, Error::WrongType("row 3: m".into()), "the kind stays");
        let e = Error::of_kind("oops", "m".into()).unwrap_err();
        assert!(e.to_string().starts_with("unknown error kind \"oops\""), "{e}");
    }
}
