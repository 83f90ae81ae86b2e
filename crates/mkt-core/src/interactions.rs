//! Columnar interaction buffers and the compressed sparse rows built from them.

use crate::ids::{IdColumn, IdMap};
use crate::shared::Shared;
use crate::{Error, Result};

/// Rows as read from the source: parallel columns, one entry per row that had both ids.
#[derive(Debug, Clone)]
pub struct RawInteractions {
    pub users: IdColumn,
    pub items: IdColumn,
    /// Empty when the source has no weight column (every row weighs 1).
    pub weights: Vec<f64>,
    /// One time (seconds) per row when the source has a time column.
    pub times: Option<Vec<f64>>,
}

impl RawInteractions {
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Compressed sparse rows: row r holds `indices[indptr[r]..indptr[r+1]]` (sorted) with `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Shared<u64>,
    pub indices: Shared<u32>,
    pub values: Shared<f32>,
}

impl Csr {
    /// Approximate heap memory held, for cache accounting.
    pub fn heap_bytes(&self) -> usize {
        self.indptr.heap_bytes() + self.indices.heap_bytes() + self.values.heap_bytes()
    }

    /// Bytes viewed in a shared mapping.
    pub fn mapped_bytes(&self) -> usize {
        self.indptr.mapped_bytes() + self.indices.mapped_bytes() + self.values.mapped_bytes()
    }

    pub fn empty(n_rows: usize, n_cols: usize) -> Self {
        Csr {
            n_rows,
            n_cols,
            indptr: vec![0; n_rows + 1].into(),
            indices: Shared::default(),
            values: Shared::default(),
        }
    }

    /// Builds rows from triples, summing the values of repeated (row, col) pairs.
    pub fn from_triples(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[f32],
    ) -> Self {
        let mut counts = vec![0u64; n_rows + 1];
        for &r in rows {
            counts[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            counts[r + 1] += counts[r];
        }
        let mut next = counts.clone();
        let mut pairs = vec![(0u32, 0f32); rows.len()];
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            let slot = &mut next[r as usize];
            pairs[*slot as usize] = (c, v);
            *slot += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(pairs.len());
        let mut values = Vec::with_capacity(pairs.len());
        indptr.push(0u64);
        for r in 0..n_rows {
            let row = &mut pairs[counts[r] as usize..counts[r + 1] as usize];
            row.sort_unstable_by_key(|p| p.0);
            for &(c, v) in row.iter() {
                if indices.len() as u64 > *indptr.last().unwrap() && *indices.last().unwrap() == c {
                    *values.last_mut().unwrap() += v;
                } else {
                    indices.push(c);
                    values.push(v);
                }
            }
            indptr.push(indices.len() as u64);
        }
        Csr {
            n_rows,
            n_cols,
            indptr: indptr.into(),
            indices: indices.into(),
            values: values.into(),
        }
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }

    pub fn contains(&self, r: usize, c: u32) -> bool {
        self.row(r).0.binary_search(&c).is_ok()
    }

    /// Index of entry (r, c) in `indices` / `values`.
    pub fn position(&self, r: usize, c: u32) -> Option<usize> {
        let start = self.indptr[r] as usize;
        self.row(r).0.binary_search(&c).ok().map(|k| start + k)
    }

    pub fn transpose(&self) -> Csr {
        let mut rows = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows {
            let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
            rows.extend(std::iter::repeat_n(r as u32, b - a));
        }
        Csr::from_triples(self.n_cols, self.n_rows, &self.indices, &rows, &self.values)
    }

    /// Checks the invariants every reader relies on (for decoded blobs).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Corrupted(m.to_string()));
        if self.indptr.len() != self.n_rows + 1 || self.indptr[0] != 0 {
            return bad("row pointer length mismatch");
        }
        if self.indices.len() != self.values.len()
            || *self.indptr.last().unwrap() as usize != self.indices.len()
        {
            return bad("sparse index length mismatch");
        }
        if self.indptr.windows(2).any(|w| w[0] > w[1]) {
            return bad("row pointers decrease");
        }
        if self.indices.iter().any(|&c| c as usize >= self.n_cols) {
            return bad("sparse column index out of range");
        }
        Ok(())
    }
}

/// The training matrix: ids mapped to indices, user x item confidences with repeats summed.
#[derive(Debug, Clone)]
pub struct Interactions {
    pub users: IdMap,
    pub items: IdMap,
    pub by_user: Csr,
    /// Number of source rows that went in (before summing repeats).
    pub n_rows: usize,
    /// When the source had a time column: the time (seconds) of each entry of `by_user`, in the
    /// same order, the earliest where a pair repeats. Time-aware models read it.
    pub times: Option<Vec<f64>>,
}

impl Interactions {
    pub fn build(raw: &RawInteractions) -> Result<Self> {
        Self::build_with(raw, None, None)
    }

    /// Like `build`, but the maps also hold `extra_users` / `extra_items`: entities known only from
    /// a feature table, which a feature-aware model can still score (cold start).
    pub fn build_with(
        raw: &RawInteractions,
        extra_users: Option<&IdColumn>,
        extra_items: Option<&IdColumn>,
    ) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::EmptyData(
                "the source has no rows with both a user and an item id".into(),
            ));
        }
        let weights: Vec<f32> = if raw.weights.is_empty() {
            vec![1.0; raw.len()]
        } else {
            if let Some(bad) = raw.weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
                return Err(Error::InvalidWeight(format!(
                    "weights must be finite and non-negative, found {bad}"
                )));
            }
            raw.weights.iter().map(|&w| w as f32).collect()
        };
        let (users, u_idx) = IdMap::build_with(&raw.users, extra_users);
        let (items, i_idx) = IdMap::build_with(&raw.items, extra_items);
        let by_user = Csr::from_triples(users.len(), items.len(), &u_idx, &i_idx, &weights);
        let times = match &raw.times {
            None => None,
            Some(t) => {
                if t.len() != raw.len() {
                    return Err(Error::invalid("one time per interaction is needed"));
                }
                if let Some(bad) = t.iter().find(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!("times must be finite, found {bad}")));
                }
                let mut out = vec![f64::INFINITY; by_user.nnz()];
                for ((&u, &i), &x) in u_idx.iter().zip(&i_idx).zip(t) {
                    let slot = by_user.position(u as usize, i).expect("every pair is in the matrix");
                    out[slot] = out[slot].min(x);
                }
                Some(out)
            }
        };
        Ok(Interactions {
            users,
            items,
            by_user,
            n_rows: raw.len(),
            times,
        })
    }

    /// The same ids with `by_user` replaced by a subset of its entries (a training part of a
    /// split); times follow their entries.
    pub fn with_rows(&self, by_user: Csr) -> Interactions {
        let times = self.times.as_ref().map(|t| {
            let mut out = Vec::with_capacity(by_user.nnz());
            for u in 0..by_user.n_rows {
                for &i in by_user.row(u).0 {
                    out.push(self.by_user.position(u, i).map_or(f64::INFINITY, |p| t[p]));
                }
            }
            out
        });
        Interactions {
            users: self.users.clone(),
            items: self.items.clone(),
            n_rows: by_user.nnz(),
            by_user,
            times,
        }
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_summed_and_rows_sorted() {
        let csr = Csr::from_triples(2, 3, &[1, 0, 1, 1], &[2, 1, 0, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(csr.indptr, vec![0, 1, 3]);
        assert_eq!(csr.indices, vec![1, 0, 2]);
        assert_eq!(csr.values, vec![2.0, 3.0, 5.0]);
        assert!(csr.contains(1, 2));
        assert!(!csr.contains(0, 2));
        let t = csr.transpose();
        assert_eq!(t.n_rows, 3);
        assert_eq!(t.row(2), (&[1u32][..], &[5.0f32][..]));
        assert!(csr.validate().is_ok());
    }

    #[test]
    fn bad_weights_are_refused() {
        let raw = RawInteractions {
            users: IdColumn::Int(vec![1, 2]),
            items: IdColumn::Int(vec![1, 1]),
            weights: vec![1.0, f64::NAN],
            times: None,
        };
        assert!(matches!(
            Interactions::build(&raw),
            Err(Error::InvalidWeight(_))
        ));
        let raw = RawInteractions {
            weights: vec![1.0, -2.0],
            times: None,
            ..raw
        };
        assert!(matches!(
            Interactions::build(&raw),
            Err(Error::InvalidWeight(_))
        ));
    }

    #[test]
    fn empty_is_refused() {
        let raw = RawInteractions {
            users: IdColumn::Int(vec![]),
            items: IdColumn::Int(vec![]),
            weights: vec![],
            times: None,
        };
        assert!(matches!(
            Interactions::build(&raw),
            Err(Error::EmptyData(_))
        ));
    }

    #[test]
    fn corrupt_csr_is_detected() {
        let mut csr = Csr::from_triples(1, 2, &[0], &[1], &[1.0]);
        csr.indices.to_mut()[0] = 7;
        assert!(csr.validate().is_err());
    }
}
