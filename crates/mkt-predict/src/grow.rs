//! Grows one tree on gradient histograms, leaf by leaf: always the leaf whose best split gains
//! most, until `max_leaves`. A split's gain is the second-order loss reduction
//!   G_L^2 / (H_L + l2) + G_R^2 / (H_R + l2) - G^2 / (H + l2),
//! and a leaf's value is -G / (H + l2) times the learning rate. Missing values try both sides;
//! categories are ordered by G / (H + cat_smooth) and split as a prefix of that order. The larger
//! child's histogram is its parent's minus the smaller child's.

use crate::binning::{BinMap, Binned};
use crate::histogram::{build, subtract, GradHess, Hist, Stats};
use crate::tree::{Node, Rule, Tree};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowParams {
    pub max_leaves: usize,
    /// 0 = no limit.
    pub max_depth: usize,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian: f64,
    pub l2: f64,
    pub min_gain: f64,
    pub cat_smooth: f64,
    pub learning_rate: f64,
}

impl Default for GrowParams {
    fn default() -> Self {
        GrowParams {
            max_leaves: 31,
            max_depth: 0,
            min_data_in_leaf: 20,
            min_sum_hessian: 1e-3,
            l2: 0.0,
            min_gain: 0.0,
            cat_smooth: 10.0,
            learning_rate: 0.1,
        }
    }
}

const PARTITION_CHUNK: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq)]
enum BinRule {
    /// Value bins 1..=k go left.
    UpTo(usize),
    /// By bin.
    Set(Vec<bool>),
}

#[derive(Debug, Clone, PartialEq)]
struct Split {
    feature: usize,
    gain: f64,
    rule: BinRule,
    missing_left: bool,
    left: Stats,
}

impl Split {
    fn left_bin(&self, b: u8) -> bool {
        match &self.rule {
            _ if b == 0 => self.missing_left,
            BinRule::UpTo(k) => (b as usize) <= *k,
            BinRule::Set(s) => s[b as usize],
        }
    }
}

fn score(s: &Stats, l2: f64) -> f64 {
    let d = s.h + l2;
    if d > 0.0 {
        s.g * s.g / d
    } else {
        0.0
    }
}

fn allowed(s: &Stats, p: &GrowParams) -> bool {
    s.n >= p.min_data_in_leaf.max(1) as f64 && s.h >= p.min_sum_hessian
}

fn best_numeric(feature: usize, h: &[Stats], total: &Stats, p: &GrowParams) -> Option<Split> {
    let parent = score(total, p.l2);
    let missing = h[0];
    let mut best: Option<Split> = None;
    let mut cum = Stats::default();
    for (k, bin) in h.iter().enumerate().skip(1) {
        cum.add(bin);
        if bin.n == 0.0 {
            continue;
        }
        let mut with_missing = cum;
        with_missing.add(&missing);
        let options = [(cum, false), (with_missing, true)];
        let tries = if missing.n > 0.0 { 2 } else { 1 };
        for &(left, missing_left) in &options[..tries] {
            let right = total.minus(&left);
            if !allowed(&left, p) || !allowed(&right, p) {
                continue;
            }
            let gain = score(&left, p.l2) + score(&right, p.l2) - parent;
            if gain > p.min_gain && best.as_ref().is_none_or(|b| gain > b.gain) {
                // Without missing values in training, missing values follow the larger side.
                let missing_left = if missing.n > 0.0 {
                    missing_left
                } else {
                    left.n >= right.n
                };
                best = Some(Split {
                    feature,
                    gain,
                    rule: BinRule::UpTo(k),
                    missing_left,
                    left,
                });
            }
        }
    }
    best
}

fn best_categorical(feature: usize, h: &[Stats], total: &Stats, p: &GrowParams) -> Option<Split> {
    let parent = score(total, p.l2);
    let mut cats: Vec<usize> = (0..h.len()).filter(|&b| h[b].n > 0.0).collect();
    let key = |b: usize| h[b].g / (h[b].h + p.cat_smooth);
    cats.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    let mut best: Option<(f64, usize, Stats)> = None;
    let mut cum = Stats::default();
    for (k, &b) in cats.iter().enumerate().take(cats.len().saturating_sub(1)) {
        cum.add(&h[b]);
        let right = total.minus(&cum);
        if !allowed(&cum, p) || !allowed(&right, p) {
            continue;
        }
        let gain = score(&cum, p.l2) + score(&right, p.l2) - parent;
        if gain > p.min_gain && best.as_ref().is_none_or(|b| gain > b.0) {
            best = Some((gain, k + 1, cum));
        }
    }
    let (gain, k, left) = best?;
    let mut set = vec![false; h.len()];
    for &b in &cats[..k] {
        set[b] = true;
    }
    let missing_left = if h[0].n > 0.0 {
        set[0]
    } else {
        left.n >= total.n - left.n
    };
    set[0] = missing_left;
    Some(Split {
        feature,
        gain,
        rule: BinRule::Set(set),
        missing_left,
        left,
    })
}

fn best_split(binned: &Binned, hist: &Hist, total: &Stats, p: &GrowParams) -> Option<Split> {
    let found: Vec<Option<Split>> = hist
        .par_iter()
        .enumerate()
        .map(|(f, h)| match &binned.maps[f] {
            BinMap::Numeric { .. } => best_numeric(f, h, total, p),
            BinMap::Categorical { .. } => best_categorical(f, h, total, p),
        })
        .collect();
    // The first feature wins a tie, whatever the thread count.
    found
        .into_iter()
        .flatten()
        .fold(None, |best: Option<Split>, s| match best {
            Some(b) if b.gain >= s.gain => Some(b),
            _ => Some(s),
        })
}

fn rule_of(map: &BinMap, split: &Split) -> Rule {
    match (map, &split.rule) {
        (BinMap::Numeric { bounds }, BinRule::UpTo(k)) => {
            Rule::Threshold(bounds.get(k - 1).copied().unwrap_or(f64::INFINITY))
        }
        (BinMap::Categorical { codes }, BinRule::Set(set)) => {
            let (mut left, mut right) = (Vec::new(), Vec::new());
            for (i, &c) in codes.iter().enumerate() {
                if set[i + 1] {
                    left.push(c)
                } else {
                    right.push(c)
                }
            }
            Rule::Categories { left, right }
        }
        _ => unreachable!("a split's rule matches its feature's kind"),
    }
}

/// Moves the rows whose bins go left to the front of `part`, each side in its former order, and
/// returns how many went left. Chunks are split in parallel into `scratch` (left rows from the
/// front, right rows from the back, every row written to both cursors so that no branch depends on
/// the bin), then copied back in order.
fn partition(part: &mut [u32], scratch: &mut [u32], col: &[u8], split: &Split) -> usize {
    // Bins past a categorical feature's last never occur.
    let goes_left: [bool; 256] = std::array::from_fn(|b| match &split.rule {
        BinRule::Set(set) if b >= set.len() => false,
        _ => split.left_bin(b as u8),
    });
    let lefts: Vec<usize> = part
        .par_chunks(PARTITION_CHUNK)
        .zip(scratch.par_chunks_mut(PARTITION_CHUNK))
        .map(|(rows, out)| {
            let (mut l, mut r) = (0, out.len());
            for &row in rows {
                let left = goes_left[col[row as usize] as usize];
                out[l] = row;
                out[r - 1] = row;
                l += left as usize;
                r -= !left as usize;
            }
            l
        })
        .collect();
    let mut at = 0;
    for (out, &l) in scratch.chunks(PARTITION_CHUNK).zip(&lefts) {
        part[at..at + l].copy_from_slice(&out[..l]);
        at += l;
    }
    let mid = at;
    for (out, &l) in scratch.chunks(PARTITION_CHUNK).zip(&lefts) {
        for (dst, &src) in part[at..at + out.len() - l]
            .iter_mut()
            .zip(out[l..].iter().rev())
        {
            *dst = src;
        }
        at += out.len() - l;
    }
    mid
}

struct Open {
    node: usize,
    begin: usize,
    end: usize,
    depth: usize,
    stats: Stats,
    hist: Hist,
    best: Option<Split>,
}

/// A grown tree and, per leaf, its node and the range of `rows` that reached it.
pub struct Grown {
    pub tree: Tree,
    pub leaves: Vec<(usize, usize, usize)>,
}

fn leaf_value(s: &Stats, p: &GrowParams) -> f64 {
    let d = s.h + p.l2;
    if d > 0.0 {
        -s.g / d * p.learning_rate
    } else {
        0.0
    }
}

/// Grows a tree on the rows listed in `rows` (reordered in place so each leaf's rows are
/// contiguous, in their original order). Call inside the pool that should do the work.
pub fn grow(binned: &Binned, gh: &[GradHess], rows: &mut [u32], p: &GrowParams) -> Grown {
    let in_order = rows.len() == gh.len() && rows.iter().enumerate().all(|(i, &r)| i == r as usize);
    let hist = build(binned, gh, if in_order { None } else { Some(rows) });
    let stats = hist.first().map_or(Stats::default(), |h| {
        h.iter().fold(Stats::default(), |mut a, s| {
            a.add(s);
            a
        })
    });
    let can_split = |depth: usize| p.max_depth == 0 || depth < p.max_depth;
    let best = best_split(binned, &hist, &stats, p);
    let mut nodes = vec![Node::Leaf {
        value: leaf_value(&stats, p),
        count: stats.n,
    }];
    let mut open = vec![Open {
        node: 0,
        begin: 0,
        end: rows.len(),
        depth: 0,
        stats,
        hist,
        best,
    }];
    let mut leaves = 1;
    let mut scratch = vec![0u32; rows.len()];
    while leaves < p.max_leaves.max(1) {
        let pick = open
            .iter()
            .enumerate()
            .filter(|(_, o)| o.best.is_some() && can_split(o.depth))
            .fold(None, |best: Option<(usize, f64)>, (i, o)| {
                let g = o.best.as_ref().map_or(0.0, |s| s.gain);
                match best {
                    Some((_, bg)) if bg >= g => best,
                    _ => Some((i, g)),
                }
            });
        let Some((i, _)) = pick else { break };
        let leaf = open.swap_remove(i);
        let split = leaf.best.clone().expect("picked leaves have a split");
        let col = &binned.columns[split.feature];
        let part = &mut rows[leaf.begin..leaf.end];
        let mid = leaf.begin + partition(part, &mut scratch[..part.len()], col, &split);
        let left_stats = split.left;
        let right_stats = leaf.stats.minus(&left_stats);
        let (small_range, small_is_left) = if mid - leaf.begin <= leaf.end - mid {
            ((leaf.begin, mid), true)
        } else {
            ((mid, leaf.end), false)
        };
        // After the last split the children are never split: they need no histograms.
        let last = leaves + 1 >= p.max_leaves.max(1);
        let (lh, rh) = if last {
            (Hist::new(), Hist::new())
        } else {
            let small = build(binned, gh, Some(&rows[small_range.0..small_range.1]));
            let mut large = leaf.hist;
            subtract(&mut large, &small);
            if small_is_left {
                (small, large)
            } else {
                (large, small)
            }
        };
        let (li, ri) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::Leaf {
            value: leaf_value(&left_stats, p),
            count: left_stats.n,
        });
        nodes.push(Node::Leaf {
            value: leaf_value(&right_stats, p),
            count: right_stats.n,
        });
        nodes[leaf.node] = Node::Split {
            feature: split.feature as u32,
            rule: rule_of(&binned.maps[split.feature], &split),
            missing_left: split.missing_left,
            left: li as u32,
            right: ri as u32,
            gain: split.gain,
            count: leaf.stats.n,
        };
        let depth = leaf.depth + 1;
        for (node, begin, end, stats, hist) in [
            (li, leaf.begin, mid, left_stats, lh),
            (ri, mid, leaf.end, right_stats, rh),
        ] {
            let best = if can_split(depth) && !last {
                best_split(binned, &hist, &stats, p)
            } else {
                None
            };
            open.push(Open {
                node,
                begin,
                end,
                depth,
                stats,
                hist,
                best,
            });
        }
        leaves += 1;
    }
    let leaves = open.iter().map(|o| (o.node, o.begin, o.end)).collect();
    Grown {
        tree: Tree { nodes },
        leaves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Column, Features, Value};

    #[test]
    fn the_root_splits_where_the_hand_computed_gain_is_largest() {
        // x = 1..=6, gradients chosen so that the best cut is x <= 4 (left G = -4, H = 4;
        // right G = 6, H = 2; gain = 16/4 + 36/2 - 4/6 = 21.33), better than x <= 3
        // (G_L = -3, H_L = 3, G_R = 5, H_R = 3: 3 + 8.33 - 0.67 = 10.67) or x <= 5.
        let x: Vec<f64> = (1..=6).map(f64::from).collect();
        let grad = [-1.0, -1.0, -1.0, -1.0, 3.0, 3.0];
        let hess = [1.0; 6];
        let f = Features {
            names: vec!["x".into()],
            columns: vec![Column::Numeric(x)],
        };
        let b = Binned::new(&f, 255);
        let p = GrowParams {
            max_leaves: 2,
            min_data_in_leaf: 1,
            learning_rate: 1.0,
            ..Default::default()
        };
        let mut rows: Vec<u32> = (0..6).collect();
        let gh: Vec<GradHess> = grad.iter().zip(hess).map(|(&g, h)| (g, h)).collect();
        let g = grow(&b, &gh, &mut rows, &p);
        match &g.tree.nodes[0] {
            Node::Split {
                rule: Rule::Threshold(t),
                gain,
                ..
            } => {
                assert_eq!(*t, 4.5);
                assert!((gain - (4.0 + 18.0 - 4.0 / 6.0)).abs() < 1e-12);
            }
            n => panic!("{n:?}"),
        }
        let at = |v: f64| g.tree.predict(&[Value::Number(v)]);
        assert_eq!((at(2.0), at(6.0)), (1.0, -3.0));
        // Missing values (none in training) follow the larger side.
        assert_eq!(at(f64::NAN), 1.0);
        assert_eq!(g.leaves.len(), 2);
    }

    #[test]
    fn missing_values_go_where_they_gain_most_and_categories_split_as_a_set() {
        // Missing rows have the high gradients of x >= 5: they join the right side.
        let x = vec![1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, f64::NAN];
        let grad = [-1.0, -1.0, -1.0, 2.0, 2.0, 2.0, 2.0];
        let f = Features {
            names: vec!["x".into()],
            columns: vec![Column::Numeric(x)],
        };
        let b = Binned::new(&f, 255);
        let p = GrowParams {
            max_leaves: 2,
            min_data_in_leaf: 1,
            learning_rate: 1.0,
            ..Default::default()
        };
        let mut rows: Vec<u32> = (0..7).collect();
        let gh: Vec<GradHess> = grad.iter().map(|&g| (g, 1.0)).collect();
        let g = grow(&b, &gh, &mut rows, &p);
        assert!(
            matches!(&g.tree.nodes[0], Node::Split { rule: Rule::Threshold(t), missing_left: false, .. } if *t == 4.0)
        );

        // Categories a and c have negative gradients, b and d positive: the split is {a, c} | {b, d}.
        let codes = vec![0, 1, 2, 3, 0, 1, 2, 3];
        let levels = ["a", "b", "c", "d"].map(String::from).to_vec();
        let f = Features {
            names: vec!["c".into()],
            columns: vec![Column::Categorical { codes, levels }],
        };
        let b = Binned::new(&f, 255);
        let grad = [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0];
        let p = GrowParams {
            cat_smooth: 0.0,
            ..p
        };
        let mut rows: Vec<u32> = (0..8).collect();
        let gh: Vec<GradHess> = grad.iter().map(|&g| (g, 1.0)).collect();
        let g = grow(&b, &gh, &mut rows, &p);
        match &g.tree.nodes[0] {
            Node::Split {
                rule: Rule::Categories { left, right },
                ..
            } => assert_eq!((left.clone(), right.clone()), (vec![0, 2], vec![1, 3])),
            n => panic!("{n:?}"),
        }
    }
}
