//! mkt.profile: the generated queries and how their results become one row per column.
//!
//! Three scans per group of up to 40 columns: counts, extremes, moments and quartiles; IQR
//! outliers (which need the quartiles); every column's most frequent values (grouping sets).

use mkt_core::columns::{ColKind, Column};
use mkt_core::names::quote_ident;
use serde_json::Value;

/// Columns per group: each scan's call stays under PostgreSQL's 100-argument limit.
pub const GROUP: usize = 40;

/// Scans a group of columns takes.
pub const PASSES: usize = 3;

/// The query of the first pass: one jsonb array, `[rows, {n, d, min, max[, mean, stddev, q]}...]`.
pub fn stats_query(group: &[Column], from: &str) -> String {
    let parts: Vec<String> = group
        .iter()
        .map(|c| {
            let x = quote_ident(&c.name);
            // Numbers and times by their own order; everything else as text.
            let (min, max) = if c.is_numeric() || c.kind == ColKind::Time {
                (format!("min({x})::text"), format!("max({x})::text"))
            } else {
                (format!("min(({x})::text)"), format!("max(({x})::text)"))
            };
            let numeric = if c.is_numeric() {
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
    format!("SELECT jsonb_build_array(count(*), {}) FROM {from}", parts.join(", "))
}

/// Sorts the first pass makes: each column's distinct count, and each numeric column's quartiles.
pub fn stats_sorts(group: &[Column]) -> usize {
    group.iter().map(|c| 1 + c.is_numeric() as usize).sum()
}

/// The IQR rule's bounds of each column whose quartiles the first pass found.
pub fn outlier_bounds(stats: &Value, n: usize) -> Vec<Option<(f64, f64)>> {
    (0..n)
        .map(|k| {
            let q = stats.get(k + 1)?.get("q")?.as_array()?;
            let (q1, q3) = (q.first()?.as_f64()?, q.get(2)?.as_f64()?);
            Some((q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)))
        })
        .collect()
}

/// The second pass: per column, the values outside its bounds (null where it has none); None
/// when no column has bounds.
pub fn outliers_query(group: &[Column], bounds: &[Option<(f64, f64)>], from: &str) -> Option<String> {
    if bounds.iter().all(Option::is_none) {
        return None;
    }
    let filters: Vec<String> = group
        .iter()
        .zip(bounds)
        .map(|(c, b)| match b {
            Some((lo, hi)) => format!(
                "to_jsonb(count(*) FILTER (WHERE ({x})::float8 < {lo:?} OR ({x})::float8 > {hi:?}))",
                x = quote_ident(&c.name)
            ),
            None => "'null'::jsonb".to_string(),
        })
        .collect();
    Some(format!("SELECT jsonb_build_array({}) FROM {from}", filters.join(", ")))
}

/// The columns whose top values mean something: columns of mostly distinct values (an id, a
/// timestamp) would make the grouping as large as the table, and get none.
pub fn frequent(stats: &Value, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|&k| {
            let s = &stats[k + 1];
            let (n, d) = (s["n"].as_i64().unwrap_or(0), s["d"].as_i64().unwrap_or(0));
            d <= 1000 || d * 10 <= n
        })
        .collect()
}

/// The third pass: the five most frequent values of every `frequent` column at once, as
/// `{"<position among frequent>": [{value, count}...]}`; None when there are none.
pub fn top_values_query(group: &[Column], frequent: &[usize], from: &str) -> Option<String> {
    if frequent.is_empty() {
        return None;
    }
    let xs: Vec<String> = frequent.iter().map(|&k| quote_ident(&group[k].name)).collect();
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
    Some(format!(
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
        sets = sets.join(", "),
    ))
}

/// Hash tables of the third pass: one per grouping set.
pub fn top_values_hashes(frequent: &[usize]) -> usize {
    frequent.len()
}

/// One column of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    pub column_name: String,
    pub data_type: String,
    pub rows: i64,
    pub nulls: i64,
    pub distinct_values: i64,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub p25: Option<f64>,
    pub p50: Option<f64>,
    pub p75: Option<f64>,
    pub outliers: Option<i64>,
    pub top_values: Option<Value>,
}

/// The rows of a group from the three passes' results.
pub fn rows(
    group: &[Column],
    stats: &Value,
    outliers: &Value,
    frequent: &[usize],
    top: &Value,
) -> Vec<ProfileRow> {
    let total = stats[0].as_i64().unwrap_or(0);
    group
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let s = &stats[k + 1];
            let q = |i: usize| s.get("q").and_then(|q| q.get(i)).and_then(Value::as_f64);
            let n = s["n"].as_i64().unwrap_or(0);
            ProfileRow {
                column_name: c.name.clone(),
                data_type: c.type_name.clone(),
                rows: total,
                nulls: total - n,
                distinct_values: s["d"].as_i64().unwrap_or(0),
                min: s["min"].as_str().map(str::to_string),
                max: s["max"].as_str().map(str::to_string),
                mean: s.get("mean").and_then(Value::as_f64),
                stddev: s.get("stddev").and_then(Value::as_f64),
                p25: q(0),
                p50: q(1),
                p75: q(2),
                outliers: outliers.get(k).and_then(Value::as_i64),
                top_values: frequent.iter().position(|&f| f == k).map(|j| {
                    top.get(j.to_string())
                        .cloned()
                        .unwrap_or(Value::Array(vec![]))
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::ids::IdKind;
    use serde_json::json;

    fn group() -> Vec<Column> {
        vec![
            Column::new("Price", "numeric", ColKind::Number),
            Column::new("label", "text", ColKind::Id(IdKind::Text)),
            Column::new("tags", "jsonb", ColKind::Other),
        ]
    }

    #[test]
    fn queries_quote_names_and_ask_numeric_columns_for_more() {
        let q = stats_query(&group(), "t");
        assert!(q.contains("count(\"Price\")") && q.contains("percentile_cont"));
        assert!(q.contains("count(DISTINCT (\"tags\")::text)") && q.contains("min((\"label\")::text)"));
        assert_eq!(stats_sorts(&group()), 4);
        assert!(outliers_query(&group(), &[None, None, None], "t").is_none());
        assert!(top_values_query(&group(), &[], "t").is_none());
        let top = top_values_query(&group(), &[1, 2], "t").unwrap();
        assert!(top.contains("GROUPING SETS ((\"label\"), (\"tags\"))"), "{top}");
    }

    #[test]
    fn results_become_rows_with_iqr_outliers_and_top_values() {
        let stats = json!([10,
            {"n": 8, "d": 5, "min": "1", "max": "90", "mean": 20.0, "stddev": 5.0, "q": [2.0, 3.0, 6.0]},
            {"n": 10, "d": 10, "min": "a", "max": "z"},
            {"n": 10, "d": 2000, "min": "[]", "max": "[1]"}]);
        assert_eq!(outlier_bounds(&stats, 3), vec![Some((-4.0, 12.0)), None, None]);
        let freq = frequent(&json!([10000, {"n": 10000, "d": 5}, {"n": 10000, "d": 5000}, {"n": 100000, "d": 2000}]), 3);
        assert_eq!(freq, vec![0, 2]);
        let rows = rows(&group(), &stats, &json!([1, null, null]), &[0, 1], &json!({"0": [{"value": "1", "count": 3}]}));
        assert_eq!(rows[0].nulls, 2);
        assert_eq!((rows[0].p25, rows[0].p75, rows[0].outliers), (Some(2.0), Some(6.0), Some(1)));
        assert_eq!(rows[0].top_values, Some(json!([{"value": "1", "count": 3}])));
        assert_eq!(rows[1].top_values, Some(json!([])), "a frequent column without values");
        assert_eq!(rows[2].top_values, None, "not a frequent column");
    }
}
