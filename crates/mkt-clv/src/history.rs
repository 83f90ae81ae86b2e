//! Customers with the same (x, t_x, T) have the same likelihood, P(alive) and expected purchases:
//! fits sum over distinct histories, and serving computes each distinct one once. Summaries by
//! period have few of them (tens of thousands for a million customers).

use crate::purchases::Rft;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Histories {
    /// Each customer's index into `distinct`.
    pub of_customer: Vec<u32>,
    pub distinct: Vec<Rft>,
    /// How many customers have each distinct history.
    pub counts: Vec<f64>,
}

impl Histories {
    pub fn build(frequency: &[f64], recency: &[f64], t: &[f64]) -> Histories {
        let mut at: HashMap<[u64; 3], u32> = HashMap::new();
        let mut out = Histories { of_customer: Vec::with_capacity(frequency.len()), distinct: Vec::new(), counts: Vec::new() };
        for i in 0..frequency.len() {
            let c = Rft { x: frequency[i], t_x: recency[i], t: t[i] };
            let k = *at.entry([c.x.to_bits(), c.t_x.to_bits(), c.t.to_bits()]).or_insert_with(|| {
                out.distinct.push(c);
                out.counts.push(0.0);
                (out.distinct.len() - 1) as u32
            });
            out.counts[k as usize] += 1.0;
            out.of_customer.push(k);
        }
        out
    }

    /// (history, how many customers have it).
    pub fn groups(&self) -> Vec<(Rft, f64)> {
        self.distinct.iter().copied().zip(self.counts.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_histories_share_an_index() {
        let h = Histories::build(&[1.0, 0.0, 1.0], &[2.0, 0.0, 2.0], &[5.0, 5.0, 5.0]);
        assert_eq!(h.of_customer, vec![0, 1, 0]);
        assert_eq!(h.counts, vec![2.0, 1.0]);
        assert_eq!(h.groups()[0], (Rft { x: 1.0, t_x: 2.0, t: 5.0 }, 2.0));
    }
}
