//! mkt.clean: its options and, for each step, the statements that clean a working copy of the
//! source. Steps run in a fixed order (types, duplicates, bots, missing values, outliers), each
//! reporting how many rows it touched.

use mkt_core::columns::{self, Column};
use mkt_core::names::{quote_ident, quote_literal};
use mkt_core::{Error, Result};
use serde_json::{Map, Value};

pub const KEYS: [&str; 7] = [
    "bots",
    "coerce",
    "dedupe_on",
    "keep",
    "nulls",
    "order_by",
    "outliers",
];

/// Types `coerce` converts text to; values that do not parse become NULL and are counted.
pub const COERCIONS: [&str; 6] = [
    "numeric",
    "bigint",
    "float8",
    "date",
    "timestamptz",
    "boolean",
];

/// The options object, with its keys checked (before the source is even looked at).
pub fn parse_options(options: &Value) -> Result<Map<String, Value>> {
    let opts = match options {
        Value::Object(m) => m.clone(),
        Value::Null => Default::default(),
        other => {
            return Err(Error::invalid(format!(
                "options must be a JSON object, got {other}"
            )))
        }
    };
    for k in opts.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(Error::invalid(format!(
                "unknown option \"{k}\"; valid options are: {}",
                KEYS.join(", ")
            )));
        }
    }
    Ok(opts)
}

/// What an outlier step does with values outside its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlierAction {
    Clip,
    Drop,
    /// A new boolean column `<column>_outlier`.
    Flag,
}

/// One step of a cleaning run.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `count` gives how many values will not parse (the step's number); then `alter` runs.
    Coerce {
        label: String,
        count: String,
        alter: String,
    },
    /// One statement; the rows it touched are the step's number.
    Exec { label: String, sql: String },
    /// `bounds` gives (low, high) of `column` (NULLs: no values, nothing to do); then
    /// `statements` apply `action`.
    Outliers {
        label: String,
        /// The label when there are no bounds.
        name: String,
        bounds: String,
        column: String,
        action: OutlierAction,
    },
}

impl Step {
    pub fn label(&self) -> &str {
        match self {
            Step::Coerce { label, .. } | Step::Exec { label, .. } | Step::Outliers { label, .. } => {
                label
            }
        }
    }
}

/// The statements of an outlier step with its bounds known, and the query that counts what it
/// did when that is not the last statement's row count.
pub fn outlier_statements(
    work: &str,
    name: &str,
    column: &str,
    action: OutlierAction,
    lo: f64,
    hi: f64,
) -> (Vec<String>, Option<String>) {
    let c = column;
    let outside = format!("({c})::float8 < {lo:?} OR ({c})::float8 > {hi:?}");
    match action {
        OutlierAction::Clip => (
            vec![format!(
                "UPDATE {work} SET {c} = CASE WHEN ({c})::float8 < {lo:?} THEN {lo:?} ELSE {hi:?} END WHERE {outside}"
            )],
            None,
        ),
        OutlierAction::Drop => (vec![format!("DELETE FROM {work} WHERE {outside}")], None),
        OutlierAction::Flag => {
            let flag = quote_ident(&format!("{name}_outlier"));
            (
                vec![
                    format!("ALTER TABLE {work} ADD COLUMN {flag} bool"),
                    format!("UPDATE {work} SET {flag} = coalesce({outside}, false)"),
                ],
                Some(format!("SELECT count(*) FROM {work} WHERE {flag}")),
            )
        }
    }
}

fn strings_of(v: &Value, what: &str) -> Result<Vec<String>> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{what} must be a non-empty array of column names, got {v}"
            ))
        })
}

fn number_of(v: Option<&Value>, default: f64, what: &str) -> Result<f64> {
    match v {
        None => Ok(default),
        Some(x) => x
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| Error::invalid(format!("{what} must be a number >= 0, got {x}"))),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid(format!("{what}, got {v}"))),
    }
}

/// The steps `opts` asks for, over the working table `work` (a copy of the source, whose
/// columns are `cols`).
pub fn plan(opts: &Map<String, Value>, cols: &[Column], work: &str) -> Result<Vec<Step>> {
    let col = |name: &str, role: &str| -> Result<String> {
        Ok(quote_ident(&columns::find(cols, name, role)?.name))
    };
    let numeric_col = |name: &str, role: &str| -> Result<String> {
        let c = columns::find(cols, name, role)?;
        columns::check_number(c, role)?;
        Ok(quote_ident(&c.name))
    };
    let mut steps = Vec::new();
    // 1. Types: text that should be numbers or dates.
    if let Some(v) = opts.get("coerce") {
        for (name, ty) in object(v, "coerce must be an object of column to type")? {
            let c = col(name, "coerced")?;
            let ty = ty
                .as_str()
                .and_then(|t| COERCIONS.iter().find(|x| **x == t))
                .ok_or_else(|| {
                    let given = ty.as_str().map_or_else(|| ty.to_string(), str::to_string);
                    Error::unknown("coercion type", &given, &COERCIONS)
                })?;
            let f = format!("mkt.try_{ty}");
            steps.push(Step::Coerce {
                label: format!("coerce {name} to {ty}: failed"),
                count: format!(
                    "SELECT count(*) FROM {work} WHERE {c} IS NOT NULL AND {f}(({c})::text) IS NULL"
                ),
                alter: format!("ALTER TABLE {work} ALTER COLUMN {c} TYPE {ty} USING {f}(({c})::text)"),
            });
        }
    }
    // 2. Duplicates: one row per key, the first or last by order_by.
    if let Some(v) = opts.get("dedupe_on") {
        let keys: Vec<String> = strings_of(v, "dedupe_on")?
            .iter()
            .map(|k| col(k, "dedupe"))
            .collect::<Result<_>>()?;
        let keep = match opts.get("keep").and_then(Value::as_str).unwrap_or("first") {
            "first" => "ASC",
            "last" => "DESC",
            other => return Err(Error::unknown("keep", other, &["first", "last"])),
        };
        let order = match opts.get("order_by") {
            None => "ctid".to_string(),
            Some(Value::String(o)) => format!("{} {keep}, ctid", col(o, "order_by")?),
            Some(o) => {
                return Err(Error::invalid(format!(
                    "order_by must be a column name, got {o}"
                )))
            }
        };
        steps.push(Step::Exec {
            label: "dedupe".into(),
            sql: format!(
                "DELETE FROM {work} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER \
                 (PARTITION BY {} ORDER BY {order}) AS mkt_rn FROM {work}) d WHERE mkt_rn > 1)",
                keys.join(", ")
            ),
        });
    }
    // 3. Bots: subjects with more events in one day than a person makes.
    if let Some(v) = opts.get("bots") {
        let (Some(subject), Some(time)) = (
            v.get("subject").and_then(Value::as_str),
            v.get("time").and_then(Value::as_str),
        ) else {
            return Err(Error::invalid(format!(
                "bots needs {{\"subject\": column, \"time\": column, \"max_events_per_day\": n}}, got {v}"
            )));
        };
        let (s, t) = (col(subject, "bots subject")?, col(time, "bots time")?);
        let max = number_of(v.get("max_events_per_day"), 1000.0, "max_events_per_day")?;
        steps.push(Step::Exec {
            label: "bots".into(),
            sql: format!(
                "DELETE FROM {work} WHERE {s} IN (SELECT {s} FROM {work} WHERE {s} IS NOT NULL \
                 GROUP BY {s}, ({t})::date HAVING count(*) > {max})"
            ),
        });
    }
    // 4. Missing values: drop the row or fill it.
    if let Some(v) = opts.get("nulls") {
        for (name, action) in object(v, "nulls must be an object of column to action")? {
            let sql = match action.as_str() {
                Some("drop") => format!("DELETE FROM {work} WHERE {} IS NULL", col(name, "nulls")?),
                Some(stat @ ("mean" | "median")) => {
                    let c = numeric_col(name, "nulls")?;
                    let agg = if stat == "mean" {
                        format!("avg({c})")
                    } else {
                        format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY ({c})::float8)")
                    };
                    format!("UPDATE {work} SET {c} = (SELECT {agg} FROM {work}) WHERE {c} IS NULL")
                }
                Some("mode") => {
                    let c = col(name, "nulls")?;
                    format!(
                        "UPDATE {work} SET {c} = (SELECT mode() WITHIN GROUP (ORDER BY {c}) FROM {work}) WHERE {c} IS NULL"
                    )
                }
                _ => {
                    // A constant, as JSON: its text goes through the column's own input function.
                    let c = col(name, "nulls")?;
                    let text = match action {
                        Value::String(s) => s.clone(),
                        Value::Null => {
                            return Err(Error::invalid(format!(
                                "nulls action for \"{name}\" must not be null"
                            )))
                        }
                        other => other.to_string(),
                    };
                    format!(
                        "UPDATE {work} SET {c} = {} WHERE {c} IS NULL",
                        quote_literal(&text)
                    )
                }
            };
            steps.push(Step::Exec {
                label: format!("nulls {name}"),
                sql,
            });
        }
    }
    // 5. Outliers: clip, drop or flag values outside the method's bounds.
    if let Some(v) = opts.get("outliers") {
        for (name, cfg) in object(v, "outliers must be an object of column to settings")? {
            let c = numeric_col(name, "outliers")?;
            let method = cfg.get("method").and_then(Value::as_str).unwrap_or("iqr");
            let action = cfg.get("action").and_then(Value::as_str).unwrap_or("clip");
            let bounds = match method {
                "iqr" => {
                    let k = number_of(cfg.get("k"), 1.5, "k")?;
                    format!(
                        "SELECT q1 - {k} * (q3 - q1), q3 + {k} * (q3 - q1) FROM (SELECT \
                         percentile_cont(0.25) WITHIN GROUP (ORDER BY ({c})::float8) q1, \
                         percentile_cont(0.75) WITHIN GROUP (ORDER BY ({c})::float8) q3 FROM {work}) s"
                    )
                }
                "zscore" => {
                    let k = number_of(cfg.get("k"), 3.0, "k")?;
                    format!(
                        "SELECT avg(({c})::float8) - {k} * stddev_pop(({c})::float8), \
                         avg(({c})::float8) + {k} * stddev_pop(({c})::float8) FROM {work}"
                    )
                }
                "quantile" => {
                    let lo = number_of(cfg.get("low"), 0.01, "low")?;
                    let hi = number_of(cfg.get("high"), 0.99, "high")?;
                    if !(lo < hi && hi <= 1.0) {
                        return Err(Error::invalid(format!(
                            "quantile bounds must satisfy 0 <= low < high <= 1, got {lo} and {hi}"
                        )));
                    }
                    format!(
                        "SELECT percentile_cont({lo}) WITHIN GROUP (ORDER BY ({c})::float8), \
                         percentile_cont({hi}) WITHIN GROUP (ORDER BY ({c})::float8) FROM {work}"
                    )
                }
                other => {
                    return Err(Error::unknown(
                        "outlier method",
                        other,
                        &["iqr", "zscore", "quantile"],
                    ))
                }
            };
            let action = match action {
                "clip" => OutlierAction::Clip,
                "drop" => OutlierAction::Drop,
                "flag" => OutlierAction::Flag,
                other => {
                    return Err(Error::unknown(
                        "outlier action",
                        other,
                        &["clip", "drop", "flag"],
                    ))
                }
            };
            steps.push(Step::Outliers {
                label: format!(
                    "outliers {name} ({method}, {})",
                    cfg.get("action").and_then(Value::as_str).unwrap_or("clip")
                ),
                name: name.clone(),
                bounds,
                column: c,
                action,
            });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::columns::ColKind;
    use mkt_core::ids::IdKind;
    use serde_json::json;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("id", "bigint", ColKind::Id(IdKind::Int)),
            Column::new("amount", "numeric", ColKind::Number),
            Column::new("raw", "text", ColKind::Id(IdKind::Text)),
            Column::new("ts", "timestamp with time zone", ColKind::Time),
        ]
    }

    fn steps(o: Value) -> Result<Vec<Step>> {
        plan(&parse_options(&o)?, &cols(), "w")
    }

    #[test]
    fn options_are_checked_before_anything_runs() {
        assert_eq!(
            parse_options(&json!({"dedupe": ["id"]})).unwrap_err().to_string(),
            "unknown option \"dedupe\"; valid options are: bots, coerce, dedupe_on, keep, nulls, order_by, outliers"
        );
        assert!(parse_options(&json!([1])).is_err());
        assert!(parse_options(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn steps_come_in_their_fixed_order_with_quoted_columns() {
        let s = steps(json!({
            "outliers": {"amount": {"method": "zscore", "action": "flag"}},
            "nulls": {"amount": "median", "raw": "n/a"},
            "dedupe_on": ["id"], "keep": "last", "order_by": "ts",
            "coerce": {"raw": "numeric"}
        }))
        .unwrap();
        let labels: Vec<&str> = s.iter().map(Step::label).collect();
        assert_eq!(
            labels,
            vec![
                "coerce raw to numeric: failed",
                "dedupe",
                "nulls amount",
                "nulls raw",
                "outliers amount (zscore, flag)"
            ]
        );
        let Step::Exec { sql, .. } = &s[1] else { panic!() };
        assert!(sql.contains("PARTITION BY \"id\" ORDER BY \"ts\" DESC, ctid"), "{sql}");
        let Step::Exec { sql, .. } = &s[3] else { panic!() };
        assert_eq!(sql, "UPDATE w SET \"raw\" = 'n/a' WHERE \"raw\" IS NULL");
        let (stmts, count) = outlier_statements("w", "amount", "\"amount\"", OutlierAction::Flag, -1.0, 2.5);
        assert_eq!(stmts[0], "ALTER TABLE w ADD COLUMN \"amount_outlier\" bool");
        assert_eq!(count.unwrap(), "SELECT count(*) FROM w WHERE \"amount_outlier\"");
        let (stmts, count) = outlier_statements("w", "amount", "amount", OutlierAction::Clip, -1.0, 2.5);
        assert!(stmts[0].contains("THEN -1.0 ELSE 2.5 END") && count.is_none());
    }

    #[test]
    fn bad_steps_say_what_is_wrong() {
        let e = |o: Value| steps(o).unwrap_err().to_string();
        assert!(e(json!({"coerce": {"raw": "money"}})).contains("unknown coercion type"));
        assert!(e(json!({"nulls": {"raw": "mean"}})).contains("must be numeric"));
        assert!(e(json!({"dedupe_on": []})).contains("non-empty array"));
        assert!(e(json!({"dedupe_on": ["id"], "keep": "middle"})).contains("unknown keep"));
        assert!(e(json!({"outliers": {"amount": {"method": "quantile", "low": 0.9, "high": 0.1}}}))
            .contains("0 <= low < high <= 1"));
        assert!(e(json!({"outliers": {"amount": {"action": "hide"}}})).contains("unknown outlier action"));
        assert!(e(json!({"bots": {"subject": "id"}})).starts_with("bots needs"));
        assert!(e(json!({"nulls": {"nope": "drop"}})).contains("does not exist"));
        assert!(e(json!({"nulls": {"raw": null}})).contains("must not be null"));
    }
}
