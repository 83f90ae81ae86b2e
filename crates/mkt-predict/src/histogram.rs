//! Gradient histograms of a leaf: per feature and bin, the sum of the rows' gradients and
//! hessians and their count, from which the tree learner finds splits (`grow`).
//!
//! The work is shaped by memory traffic, measured on 1M x 30 (README, "How the tree learner spends
//! its time"): one pass over a leaf's rows per block of four features, row-major blocks for the
//! root and dense leaves, columns for sparse ones, integer counts beside two float sums, and tasks
//! of fixed row chunks whose partial sums are added in order, so the result does not depend on the
//! number of threads.

use crate::binning::Binned;
use rayon::prelude::*;

/// Sums over a set of rows (of one bin, or of a whole leaf).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub g: f64,
    pub h: f64,
    pub n: f64,
}

impl Stats {
    pub(crate) fn add(&mut self, o: &Stats) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }
    pub(crate) fn minus(&self, o: &Stats) -> Stats {
        Stats {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

pub(crate) type Hist = Vec<Vec<Stats>>;

/// Features whose histograms one pass over a leaf's rows fills together: the rows and their
/// gradients are read once per block instead of once per feature (memory traffic, not arithmetic,
/// bounds this loop), and each feature's sums still add its rows in row order.
const FEATURE_BLOCK: usize = 4;

/// Rows per histogram task. Tasks are (feature block, chunk of rows) pairs, so two threads share
/// even a leaf with few features evenly; partial sums are added in chunk order, so a model does not
/// depend on the number of threads.
const HIST_CHUNK: usize = 1 << 16;

/// A row's gradient and hessian.
pub type GradHess = (f64, f64);

/// One feature's partial sums over a chunk of rows, 256 slots so that any u8 bin indexes one
/// without a bounds check. Counts are integers apart from the sums: three floating-point
/// accumulators per row and feature cost more than two and an integer increment.
#[derive(Clone)]
struct Slots {
    gh: [GradHess; 256],
    n: [u32; 256],
}

impl Slots {
    fn new() -> Slots {
        Slots {
            gh: [(0.0, 0.0); 256],
            n: [0; 256],
        }
    }
    #[inline(always)]
    fn add_row(&mut self, bin: u8, (g, h): GradHess) {
        let b = bin as usize;
        self.gh[b].0 += g;
        self.gh[b].1 += h;
        self.n[b] += 1;
    }
}

/// One block's sums over the rows listed in `rows`, whose gradients `gh` holds in the same order.
fn fill(cols: &[Vec<u8>], gh: &[GradHess], rows: &[u32]) -> Vec<Slots> {
    let mut hs = vec![Slots::new(); cols.len()];
    if let ([c0, c1, c2, c3], [h0, h1, h2, h3]) = (cols, &mut hs[..]) {
        for (&r, &gh) in rows.iter().zip(gh) {
            let r = r as usize;
            for (hist, col) in [
                (&mut *h0, c0),
                (&mut *h1, c1),
                (&mut *h2, c2),
                (&mut *h3, c3),
            ] {
                hist.add_row(col[r], gh);
            }
        }
    } else {
        for (hist, col) in hs.iter_mut().zip(cols) {
            for (&r, &gh) in rows.iter().zip(gh) {
                hist.add_row(col[r as usize], gh);
            }
        }
    }
    hs
}

/// One block's sums read from the row-major blocks: over a run of rows in order (`rows` None)
/// or over the rows listed.
fn fill_blocked(
    block: &[[u8; 4]],
    gh: &[GradHess],
    rows: Option<&[u32]>,
    features: usize,
) -> Vec<Slots> {
    let mut hs = vec![Slots::new(); FEATURE_BLOCK];
    if let [h0, h1, h2, h3] = &mut hs[..] {
        let mut add = |b: [u8; 4], gh: GradHess| {
            h0.add_row(b[0], gh);
            h1.add_row(b[1], gh);
            h2.add_row(b[2], gh);
            h3.add_row(b[3], gh);
        };
        match rows {
            None => block.iter().zip(gh).for_each(|(&b, &gh)| add(b, gh)),
            Some(rows) => rows
                .iter()
                .zip(gh)
                .for_each(|(&r, &gh)| add(block[r as usize], gh)),
        }
    }
    hs.truncate(features);
    hs
}

/// A leaf holding at least this share of all rows reads the row-major blocks: its rows are dense
/// enough that one stream per block beats four (measured: 10 to 30% faster from an eighth of the
/// rows up, slower below, where the columns' cache lines are shared by more of the leaf's rows).
const BLOCKED_SHARE: usize = 8;

/// The histograms of a leaf: of the rows listed in `rows`, or of every row when `rows` is `None`
/// (the root, whose gradients are read in place).
pub(crate) fn build(binned: &Binned, gh: &[GradHess], rows: Option<&[u32]>) -> Hist {
    // A leaf's gradients gathered once in row order: each block's pass then reads them
    // sequentially and only its bins at random.
    let gathered: Vec<GradHess>;
    let ordered = match rows {
        None => gh,
        Some(rows) => {
            gathered = rows
                .par_iter()
                .with_min_len(4096)
                .map(|&r| gh[r as usize])
                .collect();
            &gathered
        }
    };
    let blocked = ordered.len() * BLOCKED_SHARE >= gh.len();
    // The columns in groups of four, as the row-major blocks hold them.
    let column_blocks: Vec<&[Vec<u8>]> = binned.columns.chunks(FEATURE_BLOCK).collect();
    let chunks = ordered.len().div_ceil(HIST_CHUNK).max(1);
    let partial: Vec<Vec<Slots>> = (0..column_blocks.len() * chunks)
        .into_par_iter()
        .map(|task| {
            let (b, c) = (task / chunks, task % chunks);
            let begin = c * HIST_CHUNK;
            let end = (begin + HIST_CHUNK).min(ordered.len());
            let part = &ordered[begin..end];
            let features = column_blocks[b].len();
            match rows {
                None => fill_blocked(&binned.blocks[b][begin..end], part, None, features),
                Some(rows) if blocked => {
                    fill_blocked(&binned.blocks[b], part, Some(&rows[begin..end]), features)
                }
                Some(rows) => fill(column_blocks[b], part, &rows[begin..end]),
            }
        })
        .collect();
    // Each block's chunks added in chunk order.
    let mut hist: Hist = binned
        .maps
        .iter()
        .map(|m| vec![Stats::default(); m.bins()])
        .collect();
    for (task, slots) in partial.iter().enumerate() {
        let first = (task / chunks) * FEATURE_BLOCK;
        for (k, s) in slots.iter().enumerate() {
            for (b, out) in hist[first + k].iter_mut().enumerate() {
                out.g += s.gh[b].0;
                out.h += s.gh[b].1;
                out.n += f64::from(s.n[b]);
            }
        }
    }
    hist
}

pub(crate) fn subtract(parent: &mut Hist, child: &Hist) {
    for (p, c) in parent.iter_mut().zip(child) {
        for (a, b) in p.iter_mut().zip(c) {
            *a = a.minus(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Column, Features};
    use mkt_core::rng::Rng;

    #[test]
    fn histograms_equal_plain_sums_on_every_path() {
        // Seven features (the last block has three), more rows than one chunk: the root (blocks in
        // order), a dense leaf (blocks by row) and a sparse one (columns) against plain sums.
        let (n, f) = (150_000, 7);
        let mut rng = Rng::new(3);
        let columns = (0..f)
            .map(|_| Column::Numeric((0..n).map(|_| rng.below(300) as f64).collect()))
            .collect();
        let x = Features {
            names: (0..f).map(|i| format!("f{i}")).collect(),
            columns,
        };
        let b = Binned::new(&x, 255);
        let gh: Vec<GradHess> = (0..n)
            .map(|_| (rng.uniform() - 0.5, rng.uniform()))
            .collect();
        let dense: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 0).collect();
        let sparse: Vec<u32> = (0..n as u32).filter(|r| r % 97 == 5).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        for (rows, hist) in [
            (&all, build(&b, &gh, None)),
            (&dense, build(&b, &gh, Some(&dense))),
            (&sparse, build(&b, &gh, Some(&sparse))),
        ] {
            for (j, h) in hist.iter().enumerate() {
                let mut want = vec![Stats::default(); b.maps[j].bins()];
                for &r in rows {
                    let s = &mut want[b.columns[j][r as usize] as usize];
                    s.g += gh[r as usize].0;
                    s.h += gh[r as usize].1;
                    s.n += 1.0;
                }
                assert_eq!(h.len(), want.len());
                for (got, want) in h.iter().zip(&want) {
                    assert_eq!(got.n, want.n);
                    assert!((got.g - want.g).abs() < 1e-9 && (got.h - want.h).abs() < 1e-9);
                }
            }
        }
    }
}
