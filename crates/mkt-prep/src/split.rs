//! mkt.split: per-user train/test splits, as the two CREATE TABLE .. AS statements that write them.

use mkt_core::columns::{self, ColKind, Column};
use mkt_core::ids::IdKind;
use mkt_core::names::{parse_qualified_name, quote_ident, QualifiedName};
use mkt_core::{Error, Result};

pub const METHODS: [&str; 3] = ["random", "temporal", "leave_last_out"];

/// What to split and how.
pub struct SplitSpec<'a> {
    pub method: &'a str,
    pub test_fraction: f64,
    pub user_col: &'a str,
    pub time_col: Option<&'a str>,
    pub seed: i32,
}

/// Checks what can be checked before the source is read; returns the two tables to create.
pub fn targets(spec: &SplitSpec, train_table: &str, test_table: &str) -> Result<(QualifiedName, QualifiedName)> {
    if !METHODS.contains(&spec.method) {
        return Err(Error::unknown("split method", spec.method, &METHODS));
    }
    if !(spec.test_fraction > 0.0 && spec.test_fraction < 1.0) {
        return Err(Error::invalid(format!(
            "test_fraction must be between 0 and 1 (exclusive), got {}",
            spec.test_fraction
        )));
    }
    let train = parse_qualified_name(train_table)?;
    let test = parse_qualified_name(test_table)?;
    if train == test {
        return Err(Error::invalid("train_table and test_table must be different tables"));
    }
    Ok((train, test))
}

/// ("train" | "test", the statement creating that table) from `from`, whose columns are `cols`.
/// Each user keeps at least one training row; the order within a user is random (seeded) or by
/// time, ties broken by the seeded hash and then the row's text.
pub fn statements(
    spec: &SplitSpec,
    cols: &[Column],
    from: &str,
    train: &QualifiedName,
    test: &QualifiedName,
) -> Result<Vec<(&'static str, String)>> {
    let user = columns::find(cols, spec.user_col, "user")?;
    let hash = format!("pg_catalog.hashtextextended(src::text, {})", spec.seed);
    let order = match (spec.method, spec.time_col) {
        ("random", _) => format!("{hash}, src::text"),
        (m, None) => return Err(Error::invalid(format!("split method '{m}' needs time_col"))),
        (_, Some(t)) => {
            let tc = columns::find(cols, t, "time")?;
            if !matches!(tc.kind, ColKind::Time | ColKind::Number | ColKind::Id(IdKind::Int)) {
                return Err(Error::WrongType(format!(
                    "time column '{}' has type {}; it must be a timestamp, date or number",
                    tc.name, tc.type_name
                )));
            }
            format!("src.{}, {hash}, src::text", quote_ident(&tc.name))
        }
    };
    let n_test = if spec.method == "leave_last_out" {
        "LEAST(mkt_n - 1, 1)".to_string()
    } else {
        format!(
            "LEAST(mkt_n - 1, round(mkt_n * {}::float8)::bigint)",
            spec.test_fraction
        )
    };
    let list: Vec<String> = cols.iter().map(|c| quote_ident(&c.name)).collect();
    let list = list.join(", ");
    let ranked = format!(
        "SELECT {list}, row_number() OVER (PARTITION BY src.{u} ORDER BY {order}) AS mkt_rn, \
         count(*) OVER (PARTITION BY src.{u}) AS mkt_n FROM (SELECT * FROM {from}) AS src",
        u = quote_ident(&user.name),
    );
    Ok([("train", train, "<="), ("test", test, ">")]
        .into_iter()
        .map(|(name, target, cmp)| {
            (
                name,
                format!(
                    "CREATE TABLE {} AS SELECT {list} FROM ({ranked}) AS r WHERE mkt_rn {cmp} mkt_n - {n_test}",
                    target.quoted()
                ),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("user_id", "bigint", ColKind::Id(IdKind::Int)),
            Column::new("ts", "timestamp with time zone", ColKind::Time),
            Column::new("note", "text", ColKind::Id(IdKind::Text)),
        ]
    }

    fn spec<'a>(method: &'a str, time_col: Option<&'a str>) -> SplitSpec<'a> {
        SplitSpec {
            method,
            test_fraction: 0.25,
            user_col: "user_id",
            time_col,
            seed: 7,
        }
    }

    #[test]
    fn a_temporal_split_orders_each_user_by_time() {
        let (tr, te) = targets(&spec("temporal", Some("ts")), "s.tr", "te").unwrap();
        let st = statements(&spec("temporal", Some("ts")), &cols(), "src_t", &tr, &te).unwrap();
        assert_eq!(st[0].0, "train");
        assert!(st[0].1.starts_with("CREATE TABLE \"s\".\"tr\" AS"), "{}", st[0].1);
        assert!(st[1].1.contains("ORDER BY src.\"ts\", pg_catalog.hashtextextended(src::text, 7)"));
        assert!(st[1].1.contains("mkt_rn > mkt_n - LEAST(mkt_n - 1, round(mkt_n * 0.25::float8)::bigint)"));
    }

    #[test]
    fn bad_splits_are_refused() {
        assert!(targets(&spec("stratified", None), "tr", "te").unwrap_err().to_string().contains("unknown split method"));
        assert!(targets(&spec("random", None), "tr", "public.tr").is_ok());
        assert!(targets(&spec("random", None), "tr", "tr").is_err());
        let (tr, te) = targets(&spec("random", None), "tr", "te").unwrap();
        let e = statements(&spec("temporal", None), &cols(), "t", &tr, &te).unwrap_err();
        assert_eq!(e.to_string(), "split method 'temporal' needs time_col");
        let e = statements(&spec("temporal", Some("note")), &cols(), "t", &tr, &te).unwrap_err();
        assert!(matches!(e, Error::WrongType(_)));
        let ll = statements(&spec("leave_last_out", Some("ts")), &cols(), "t", &tr, &te).unwrap();
        assert!(ll[1].1.contains("LEAST(mkt_n - 1, 1)"));
    }
}
