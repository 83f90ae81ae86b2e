//! Data preparation: mkt.profile, mkt.fit_transform, mkt.apply_transform, mkt.rfm,
//! mkt.user_features.

use crate::catalog::first;
use crate::error::{invalid, OrSql, required, SqlResult};
use crate::source::{self, ColKind, Column, Resolved};
use mkt_core::ids::IdKind;
use mkt_core::names::{quote_ident, quote_literal};
use mkt_core::Error;
use mkt_prep::sql_expr::{fit_query, outputs};
use mkt_prep::stats::ColumnStats;
use mkt_prep::{Fitted, TransformSpec};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

/// One jsonb value computed over the source with the transaction read-only.
fn read_json(sql: &str) -> SqlResult<Value> {
    source::read_only(|| crate::catalog::select_first::<JsonB>(sql, &[]))
        .map(|v| v.map(|j| j.0).unwrap_or(Value::Null))
}

fn is_numeric(c: &Column) -> bool {
    matches!(c.kind, ColKind::Number | ColKind::Id(IdKind::Int))
}

/// Checks every column the spec names exists and has a type its transform takes.
fn check_columns(spec: &TransformSpec, cols: &[Column]) -> SqlResult<()> {
    for c in &spec.columns {
        let col = source::find_exact(cols, &c.column, "transformed")?;
        if c.kind.numeric() && !is_numeric(col) {
            return Err(Error::WrongType(format!(
                "transform {} needs a numeric column; {} has type {}",
                c.kind.name(),
                quote_literal(&col.name),
                col.type_name
            )))
            .sql();
        }
        if let mkt_prep::Kind::TargetEncode { label, .. } = &c.kind {
            let l = source::find(cols, label, "label")?;
            source::check_number(l, "label")?;
        }
    }
    Ok(())
}

fn check_name(name: &str) -> SqlResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "a transform name must be 1 to 128 bytes without control characters",
        ));
    }
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn fit_transform(
    transform_name: Option<&str>,
    source: Option<&str>,
    spec: Option<JsonB>,
    target: default!(Option<&str>, "NULL"),
    replace: default!(Option<bool>, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(column_name, String),
            name!(transform, String),
            name!(output_columns, Vec<String>),
        ),
    >,
    ErrorReport,
> {
    let transform_name = required(transform_name, "transform_name")?;
    let source = required(source, "source")?;
    let spec = required(spec, "spec")?;
    let replace = required(replace, "replace")?;
    check_name(transform_name)?;
    let parsed = TransformSpec::parse(&spec.0).sql()?;
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    check_columns(&parsed, &cols)?;
    let mut fitted = Fitted::default();
    for c in &parsed.columns {
        let v = read_json(&fit_query(c, &src.from))?;
        fitted
            .columns
            .push((c.clone(), ColumnStats::from_fit(c, &v).sql()?));
    }
    let stored = Spi::connect_mut(|c| {
        let sql = if replace {
            "INSERT INTO mkt.transforms (transform_name, source, spec, stats, created_by, created_at) \
             VALUES ($1, $2, $3, $4, current_user, now()) \
             ON CONFLICT (transform_name) DO UPDATE SET source = EXCLUDED.source, spec = EXCLUDED.spec, \
             stats = EXCLUDED.stats, created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at RETURNING 1"
        } else {
            "INSERT INTO mkt.transforms (transform_name, source, spec, stats) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (transform_name) DO NOTHING RETURNING 1"
        };
        first::<i32>(c.update(
            sql,
            None,
            &[
                transform_name.into(),
                source.into(),
                JsonB(spec.0.clone()).into(),
                JsonB(fitted.to_json()).into(),
            ],
        )?)
    })
    .sql()?;
    if stored.is_none() {
        return Err(Error::DuplicateObject(format!(
            "transform {} already exists (replace => true refits it)",
            quote_literal(transform_name)
        )))
        .sql();
    }
    if let Some(t) = target {
        let from = source::readable_from(&src, &cols)?;
        source::create_table_as(t, &crate::transforms::select_with_outputs(&fitted, &from), replace)?;
    }
    let rows: Vec<(String, String, Vec<String>)> = fitted
        .columns
        .iter()
        .map(|(s, st)| {
            (
                s.column.clone(),
                s.kind.name().to_string(),
                outputs(s, st).into_iter().map(|(n, _)| n).collect(),
            )
        })
        .collect();
    Ok(TableIterator::new(rows))
}

#[pg_extern(volatile, parallel_unsafe)]
fn apply_transform(
    transform_name: &str,
    source: &str,
    target: &str,
    replace: default!(bool, false),
) -> Result<i64, ErrorReport> {
    let (parsed, fitted) = crate::transforms::load(transform_name)?;
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    // The label of a target encoding is only needed to fit.
    for c in &parsed.columns {
        source::find(&cols, &c.column, "transformed")?;
    }
    let from = source::readable_from(&src, &cols)?;
    source::create_table_as(target, &crate::transforms::select_with_outputs(&fitted, &from), replace)
}

/// Per-column statistics of a profile, in the order of the result columns.
type ProfileRow = (
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<JsonB>,
);

/// Three scans per group of columns: one for counts, extremes, moments and quartiles, one for
/// IQR outliers (which need the quartiles), one for every column's most frequent values (grouping
/// sets).
fn profile_columns(src: &Resolved, cols: &[Column]) -> SqlResult<Vec<ProfileRow>> {
    let mut out = Vec::with_capacity(cols.len());
    let mut tick = crate::parallel::progress();
    let passes = cols.len().div_ceil(40) * 3;
    let mut pass = 0;
    let mut report = |pass: &mut usize| {
        *pass += 1;
        mkt_core::progress::Tick::tick(&mut tick, &mkt_core::progress::Progress {
            phase: "profile scans",
            done: *pass,
            total: passes,
        });
    };
    // Up to 40 columns per pass keeps every call under PostgreSQL's 100-argument limit.
    for group in cols.chunks(40) {
        let parts: Vec<String> = group
            .iter()
            .map(|c| {
                let x = quote_ident(&c.name);
                let (min, max) = match c.kind {
                    ColKind::Number | ColKind::Id(IdKind::Int) | ColKind::Time => {
                        (format!("min({x})::text"), format!("max({x})::text"))
                    }
                    _ => (format!("min(({x})::text)"), format!("max(({x})::text)")),
                };
                let numeric = if is_numeric(c) {
                    format!(
                        ", 'mean', avg(({x})::float8), 'stddev', stddev_samp(({x})::float8), \
                         'q', percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY ({x})::float8)"
                    )
                } else {
                    String::new()
                };
                let distinct = match c.kind {
                    ColKind::Other => format!("count(DISTINCT ({x})::text)"),
                    _ => format!("count(DISTINCT {x})"),
                };
                format!(
                    "jsonb_build_object('n', count({x}), 'd', {distinct}, 'min', {min}, 'max', {max}{numeric})"
                )
            })
            .collect();
        // Each column's distinct count is a sort, and each numeric column's quartiles another.
        let sorts = group
            .iter()
            .map(|c| 1 + is_numeric(c) as usize)
            .sum::<usize>();
        let budget = WorkMem::limit(sorts)?;
        let stats = read_json(&format!(
            "SELECT jsonb_build_array(count(*), {}) FROM {}",
            parts.join(", "),
            src.from
        ))?;
        drop(budget);
        report(&mut pass);
        let total = stats[0].as_i64().unwrap_or(0);
        let col_stats = |k: usize| &stats[k + 1];
        // Outliers by the IQR rule, for the numeric columns of the group, in one more pass.
        let bounds: Vec<Option<(f64, f64)>> = (0..group.len())
            .map(|k| {
                let q = col_stats(k).get("q")?.as_array()?;
                let (q1, q3) = (q.first()?.as_f64()?, q.get(2)?.as_f64()?);
                Some((q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)))
            })
            .collect();
        let filters: Vec<String> = group
            .iter()
            .zip(&bounds)
            .map(|(c, b)| match b {
                Some((lo, hi)) => format!(
                    "to_jsonb(count(*) FILTER (WHERE ({x})::float8 < {lo:?} OR ({x})::float8 > {hi:?}))",
                    x = quote_ident(&c.name)
                ),
                None => "'null'::jsonb".to_string(),
            })
            .collect();
        let outliers = if bounds.iter().any(Option::is_some) {
            read_json(&format!(
                "SELECT jsonb_build_array({}) FROM {}",
                filters.join(", "),
                src.from
            ))?
        } else {
            Value::Null
        };
        report(&mut pass);
        // The five most frequent values of every column at once. Columns of mostly distinct
        // values (an id, a timestamp) have no meaningful top values and would make the grouping
        // as large as the table: they get NULL.
        let frequent: Vec<usize> = (0..group.len())
            .filter(|&k| {
                let (n, d) = (
                    col_stats(k)["n"].as_i64().unwrap_or(0),
                    col_stats(k)["d"].as_i64().unwrap_or(0),
                );
                d <= 1000 || d * 10 <= n
            })
            .collect();
        let xs: Vec<String> = frequent
            .iter()
            .map(|&k| quote_ident(&group[k].name))
            .collect();
        let which: Vec<String> = xs
            .iter()
            .enumerate()
            .map(|(k, x)| format!("WHEN grouping({x}) = 0 THEN {k}"))
            .collect();
        let value: Vec<String> = xs
            .iter()
            .enumerate()
            .map(|(k, x)| format!("WHEN {k} THEN ({x})::text"))
            .collect();
        let sets: Vec<String> = xs.iter().map(|x| format!("({x})")).collect();
        // One hash table per grouping set, each allowed hash_mem_multiplier (2) x work_mem.
        let budget = WorkMem::limit(2 * xs.len())?;
        let top = if xs.is_empty() {
            Value::Null
        } else {
            read_json(&format!(
            "SELECT coalesce(jsonb_object_agg(g, vals), '{{}}') FROM (
               SELECT g, jsonb_agg(jsonb_build_object('value', v, 'count', n) ORDER BY n DESC, v) AS vals
               FROM (SELECT g, v, n, row_number() OVER (PARTITION BY g ORDER BY n DESC, v) AS rn
                     FROM (SELECT g, CASE g {value} END AS v, n
                           FROM (SELECT CASE {which} END AS g, {cols}, count(*) AS n
                                 FROM {from} GROUP BY GROUPING SETS ({sets})) a) b
                     WHERE v IS NOT NULL) c
               WHERE rn <= 5 GROUP BY g) d",
            value = value.join(" "),
            which = which.join(" "),
            cols = xs.join(", "),
            from = src.from,
            sets = sets.join(", "),
        ))?
        };
        drop(budget);
        report(&mut pass);
        for (k, c) in group.iter().enumerate() {
            let s = col_stats(k);
            let q = |i: usize| s.get("q").and_then(|q| q.get(i)).and_then(Value::as_f64);
            let n = s["n"].as_i64().unwrap_or(0);
            out.push((
                c.name.clone(),
                c.type_name.clone(),
                total,
                total - n,
                s["d"].as_i64().unwrap_or(0),
                s["min"].as_str().map(str::to_string),
                s["max"].as_str().map(str::to_string),
                s.get("mean").and_then(Value::as_f64),
                s.get("stddev").and_then(Value::as_f64),
                q(0),
                q(1),
                q(2),
                outliers.get(k).and_then(Value::as_i64),
                match frequent.iter().position(|&f| f == k) {
                    Some(j) => Some(JsonB(
                        top.get(j.to_string())
                            .cloned()
                            .unwrap_or(Value::Array(vec![])),
                    )),
                    None => None,
                },
            ));
        }
        pgrx::check_for_interrupts!();
    }
    Ok(out)
}

#[pg_extern(stable, parallel_safe)]
fn profile(
    source: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(column_name, String),
            name!(data_type, String),
            name!(rows, i64),
            name!(nulls, i64),
            name!(distinct_values, i64),
            name!(min, Option<String>),
            name!(max, Option<String>),
            name!(mean, Option<f64>),
            name!(stddev, Option<f64>),
            name!(p25, Option<f64>),
            name!(p50, Option<f64>),
            name!(p75, Option<f64>),
            name!(outliers, Option<i64>),
            name!(top_values, Option<JsonB>),
        ),
    >,
    ErrorReport,
> {
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    Ok(TableIterator::new(profile_columns(&src, &cols)?))
}

/// The name of the timestamp or date column `name`.
fn time_column(cols: &[Column], name: &str) -> SqlResult<String> {
    let time = source::find(cols, name, "time")?;
    if time.kind != ColKind::Time {
        return Err(Error::WrongType(format!(
            "time column {} has type {}; it must be a timestamp or date",
            quote_literal(&time.name),
            time.type_name
        )))
        .sql();
    }
    Ok(time.name.clone())
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn rfm(
    transactions: Option<&str>,
    customer_col: Option<&str>,
    time_col: Option<&str>,
    amount_col: Option<&str>,
    target: Option<&str>,
    as_of: default!(Option<TimestampWithTimeZone>, "now()"),
    quantiles: default!(Option<i32>, 5),
    replace: default!(Option<bool>, false),
) -> Result<i64, ErrorReport> {
    let transactions = required(transactions, "transactions")?;
    let customer_col = required(customer_col, "customer_col")?;
    let time_col = required(time_col, "time_col")?;
    let amount_col = required(amount_col, "amount_col")?;
    let target = required(target, "target")?;
    let quantiles = required(quantiles, "quantiles")?;
    let replace = required(replace, "replace")?;
    if !(2..=100).contains(&quantiles) {
        return Err(invalid(format!(
            "quantiles must be between 2 and 100, got {quantiles}"
        )));
    }
    let src = source::resolve(transactions)?;
    let cols = source::describe(&src)?;
    let cust = source::find(&cols, customer_col, "customer")?.name.clone();
    let time = time_column(&cols, time_col)?;
    let amount = source::find(&cols, amount_col, "amount")?;
    source::check_number(amount, "amount")?;
    let amount = amount.name.clone();
    let from = source::readable_from(&src, &cols)?;
    let as_of = match as_of {
        Some(t) => format!("{}::timestamptz", quote_literal(&t.to_string())),
        None => "now()".to_string(),
    };
    let q = quantiles;
    // Scores: 1 (worst) .. q (best); recency is best when smallest. Segments follow the usual
    // RFM grid on recency and frequency, scaled to q.
    let hi = (q as f64 * 0.6).ceil() as i32 + 1; // 5 -> 4
    let lo = (q as f64 * 0.4).floor() as i32; // 5 -> 2
    let select = format!(
        "WITH c AS (
             SELECT {c} AS customer, (extract(epoch FROM {as_of} - max({t}::timestamptz)) / 86400.0)::float8 AS recency_days,
                    count(*) AS frequency, coalesce(sum({a}), 0)::float8 AS monetary
             FROM {from} WHERE {c} IS NOT NULL AND {t} IS NOT NULL GROUP BY {c}),
         s AS (
             SELECT c.*, ntile({q}) OVER (ORDER BY recency_days DESC, customer) AS r_score,
                    ntile({q}) OVER (ORDER BY frequency, customer) AS f_score,
                    ntile({q}) OVER (ORDER BY monetary, customer) AS m_score
             FROM c)
         SELECT s.*, (r_score::text || f_score::text || m_score::text) AS rfm_cell,
                CASE WHEN r_score >= {hi} AND f_score >= {hi} THEN 'champions'
                     WHEN r_score <= {lo} AND f_score >= {hi} THEN 'cannot lose them'
                     WHEN r_score <= {lo} AND f_score > {lo} THEN 'at risk'
                     WHEN r_score <= {lo} THEN 'hibernating'
                     WHEN f_score >= {hi} THEN 'loyal'
                     WHEN r_score >= {hi} AND f_score <= {lo} THEN 'new'
                     WHEN r_score >= {hi} THEN 'potential loyalists'
                     ELSE 'need attention' END AS segment
         FROM s",
        c = quote_ident(&cust),
        t = quote_ident(&time),
        a = quote_ident(&amount),
    );
    let n = source::create_table_as(target, &select, replace)?;
    if n == 0 {
        return Err(Error::EmptyData(format!(
            "{} has no transactions with a customer and a time",
            quote_literal(transactions)
        )))
        .sql();
    }
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn user_features(
    events: Option<&str>,
    target: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    time_col: default!(Option<&str>, "'ts'"),
    event_type_col: default!(Option<&str>, "'event_type'"),
    item_col: default!(Option<&str>, "'item_id'"),
    value_col: default!(Option<&str>, "NULL"),
    as_of: default!(Option<TimestampWithTimeZone>, "now()"),
    replace: default!(Option<bool>, false),
) -> Result<i64, ErrorReport> {
    let events = required(events, "events")?;
    let target = required(target, "target")?;
    let user_col = required(user_col, "user_col")?;
    let time_col = required(time_col, "time_col")?;
    let replace = required(replace, "replace")?;
    let src = source::resolve(events)?;
    let cols = source::describe(&src)?;
    let user = quote_ident(&source::find(&cols, user_col, "user")?.name);
    let t = quote_ident(&time_column(&cols, time_col)?);
    let from = source::readable_from(&src, &cols)?;
    let as_of = match as_of {
        Some(v) => format!("{}::timestamptz", quote_literal(&v.to_string())),
        None => "now()".to_string(),
    };
    let mut exprs = vec![
        format!("{user} AS user_id"),
        "count(*) AS events".to_string(),
        format!("min({t}) AS first_seen"),
        format!("max({t}) AS last_seen"),
        format!("(extract(epoch FROM {as_of} - max({t}::timestamptz)) / 86400.0)::float8 AS recency_days"),
        format!("count(DISTINCT ({t}::timestamptz)::date) AS active_days"),
    ];
    if let Some(e) = event_type_col {
        let e = quote_ident(&source::find(&cols, e, "event type")?.name);
        // One count column per event type present in the data (at most 50, the most frequent).
        let types = read_json(&format!(
            "SELECT coalesce(jsonb_agg(v ORDER BY n DESC, v), '[]') FROM \
             (SELECT ({e})::text AS v, count(*) AS n FROM {from} WHERE {e} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50) s"
        ))?;
        for ty in types
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let slug = mkt_prep::sql_expr::slug(ty);
            exprs.push(format!(
                "count(*) FILTER (WHERE ({e})::text = {}) AS {}",
                quote_literal(ty),
                quote_ident(&format!("n_{slug}"))
            ));
        }
    }
    if let Some(i) = item_col {
        let i = quote_ident(&source::find(&cols, i, "item")?.name);
        exprs.push(format!("count(DISTINCT {i}) AS distinct_items"));
        exprs.push(format!(
            "count(DISTINCT {i})::float8 / count(*) AS item_diversity"
        ));
    }
    if let Some(v) = value_col {
        let vc = source::find(&cols, v, "value")?;
        source::check_number(vc, "value")?;
        let v = quote_ident(&vc.name);
        exprs.push(format!("coalesce(sum({v}), 0)::float8 AS total_value"));
        exprs.push(format!("avg({v})::float8 AS avg_value"));
    }
    let select = format!(
        "SELECT {} FROM {from} WHERE {user} IS NOT NULL GROUP BY {user}",
        exprs.join(", ")
    );
    source::create_table_as(target, &select, replace)
}

/// `work_mem` for the statements of one call, so that `parts` sorts or hashes together stay
/// within `mkt.max_memory_mb`; the previous setting comes back when the guard is dropped.
struct WorkMem(String);

impl WorkMem {
    fn limit(parts: usize) -> SqlResult<WorkMem> {
        let kb = (crate::gucs::MAX_MEMORY_MB.get() as usize * 1024 / parts.max(1)).max(64);
        let old =
            crate::catalog::select_first::<String>("SELECT current_setting('work_mem')", &[])?
                .unwrap_or_else(|| "4MB".into());
        Spi::connect_mut(|c| {
            c.update(
                "SELECT set_config('work_mem', $1, true)",
                None,
                &[format!("{kb}kB").into()],
            )
            .map(|_| ())
        })
        .sql()?;
        Ok(WorkMem(old))
    }
}

impl Drop for WorkMem {
    fn drop(&mut self) {
        // On an error the transaction (sub)aborts and takes the local setting with it; running
        // SQL while unwinding from an error is not allowed anyway.
        if std::thread::panicking() {
            return;
        }
        let old = std::mem::take(&mut self.0);
        let _ = Spi::connect_mut(|c| {
            c.update(
                "SELECT set_config('work_mem', $1, true)",
                None,
                &[old.as_str().into()],
            )
            .map(|_| ())
        });
    }
}

/// Rows of the working table.
fn rows_of(table: &str) -> SqlResult<i64> {
    Spi::connect(|c| first::<i64>(c.select(&format!("SELECT count(*) FROM {table}"), None, &[])?))
        .sql()
        .map(|n| n.unwrap_or(0))
}

/// Runs a writing statement on the working table; returns the rows it touched.
fn exec(sql: &str) -> SqlResult<i64> {
    Spi::connect_mut(|c| c.update(sql, None, &[]).map(|t| t.len() as i64)).sql()
}

fn strings_of(v: &Value, what: &str) -> SqlResult<Vec<String>> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "{what} must be a non-empty array of column names, got {v}"
            ))
        })
}

fn number_of(v: Option<&Value>, default: f64, what: &str) -> SqlResult<f64> {
    match v {
        None => Ok(default),
        Some(x) => x
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| invalid(format!("{what} must be a number >= 0, got {x}"))),
    }
}

/// Types `coerce` converts text to; values that do not parse become NULL and are counted.
const COERCIONS: [&str; 6] = [
    "numeric",
    "bigint",
    "float8",
    "date",
    "timestamptz",
    "boolean",
];

#[pg_extern(volatile, parallel_unsafe)]
fn clean(
    source: &str,
    target: &str,
    options: default!(JsonB, "'{}'"),
    replace: default!(bool, false),
) -> Result<TableIterator<'static, (name!(step, String), name!(rows_affected, i64))>, ErrorReport> {
    let opts = match &options.0 {
        Value::Object(m) => m.clone(),
        Value::Null => Default::default(),
        other => {
            return Err(invalid(format!(
                "options must be a JSON object, got {other}"
            )))
        }
    };
    const KEYS: [&str; 7] = [
        "bots",
        "coerce",
        "dedupe_on",
        "keep",
        "nulls",
        "order_by",
        "outliers",
    ];
    for k in opts.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(invalid(format!(
                "unknown option \"{k}\"; valid options are: bots, coerce, dedupe_on, keep, nulls, order_by, outliers"
            )));
        }
    }
    let src = source::resolve(source)?;
    let cols = source::describe(&src)?;
    // One sort or hash at a time per step.
    let _budget = WorkMem::limit(1)?;
    let from = source::readable_from(&src, &cols)?;
    let work = "pg_temp.mkt_clean_work";
    source::drop_temp("mkt_clean_work")?;
    exec(&format!(
        "CREATE TEMP TABLE mkt_clean_work ON COMMIT DROP AS SELECT * FROM {from}"
    ))?;
    let mut steps: Vec<(String, i64)> = vec![("input".into(), rows_of(work)?)];
    let col = |name: &str, role: &str| -> SqlResult<String> {
        let c = source::find(&cols, name, role)?;
        Ok(quote_ident(&c.name))
    };
    let numeric_col = |name: &str, role: &str| -> SqlResult<String> {
        let c = source::find(&cols, name, role)?;
        source::check_number(c, role)?;
        Ok(quote_ident(&c.name))
    };

    // 1. Types: text that should be numbers or dates.
    if let Some(v) = opts.get("coerce") {
        let Value::Object(m) = v else {
            return Err(invalid(format!(
                "coerce must be an object of column to type, got {v}"
            )));
        };
        for (name, ty) in m {
            let c = col(name, "coerced")?;
            let ty = ty
                .as_str()
                .and_then(|t| COERCIONS.iter().find(|x| **x == t))
                .ok_or_else(|| {
                    crate::error::report(Error::unknown(
                        "coercion type",
                        &ty.to_string(),
                        &COERCIONS,
                    ))
                })?;
            let fn_name = format!("mkt.try_{}", ty);
            let failed = Spi::connect(|s| {
                first::<i64>(s.select(
                    &format!("SELECT count(*) FROM {work} WHERE {c} IS NOT NULL AND {fn_name}(({c})::text) IS NULL"),
                    None,
                    &[],
                )?)
            })
            .sql()?
            .unwrap_or(0);
            exec(&format!(
                "ALTER TABLE {work} ALTER COLUMN {c} TYPE {ty} USING {fn_name}(({c})::text)"
            ))?;
            steps.push((format!("coerce {name} to {ty}: failed"), failed));
        }
    }
    // 2. Duplicates: one row per key, the first or last by order_by.
    if let Some(v) = opts.get("dedupe_on") {
        let keys: Vec<String> = strings_of(v, "dedupe_on")?
            .iter()
            .map(|k| col(k, "dedupe"))
            .collect::<SqlResult<_>>()?;
        let keep = match opts.get("keep").and_then(Value::as_str).unwrap_or("first") {
            "first" => "ASC",
            "last" => "DESC",
            other => {
                return Err(crate::error::report(Error::unknown(
                    "keep",
                    other,
                    &["first", "last"],
                )))
            }
        };
        let order = match opts.get("order_by") {
            None => "ctid".to_string(),
            Some(Value::String(o)) => format!("{} {keep}, ctid", col(o, "order_by")?),
            Some(o) => return Err(invalid(format!("order_by must be a column name, got {o}"))),
        };
        let n = exec(&format!(
            "DELETE FROM {work} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER \
             (PARTITION BY {} ORDER BY {order}) AS mkt_rn FROM {work}) d WHERE mkt_rn > 1)",
            keys.join(", ")
        ))?;
        steps.push(("dedupe".into(), n));
    }
    // 3. Bots: subjects with more events in one day than a person makes.
    if let Some(v) = opts.get("bots") {
        let (Some(subject), Some(time)) = (
            v.get("subject").and_then(Value::as_str),
            v.get("time").and_then(Value::as_str),
        ) else {
            return Err(invalid(format!(
                "bots needs {{\"subject\": column, \"time\": column, \"max_events_per_day\": n}}, got {v}"
            )));
        };
        let (s, t) = (col(subject, "bots subject")?, col(time, "bots time")?);
        let max = number_of(v.get("max_events_per_day"), 1000.0, "max_events_per_day")?;
        let n = exec(&format!(
            "DELETE FROM {work} WHERE {s} IN (SELECT {s} FROM {work} WHERE {s} IS NOT NULL \
             GROUP BY {s}, ({t})::date HAVING count(*) > {max})"
        ))?;
        steps.push(("bots".into(), n));
    }
    // 4. Missing values: drop the row or fill it.
    if let Some(v) = opts.get("nulls") {
        let Value::Object(m) = v else {
            return Err(invalid(format!(
                "nulls must be an object of column to action, got {v}"
            )));
        };
        for (name, action) in m {
            let n = match action.as_str() {
                Some("drop") => exec(&format!(
                    "DELETE FROM {work} WHERE {} IS NULL",
                    col(name, "nulls")?
                ))?,
                Some(stat @ ("mean" | "median")) => {
                    let c = numeric_col(name, "nulls")?;
                    let agg = if stat == "mean" {
                        format!("avg({c})")
                    } else {
                        format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY ({c})::float8)")
                    };
                    exec(&format!(
                        "UPDATE {work} SET {c} = (SELECT {agg} FROM {work}) WHERE {c} IS NULL"
                    ))?
                }
                Some("mode") => {
                    let c = col(name, "nulls")?;
                    exec(&format!(
                        "UPDATE {work} SET {c} = (SELECT mode() WITHIN GROUP (ORDER BY {c}) FROM {work}) WHERE {c} IS NULL"
                    ))?
                }
                _ => {
                    // A constant, as JSON: its text goes through the column's own input function.
                    let c = col(name, "nulls")?;
                    let text = match action {
                        Value::String(s) => s.clone(),
                        Value::Null => {
                            return Err(invalid(format!(
                                "nulls action for \"{name}\" must not be null"
                            )))
                        }
                        other => other.to_string(),
                    };
                    exec(&format!(
                        "UPDATE {work} SET {c} = {} WHERE {c} IS NULL",
                        quote_literal(&text)
                    ))?
                }
            };
            steps.push((format!("nulls {name}"), n));
        }
    }
    // 5. Outliers: clip, drop or flag values outside the method's bounds.
    if let Some(v) = opts.get("outliers") {
        let Value::Object(m) = v else {
            return Err(invalid(format!(
                "outliers must be an object of column to settings, got {v}"
            )));
        };
        for (name, cfg) in m {
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
                        return Err(invalid(format!(
                            "quantile bounds must satisfy 0 <= low < high <= 1, got {lo} and {hi}"
                        )));
                    }
                    format!(
                        "SELECT percentile_cont({lo}) WITHIN GROUP (ORDER BY ({c})::float8), \
                         percentile_cont({hi}) WITHIN GROUP (ORDER BY ({c})::float8) FROM {work}"
                    )
                }
                other => {
                    return Err(crate::error::report(Error::unknown(
                        "outlier method",
                        other,
                        &["iqr", "zscore", "quantile"],
                    )))
                }
            };
            let (lo, hi) =
                Spi::connect(|s| s.select(&bounds, None, &[])?.first().get_two::<f64, f64>())
                    .sql()?;
            let (Some(lo), Some(hi)) = (lo, hi) else {
                steps.push((format!("outliers {name}"), 0));
                continue;
            };
            let outside = format!("({c})::float8 < {lo:?} OR ({c})::float8 > {hi:?}");
            let n = match action {
                "clip" => exec(&format!(
                    "UPDATE {work} SET {c} = CASE WHEN ({c})::float8 < {lo:?} THEN {lo:?} ELSE {hi:?} END WHERE {outside}"
                ))?,
                "drop" => exec(&format!("DELETE FROM {work} WHERE {outside}"))?,
                "flag" => {
                    let flag = quote_ident(&format!("{name}_outlier"));
                    exec(&format!("ALTER TABLE {work} ADD COLUMN {flag} bool"))?;
                    exec(&format!("UPDATE {work} SET {flag} = coalesce({outside}, false)"))?;
                    rows_of(&format!("{work} WHERE {flag}"))?
                }
                other => {
                    return Err(crate::error::report(Error::unknown(
                        "outlier action",
                        other,
                        &["clip", "drop", "flag"],
                    )))
                }
            };
            steps.push((format!("outliers {name} ({method}, {action})"), n));
        }
    }
    let n = source::create_table_as(target, &format!("SELECT * FROM {work}"), replace)?;
    exec("DROP TABLE pg_temp.mkt_clean_work")?;
    steps.push(("output".into(), n));
    Ok(TableIterator::new(steps))
}
