//! Bins of each feature for the histogram tree learner. Bin 0 holds missing values (and
//! categories too rare to get a bin of their own); a numeric feature's bins 1..=n lie between
//! `bounds` (bin b holds values <= bounds[b-1]), so a split found on bins is a threshold on values.

use crate::features::{Column, Features, MISSING};

/// Rows sampled to place numeric bounds: enough for stable quantiles, cheap on a million rows.
const SAMPLE: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub enum BinMap {
    Numeric {
        bounds: Vec<f64>,
    },
    /// `codes[b - 1]` is the category code in bin b.
    Categorical {
        codes: Vec<u32>,
    },
}

impl BinMap {
    /// Number of bins, missing bin included.
    pub fn bins(&self) -> usize {
        match self {
            BinMap::Numeric { bounds } => bounds.len() + 2,
            BinMap::Categorical { codes } => codes.len() + 1,
        }
    }
}

fn numeric_bounds(values: &[f64], max_bins: usize) -> Vec<f64> {
    let step = (values.len() / SAMPLE).max(1);
    let mut v: Vec<f64> = values
        .iter()
        .step_by(step)
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() <= 1 {
        return Vec::new();
    }
    let mid = |i: usize| v[i] + (v[i + 1] - v[i]) / 2.0;
    if v.len() <= max_bins {
        return (0..v.len() - 1).map(mid).collect();
    }
    // Equal-frequency bounds over the sampled rows (not the distinct values), each placed midway
    // below the value at its quantile.
    let mut all: Vec<f64> = values
        .iter()
        .step_by(step)
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    all.sort_by(f64::total_cmp);
    let mut bounds: Vec<f64> = (1..max_bins)
        .filter_map(|q| {
            let x = all[q * all.len() / max_bins];
            let i = v.partition_point(|&d| d < x);
            (i >= 1).then(|| mid(i - 1))
        })
        .collect();
    bounds.dedup();
    bounds
}

fn categorical_codes(codes: &[u32], levels: usize, max_bins: usize) -> Vec<u32> {
    let mut counts = vec![0u64; levels];
    for &c in codes {
        if c != MISSING {
            counts[c as usize] += 1;
        }
    }
    let mut seen: Vec<u32> = (0..levels as u32)
        .filter(|&c| counts[c as usize] > 0)
        .collect();
    // The most frequent categories get bins; ties by code, so the result is deterministic.
    seen.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    seen.truncate(max_bins);
    seen.sort_unstable();
    seen
}

/// Bins of every feature and the binned training rows, one byte per cell, column by column, and
/// again in blocks of four features row by row.
#[derive(Debug, Clone)]
pub struct Binned {
    pub maps: Vec<BinMap>,
    pub columns: Vec<Vec<u8>>,
    /// Features 4k..4k+4 of each row (zero past the last feature). A pass over every row reads
    /// one stream per block instead of four; a pass over a sparse subset reads the columns, whose
    /// cache lines it shares with its neighbours more often.
    pub blocks: Vec<Vec<[u8; 4]>>,
}

impl Binned {
    /// `max_bins` (2..=255) bins of values per feature, besides the missing bin.
    pub fn new(features: &Features, max_bins: usize) -> Binned {
        use rayon::prelude::*;
        let max_bins = max_bins.clamp(2, 255);
        let (maps, columns): (Vec<BinMap>, Vec<Vec<u8>>) = features
            .columns
            .par_iter()
            .map(|c| match c {
                Column::Numeric(v) => {
                    let bounds = numeric_bounds(v, max_bins);
                    let col = v
                        .iter()
                        .map(|&x| {
                            if x.is_nan() {
                                0
                            } else {
                                1 + bounds.partition_point(|&b| b < x) as u8
                            }
                        })
                        .collect();
                    (BinMap::Numeric { bounds }, col)
                }
                Column::Categorical { codes, levels } => {
                    let kept = categorical_codes(codes, levels.len(), max_bins);
                    let mut bin_of = vec![0u8; levels.len()];
                    for (b, &c) in kept.iter().enumerate() {
                        bin_of[c as usize] = b as u8 + 1;
                    }
                    let col = codes
                        .iter()
                        .map(|&c| if c == MISSING { 0 } else { bin_of[c as usize] })
                        .collect();
                    (BinMap::Categorical { codes: kept }, col)
                }
            })
            .unzip();
        let rows = columns.first().map_or(0, Vec::len);
        let blocks = columns
            .par_chunks(4)
            .map(|cols| {
                (0..rows)
                    .map(|r| std::array::from_fn(|k| cols.get(k).map_or(0, |c| c[r])))
                    .collect()
            })
            .collect();
        Binned {
            maps,
            columns,
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each_and_missing_bin_zero() {
        let f = Features {
            names: vec!["a".into(), "c".into()],
            columns: vec![
                Column::Numeric(vec![3.0, 1.0, f64::NAN, 2.0, 3.0]),
                Column::Categorical {
                    codes: vec![2, 0, 2, MISSING, 1],
                    levels: vec!["x".into(), "y".into(), "z".into()],
                },
            ],
        };
        let b = Binned::new(&f, 255);
        assert_eq!(
            b.maps[0],
            BinMap::Numeric {
                bounds: vec![1.5, 2.5]
            }
        );
        assert_eq!(b.columns[0], vec![3, 1, 0, 2, 3]);
        assert_eq!(b.columns[1], vec![3, 1, 3, 0, 2]);
        // Only the two most frequent categories get bins when two are allowed.
        let b2 = Binned::new(&f, 2);
        assert_eq!(b2.maps[1], BinMap::Categorical { codes: vec![0, 2] });
    }

    #[test]
    fn many_values_get_equal_frequency_bins() {
        let v: Vec<f64> = (0..10_000).map(|i| (i % 1000) as f64).collect();
        let f = Features {
            names: vec!["a".into()],
            columns: vec![Column::Numeric(v)],
        };
        let b = Binned::new(&f, 10);
        let mut counts = vec![0; b.maps[0].bins()];
        for &x in &b.columns[0] {
            counts[x as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!(counts[1..].iter().all(|&c| c == 1000), "{counts:?}");
    }
}
