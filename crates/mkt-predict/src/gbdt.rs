//! Gradient-boosted trees on histograms: each tree fits the loss's gradients of the current
//! ensemble (second order), optionally stopping when a validation part stops improving.

use crate::binning::Binned;
use crate::features::{Features, Value};
use crate::grow::{grow, GrowParams, Grown};
use crate::histogram::GradHess;
use crate::loss::{cross_entropy, softmax, Loss};
use crate::shap;
use crate::tree::{Node, Tree};
use mkt_core::error::{Error, Result};
use mkt_core::progress::{Progress, Tick};
use rayon::prelude::*;
use rayon::ThreadPool;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GbdtParams {
    pub trees: usize,
    pub max_bins: usize,
    /// Stop after this many trees without a better validation loss (0 = never); needs validation rows.
    pub early_stopping_rounds: usize,
    pub grow: GrowParams,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            trees: 100,
            max_bins: 255,
            early_stopping_rounds: 10,
            grow: GrowParams::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gbdt {
    pub loss: Loss,
    pub base: f64,
    pub trees: Vec<Tree>,
    pub features: usize,
}

/// Feature rows with their labels and weights: the training part, or a part held out to decide
/// when to stop.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a Features,
    pub y: &'a [f64],
    pub w: &'a [f64],
}

/// What training saw: the weighted mean validation loss after each tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainLog {
    pub valid_loss: Vec<f64>,
}

impl Gbdt {
    pub fn raw(&self, x: &[Value]) -> f64 {
        self.base + self.trees.iter().map(|t| t.predict(x)).sum::<f64>()
    }

    pub fn predict(&self, x: &[Value]) -> f64 {
        self.loss.output(self.raw(x))
    }

    /// Each feature's total split gain, as a share of all gain.
    pub fn gain_importance(&self) -> Vec<f64> {
        let mut gain = vec![0.0; self.features];
        for t in &self.trees {
            for n in &t.nodes {
                if let Node::Split {
                    feature, gain: g, ..
                } = n
                {
                    gain[*feature as usize] += g;
                }
            }
        }
        let total: f64 = gain.iter().sum();
        if total > 0.0 {
            gain.iter_mut().for_each(|g| *g /= total);
        }
        gain
    }

    /// The raw score every row starts from before its features are known: the base plus each
    /// tree's mean output over the training rows.
    pub fn expected_raw(&self) -> f64 {
        self.base + self.trees.iter().map(Tree::expected_value).sum::<f64>()
    }

    /// Per-feature contributions to the raw score (TreeSHAP): `expected_raw() + sum = raw(x)`.
    pub fn contributions(&self, x: &[Value]) -> Vec<f64> {
        let mut phi = vec![0.0; self.features];
        for t in &self.trees {
            shap::add_contributions(t, x, &mut phi);
        }
        phi
    }
}

fn check(r: &Rows<'_>) -> Result<()> {
    let Rows { x, y, w } = *r;
    if x.rows() != y.len() || w.len() != y.len() {
        return Err(Error::Internal(format!(
            "{} feature rows, {} labels, {} weights",
            x.rows(),
            y.len(),
            w.len()
        )));
    }
    if y.is_empty() {
        return Err(Error::EmptyData("no rows to train on".into()));
    }
    Ok(())
}

/// Rows of `raw` per task when the new tree's leaf values are added.
const RAW_CHUNK: usize = 1 << 16;

/// Adds each leaf's value to the scores of its rows. Each task owns a range of rows and finds
/// that range in every leaf's list by binary search (a leaf lists its rows in ascending order), so
/// the work is split without two tasks writing one score.
fn add_leaf_values(grown: &Grown, rows: &[u32], raw: &mut [f64], pool: &ThreadPool) {
    let leaves: Vec<(f64, &[u32])> = grown
        .leaves
        .iter()
        .filter_map(|&(node, begin, end)| match grown.tree.nodes[node] {
            Node::Leaf { value, .. } => Some((value, &rows[begin..end])),
            Node::Split { .. } => None,
        })
        .collect();
    pool.install(|| {
        raw.par_chunks_mut(RAW_CHUNK)
            .enumerate()
            .for_each(|(c, out)| {
                let lo = (c * RAW_CHUNK) as u32;
                let hi = lo + out.len() as u32;
                for &(value, list) in &leaves {
                    let a = list.partition_point(|&r| r < lo);
                    let b = a + list[a..].partition_point(|&r| r < hi);
                    for &r in &list[a..b] {
                        out[(r - lo) as usize] += value;
                    }
                }
            })
    });
}

/// Grows one tree on the gradients and Hessians `grad_hess(i)` gives each row (weighted there).
fn grow_on(
    binned: &Binned,
    gh: &mut [GradHess],
    rows: &mut Vec<u32>,
    p: &GrowParams,
    pool: &ThreadPool,
    grad_hess: impl Fn(usize) -> GradHess + Sync,
) -> Grown {
    pool.install(|| {
        gh.par_iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = grad_hess(i));
        rows.clear();
        rows.extend(0..gh.len() as u32);
        grow(binned, gh, rows, p)
    })
}

/// The held-out rows, row by row, and what stopping early on their loss has seen.
struct Holdout<'a> {
    rows: Vec<Vec<Value>>,
    part: Option<Rows<'a>>,
    log: TrainLog,
    /// The lowest loss so far and after how many rounds.
    best: (f64, usize),
}

impl<'a> Holdout<'a> {
    fn new(part: Option<Rows<'a>>) -> Result<Holdout<'a>> {
        if let Some(v) = &part {
            check(v)?;
        }
        Ok(Holdout {
            rows: part.as_ref().map_or(Vec::new(), |v| {
                (0..v.x.rows()).map(|i| v.x.row(i)).collect()
            }),
            part,
            log: TrainLog::default(),
            best: (f64::INFINITY, 0),
        })
    }

    /// Adds a tree's output to the held-out rows' raw scores.
    fn add(&self, raw: &mut [f64], tree: &Tree, pool: &ThreadPool) {
        pool.install(|| {
            raw.par_iter_mut()
                .zip(&self.rows)
                .for_each(|(r, x)| *r += tree.predict(x))
        });
    }

    /// Records the held-out loss after `rounds` rounds; true when training should stop.
    fn record(&mut self, loss: f64, rounds: usize, patience: usize) -> bool {
        self.log.valid_loss.push(loss);
        if loss < self.best.0 {
            self.best = (loss, rounds);
        }
        patience > 0 && rounds - self.best.1 >= patience
    }

    /// How many rounds to keep: the best held-out round's, or all without held-out rows.
    fn keep(&self) -> Option<usize> {
        (self.part.is_some() && self.best.1 > 0).then_some(self.best.1)
    }
}

/// Trains on features, labels (0/1 for the logistic loss) and row weights.
pub fn train(
    loss: Loss,
    data: Rows<'_>,
    valid: Option<Rows<'_>>,
    p: &GbdtParams,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Gbdt, TrainLog)> {
    check(&data)?;
    let mut held = Holdout::new(valid)?;
    let Rows { x, y, w } = data;
    let n = y.len();
    let binned = pool.install(|| Binned::new(x, p.max_bins));
    let base = loss.base_score(y, w);
    let mut raw = vec![base; n];
    let mut gh: Vec<GradHess> = vec![(0.0, 0.0); n];
    let mut valid_raw = vec![base; held.rows.len()];
    let mut model = Gbdt {
        loss,
        base,
        trees: Vec::new(),
        features: x.columns.len(),
    };
    let mut rows: Vec<u32> = Vec::with_capacity(n);
    for t in 0..p.trees {
        tick.tick(&Progress {
            phase: "gbdt trees",
            done: t,
            total: p.trees,
        });
        let grown = grow_on(&binned, &mut gh, &mut rows, &p.grow, pool, |i| {
            let (g, h) = loss.grad_hess(raw[i], y[i]);
            (g * w[i], h * w[i])
        });
        if grown.tree.nodes.len() == 1 {
            break; // no split gains anything: more trees would only shift the constant
        }
        add_leaf_values(&grown, &rows, &mut raw, pool);
        held.add(&mut valid_raw, &grown.tree, pool);
        model.trees.push(grown.tree);
        if let Some(v) = held.part {
            let sw: f64 = v.w.iter().sum();
            let l: f64 = valid_raw
                .iter()
                .zip(v.y)
                .zip(v.w)
                .map(|((&r, &y), &w)| w * loss.value(r, y))
                .sum::<f64>()
                / sw;
            if held.record(l, t + 1, p.early_stopping_rounds) {
                break;
            }
        }
    }
    if let Some(keep) = held.keep() {
        model.trees.truncate(keep);
    }
    Ok((model, held.log))
}

/// Trains one ensemble per class on the softmax (multinomial) loss, as LightGBM's and
/// scikit-learn's multiclass boosting do: each round grows one tree per class on the gradients
/// `p_c - y_c` and Hessians `p_c (1 - p_c)` of the current ensembles' softmax, starting from each
/// class's log prior. `y` holds class positions `0..k`; the ensembles' raw scores are the logits.
/// The rows are binned once for all classes.
pub fn train_softmax(
    k: usize,
    data: Rows<'_>,
    valid: Option<Rows<'_>>,
    p: &GbdtParams,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Vec<Gbdt>, TrainLog)> {
    check(&data)?;
    let mut held = Holdout::new(valid)?;
    let Rows { x, y, w } = data;
    let n = y.len();
    let class = |v: f64| (v.max(0.0) as usize).min(k - 1);
    let binned = pool.install(|| Binned::new(x, p.max_bins));
    let mut prior = vec![0.0; k];
    y.iter().zip(w).for_each(|(&v, &wi)| prior[class(v)] += wi);
    let total: f64 = prior.iter().sum();
    let mut models: Vec<Gbdt> = prior
        .iter()
        .map(|&c| Gbdt {
            loss: Loss::Logistic,
            base: (c / total).max(1e-15).ln(),
            trees: Vec::new(),
            features: x.columns.len(),
        })
        .collect();
    let mut raw: Vec<Vec<f64>> = models.iter().map(|m| vec![m.base; n]).collect();
    let mut valid_raw: Vec<Vec<f64>> = models
        .iter()
        .map(|m| vec![m.base; held.rows.len()])
        .collect();
    let mut probs = vec![0.0; n * k];
    let mut gh: Vec<GradHess> = vec![(0.0, 0.0); n];
    let mut rows: Vec<u32> = Vec::with_capacity(n);
    for t in 0..p.trees {
        tick.tick(&Progress {
            phase: "gbdt trees (one per class)",
            done: t,
            total: p.trees,
        });
        pool.install(|| {
            probs.par_chunks_mut(k).enumerate().for_each(|(i, pr)| {
                for (c, v) in pr.iter_mut().enumerate() {
                    *v = raw[c][i];
                }
                softmax(pr);
            })
        });
        let mut round = Vec::with_capacity(k);
        for c in 0..k {
            let grown = grow_on(&binned, &mut gh, &mut rows, &p.grow, pool, |i| {
                let pc = probs[i * k + c];
                let g = pc - f64::from(class(y[i]) == c);
                let h = (pc * (1.0 - pc)).max(1e-16);
                (g * w[i], h * w[i])
            });
            add_leaf_values(&grown, &rows, &mut raw[c], pool);
            held.add(&mut valid_raw[c], &grown.tree, pool);
            round.push(grown.tree);
        }
        if round.iter().all(|tree| tree.nodes.len() == 1) {
            break; // no class's split gains anything
        }
        for (m, tree) in models.iter_mut().zip(round) {
            m.trees.push(tree);
        }
        if let Some(v) = held.part {
            let sw: f64 = v.w.iter().sum();
            let mut z = vec![0.0; k];
            let l: f64 = (0..held.rows.len())
                .map(|i| {
                    for (c, zc) in z.iter_mut().enumerate() {
                        *zc = valid_raw[c][i];
                    }
                    v.w[i] * cross_entropy(&mut z, v.y[i].max(0.0) as usize)
                })
                .sum::<f64>()
                / sw;
            if held.record(l, t + 1, p.early_stopping_rounds) {
                break;
            }
        }
    }
    if let Some(keep) = held.keep() {
        models.iter_mut().for_each(|m| m.trees.truncate(keep));
    }
    Ok((models, held.log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classification::roc_auc;
    use crate::features::Column;
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// A response that depends on a number, a category and missingness, with noise.
    fn data(n: usize, seed: u64) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let (mut a, mut b, mut c, mut y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let x0 = rng.normal();
            let x1 = if rng.uniform() < 0.2 {
                f64::NAN
            } else {
                rng.normal()
            };
            let cat = rng.below(5) as u32;
            let z = 1.5 * x0
                + if x1.is_nan() { 1.0 } else { -0.5 * x1 }
                + [0.0, 1.0, -1.0, 0.5, 0.0][cat as usize]
                - 0.5;
            a.push(x0);
            b.push(x1);
            c.push(cat);
            y.push(if rng.uniform() < crate::loss::sigmoid(z) {
                1.0
            } else {
                0.0
            });
        }
        let levels = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let f = Features {
            names: vec!["x0".into(), "x1".into(), "cat".into()],
            columns: vec![
                Column::Numeric(a),
                Column::Numeric(b),
                Column::Categorical { codes: c, levels },
            ],
        };
        (f, y)
    }

    #[test]
    fn boosting_learns_and_contributions_sum_to_the_raw_score() {
        let (x, y) = data(4000, 1);
        let (vx, vy) = data(2000, 2);
        let w = vec![1.0; y.len()];
        let vw = vec![1.0; vy.len()];
        let valid = Rows {
            x: &vx,
            y: &vy,
            w: &vw,
        };
        let (m, log) = train(
            Loss::Logistic,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            Some(valid),
            &GbdtParams::default(),
            &pool(2),
            &mut no_tick(),
        )
        .unwrap();
        assert!(!m.trees.is_empty() && log.valid_loss.len() >= m.trees.len());
        let scores: Vec<f64> = (0..vx.rows()).map(|i| m.predict(&vx.row(i))).collect();
        let labels: Vec<bool> = vy.iter().map(|&v| v == 1.0).collect();
        let auc = roc_auc(&scores, &labels).unwrap();
        assert!(auc > 0.78, "validation AUC {auc}");
        for i in 0..50 {
            let r = vx.row(i);
            let total = m.expected_raw() + m.contributions(&r).iter().sum::<f64>();
            assert!((total - m.raw(&r)).abs() < 1e-9, "{total} vs {}", m.raw(&r));
        }
        let imp = m.gain_importance();
        assert!(
            imp[0] > imp[1] && imp[0] > imp[2] && (imp.iter().sum::<f64>() - 1.0).abs() < 1e-12,
            "{imp:?}"
        );
    }

    #[test]
    fn the_same_model_on_any_number_of_threads() {
        // More rows than one histogram task or partition chunk holds.
        let (x, y) = data(140_000, 3);
        let w = vec![1.0; y.len()];
        let p = GbdtParams {
            trees: 10,
            ..Default::default()
        };
        let one = train(
            Loss::Logistic,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            None,
            &p,
            &pool(1),
            &mut no_tick(),
        )
        .unwrap()
        .0;
        let three = train(
            Loss::Logistic,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            None,
            &p,
            &pool(3),
            &mut no_tick(),
        )
        .unwrap()
        .0;
        assert_eq!(one, three);
    }

    #[test]
    fn regression_fits_a_step() {
        let xs: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let y: Vec<f64> = xs
            .iter()
            .map(|&v| if v < 0.3 { 2.0 } else { 5.0 })
            .collect();
        let x = Features {
            names: vec!["v".into()],
            columns: vec![Column::Numeric(xs)],
        };
        let p = GbdtParams {
            trees: 60,
            ..Default::default()
        };
        let (m, _) = train(
            Loss::Squared,
            Rows {
                x: &x,
                y: &y,
                w: &[1.0; 1000],
            },
            None,
            &p,
            &pool(2),
            &mut no_tick(),
        )
        .unwrap();
        let at = |v: f64| m.predict(&[Value::Number(v)]);
        assert!(
            (at(0.1) - 2.0).abs() < 0.01 && (at(0.8) - 5.0).abs() < 0.01,
            "{} {}",
            at(0.1),
            at(0.8)
        );
    }
}
