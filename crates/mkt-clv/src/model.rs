//! A fitted customer-value model as it is stored and served: the purchase model and, with
//! amounts, the spend model, with every training customer's summary, so p_alive, expected
//! purchases and CLV are answered for any of them without reading the transactions again.

use crate::period::Period;
use crate::history::Histories;
use crate::purchases::{self, expected_purchases, Kind, Rft};
use crate::spend::{self, Spend};
use crate::summary::Summary;
use mkt_core::ids::{Id, IdMap};
use mkt_core::shared::{Backing, Shared};
use mkt_core::tensors::{f64s, i64s, push_ids, serialize, text, u32s, Buf, Reader};
use mkt_core::{Error, Result};
use std::sync::Arc;

pub const FORMAT: &str = "pg_marketing.clv/1";

pub struct ClvModel {
    pub kind: Kind,
    pub period: Period,
    pub params: [f64; 4],
    /// Gamma-Gamma's (p, q, v), when the model was trained with amounts.
    pub spend: Option<[f64; 3]>,
    pub customers: IdMap,
    pub frequency: Shared<f64>,
    pub recency: Shared<f64>,
    pub t: Shared<f64>,
    /// Empty without amounts.
    pub monetary: Shared<f64>,
    /// Each customer's first purchase period (absolute); empty for a model fitted on a summary.
    pub first_period: Shared<i64>,
    /// The calibration end's period (absolute).
    pub end_period: i64,
    /// Repeat purchases of all customers in each period from `tracking_start` to the end of the
    /// hold-out (the tracking plot's actual line); empty for a model fitted on a summary.
    pub tracking: Vec<f64>,
    pub tracking_start: i64,
    /// Each customer's index into `histories`: customers with the same (x, t_x, T) get the same
    /// P(alive) and expected purchases, computed once per distinct history when all are served.
    pub history: Shared<u32>,
    pub histories: Vec<Rft>,
}

/// One customer's answers (mkt.customer_value's row).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_avg_spend: Option<f64>,
    pub clv: Option<f64>,
}

impl ClvModel {
    pub fn new(kind: Kind, params: [f64; 4], spend: Option<[f64; 3]>, summary: &Summary) -> Self {
        let h = Histories::build(&summary.frequency, &summary.recency, &summary.t);
        Self::with_histories(kind, params, spend, summary, h)
    }

    /// `new` with the summary's histories built already (a fit builds them).
    pub fn with_histories(
        kind: Kind,
        params: [f64; 4],
        spend: Option<[f64; 3]>,
        summary: &Summary,
        h: Histories,
    ) -> Self {
        ClvModel {
            kind,
            period: summary.period,
            params,
            spend,
            customers: summary.customers.clone(),
            frequency: summary.frequency.clone().into(),
            recency: summary.recency.clone().into(),
            t: summary.t.clone().into(),
            monetary: if spend.is_some() { summary.monetary.clone().into() } else { Vec::new().into() },
            first_period: summary.first_period.clone().into(),
            end_period: summary.end_period,
            tracking: summary.repeats_per_period.clone(),
            tracking_start: summary.tracking_start,
            history: h.of_customer.into(),
            histories: h.distinct,
        }
    }

    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    pub fn index_of(&self, id: &Id) -> Option<u32> {
        self.customers.index_of(id)
    }

    pub fn rft(&self, i: usize) -> Rft {
        Rft { x: self.frequency[i], t_x: self.recency[i], t: self.t[i] }
    }

    pub fn p_alive(&self, i: usize) -> f64 {
        purchases::p_alive(self.kind, &self.params, self.rft(i))
    }

    pub fn expected_purchases(&self, i: usize, horizon: f64) -> f64 {
        purchases::expected_purchases(self.kind, &self.params, self.rft(i), horizon)
    }

    pub fn expected_spend(&self, i: usize) -> Option<f64> {
        let p = self.spend?;
        Some(spend::expected_average(&p, Spend { x: self.frequency[i], m: self.monetary[i] }))
    }

    /// The discounted value of the customer's purchases in the next `horizon` periods: each
    /// period's expected purchases times the expected spend, divided by (1 + discount)^k.
    pub fn clv(&self, i: usize, horizon: f64, discount: f64) -> Option<f64> {
        let spend = self.expected_spend(i)?;
        if discount == 0.0 {
            return Some(spend * self.expected_purchases(i, horizon));
        }
        Some(spend * self.discounted_purchases(i, horizon, discount))
    }

    fn discounted_purchases(&self, i: usize, horizon: f64, discount: f64) -> f64 {
        self.discounted(self.rft(i), horizon, discount)
    }

    /// Expected purchases of each period, divided by (1 + discount)^k, summed over the horizon.
    fn discounted(&self, c: Rft, horizon: f64, discount: f64) -> f64 {
        let (mut total, mut before, mut k) = (0.0, 0.0, 1.0f64);
        while k - 1.0 < horizon {
            let at = k.min(horizon);
            let upto = expected_purchases(self.kind, &self.params, c, at);
            total += (upto - before) / (1.0 + discount).powf(at);
            before = upto;
            k += 1.0;
        }
        total
    }

    /// Every customer's value, each distinct history's P(alive) and expected purchases computed
    /// once, in parallel on `pool`.
    pub fn values(&self, horizon: f64, discount: f64, pool: &rayon::ThreadPool) -> Vec<Value> {
        use rayon::prelude::*;
        let per_history: Vec<(f64, f64, f64)> = pool.install(|| {
            self.histories
                .par_iter()
                .map(|&c| {
                    let e = expected_purchases(self.kind, &self.params, c, horizon);
                    let d = if discount == 0.0 { e } else { self.discounted(c, horizon, discount) };
                    (purchases::p_alive(self.kind, &self.params, c), e, d)
                })
                .collect()
        });
        pool.install(|| {
            (0..self.len())
                .into_par_iter()
                .map(|i| {
                    let (p_alive, expected_purchases, discounted) = per_history[self.history[i] as usize];
                    let expected_avg_spend = self.expected_spend(i);
                    Value { p_alive, expected_purchases, expected_avg_spend, clv: expected_avg_spend.map(|s| s * discounted) }
                })
                .collect()
        })
    }

    pub fn value(&self, i: usize, horizon: f64, discount: f64) -> Value {
        let expected_purchases = self.expected_purchases(i, horizon);
        let expected_avg_spend = self.expected_spend(i);
        let clv = expected_avg_spend.map(|spend| {
            spend * if discount == 0.0 { expected_purchases } else { self.discounted_purchases(i, horizon, discount) }
        });
        Value { p_alive: self.p_alive(i), expected_purchases, expected_avg_spend, clv }
    }

    /// The same model without customer `i` (an erasure): the parameters, shaped by everyone,
    /// stay until the next training.
    pub fn without(&self, i: usize) -> ClvModel {
        let keep = |v: &Shared<f64>| -> Shared<f64> {
            v.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, x)| *x).collect::<Vec<_>>().into()
        };
        let ids = match &self.customers {
            IdMap::Int(v) => IdMap::Int(v.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, x)| *x).collect()),
            IdMap::Text(v) => IdMap::Text(v.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, x)| x.clone()).collect()),
        };
        ClvModel {
            kind: self.kind,
            period: self.period,
            params: self.params,
            spend: self.spend,
            customers: ids,
            frequency: keep(&self.frequency),
            recency: keep(&self.recency),
            t: keep(&self.t),
            monetary: if self.monetary.is_empty() { Vec::new().into() } else { keep(&self.monetary) },
            first_period: if self.first_period.is_empty() {
                Vec::new().into()
            } else {
                self.first_period.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, x)| *x).collect::<Vec<_>>().into()
            },
            end_period: self.end_period,
            // What everyone did together, like the parameters: until the next training.
            tracking: self.tracking.clone(),
            tracking_start: self.tracking_start,
            history: self.history.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, h)| *h).collect::<Vec<_>>().into(),
            histories: self.histories.clone(),
        }
    }

    /// Private memory (ids and owned arrays), for the serving cache's budget.
    pub fn heap_bytes(&self) -> usize {
        let owned = |v: &Shared<f64>| if v.is_mapped() { 0 } else { v.len() * 8 };
        self.customers.heap_bytes()
            + owned(&self.frequency)
            + owned(&self.recency)
            + owned(&self.t)
            + owned(&self.monetary)
            + if self.first_period.is_mapped() { 0 } else { self.first_period.len() * 8 }
            + if self.history.is_mapped() { 0 } else { self.history.len() * 4 }
            + self.histories.len() * 24
    }

    /// Bytes viewed in a shared file mapping.
    pub fn mapped_bytes(&self) -> usize {
        let mapped = |v: &Shared<f64>| if v.is_mapped() { v.len() * 8 } else { 0 };
        mapped(&self.frequency) + mapped(&self.recency) + mapped(&self.t) + mapped(&self.monetary)
            + if self.history.is_mapped() { self.history.len() * 4 } else { 0 }
    }
}

pub fn encode(m: &ClvModel) -> Result<Vec<u8>> {
    let mut t: Vec<(String, Buf)> = Vec::new();
    t.push(("model".into(), text(m.kind.name())));
    t.push(("period".into(), text(m.period.name())));
    t.push(("params".into(), f64s(&m.params)));
    if let Some(s) = m.spend {
        t.push(("spend".into(), f64s(&s)));
    }
    t.push(("end_period".into(), i64s(&[m.end_period])));
    push_ids(&mut t, "customers", &m.customers);
    t.push(("frequency".into(), f64s(&m.frequency)));
    t.push(("recency".into(), f64s(&m.recency)));
    t.push(("t".into(), f64s(&m.t)));
    if m.spend.is_some() {
        t.push(("monetary".into(), f64s(&m.monetary)));
    }
    t.push(("first_period".into(), i64s(&m.first_period)));
    t.push(("tracking".into(), f64s(&m.tracking)));
    t.push(("tracking_start".into(), i64s(&[m.tracking_start])));
    t.push(("history".into(), u32s(&m.history)));
    let flat: Vec<f64> = m.histories.iter().flat_map(|c| [c.x, c.t_x, c.t]).collect();
    t.push(("histories".into(), f64s(&flat)));
    serialize(&t, FORMAT)
}

pub fn decode(bytes: &[u8]) -> Result<ClvModel> {
    decode_with(bytes, None)
}

/// Decodes bytes that stay mapped: the customers' arrays view the mapping.
pub fn decode_mapped(backing: Arc<dyn Backing>) -> Result<ClvModel> {
    let b = backing.clone();
    decode_with(b.bytes(), Some(backing))
}

fn decode_with(bytes: &[u8], backing: Option<Arc<dyn Backing>>) -> Result<ClvModel> {
    let info = mkt_core::tensors::metadata(bytes)?;
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(Error::Corrupted(format!("not a customer value model ({:?})", info.get("format"))));
    }
    let r = Reader::new(bytes, backing)?;
    let corrupt = |e: Error| Error::Corrupted(e.to_string());
    let kind = Kind::parse(&r.text("model")?).map_err(corrupt)?;
    let period = Period::parse(&r.text("period")?).map_err(corrupt)?;
    let fixed = |name: &str, n: usize| -> Result<Vec<f64>> {
        let v = r.f64s(name)?.to_vec();
        if v.len() != n || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(Error::Corrupted(format!("{name} must be {n} positive numbers")));
        }
        Ok(v)
    };
    let p = fixed("params", 4)?;
    let spend = if r.has("spend") {
        let s = fixed("spend", 3)?;
        Some([s[0], s[1], s[2]])
    } else {
        None
    };
    let end_period = *r.i64s("end_period")?.first().ok_or_else(|| Error::Corrupted("no end_period".into()))?;
    let customers = r.ids("customers")?;
    let n = customers.len();
    let column = |name: &str| -> Result<Shared<f64>> {
        let v = r.f64s(name)?;
        if v.len() != n || v.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(Error::Corrupted(format!("{name} must hold {n} numbers >= 0")));
        }
        Ok(v)
    };
    let (frequency, recency, t) = (column("frequency")?, column("recency")?, column("t")?);
    for i in 0..n {
        if recency[i] > t[i] {
            return Err(Error::Corrupted("a customer's recency is beyond their T".into()));
        }
    }
    let monetary = if spend.is_some() { column("monetary")? } else { Vec::new().into() };
    let first_period: Shared<i64> = r.i64s("first_period")?;
    if !first_period.is_empty() && first_period.len() != n {
        return Err(Error::Corrupted(format!("first_period must hold {n} periods")));
    }
    let tracking = r.f64s("tracking")?.to_vec();
    if tracking.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
        return Err(Error::Corrupted("tracking must hold counts".into()));
    }
    let tracking_start =
        *r.i64s("tracking_start")?.first().ok_or_else(|| Error::Corrupted("no tracking_start".into()))?;
    let flat = r.f64s("histories")?;
    if flat.len() % 3 != 0 {
        return Err(Error::Corrupted("histories must hold (x, t_x, T) triples".into()));
    }
    let histories: Vec<Rft> = flat.chunks_exact(3).map(|h| Rft { x: h[0], t_x: h[1], t: h[2] }).collect();
    let history = r.u32s("history")?;
    if history.len() != n {
        return Err(Error::Corrupted(format!("history must hold {n} indices")));
    }
    for i in 0..n {
        // a customer's history must be theirs: the served values come from it
        match histories.get(history[i] as usize) {
            Some(h) if h.x == frequency[i] && h.t_x == recency[i] && h.t == t[i] => {}
            _ => return Err(Error::Corrupted("a customer's history index does not match their summary".into())),
        }
    }
    Ok(ClvModel {
        kind,
        period,
        params: [p[0], p[1], p[2], p[3]],
        spend,
        customers,
        frequency,
        recency,
        t,
        monetary,
        first_period,
        end_period,
        tracking,
        tracking_start,
        history,
        histories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{summarise, Transactions, Window};
    use mkt_core::ids::IdColumn;

    fn model() -> ClvModel {
        let tx = Transactions {
            customers: IdColumn::Text(vec!["a".into(), "a".into(), "b".into(), "c".into(), "c".into(), "c".into()]),
            days: vec![0, 10, 3, 1, 5, 20],
            seconds: vec![0.0; 6],
            amounts: vec![10.0, 20.0, 5.0, 7.0, 9.0, 11.0],
        };
        let s = summarise(&tx, Period::Day, Window::ALL).unwrap();
        ClvModel::new(Kind::BgNbd, [0.243, 4.414, 0.793, 2.426], Some([6.25, 3.74, 15.44]), &s)
    }

    #[test]
    fn models_round_trip_and_answer_per_customer() {
        let m = model();
        let bytes = encode(&m).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(encode(&back).unwrap(), bytes, "equal models encode to equal bytes");
        let c = back.index_of(&Id::Text("c".into())).unwrap() as usize;
        let v = back.value(c, 52.0, 0.0);
        assert!(v.p_alive > 0.0 && v.p_alive <= 1.0);
        assert!((v.clv.unwrap() - v.expected_avg_spend.unwrap() * v.expected_purchases).abs() < 1e-9);
        // discounting lowers the value; a zero horizon has none
        assert!(back.clv(c, 52.0, 0.01).unwrap() < v.clv.unwrap());
        assert_eq!(back.clv(c, 0.0, 0.01).unwrap(), 0.0);
        // a discounted value over whole periods equals the sum of its periods
        let by_period: f64 = (1..=3)
            .map(|k| (back.expected_purchases(c, k as f64) - back.expected_purchases(c, k as f64 - 1.0)) / 1.1f64.powi(k))
            .sum::<f64>() * v.expected_avg_spend.unwrap();
        assert!((back.clv(c, 3.0, 0.1).unwrap() - by_period).abs() < 1e-9);
        assert!(back.index_of(&Id::Text("zz".into())).is_none());
    }

    #[test]
    fn every_customers_value_at_once_equals_each_alone() {
        let m = model();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for discount in [0.0, 0.01] {
            let all = m.values(20.0, discount, &pool);
            for (i, v) in all.iter().enumerate() {
                assert_eq!(*v, m.value(i, 20.0, discount));
            }
        }
    }

    #[test]
    fn an_erased_customer_is_gone_and_the_others_answer_the_same() {
        let m = model();
        let a = m.index_of(&Id::Text("a".into())).unwrap() as usize;
        let before = m.value(m.index_of(&Id::Text("c".into())).unwrap() as usize, 10.0, 0.0);
        let e = m.without(a);
        assert!(e.index_of(&Id::Text("a".into())).is_none());
        assert_eq!(e.value(e.index_of(&Id::Text("c".into())).unwrap() as usize, 10.0, 0.0), before);
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let mut bytes = encode(&model()).unwrap();
        let n = bytes.len();
        bytes[n - 10] ^= 0xff;
        // a damaged number is caught by the checks, or changes a value; never a panic
        let _ = decode(&bytes);
        assert!(decode(&bytes[..n / 2]).is_err());
        assert!(decode(b"not a model").is_err());
    }
}
