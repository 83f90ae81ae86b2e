//! The one place where errors become SQLSTATEs.
//!
//! Everything the extension raises is a `mkt_core::Error`; this module alone decides its
//! SQLSTATE. Errors PostgreSQL raises itself while running our statements (a missing relation, a
//! privilege, a cancel) pass through with their own code.

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
        Error::WrongObjectType(_) => C::ERRCODE_WRONG_OBJECT_TYPE,
        Error::UndefinedTable(_) => C::ERRCODE_UNDEFINED_TABLE,
        Error::UndefinedColumn(_) => C::ERRCODE_UNDEFINED_COLUMN,
        Error::WrongType(_) => C::ERRCODE_DATATYPE_MISMATCH,
        Error::UndefinedObject(_) => C::ERRCODE_UNDEFINED_OBJECT,
        Error::DuplicateObject(_) => C::ERRCODE_DUPLICATE_OBJECT,
        Error::ReadOnly(_) => C::ERRCODE_READ_ONLY_SQL_TRANSACTION,
        Error::NullValue(_) => C::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        Error::PermissionDenied(_) => C::ERRCODE_INSUFFICIENT_PRIVILEGE,
        Error::InvalidState(_) => C::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        Error::MissingFile(_) => C::ERRCODE_UNDEFINED_FILE,
        Error::NotSupported(_) => C::ERRCODE_FEATURE_NOT_SUPPORTED,
        Error::Corrupted(_) => C::ERRCODE_DATA_CORRUPTED,
        Error::InvalidText(_) => C::ERRCODE_INVALID_TEXT_REPRESENTATION,
        Error::MisusedCall(_) => C::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
        Error::Compute(_) => C::ERRCODE_SYSTEM_ERROR,
        // Class 38: an error inside an external routine, which the extension is to PostgreSQL.
        Error::Internal(_) => C::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
    }
}

pub fn report(e: Error) -> ErrorReport {
    ErrorReport::new(code(&e), e.to_string(), "pg_marketing")
}


/// The error an SPI call of ours gives back (errors PostgreSQL raises while running the statement
/// do not come this way: they propagate with their own SQLSTATE).
fn spi_error(e: pgrx::spi::Error) -> Error {
    match e {
        pgrx::spi::Error::DatumError(d) => Error::WrongType(format!("unexpected value: {d}")),
        other => Error::Internal(format!("SPI: {other}")),
    }
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
        self.map_err(|e| report(spi_error(e)))
    }
}

/// Raises `e` as an ERROR now, for the places that cannot return one (trigger functions, hooks).
pub fn raise(e: ErrorReport) -> ! {
    e.report(pgrx::PgLogLevel::ERROR);
    unreachable!("an ERROR does not return")
}

/// Refuses a call that writes (`what` names it) on a hot standby, before it does any work there.
pub fn require_primary(what: &str) -> SqlResult<()> {
    // SAFETY: a plain read of shared recovery state, from the backend's main thread.
    if unsafe { pgrx::pg_sys::RecoveryInProgress() } {
        return Err(report(Error::ReadOnly(format!(
            "{what} writes to the catalog and cannot run on a hot standby; call it on the primary \
             (a standby serves mkt.recommend, mkt.similar_items, mkt.policy_probabilities and the reports)"
        ))));
    }
    Ok(())
}

/// The value of an argument that may not be NULL (the function is not STRICT because other
/// arguments may be).
pub fn required<T>(value: Option<T>, name: &str) -> SqlResult<T> {
    value.ok_or_else(|| report(Error::NullValue(format!("{name} must not be NULL"))))
}

/// Shorthand for argument errors raised directly by the SQL layer.
pub fn invalid(msg: impl Into<String>) -> ErrorReport {
    report(Error::InvalidParameter(msg.into()))
}

/// A row the extension's own statement must return (INSERT .. RETURNING) that did not come.
pub fn missing_row(what: &str) -> ErrorReport {
    report(Error::Internal(format!("{what} returned no row")))
}
