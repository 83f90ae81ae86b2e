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
    #[error("{0}")]
    NotASelect(String),
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
    /// A trigger function attached where it cannot work (a BEFORE or statement-level trigger).
    #[error("{0}")]
    TriggerMisuse(String),
}

impl Error {
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
