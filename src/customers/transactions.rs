//! Reading a transactions source (customer, time, amount) through the executor into mkt-clv's
//! columns, or a summary source (one row per customer with frequency, recency and T).

use crate::customers::catalog::{self, time_point};
use crate::pg::error::{OrSql, SqlResult};
use crate::pg::gucs::MAX_MEMORY_MB;
use crate::pg::source::{self, Target};
use mkt_clv::period::Period;
use mkt_clv::summary::{self, from_columns, Holdout, Summary, Transactions, Window};
use mkt_core::ids::IdColumn;
use mkt_core::names::quote_ident;
use mkt_core::Error;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// The columns of a transactions source.
pub struct Columns<'a> {
    pub customer: &'a str,
    pub time: &'a str,
    pub amount: Option<&'a str>,
}

/// What was read: the transactions, and the customer column's name as the source spells it.
pub struct Read {
    pub tx: Transactions,
    pub customer_col: String,
    pub time_col: String,
    pub amount_col: Option<String>,
}

pub fn read(source_text: &str, cols: &Columns) -> SqlResult<Read> {
    let src = source::resolve(source_text)?;
    let described = source::describe(&src)?;
    let customer = source::find(&described, cols.customer, "customer")?;
    let kind = source::id_kind(customer, "customer")?;
    let time = mkt_core::columns::find_timestamp(&described, cols.time).sql()?;
    let amount = match cols.amount {
        Some(a) => {
            let c = source::find(&described, a, "amount")?;
            source::check_number(c, "amount")?;
            Some(c)
        }
        None => None,
    };
    let mut targets = vec![
        Target::Ids(IdColumn::new(kind)),
        Target::Ids(IdColumn::Int(Vec::new())),
        Target::Floats(Vec::new()),
    ];
    if amount.is_some() {
        targets.push(Target::Floats(Vec::new()));
    }
    let exprs = catalog::transaction_columns(&customer.name, &time.name, amount.map(|a| a.name.as_str()));
    let skipped = source::read_columnar(&src, &exprs, &mut targets)?;
    if skipped > 0 {
        notice!(
            "pg_marketing: skipped {skipped} transactions with a NULL customer, time{}",
            if amount.is_some() { " or amount" } else { "" }
        );
    }
    let mut t = targets.into_iter();
    let customers = t.next().map(Target::into_ids).unwrap_or(IdColumn::Int(Vec::new()));
    let IdColumn::Int(days) = t.next().map(Target::into_ids).unwrap_or(IdColumn::Text(Vec::new())) else {
        return Err(Error::Internal("days were not read as integers".into())).sql();
    };
    let seconds = t.next().map(Target::into_floats).unwrap_or_default();
    let amounts = t.next().map(Target::into_floats).unwrap_or_default();
    let tx = Transactions { customers, days, seconds, amounts };
    if tx.is_empty() {
        return Err(Error::EmptyData(format!(
            "the source {} has no transactions",
            mkt_core::names::quote_literal(source_text)
        )))
        .sql();
    }
    tx.check_amounts().sql()?;
    tx.check_memory(MAX_MEMORY_MB.get() as usize, "mkt.max_memory_mb").sql()?;
    Ok(Read {
        tx,
        customer_col: customer.name.clone(),
        time_col: time.name.clone(),
        amount_col: amount.map(|a| a.name.clone()),
    })
}

/// A time given as a datum of `cast` (timestamptz, or text from params).
pub struct At<'a>(pub DatumWithOid<'a>, pub &'static str);

/// The calibration window: everything when `calibration_end` is None; otherwise what follows it
/// is the hold-out up to `holdout_end` (or the last transaction), or refused when `holdout` is
/// false.
pub fn window(calibration_end: Option<At>, holdout: bool, holdout_end: Option<At>) -> SqlResult<Window> {
    let Some(cal) = calibration_end else {
        return Ok(Window::ALL);
    };
    let calibration_end = Some(time_point(cal.0, cal.1)?);
    let holdout = match (holdout, holdout_end) {
        (false, _) => Holdout::No,
        (true, None) => Holdout::ToLast,
        (true, Some(h)) => Holdout::Until(time_point(h.0, h.1)?),
    };
    Ok(Window { calibration_end, holdout })
}

pub fn summarise(tx: &Transactions, period: Period, w: Window) -> SqlResult<Summary> {
    pgrx::check_for_interrupts!();
    summary::summarise(tx, period, w).sql()
}

/// The columns of a summary source.
pub struct SummaryColumns<'a> {
    pub customer: &'a str,
    pub frequency: &'a str,
    pub recency: &'a str,
    pub t: &'a str,
    pub monetary: Option<&'a str>,
}

/// Reads a summary source: one row per customer, no NULLs.
pub fn read_summary(source_text: &str, period: Period, cols: &SummaryColumns) -> SqlResult<(Summary, String)> {
    let src = source::resolve(source_text)?;
    let described = source::describe(&src)?;
    let customer = source::find(&described, cols.customer, "customer")?;
    let kind = source::id_kind(customer, "customer")?;
    let mut exprs = vec![quote_ident(&customer.name)];
    let mut targets = vec![Target::Ids(IdColumn::new(kind))];
    let numbers = [(Some(cols.frequency), "frequency"), (Some(cols.recency), "recency"), (Some(cols.t), "T"), (cols.monetary, "amount")];
    for (name, role) in numbers {
        let Some(name) = name else { continue };
        let c = source::find(&described, name, role)?;
        source::check_number(c, role)?;
        exprs.push(quote_ident(&c.name));
        targets.push(Target::Floats(Vec::new()));
    }
    let nulls = source::read_columnar(&src, &exprs, &mut targets)?;
    if nulls > 0 {
        return Err(Error::NullValue(format!(
            "{nulls} rows of the summary have a NULL customer, frequency, recency, T or amount"
        )))
        .sql();
    }
    let mut t = targets.into_iter();
    let customers = t.next().map(Target::into_ids).unwrap_or(IdColumn::Int(Vec::new()));
    if customers.is_empty() {
        return Err(Error::EmptyData(format!(
            "the source {} has no customers",
            mkt_core::names::quote_literal(source_text)
        )))
        .sql();
    }
    let mut column = || t.next().map(Target::into_floats).unwrap_or_default();
    let (frequency, recency, big_t) = (column(), column(), column());
    let monetary = column();
    let s = from_columns(period, &customers, frequency, recency, big_t, monetary).sql()?;
    Ok((s, customer.name.clone()))
}
