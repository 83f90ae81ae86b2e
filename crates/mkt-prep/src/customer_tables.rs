//! The SELECTs behind mkt.rfm and mkt.user_features: one row per customer from a transactions or
//! events table, written to a new table by the SQL layer.

use mkt_core::names::{quote_ident, quote_literal};
use mkt_core::{Error, Result};

/// `as_of` as a SQL expression: a given timestamp's text, or now().
pub fn as_of_expr(as_of: Option<&str>) -> String {
    match as_of {
        Some(t) => format!("{}::timestamptz", quote_literal(t)),
        None => "now()".to_string(),
    }
}

pub fn check_quantiles(q: i32) -> Result<()> {
    if !(2..=100).contains(&q) {
        return Err(Error::invalid(format!(
            "quantiles must be between 2 and 100, got {q}"
        )));
    }
    Ok(())
}

/// Recency, frequency and monetary value per customer, their scores 1 (worst) .. q (best) and
/// the named segment. Recency is best when smallest; segments follow the usual RFM grid on
/// recency and frequency, scaled to q.
pub fn rfm_select(customer: &str, time: &str, amount: &str, from: &str, as_of: &str, q: i32) -> String {
    let hi = (q as f64 * 0.6).ceil() as i32 + 1; // 5 -> 4
    let lo = (q as f64 * 0.4).floor() as i32; // 5 -> 2
    format!(
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
        c = quote_ident(customer),
        t = quote_ident(time),
        a = quote_ident(amount),
    )
}

/// The event types present in `event_type` (at most 50, the most frequent), as a jsonb array.
pub fn event_types_query(event_type: &str, from: &str) -> String {
    let e = quote_ident(event_type);
    format!(
        "SELECT coalesce(jsonb_agg(v ORDER BY n DESC, v), '[]') FROM \
         (SELECT ({e})::text AS v, count(*) AS n FROM {from} WHERE {e} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50) s"
    )
}

/// The columns mkt.user_features reads.
pub struct EventColumns<'a> {
    pub user: &'a str,
    pub time: &'a str,
    /// With the event types found in it: one count column per type.
    pub event_type: Option<(&'a str, Vec<String>)>,
    pub item: Option<&'a str>,
    pub value: Option<&'a str>,
}

/// Per-user activity features.
pub fn user_features_select(c: &EventColumns, from: &str, as_of: &str) -> String {
    let user = quote_ident(c.user);
    let t = quote_ident(c.time);
    let mut exprs = vec![
        format!("{user} AS user_id"),
        "count(*) AS events".to_string(),
        format!("min({t}) AS first_seen"),
        format!("max({t}) AS last_seen"),
        format!("(extract(epoch FROM {as_of} - max({t}::timestamptz)) / 86400.0)::float8 AS recency_days"),
        format!("count(DISTINCT ({t}::timestamptz)::date) AS active_days"),
    ];
    if let Some((e, types)) = &c.event_type {
        let e = quote_ident(e);
        for ty in types {
            exprs.push(format!(
                "count(*) FILTER (WHERE ({e})::text = {}) AS {}",
                quote_literal(ty),
                quote_ident(&format!("n_{}", crate::sql_expr::slug(ty)))
            ));
        }
    }
    if let Some(i) = c.item {
        let i = quote_ident(i);
        exprs.push(format!("count(DISTINCT {i}) AS distinct_items"));
        exprs.push(format!("count(DISTINCT {i})::float8 / count(*) AS item_diversity"));
    }
    if let Some(v) = c.value {
        let v = quote_ident(v);
        exprs.push(format!("coalesce(sum({v}), 0)::float8 AS total_value"));
        exprs.push(format!("avg({v})::float8 AS avg_value"));
    }
    format!(
        "SELECT {} FROM {from} WHERE {user} IS NOT NULL GROUP BY {user}",
        exprs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfm_scales_its_segment_grid_to_the_quantiles() {
        let s = rfm_select("Cust", "ts", "amount", "t", "now()", 5);
        assert!(s.contains("\"Cust\" AS customer") && s.contains("ntile(5)"));
        assert!(s.contains("r_score >= 4 AND f_score >= 4 THEN 'champions'"));
        assert!(s.contains("r_score <= 2 THEN 'hibernating'"));
        let s = rfm_select("c", "ts", "a", "t", "now()", 10);
        assert!(s.contains("r_score >= 7") && s.contains("r_score <= 4"));
        assert!(check_quantiles(1).is_err() && check_quantiles(100).is_ok());
        assert_eq!(as_of_expr(Some("2026-01-01 00:00:00+00")), "'2026-01-01 00:00:00+00'::timestamptz");
    }

    #[test]
    fn user_features_count_each_event_type_in_its_own_column() {
        let s = user_features_select(
            &EventColumns {
                user: "user_id",
                time: "ts",
                event_type: Some(("kind", vec!["add to cart".into(), "view".into()])),
                item: Some("item_id"),
                value: None,
            },
            "t",
            "now()",
        );
        assert!(s.contains("FILTER (WHERE (\"kind\")::text = 'add to cart') AS \"n_add_to_cart\""), "{s}");
        assert!(s.contains("AS item_diversity") && !s.contains("total_value"));
        assert!(s.ends_with("GROUP BY \"user_id\""));
    }
}
