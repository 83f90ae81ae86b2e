//! mkt.rfm and mkt.user_features: one row per customer written to a new table.

use crate::pg::error::{OrSql, SqlResult};
use crate::pg::source;
use crate::prep::catalog::read_json;
use mkt_core::columns::find_timestamp;
use mkt_core::names::quote_literal;
use mkt_core::Error;
use mkt_prep::customer_tables::{self as ct, EventColumns};
use serde_json::Value;

pub struct RfmArgs<'a> {
    pub transactions: &'a str,
    pub customer_col: &'a str,
    pub time_col: &'a str,
    pub amount_col: &'a str,
    pub target: &'a str,
    pub as_of: Option<String>,
    pub quantiles: i32,
    pub replace: bool,
}

pub fn rfm(a: &RfmArgs) -> SqlResult<i64> {
    ct::check_quantiles(a.quantiles).sql()?;
    let src = source::resolve(a.transactions)?;
    let cols = source::describe(&src)?;
    let cust = source::find(&cols, a.customer_col, "customer")?.name.clone();
    let time = find_timestamp(&cols, a.time_col).sql()?.name.clone();
    let amount = source::find(&cols, a.amount_col, "amount")?;
    source::check_number(amount, "amount")?;
    let from = source::readable_from(&src, &cols)?;
    let select = ct::rfm_select(
        &cust,
        &time,
        &amount.name,
        &from,
        &ct::as_of_expr(a.as_of.as_deref()),
        a.quantiles,
    );
    let n = source::create_table_as(a.target, &select, a.replace)?;
    if n == 0 {
        return Err(Error::EmptyData(format!(
            "{} has no transactions with a customer and a time",
            quote_literal(a.transactions)
        )))
        .sql();
    }
    Ok(n)
}

pub struct UserFeatureArgs<'a> {
    pub events: &'a str,
    pub target: &'a str,
    pub user_col: &'a str,
    pub time_col: &'a str,
    pub event_type_col: Option<&'a str>,
    pub item_col: Option<&'a str>,
    pub value_col: Option<&'a str>,
    pub as_of: Option<String>,
    pub replace: bool,
}

pub fn user_features(a: &UserFeatureArgs) -> SqlResult<i64> {
    let src = source::resolve(a.events)?;
    let cols = source::describe(&src)?;
    let user = source::find(&cols, a.user_col, "user")?.name.clone();
    let time = find_timestamp(&cols, a.time_col).sql()?.name.clone();
    let from = source::readable_from(&src, &cols)?;
    let event_type = match a.event_type_col {
        Some(e) => {
            let e = source::find(&cols, e, "event type")?.name.clone();
            let types = read_json(&ct::event_types_query(&e, &from))?;
            let types: Vec<String> = types
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            Some((e, types))
        }
        None => None,
    };
    let item = a
        .item_col
        .map(|i| source::find(&cols, i, "item").map(|c| c.name.clone()))
        .transpose()?;
    let value = match a.value_col {
        Some(v) => {
            let vc = source::find(&cols, v, "value")?;
            source::check_number(vc, "value")?;
            Some(vc.name.clone())
        }
        None => None,
    };
    let select = ct::user_features_select(
        &EventColumns {
            user: &user,
            time: &time,
            event_type: event_type.as_ref().map(|(e, t)| (e.as_str(), t.clone())),
            item: item.as_deref(),
            value: value.as_deref(),
        },
        &from,
        &ct::as_of_expr(a.as_of.as_deref()),
    );
    source::create_table_as(a.target, &select, a.replace)
}
