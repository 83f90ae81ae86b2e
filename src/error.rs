//! The one place where errors become SQLSTATEs.

use mkt_core::Error;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode as C;

pub type SqlResult<T> = Result<T, ErrorReport>;

fn code(e: &Error) -> C {
    match e {
        Error::InvalidParameter(_) | Error::UnknownName { .. } => {
            C::ERRCODE_INVALID_PARAMETER_VALUE
        }
        Error::EmptyData(_) => C::ERRCODE_DATA_EXCEPTION,
        Error::InvalidWeight(_) => C::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        Error::TooLarge(_) => C::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        Error::InvalidName(_) => C::ERRCODE_INVALID_NAME,
        Error::NotASelect(_) => C::ERRCODE_WRONG_OBJECT_TYPE,
        Error::UndefinedTable(_) => C::ERRCODE_UNDEFINED_TABLE,
        Error::UndefinedColumn(_) => C::ERRCODE_UNDEFINED_COLUMN,
        Error::WrongType(_) => C::ERRCODE_DATATYPE_MISMATCH,
        Error::UndefinedObject(_) => C::ERRCODE_UNDEFINED_OBJECT,
        Error::DuplicateObject(_) => C::ERRCODE_DUPLICATE_OBJECT,
        Error::InvalidState(_) => C::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        Error::NotSupported(_) => C::ERRCODE_FEATURE_NOT_SUPPORTED,
        Error::Corrupted(_) => C::ERRCODE_DATA_CORRUPTED,
        Error::Compute(_) => C::ERRCODE_SYSTEM_ERROR,
    }
}

pub fn report(e: Error) -> ErrorReport {
    ErrorReport::new(code(&e), e.to_string(), "pg_marketing")
}

/// `?`-friendly conversion of the pure crates' and SPI's errors.
pub trait OrSql<T> {
    fn sql(self) -> SqlResult<T>;
}

impl<T> OrSql<T> for Result<T, Error> {
    fn sql(self) -> SqlResult<T> {
        self.map_err(report)
    }
}

impl<T> OrSql<T> for Result<T, pgrx::spi::Error> {
    fn sql(self) -> SqlResult<T> {
        self.map_err(|e| {
            ErrorReport::new(
                C::ERRCODE_INTERNAL_ERROR,
                format!("SPI: {e}"),
                "pg_marketing",
            )
        })
    }
}

/// Shorthand for argument errors raised directly by the SQL layer.
pub fn invalid(msg: impl Into<String>) -> ErrorReport {
    report(Error::InvalidParameter(msg.into()))
}
