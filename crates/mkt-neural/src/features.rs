//! Side features of users or items, encoded for the towers.
//!
//! Categorical columns become codes into an embedding table: a sorted vocabulary when the column
//! has at most `hash_buckets` distinct values, else a hash of the value into that many buckets.
//! Code 0 means missing. Numeric columns are standardised with the mean and standard deviation of
//! the rows the model trains on; a missing number becomes the mean (0 after scaling).

use mkt_core::ids::{IdColumn, IdMap};
use mkt_core::{Error, Result};

/// A feature table as read: one row per entity key.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    pub keys: IdColumn,
    pub categorical: Vec<(String, Vec<Option<String>>)>,
    pub numeric: Vec<(String, Vec<Option<f64>>)>,
}

impl FeatureTable {
    /// Bytes its numeric columns hold (text features are 384 of them per text column), which a
    /// model's memory check adds to its own estimate.
    pub fn numeric_bytes(&self) -> u128 {
        let per_cell = std::mem::size_of::<Option<f64>>() as u128;
        self.numeric
            .iter()
            .map(|(_, v)| v.len() as u128 * per_cell)
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatColumn {
    pub name: String,
    /// One code per entity index, 0 = missing.
    pub codes: Vec<u32>,
    /// Embedding rows needed (codes are below this).
    pub size: usize,
    pub hashed: bool,
}

/// Features aligned to a model's entity indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub cat: Vec<CatColumn>,
    /// Row-major, n_entities x n_num, standardised.
    pub num: Vec<f32>,
    pub num_names: Vec<String>,
    /// (mean, standard deviation) of each numeric column.
    pub scaling: Vec<(f64, f64)>,
    /// Entities that had a row in the table.
    pub present: Vec<bool>,
}

impl Encoded {
    pub fn n_num(&self) -> usize {
        self.num_names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cat.is_empty() && self.num_names.is_empty()
    }
}

fn fnv1a(s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl FeatureTable {
    /// Aligns the table to `map` (keys the map does not hold are ignored; a key given twice is an
    /// error) and encodes every column.
    pub fn encode(&self, what: &str, map: &IdMap, hash_buckets: usize) -> Result<Encoded> {
        let n = map.len();
        let rows = map.lookup_column(&self.keys);
        let mut row_of: Vec<Option<usize>> = vec![None; n];
        for (r, idx) in rows.iter().enumerate() {
            if let Some(i) = idx {
                if row_of[*i as usize].replace(r).is_some() {
                    return Err(Error::invalid(format!(
                        "the {what} feature table has more than one row for {}",
                        map.id(*i)
                    )));
                }
            }
        }
        let present: Vec<bool> = row_of.iter().map(Option::is_some).collect();
        if !present.contains(&true) {
            return Err(Error::EmptyData(format!(
                "no key of the {what} feature table matches a {what} id of the interactions"
            )));
        }
        let mut cat = Vec::with_capacity(self.categorical.len());
        for (name, values) in &self.categorical {
            let mut vocab: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
            vocab.sort_unstable();
            vocab.dedup();
            let hashed = vocab.len() > hash_buckets;
            let code = |v: &Option<String>| -> u32 {
                match v {
                    None => 0,
                    Some(s) if hashed => (fnv1a(s) % hash_buckets as u64) as u32 + 1,
                    Some(s) => vocab.binary_search(&s.as_str()).unwrap() as u32 + 1,
                }
            };
            let codes = row_of
                .iter()
                .map(|r| r.map_or(0, |r| code(&values[r])))
                .collect();
            let size = if hashed { hash_buckets } else { vocab.len() } + 1;
            cat.push(CatColumn {
                name: name.clone(),
                codes,
                size,
                hashed,
            });
        }
        let k = self.numeric.len();
        let mut num = vec![0f32; n * k];
        let mut scaling = Vec::with_capacity(k);
        for (c, (_, values)) in self.numeric.iter().enumerate() {
            let known: Vec<f64> = row_of
                .iter()
                .filter_map(|r| r.and_then(|r| values[r]))
                .filter(|v| v.is_finite())
                .collect();
            let mean = if known.is_empty() {
                0.0
            } else {
                known.iter().sum::<f64>() / known.len() as f64
            };
            let var = if known.len() > 1 {
                known.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                    / (known.len() - 1) as f64
            } else {
                0.0
            };
            let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
            for (e, r) in row_of.iter().enumerate() {
                if let Some(v) = r.and_then(|r| values[r]).filter(|v| v.is_finite()) {
                    num[e * k + c] = ((v - mean) / sd) as f32;
                }
            }
            scaling.push((mean, sd));
        }
        Ok(Encoded {
            cat,
            num,
            num_names: self.numeric.iter().map(|(n, _)| n.clone()).collect(),
            scaling,
            present,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_hashing_and_scaling() {
        let t = FeatureTable {
            keys: IdColumn::Int(vec![3, 1, 99]),
            categorical: vec![(
                "segment".into(),
                vec![Some("b".into()), Some("a".into()), Some("c".into())],
            )],
            numeric: vec![("age".into(), vec![Some(30.0), None, Some(50.0)])],
        };
        assert_eq!(t.numeric_bytes(), 3 * 16, "three optional f64");
        let map = IdMap::Int(vec![1, 2, 3].into());
        let e = t.encode("user", &map, 8).unwrap();
        // user 1 -> "a", user 2 has no row, user 3 -> "b"; "c" (key 99) is not in the map
        assert_eq!(e.cat[0].codes, vec![1, 0, 2]);
        assert_eq!(e.cat[0].size, 4); // the vocabulary is the whole table's
        assert_eq!(e.present, vec![true, false, true]);
        // only user 3's age is known among mapped rows: mean 30, missing -> 0
        assert_eq!(e.num, vec![0.0, 0.0, 0.0]);
        let hashed = t.encode("user", &map, 1).unwrap();
        assert!(hashed.cat[0].hashed);
        assert_eq!(hashed.cat[0].size, 2);
        let dup = FeatureTable {
            keys: IdColumn::Int(vec![1, 1]),
            categorical: vec![],
            numeric: vec![],
        };
        let e = dup.encode("user", &map, 8).unwrap_err().to_string();
        assert!(e.contains("more than one row for 1"), "{e}");
    }
}
