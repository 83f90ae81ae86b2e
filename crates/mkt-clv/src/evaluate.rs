//! How well a calibrated model predicted the hold-out: per customer, the expected repeat purchases
//! over the hold-out's length against the purchase periods seen there, and the expected average
//! spend against the hold-out's mean amount.

use crate::model::ClvModel;
use crate::summary::Summary;
use mkt_core::{Error, Result};

/// (metric, value) in a fixed order.
pub fn holdout_metrics(model: &ClvModel, holdout: &Summary) -> Result<Vec<(String, f64)>> {
    if holdout.holdout_frequency.is_empty() || holdout.holdout_duration <= 0.0 {
        return Err(Error::EmptyData(
            "there is no hold-out: no transactions after the model's calibration_end".into(),
        ));
    }
    let d = holdout.holdout_duration;
    let (mut n, mut abs, mut sq, mut predicted, mut actual) = (0usize, 0.0, 0.0, 0.0, 0.0);
    let (mut sn, mut s_abs, mut s_sq) = (0usize, 0.0, 0.0);
    let (mut value_predicted, mut value_actual) = (0.0, 0.0);
    for c in 0..holdout.len() {
        let Some(i) = model.index_of(&holdout.customers.id(c as u32)) else {
            continue; // a customer erased from the model since
        };
        let i = i as usize;
        let p = model.expected_purchases(i, d);
        let a = holdout.holdout_frequency[c];
        n += 1;
        abs += (p - a).abs();
        sq += (p - a) * (p - a);
        predicted += p;
        actual += a;
        if let (Some(spend), Some(total)) = (model.expected_spend(i), holdout.holdout_amount.get(c)) {
            value_predicted += p * spend;
            value_actual += total;
            if a > 0.0 {
                // the model's spend is per purchase period
                let m = total / a;
                sn += 1;
                s_abs += (spend - m).abs();
                s_sq += (spend - m) * (spend - m);
            }
        }
    }
    if n == 0 {
        return Err(Error::EmptyData("no customer of the model is in the hold-out's source".into()));
    }
    let mut out = vec![
        ("customers".to_string(), n as f64),
        ("holdout_periods".to_string(), d),
        ("purchases_mae".to_string(), abs / n as f64),
        ("purchases_rmse".to_string(), (sq / n as f64).sqrt()),
        ("purchases_predicted".to_string(), predicted),
        ("purchases_actual".to_string(), actual),
    ];
    if model.spend.is_some() {
        out.push(("spend_customers".into(), sn as f64));
        if sn > 0 {
            out.push(("spend_mae".into(), s_abs / sn as f64));
            out.push(("spend_rmse".into(), (s_sq / sn as f64).sqrt()));
        }
        out.push(("value_predicted".into(), value_predicted));
        out.push(("value_actual".into(), value_actual));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Period;
    use crate::purchases::Kind;
    use crate::summary::{summarise, Holdout, Transactions, Window};
    use mkt_core::ids::IdColumn;

    #[test]
    fn hold_out_errors_are_measured_per_customer() {
        // a buys on days 0, 2, 4, ... 18; b once on day 0; calibration ends on day 9
        let mut rows: Vec<(i64, i64)> = (0..10).map(|k| (1, 2 * k)).collect();
        rows.push((2, 0));
        let tx = Transactions {
            customers: IdColumn::Int(rows.iter().map(|r| r.0).collect()),
            days: rows.iter().map(|r| r.1).collect(),
            seconds: rows.iter().map(|r| r.1 as f64 * 86400.0).collect(),
            amounts: rows.iter().map(|_| 10.0).collect(),
        };
        let cal = Window { calibration_end: Some((9.0 * 86400.0, 9)), holdout: Holdout::ToLast };
        let s = summarise(&tx, Period::Day, cal).unwrap();
        assert_eq!(s.holdout_frequency, vec![5.0, 0.0]);
        let m = ClvModel::new(Kind::BgNbd, [1.0, 2.0, 0.5, 3.0], None, &s);
        let got = holdout_metrics(&m, &s).unwrap();
        let get = |k: &str| got.iter().find(|r| r.0 == k).unwrap().1;
        let (pa, pb) = (m.expected_purchases(0, 9.0), m.expected_purchases(1, 9.0));
        assert_eq!(get("holdout_periods"), 9.0);
        assert!((get("purchases_mae") - ((pa - 5.0).abs() + pb) / 2.0).abs() < 1e-12);
        assert!((get("purchases_rmse") - (((pa - 5.0).powi(2) + pb * pb) / 2.0).sqrt()).abs() < 1e-12);
        assert_eq!(get("purchases_actual"), 5.0);
        let all = summarise(&tx, Period::Day, Window::ALL).unwrap();
        assert!(holdout_metrics(&m, &all).is_err());
    }
}
