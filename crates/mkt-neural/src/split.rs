//! The validation split that early stopping watches, carved from the training interactions.

use mkt_core::interactions::Csr;
use mkt_core::rng::Rng;

/// Users need this many interactions to give some of them to validation.
pub const MIN_INTERACTIONS: usize = 5;

#[derive(Debug, Clone)]
pub struct Carved {
    /// What the model trains on.
    pub train: Csr,
    /// (user, held-out items sorted) for each validation user.
    pub held_out: Vec<(u32, Vec<u32>)>,
}

/// Picks `share` of the users with at least `MIN_INTERACTIONS` interactions and moves a fifth of
/// each one's items (at random) out of training.
pub fn carve(data: &Csr, share: f64, rng: &mut Rng) -> Carved {
    let mut eligible: Vec<u32> = (0..data.n_rows as u32)
        .filter(|&u| data.row(u as usize).0.len() >= MIN_INTERACTIONS)
        .collect();
    shuffle(&mut eligible, rng);
    let take = ((eligible.len() as f64) * share).round() as usize;
    let mut chosen: Vec<u32> = eligible[..take.min(eligible.len())].to_vec();
    chosen.sort_unstable();
    let mut held_out = Vec::with_capacity(chosen.len());
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = 0;
    for u in 0..data.n_rows {
        let (items, weights) = data.row(u);
        let mut out: Vec<u32> = Vec::new();
        if next < chosen.len() && chosen[next] as usize == u {
            next += 1;
            let mut order: Vec<usize> = (0..items.len()).collect();
            shuffle(&mut order, rng);
            out = order[..items.len() / 5].iter().map(|&j| items[j]).collect();
            out.sort_unstable();
            held_out.push((u as u32, out.clone()));
        }
        for (&i, &w) in items.iter().zip(weights) {
            if out.binary_search(&i).is_err() {
                rows.push(u as u32);
                cols.push(i);
                vals.push(w);
            }
        }
    }
    Carved {
        train: Csr::from_triples(data.n_rows, data.n_cols, &rows, &cols, &vals),
        held_out,
    }
}

/// The split early stopping watches: `share` of the users (none when 0, and then all of the data
/// trains), drawn from the stream of `seed` that every trainer uses for it.
pub fn for_validation(data: &Csr, share: f64, seed: u64) -> Carved {
    if share > 0.0 {
        carve(data, share, &mut Rng::stream(seed, 1))
    } else {
        Carved {
            train: data.clone(),
            held_out: Vec::new(),
        }
    }
}

pub fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_chosen_users_items_is_held_out() {
        let rows: Vec<u32> = (0..10).flat_map(|u| std::iter::repeat_n(u, 10)).collect();
        let cols: Vec<u32> = (0..100).map(|x| x % 10).collect();
        let data = Csr::from_triples(10, 10, &rows, &cols, &vec![1.0; 100]);
        let c = carve(&data, 0.5, &mut Rng::new(1));
        assert_eq!(c.held_out.len(), 5);
        assert!(c.held_out.iter().all(|(_, h)| h.len() == 2));
        assert_eq!(c.train.nnz(), 90);
        for (u, h) in &c.held_out {
            assert!(h.iter().all(|i| !c.train.contains(*u as usize, *i)));
        }
    }
}
