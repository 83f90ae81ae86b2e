//! The SQL that fits a column's statistics and the SQL that applies them.

use crate::spec::{ColumnSpec, Kind};
use crate::stats::ColumnStats;
use mkt_core::names::{quote_ident, quote_literal};

/// A float as a SQL literal that reads back to the same value.
fn lit(x: f64) -> String {
    format!("{x:?}::float8")
}

/// One query over `from` returning one jsonb value with what `ColumnStats::from_fit` needs.
pub fn fit_query(spec: &ColumnSpec, from: &str) -> String {
    let x = quote_ident(&spec.column);
    let xf = format!("({x})::float8");
    match &spec.kind {
        Kind::Standard => format!(
            "SELECT jsonb_build_object('mean', avg({xf}), 'std', stddev_pop({xf})) FROM {from}"
        ),
        Kind::MinMax => format!("SELECT jsonb_build_object('min', min({xf}), 'max', max({xf})) FROM {from}"),
        Kind::Robust => format!(
            "SELECT jsonb_build_object('q1', q[1], 'median', q[2], 'q3', q[3]) FROM \
             (SELECT percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY {xf}) AS q FROM {from}) s"
        ),
        Kind::Log1p | Kind::Hash { .. } => "SELECT '{}'::jsonb".to_string(),
        Kind::OneHot { max_categories } => format!(
            "SELECT coalesce(jsonb_agg(v ORDER BY n DESC, v), '[]') FROM \
             (SELECT ({x})::text AS v, count(*) AS n FROM {from} WHERE {x} IS NOT NULL \
              GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {max_categories}) s"
        ),
        Kind::QuantileBucket { n } => {
            let qs: Vec<String> = (1..*n).map(|k| format!("{}", k as f64 / *n as f64)).collect();
            format!(
                "SELECT to_jsonb(percentile_cont(ARRAY[{}]::float8[]) WITHIN GROUP (ORDER BY {xf})) FROM {from}",
                qs.join(", ")
            )
        }
        Kind::TargetEncode { label, .. } => {
            let y = format!("({})::float8", quote_ident(label));
            format!(
                "SELECT jsonb_build_object('global', (SELECT avg({y}) FROM {from} WHERE {y} IS NOT NULL), \
                 'cats', coalesce(jsonb_agg(jsonb_build_array(v, n, m)), '[]')) FROM \
                 (SELECT ({x})::text AS v, count({y}) AS n, avg({y}) AS m FROM {from} \
                  WHERE {x} IS NOT NULL AND {y} IS NOT NULL GROUP BY 1) s"
            )
        }
    }
}

/// A column-name fragment from a value: lower-case letters, digits and underscores.
pub fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Output columns (name, SQL expression over the source row) of one fitted column. Constant
/// columns give 0 rather than a division by zero; NULL inputs give NULL (0 for one-hot).
pub fn outputs(spec: &ColumnSpec, stats: &ColumnStats) -> Vec<(String, String)> {
    let c = &spec.column;
    let x = quote_ident(c);
    let xf = format!("({x})::float8");
    let scaled = |center: f64, scale: f64| {
        if scale > 0.0 && scale.is_finite() {
            format!("({xf} - {}) / {}", lit(center), lit(scale))
        } else {
            format!("CASE WHEN {x} IS NULL THEN NULL ELSE 0::float8 END")
        }
    };
    match stats {
        ColumnStats::Standard { mean, std } => vec![(format!("{c}_std"), scaled(*mean, *std))],
        ColumnStats::MinMax { min, max } => vec![(format!("{c}_minmax"), scaled(*min, max - min))],
        ColumnStats::Robust { median, q1, q3 } => vec![(format!("{c}_robust"), scaled(*median, q3 - q1))],
        ColumnStats::Log1p => vec![(
            format!("{c}_log1p"),
            format!("CASE WHEN {xf} > -1 THEN ln(1 + {xf}) END"),
        )],
        ColumnStats::OneHot { categories } => {
            let mut names: Vec<String> = Vec::new();
            categories
                .iter()
                .map(|cat| {
                    let mut name = format!("{c}_{}", slug(cat));
                    // Distinct categories can share a slug ("a b", "a-b"): number the repeats.
                    if names.contains(&name) {
                        let base = name.clone();
                        let mut k = 2;
                        while names.contains(&name) {
                            name = format!("{base}_{k}");
                            k += 1;
                        }
                    }
                    names.push(name.clone());
                    (
                        name,
                        format!("(({x})::text IS NOT DISTINCT FROM {})::int", quote_literal(cat)),
                    )
                })
                .collect()
        }
        ColumnStats::Hash { buckets } => vec![(
            format!("{c}_hash"),
            format!(
                "CASE WHEN {x} IS NULL THEN NULL ELSE ((pg_catalog.hashtextextended(({x})::text, 0) % {buckets} + {buckets}) % {buckets})::int END"
            ),
        )],
        ColumnStats::QuantileBucket { edges } => {
            let arr: Vec<String> = edges.iter().map(|e| format!("{e:?}")).collect();
            vec![(
                format!("{c}_bucket"),
                format!("width_bucket({xf}, ARRAY[{}]::float8[]) + 1", arr.join(", ")),
            )]
        }
        ColumnStats::TargetEncode { encoding, global } => {
            let mut case = format!("CASE ({x})::text");
            for (k, v) in encoding {
                case += &format!(" WHEN {} THEN {}", quote_literal(k), lit(*v));
            }
            case += &format!(" ELSE {} END", lit(*global));
            vec![(format!("{c}_te"), case)]
        }
    }
}

/// A jsonb object of `columns` (name: value) per row, as one SQL expression: the context a
/// policy reads from a row (mkt.decide_all). jsonb_build_object takes at most 100 arguments, so
/// the columns go 50 to a call, joined with `||`.
pub fn json_object_of(columns: &[&str]) -> String {
    if columns.is_empty() {
        return "'{}'::jsonb".into();
    }
    columns
        .chunks(50)
        .map(|part| {
            let pairs: Vec<String> = part
                .iter()
                .map(|c| format!("{}, {}", quote_literal(c), quote_ident(c)))
                .collect();
            format!("jsonb_build_object({})", pairs.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// A SELECT of every column of `from` plus the transform's output columns.
pub fn select_with_outputs(fitted: &crate::Fitted, from: &str) -> String {
    let mut exprs = vec!["mkt_src.*".to_string()];
    for (spec, stats) in &fitted.columns {
        for (name, expr) in outputs(spec, stats) {
            exprs.push(format!("{expr} AS {}", quote_ident(&name)));
        }
    }
    format!("SELECT {} FROM {from} AS mkt_src", exprs.join(", "))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_json_object_of_columns_quotes_names_and_splits_long_lists() {
        assert_eq!(json_object_of(&[]), "'{}'::jsonb");
        assert_eq!(
            json_object_of(&["Segment", "a'b"]),
            "jsonb_build_object('Segment', \"Segment\", 'a''b', \"a'b\")"
        );
        let many: Vec<String> = (0..120).map(|i| format!("c{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(json_object_of(&refs).matches("jsonb_build_object(").count(), 3);
    }
    use super::*;

    fn spec(kind: Kind) -> ColumnSpec {
        ColumnSpec {
            column: "Price".into(),
            kind,
        }
    }

    #[test]
    fn expressions_quote_and_guard() {
        let o = outputs(
            &spec(Kind::Standard),
            &ColumnStats::Standard {
                mean: 2.5,
                std: 0.5,
            },
        );
        assert_eq!(
            o,
            vec![(
                "Price_std".to_string(),
                "((\"Price\")::float8 - 2.5::float8) / 0.5::float8".to_string()
            )]
        );
        let o = outputs(
            &spec(Kind::Standard),
            &ColumnStats::Standard {
                mean: 2.5,
                std: 0.0,
            },
        );
        assert!(o[0].1.contains("0::float8 END"));
        let o = outputs(
            &spec(Kind::OneHot { max_categories: 5 }),
            &ColumnStats::OneHot {
                categories: vec!["a b".into(), "a-b".into(), "O'Neil".into()],
            },
        );
        let names: Vec<&str> = o.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["Price_a_b", "Price_a_b_2", "Price_o_neil"]);
        assert!(o[2].1.contains("'O''Neil'"));
        let o = outputs(
            &spec(Kind::TargetEncode {
                label: "y".into(),
                smoothing: 1.0,
            }),
            &ColumnStats::TargetEncode {
                encoding: vec![("x".into(), 0.25)],
                global: 0.1,
            },
        );
        assert!(o[0].1.ends_with("ELSE 0.1::float8 END"));
    }

    #[test]
    fn target_encoding_is_smoothed() {
        // category a: 3 rows, mean 1; global mean 0.5; smoothing 1: (3 + 0.5) / 4 = 0.875
        let v = serde_json::json!({"global": 0.5, "cats": [["a", 3, 1.0]]});
        let s = ColumnStats::from_fit(
            &spec(Kind::TargetEncode {
                label: "y".into(),
                smoothing: 1.0,
            }),
            &v,
        )
        .unwrap();
        assert_eq!(
            s,
            ColumnStats::TargetEncode {
                encoding: vec![("a".into(), 0.875)],
                global: 0.5
            }
        );
        let empty = ColumnStats::from_fit(
            &spec(Kind::Standard),
            &serde_json::json!({"mean": null, "std": null}),
        );
        assert!(empty.is_err());
    }
}
