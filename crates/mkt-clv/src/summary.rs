//! The RFM summary of a transactions table, with the semantics of lifetimes'
//! `summary_data_from_transaction_data` and `calibration_and_holdout_data`: purchases of a
//! customer in one period count once (their amounts add up); frequency is the number of repeat
//! periods, recency the periods from the first to the last purchase, T the periods from the first
//! purchase to the end of observation; the monetary value is the mean of the repeat periods'
//! amounts. A hold-out after the calibration end counts each customer's purchase periods and
//! their mean amount there.

use crate::period::Period;
use mkt_core::ids::{IdColumn, IdMap};
use mkt_core::{Error, Result};
use std::collections::HashMap;

/// The transactions to summarise, one entry per row.
pub struct Transactions {
    pub customers: IdColumn,
    /// Days since 1970-01-01 in the session's time zone.
    pub days: Vec<i64>,
    /// Seconds since the epoch (compared with the calibration and hold-out ends).
    pub seconds: Vec<f64>,
    /// Empty when there is no amount column.
    pub amounts: Vec<f64>,
}

/// Where observation ends: everything up to `calibration_end` is calibration; what comes after
/// is the hold-out, or refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// (seconds, day) of the calibration end; None: the last transaction's.
    pub calibration_end: Option<(f64, i64)>,
    pub holdout: Holdout,
}

impl Window {
    /// Every transaction is calibration; observation ends at the last one.
    pub const ALL: Window = Window { calibration_end: None, holdout: Holdout::No };
}

/// What the transactions after the calibration end are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Holdout {
    /// There must be none: the calibration end is where observation ends.
    No,
    /// The hold-out, up to the last transaction.
    ToLast,
    /// The hold-out, up to (seconds, day); later transactions are ignored.
    Until((f64, i64)),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub period: Period,
    pub customers: IdMap,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    /// Mean amount of the repeat periods (0 without repeats); empty without amounts.
    pub monetary: Vec<f64>,
    /// Purchase periods in the hold-out; empty without one.
    pub holdout_frequency: Vec<f64>,
    /// Mean amount of the hold-out's transactions, each counted alone (lifetimes' definition,
    /// unlike the calibration's per-period sums).
    pub holdout_monetary: Vec<f64>,
    /// Total amount of the hold-out's transactions.
    pub holdout_amount: Vec<f64>,
    /// Periods from the calibration end to the hold-out end.
    pub holdout_duration: f64,
    /// The observation (calibration) end's period, absolute.
    pub end_period: i64,
    /// Each customer's first purchase period, absolute.
    pub first_period: Vec<i64>,
    /// Repeat purchase periods of the summary's customers in each period from `tracking_start`
    /// to the end of the hold-out (the tracking plot's actual line).
    pub repeats_per_period: Vec<f64>,
    pub tracking_start: i64,
}

impl Summary {
    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    pub fn repeaters(&self) -> usize {
        self.frequency.iter().filter(|&&f| f > 0.0).count()
    }
}

impl Transactions {
    pub fn len(&self) -> usize {
        self.days.len()
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Refuses, before summarising, transactions whose summary would need more than `limit_mb`
    /// together with what was read (the sort buffer and the per-customer arrays).
    pub fn check_memory(&self, limit_mb: usize, setting: &str) -> Result<()> {
        let ids = match &self.customers {
            IdColumn::Int(v) => v.len() * 8,
            IdColumn::Text(v) => v.iter().map(|s| s.len() + 24).sum(),
        };
        let read = ids + self.len() * (16 + 8 * usize::from(!self.amounts.is_empty()));
        let need = read + self.len() * 48;
        if need > limit_mb << 20 {
            return Err(Error::TooLarge(format!(
                "summarising {} transactions needs about {} MB, more than {setting} = {limit_mb}",
                self.len(),
                need >> 20
            )));
        }
        Ok(())
    }

    /// Amounts must be numbers >= 0 (a refund is not a purchase).
    pub fn check_amounts(&self) -> Result<()> {
        let bad = self.amounts.iter().filter(|a| !(a.is_finite() && **a >= 0.0)).count();
        if bad > 0 {
            let first = self.amounts.iter().find(|a| !(a.is_finite() && **a >= 0.0)).copied().unwrap_or(0.0);
            return Err(Error::InvalidWeight(format!(
                "{bad} transactions have a negative or non-finite amount (the first: {first}); \
                 amounts must be >= 0: leave refunds out of the source"
            )));
        }
        Ok(())
    }
}

/// Summarises `tx` per customer. Customers whose first purchase is after the calibration end
/// are not in the summary (they were not yet customers).
pub fn summarise(tx: &Transactions, period: Period, window: Window) -> Result<Summary> {
    let n = tx.days.len();
    let has_amounts = !tx.amounts.is_empty();
    let cal_end = window.calibration_end.map(|c| c.0).unwrap_or(f64::INFINITY);
    let last = (0..n).map(|i| tx.seconds[i]).fold(f64::NEG_INFINITY, f64::max);
    let last_day = tx.days.iter().copied().max().unwrap_or(0);
    let hold_end = match (window.calibration_end, window.holdout) {
        (None, Holdout::No) => None,
        (None, _) => return Err(Error::invalid("a hold-out needs calibration_end")),
        (Some(_), Holdout::No) => {
            let after = tx.seconds.iter().filter(|&&s| s > cal_end).count();
            if after > 0 {
                return Err(Error::invalid(format!(
                    "{after} transactions are after calibration_end, which is set as the end of \
                     observation with no hold-out; ask for a hold-out or choose a later calibration_end"
                )));
            }
            None
        }
        (Some(_), Holdout::ToLast) => Some((last.max(cal_end), last_day)),
        (Some((cal, _)), Holdout::Until((hold, day))) => {
            if hold <= cal {
                return Err(Error::invalid("holdout_end must be later than calibration_end"));
            }
            Some((hold, day))
        }
    };
    // Rows of the calibration and hold-out; the rest is ignored.
    let in_cal = |i: usize| tx.seconds[i] <= cal_end;
    let in_hold = |i: usize| hold_end.is_some_and(|(h, _)| tx.seconds[i] > cal_end && tx.seconds[i] <= h);
    let (map, index) = IdMap::build(&tx.customers);
    let m = map.len();
    // Per customer its rows, as (period, in hold-out, amount).
    let mut counts = vec![0usize; m + 1];
    for i in 0..n {
        if in_cal(i) || in_hold(i) {
            counts[index[i] as usize + 1] += 1;
        }
    }
    for c in 0..m {
        counts[c + 1] += counts[c];
    }
    let mut rows = vec![(0i64, false, 0.0f64); counts[m]];
    let mut next = counts.clone();
    for (i, &c) in index.iter().enumerate() {
        let hold = in_hold(i);
        if in_cal(i) || hold {
            let c = c as usize;
            rows[next[c]] = (
                period.of_day(tx.days[i]),
                hold,
                if has_amounts { tx.amounts[i] } else { 0.0 },
            );
            next[c] += 1;
        }
    }
    let end_period = match window.calibration_end {
        Some((_, day)) => period.of_day(day),
        None => period.of_day(last_day),
    };
    let holdout_duration = match hold_end {
        Some((_, day)) => (period.of_day(day) - end_period).max(0) as f64,
        None => 0.0,
    };
    // Repeat periods counted per absolute period; spread out once the span is known.
    let mut per_period: HashMap<i64, f64> = HashMap::new();
    let mut keep = Vec::with_capacity(m);
    let mut out = Summary {
        period,
        customers: map.clone(),
        frequency: Vec::with_capacity(m),
        recency: Vec::with_capacity(m),
        t: Vec::with_capacity(m),
        monetary: Vec::new(),
        holdout_frequency: Vec::new(),
        holdout_monetary: Vec::new(),
        holdout_amount: Vec::new(),
        holdout_duration,
        end_period,
        first_period: Vec::with_capacity(m),
        repeats_per_period: Vec::new(),
        tracking_start: 0,
    };
    for c in 0..m {
        let r = &mut rows[counts[c]..counts[c + 1]];
        // Calibration rows first, by period; then the hold-out's.
        r.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        let split = r.iter().position(|x| x.1).unwrap_or(r.len());
        let (cal, hold) = r.split_at(split);
        let cal_periods = sums_per_period(cal);
        let Some(&(first, first_amount)) = cal_periods.first() else {
            continue; // a customer of the hold-out only
        };
        let _ = first_amount;
        let last = cal_periods.last().map_or(first, |p| p.0);
        for p in &cal_periods[1..] {
            *per_period.entry(p.0).or_default() += 1.0;
        }
        keep.push(c as u32);
        let repeats = cal_periods.len() - 1;
        out.frequency.push(repeats as f64);
        out.recency.push((last - first) as f64);
        out.t.push((end_period - first) as f64);
        out.first_period.push(first);
        if has_amounts {
            let repeat_sum: f64 = cal_periods[1..].iter().map(|p| p.1).sum();
            out.monetary.push(if repeats > 0 { repeat_sum / repeats as f64 } else { 0.0 });
        }
        if hold_end.is_some() {
            let hold_periods = sums_per_period(hold);
            for p in &hold_periods {
                *per_period.entry(p.0).or_default() += 1.0;
            }
            out.holdout_frequency.push(hold_periods.len() as f64);
            if has_amounts {
                let s: f64 = hold_periods.iter().map(|p| p.1).sum();
                out.holdout_monetary.push(if hold.is_empty() { 0.0 } else { s / hold.len() as f64 });
                out.holdout_amount.push(s);
            }
        }
    }
    if keep.len() < m {
        out.customers = subset(&map, &keep);
    }
    if let Some(&start) = out.first_period.iter().min() {
        let end = end_period + holdout_duration as i64;
        out.tracking_start = start;
        out.repeats_per_period = vec![0.0; (end - start + 1).max(1) as usize];
        for (p, count) in per_period {
            if let Some(slot) = out.repeats_per_period.get_mut((p - start) as usize) {
                *slot += count;
            }
        }
    }
    Ok(out)
}

/// A summary given as columns (frequency, recency and T already in `period`s, one row per
/// customer), checked the way the models need it.
pub fn from_columns(
    period: Period,
    customers: &IdColumn,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    monetary: Vec<f64>,
) -> Result<Summary> {
    let n = frequency.len();
    let (map, index) = IdMap::build(customers);
    if map.len() < n {
        return Err(Error::invalid(format!(
            "a summary has one row per customer; {} rows repeat a customer",
            n - map.len()
        )));
    }
    for i in 0..n {
        let (x, r, big_t) = (frequency[i], recency[i], t[i]);
        let bad = |what: &str| {
            Err(Error::invalid(format!(
                "customer {}: {what} (frequency {x}, recency {r}, T {big_t})",
                map.id(index[i])
            )))
        };
        if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
            return bad("frequency must be a whole number >= 0");
        }
        if !(r.is_finite() && big_t.is_finite() && r >= 0.0 && r <= big_t) {
            return bad("recency and T must be numbers with 0 <= recency <= T");
        }
        if x == 0.0 && r != 0.0 {
            return bad("a customer without repeat purchases has recency 0");
        }
        if let Some(&m) = monetary.get(i) {
            if !(m.is_finite() && m >= 0.0) {
                return bad("the amount must be a number >= 0");
            }
        }
    }
    // Rows in the id map's order.
    let mut order = vec![0usize; n];
    for (row, &k) in index.iter().enumerate() {
        order[k as usize] = row;
    }
    let pick = |v: &[f64]| order.iter().map(|&r| v[r]).collect::<Vec<f64>>();
    Ok(Summary {
        period,
        customers: map,
        frequency: pick(&frequency),
        recency: pick(&recency),
        t: pick(&t),
        monetary: if monetary.is_empty() { Vec::new() } else { pick(&monetary) },
        holdout_frequency: Vec::new(),
        holdout_monetary: Vec::new(),
        holdout_amount: Vec::new(),
        holdout_duration: 0.0,
        end_period: 0,
        first_period: Vec::new(),
        repeats_per_period: Vec::new(),
        tracking_start: 0,
    })
}

/// (period, summed amount) of rows sorted by period.
fn sums_per_period(rows: &[(i64, bool, f64)]) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for &(p, _, a) in rows {
        match out.last_mut() {
            Some(last) if last.0 == p => last.1 += a,
            _ => out.push((p, a)),
        }
    }
    out
}

fn subset(map: &IdMap, keep: &[u32]) -> IdMap {
    match map {
        IdMap::Int(v) => IdMap::Int(keep.iter().map(|&i| v[i as usize]).collect()),
        IdMap::Text(v) => IdMap::Text(keep.iter().map(|&i| v[i as usize].clone()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five customers over days 0..20 (1970-01-01 is day 0).
    fn tx() -> Transactions {
        // (customer, day, amount)
        let rows = [
            (1, 0, 10.0), (1, 0, 5.0), (1, 7, 20.0), (1, 14, 30.0), // three days, two repeats
            (2, 3, 8.0),                                          // one purchase
            (3, 5, 1.0), (3, 6, 2.0),                             // a repeat the next day
            (4, 18, 4.0), (4, 25, 6.0), (4, 25, 2.0),             // its repeats are after the calibration end
            (5, 25, 9.0),                                         // only in the hold-out
        ];
        Transactions {
            customers: IdColumn::Int(rows.iter().map(|r| r.0).collect()),
            days: rows.iter().map(|r| r.1).collect(),
            seconds: rows.iter().map(|r| r.1 as f64 * 86400.0).collect(),
            amounts: rows.iter().map(|r| r.2).collect(),
        }
    }

    #[test]
    fn days_collapse_and_repeats_are_counted_like_lifetimes() {
        let s = summarise(&tx(), Period::Day, Window::ALL).unwrap();
        assert_eq!(s.customers, IdMap::Int(vec![1, 2, 3, 4, 5].into()));
        assert_eq!(s.frequency, vec![2.0, 0.0, 1.0, 1.0, 0.0]);
        assert_eq!(s.recency, vec![14.0, 0.0, 1.0, 7.0, 0.0]);
        assert_eq!(s.t, vec![25.0, 22.0, 20.0, 7.0, 0.0]);
        // repeats only: (20 + 30) / 2; the first day's 15 is not counted
        assert_eq!(s.monetary, vec![25.0, 0.0, 2.0, 8.0, 0.0]);
    }

    #[test]
    fn a_calibration_end_splits_off_a_holdout() {
        let w = Window { calibration_end: Some((20.0 * 86400.0, 20)), holdout: Holdout::Until((30.0 * 86400.0, 30)) };
        let s = summarise(&tx(), Period::Day, w).unwrap();
        // customer 5 bought only in the hold-out: not a customer of the calibration
        assert_eq!(s.customers, IdMap::Int(vec![1, 2, 3, 4].into()));
        assert_eq!(s.frequency, vec![2.0, 0.0, 1.0, 0.0]);
        assert_eq!(s.t, vec![20.0, 17.0, 15.0, 2.0]);
        assert_eq!(s.holdout_frequency, vec![0.0, 0.0, 0.0, 1.0]);
        // two transactions on day 25: one period, their mean as lifetimes takes it, their total
        assert_eq!(s.holdout_monetary, vec![0.0, 0.0, 0.0, 4.0]);
        assert_eq!(s.holdout_amount, vec![0.0, 0.0, 0.0, 8.0]);
        assert_eq!(s.holdout_duration, 10.0);
        // repeats per day from day 0 to the hold-out end: customer 1 on days 7 and 14, 3 on day 6,
        // 4 in the hold-out on day 25
        assert_eq!(s.tracking_start, 0);
        assert_eq!(s.repeats_per_period.len(), 31);
        let on: Vec<usize> = (0..31).filter(|&d| s.repeats_per_period[d] > 0.0).collect();
        assert_eq!(on, vec![6, 7, 14, 25]);
        let bad = Window { calibration_end: Some((5.0, 0)), holdout: Holdout::Until((1.0, 0)) };
        assert!(summarise(&tx(), Period::Day, bad).is_err());
        // the hold-out to the last transaction is the same here (day 25 is the last)
        let to_last = Window { calibration_end: Some((20.0 * 86400.0, 20)), holdout: Holdout::ToLast };
        let s2 = summarise(&tx(), Period::Day, to_last).unwrap();
        assert_eq!(s2.holdout_frequency, s.holdout_frequency);
        assert_eq!(s2.holdout_duration, 5.0);
        // no hold-out wanted, yet transactions after the calibration end: refused, counted
        let none = Window { calibration_end: Some((20.0 * 86400.0, 20)), holdout: Holdout::No };
        let e = summarise(&tx(), Period::Day, none).unwrap_err().to_string();
        assert!(e.starts_with("3 transactions are after calibration_end"), "{e}");
    }

    #[test]
    fn summaries_given_as_columns_are_checked() {
        let ids = IdColumn::Text(vec!["b".into(), "a".into()]);
        let s = from_columns(Period::Week, &ids, vec![2.0, 0.0], vec![5.5, 0.0], vec![9.0, 3.0], vec![]).unwrap();
        assert_eq!(s.customers, IdMap::Text(vec!["a".into(), "b".into()]));
        assert_eq!(s.frequency, vec![0.0, 2.0]);
        assert_eq!(s.recency, vec![0.0, 5.5]);
        let bad = |f: f64, r: f64, t: f64| {
            from_columns(Period::Week, &IdColumn::Int(vec![1]), vec![f], vec![r], vec![t], vec![]).unwrap_err().to_string()
        };
        assert!(bad(1.5, 1.0, 2.0).contains("whole number"));
        assert!(bad(1.0, 3.0, 2.0).contains("0 <= recency <= T"));
        assert!(bad(0.0, 1.0, 2.0).contains("recency 0"));
        let twice = from_columns(Period::Week, &IdColumn::Int(vec![1, 1]), vec![0.0; 2], vec![0.0; 2], vec![1.0; 2], vec![]);
        assert!(twice.unwrap_err().to_string().contains("1 rows repeat a customer"));
    }

    #[test]
    fn weeks_count_purchase_weeks() {
        let s = summarise(&tx(), Period::Week, Window::ALL).unwrap();
        // customer 1: days 0 (Thu, week 0), 7 and 14 (weeks 1 and 2)
        assert_eq!(s.frequency[0], 2.0);
        // customer 3: days 5 and 6 (Tue, Wed of the same week)
        assert_eq!(s.frequency[2], 0.0);
        assert_eq!(s.monetary[2], 0.0);
    }
}
