//! NeuMF (He et al. 2017): generalised matrix factorisation and an MLP over the user's and the
//! item's embeddings and side features, fused by one output layer, trained with binary
//! cross-entropy on each positive and `negatives` uniform samples.
//!
//! Serving needs no tensor library: the first MLP layer splits into a user half and an item half,
//! both computed once at the end of training, so a score is relu(a_u + b_i) through the second
//! layer plus the GMF term.

use crate::features::Encoded;
use crate::net::{cat_tables, normal, side, side_width, xavier};
use crate::params::NeuralParams;
use crate::compute;
use crate::split::{for_validation, shuffle, Carved};
use crate::train::METRIC_K;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use mkt_core::interactions::Csr;
use mkt_core::progress::{EpochReport, Progress, Tick};
use mkt_core::rng::Rng;
use mkt_core::shared::Shared;
use mkt_core::{Error, Result};
use mkt_metrics::ranking::user_metrics;
use mkt_topk::{dot, top_k_dense};
use std::time::Instant;

type R<T> = candle_core::Result<T>;

/// A trained NeuMF model in serving form.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuMf {
    pub dim: usize,
    pub hidden: usize,
    pub hidden2: usize,
    /// n_users x dim and n_items x dim: the GMF embeddings.
    pub user_gmf: Shared<f32>,
    pub item_gmf: Shared<f32>,
    /// n_users x hidden and n_items x hidden: the two halves of the first layer (bias in items).
    pub user_a: Shared<f32>,
    pub item_b: Shared<f32>,
    /// hidden x hidden2, row-major, and its bias.
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    /// Output weights of the GMF part (dim) and of the MLP part (hidden2), and the output bias.
    pub out_g: Vec<f32>,
    pub out_h: Vec<f32>,
    pub out_b: f32,
}

impl NeuMf {
    pub fn n_users(&self) -> usize {
        self.user_gmf.len() / self.dim.max(1)
    }

    pub fn n_items(&self) -> usize {
        self.item_gmf.len() / self.dim.max(1)
    }

    /// Checks every length against the shapes (for decoded blobs).
    pub fn validate(&self, n_users: usize, n_items: usize) -> std::result::Result<(), String> {
        let (d, h, h2) = (self.dim, self.hidden, self.hidden2);
        let ok = d > 0
            && h > 0
            && h2 > 0
            && self.user_gmf.len() == n_users * d
            && self.item_gmf.len() == n_items * d
            && self.user_a.len() == n_users * h
            && self.item_b.len() == n_items * h
            && self.w2.len() == h * h2
            && self.b2.len() == h2
            && self.out_g.len() == d
            && self.out_h.len() == h2;
        if ok {
            Ok(())
        } else {
            Err("neumf tensor shapes do not match".into())
        }
    }

    /// Bytes viewed in a shared mapping.
    pub fn mapped_bytes(&self) -> usize {
        [&self.user_gmf, &self.item_gmf, &self.user_a, &self.item_b]
            .iter()
            .map(|a| a.mapped_bytes())
            .sum()
    }

    pub fn heap_bytes(&self) -> usize {
        self.user_gmf.heap_bytes()
            + self.item_gmf.heap_bytes()
            + self.user_a.heap_bytes()
            + self.item_b.heap_bytes()
            + 4 * self.w2.len()
    }

    /// Scores of every item for user `u` into `out` (logits).
    pub fn score_all(&self, u: usize, out: &mut [f32]) {
        let (d, h, h2) = (self.dim, self.hidden, self.hidden2);
        let pu: Vec<f32> = self.user_gmf[u * d..(u + 1) * d]
            .iter()
            .zip(&self.out_g)
            .map(|(p, w)| p * w)
            .collect();
        let au = &self.user_a[u * h..(u + 1) * h];
        let mut h1 = vec![0f32; h];
        let mut z = vec![0f32; h2];
        for (i, o) in out.iter_mut().enumerate() {
            for ((x, a), b) in h1.iter_mut().zip(au).zip(&self.item_b[i * h..(i + 1) * h]) {
                *x = (a + b).max(0.0);
            }
            z.copy_from_slice(&self.b2);
            for (k, &x) in h1.iter().enumerate() {
                if x != 0.0 {
                    for (zz, w) in z.iter_mut().zip(&self.w2[k * h2..(k + 1) * h2]) {
                        *zz += x * w;
                    }
                }
            }
            let mlp: f32 = z.iter().zip(&self.out_h).map(|(z, w)| z.max(0.0) * w).sum();
            *o = dot(&pu, &self.item_gmf[i * d..(i + 1) * d]) + mlp + self.out_b;
        }
    }
}

struct Weights {
    dev: Device,
    dim: usize,
    p: Var,
    q: Var,
    p2: Var,
    q2: Var,
    user_cat: Vec<Var>,
    item_cat: Vec<Var>,
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
    out_g: Var,
    out_h: Var,
    out_b: Var,
    /// Rows of w1 that read the user half of the input.
    user_width: usize,
}

impl Weights {
    fn vars(&self) -> Vec<Var> {
        let mut v = vec![&self.p, &self.q, &self.p2, &self.q2];
        v.extend(self.user_cat.iter());
        v.extend(self.item_cat.iter());
        v.extend([&self.w1, &self.b1, &self.w2, &self.b2, &self.out_g, &self.out_h, &self.out_b]);
        v.into_iter().cloned().collect()
    }

    fn rows(&self, table: &Var, idx: &[u32], keep: &[f32]) -> R<Tensor> {
        let t = table.as_tensor().index_select(&Tensor::from_slice(idx, idx.len(), &self.dev)?, 0)?;
        t.broadcast_mul(&Tensor::from_slice(keep, (idx.len(), 1), &self.dev)?)
    }

    /// Input of the user half of the first layer: MLP embedding and side features.
    fn user_in(&self, users: &[u32], keep: &[f32], uf: Option<&Encoded>) -> R<Tensor> {
        let mut parts = vec![self.rows(&self.p2, users, keep)?];
        if let Some(f) = uf {
            parts.extend(side(&self.dev, f, &self.user_cat, users)?);
        }
        Tensor::cat(&parts, 1)
    }

    fn item_in(&self, items: &[u32], keep: &[f32], itf: Option<&Encoded>) -> R<Tensor> {
        let mut parts = vec![self.rows(&self.q2, items, keep)?];
        if let Some(f) = itf {
            parts.extend(side(&self.dev, f, &self.item_cat, items)?);
        }
        Tensor::cat(&parts, 1)
    }

    #[allow(clippy::too_many_arguments)]
    fn logits(
        &self,
        users: &[u32],
        items: &[u32],
        ukeep: &[f32],
        ikeep: &[f32],
        uf: Option<&Encoded>,
        itf: Option<&Encoded>,
    ) -> R<Tensor> {
        let gmf = (self.rows(&self.p, users, ukeep)? * self.rows(&self.q, items, ikeep)?)?;
        let x = Tensor::cat(&[self.user_in(users, ukeep, uf)?, self.item_in(items, ikeep, itf)?], 1)?;
        let h1 = x.matmul(self.w1.as_tensor())?.broadcast_add(self.b1.as_tensor())?.relu()?;
        let h2 = h1.matmul(self.w2.as_tensor())?.broadcast_add(self.b2.as_tensor())?.relu()?;
        let out = (gmf.matmul(self.out_g.as_tensor())? + h2.matmul(self.out_h.as_tensor())?)?;
        out.squeeze(1)?.broadcast_add(self.out_b.as_tensor())
    }

    /// The serving form: both halves of the first layer computed for every user and item.
    fn export(
        &self,
        user_known: &[bool],
        item_known: &[bool],
        uf: Option<&Encoded>,
        itf: Option<&Encoded>,
    ) -> R<NeuMf> {
        let all = |n: usize| (0..n as u32).collect::<Vec<_>>();
        let keep = |k: &[bool]| k.iter().map(|&b| b as u8 as f32).collect::<Vec<_>>();
        let (nu, ni) = (user_known.len(), item_known.len());
        let (uk, ik) = (keep(user_known), keep(item_known));
        let w1 = self.w1.as_tensor();
        let rows = w1.dim(0)?;
        let wu = w1.narrow(0, 0, self.user_width)?;
        let wi = w1.narrow(0, self.user_width, rows - self.user_width)?;
        let user_a = self.user_in(&all(nu), &uk, uf)?.matmul(&wu)?;
        let item_b = self
            .item_in(&all(ni), &ik, itf)?
            .matmul(&wi)?
            .broadcast_add(self.b1.as_tensor())?;
        let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        Ok(NeuMf {
            dim: self.dim,
            hidden: self.b1.dim(0)?,
            hidden2: self.b2.dim(0)?,
            user_gmf: flat(&self.rows(&self.p, &all(nu), &uk)?)?.into(),
            item_gmf: flat(&self.rows(&self.q, &all(ni), &ik)?)?.into(),
            user_a: flat(&user_a)?.into(),
            item_b: flat(&item_b)?.into(),
            w2: flat(self.w2.as_tensor())?,
            b2: flat(self.b2.as_tensor())?,
            out_g: flat(self.out_g.as_tensor())?,
            out_h: flat(self.out_h.as_tensor())?,
            out_b: flat(self.out_b.as_tensor())?[0],
        })
    }
}


fn validate(m: &NeuMf, c: &Carved) -> f64 {
    let mut s = vec![0f32; m.n_items()];
    let mut total = 0.0;
    for (u, held) in &c.held_out {
        m.score_all(*u as usize, &mut s);
        for &i in c.train.row(*u as usize).0 {
            s[i as usize] = f32::NEG_INFINITY;
        }
        let ranked: Vec<u32> = top_k_dense(&s, METRIC_K).iter().map(|x| x.index).collect();
        total += user_metrics(&ranked, held, METRIC_K).map_or(0.0, |m| m.ndcg);
    }
    total / c.held_out.len().max(1) as f64
}

/// Positives per batch: NeuMF trains on (user, item) pairs, `batch_size` times this many.
pub const PAIRS_PER_USER_BATCH: usize = 8;

/// Trains NeuMF on `by_user`; the same contract as `train::fit`.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    by_user: &Csr,
    uf: Option<&Encoded>,
    itf: Option<&Encoded>,
    p: &NeuralParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<NeuMf> {
    let dev = p.device.open()?;
    let (nu, ni) = (by_user.n_rows, by_user.n_cols);
    let carved = for_validation(by_user, p.validation, p.seed);
    let train = &carved.train;
    let mut pairs: Vec<(u32, u32)> = (0..nu)
        .flat_map(|u| train.row(u).0.iter().map(move |&i| (u as u32, i)))
        .collect();
    if pairs.is_empty() {
        return Err(Error::EmptyData("no user has an interaction to train on".into()));
    }
    let mut rng = Rng::stream(p.seed, 2);
    let (d, h) = (p.dim, p.hidden);
    let h2 = (h / 2).max(1);
    let w = pool
        .install(|| -> R<Weights> {
            let user_width = d + side_width(uf, d);
            let item_width = d + side_width(itf, d);
            Ok(Weights {
                p: normal(nu, d, 0.01, &mut rng, &dev)?,
                q: normal(ni, d, 0.01, &mut rng, &dev)?,
                p2: normal(nu, d, 0.01, &mut rng, &dev)?,
                q2: normal(ni, d, 0.01, &mut rng, &dev)?,
                user_cat: cat_tables(uf, d, &mut rng, &dev)?,
                item_cat: cat_tables(itf, d, &mut rng, &dev)?,
                w1: xavier(user_width + item_width, h, &mut rng, &dev)?,
                b1: Var::zeros(h, DType::F32, &dev)?,
                w2: xavier(h, h2, &mut rng, &dev)?,
                b2: Var::zeros(h2, DType::F32, &dev)?,
                out_g: xavier(d, 1, &mut rng, &dev)?,
                out_h: xavier(h2, 1, &mut rng, &dev)?,
                out_b: Var::zeros(1, DType::F32, &dev)?,
                user_width,
                dim: d,
                dev: dev.clone(),
            })
        })
        .map_err(compute)?;
    let mut opt = AdamW::new(
        w.vars(),
        ParamsAdamW {
            lr: p.learning_rate,
            weight_decay: p.weight_decay,
            ..ParamsAdamW::default()
        },
    )
    .map_err(compute)?;
    let negatives = p.negatives.unwrap_or(4);
    let batch = p.batch_size * PAIRS_PER_USER_BATCH;
    let steps = pairs.len().div_ceil(batch);
    let known = |m: &Csr, n: usize, rows: bool| -> Vec<bool> {
        let mut k = vec![false; n];
        if rows {
            for (u, kk) in k.iter_mut().enumerate() {
                *kk = !m.row(u).0.is_empty();
            }
        } else {
            for &i in &m.indices {
                k[i as usize] = true;
            }
        }
        k
    };
    let (ut, it) = (known(train, nu, true), known(train, ni, false));
    let (mut best, mut best_epoch, mut best_metric) = (None, 0, f64::NEG_INFINITY);
    let mut epochs_run = 0;
    for epoch in 1..=p.epochs {
        let started = Instant::now();
        shuffle(&mut pairs, &mut rng);
        let mut loss_sum = 0.0;
        for (s, chunk) in pairs.chunks(batch).enumerate() {
            let m = chunk.len() * (1 + negatives);
            let (mut us, mut is, mut labels) = (Vec::with_capacity(m), Vec::with_capacity(m), Vec::with_capacity(m));
            for &(u, i) in chunk {
                us.push(u);
                is.push(i);
                labels.push(1f32);
                for _ in 0..negatives {
                    us.push(u);
                    is.push(rng.below(ni as u64) as u32);
                    labels.push(0.0);
                }
            }
            let cold = |rng: &mut Rng, has: bool| -> f32 {
                (!(has && rng.uniform() < p.cold_dropout)) as u8 as f32
            };
            let uk: Vec<f32> = us.iter().map(|_| cold(&mut rng, uf.is_some())).collect();
            let ik: Vec<f32> = is.iter().map(|_| cold(&mut rng, itf.is_some())).collect();
            let l = pool
                .install(|| -> R<f64> {
                    let z = w.logits(&us, &is, &uk, &ik, uf, itf)?;
                    let y = Tensor::from_vec(labels, m, &dev)?;
                    // BCE with logits: softplus(z) - y z
                    let sp = (z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
                    let loss = (sp - (y * &z)?)?.mean_all()?;
                    opt.backward_step(&loss)?;
                    Ok(loss.to_scalar::<f32>()? as f64)
                })
                .map_err(compute)?;
            loss_sum += l;
            tick.tick(&Progress {
                phase: "training",
                done: (epoch - 1) * steps + s + 1,
                total: p.epochs * steps,
            });
        }
        epochs_run = epoch;
        let metric = if carved.held_out.is_empty() {
            None
        } else {
            let m = pool.install(|| w.export(&ut, &it, uf, itf)).map_err(compute)?;
            let v = pool.install(|| validate(&m, &carved));
            if v > best_metric {
                best_metric = v;
                best_epoch = epoch;
                best = Some(w.vars().iter().map(|v| v.as_tensor().copy()).collect::<R<Vec<_>>>().map_err(compute)?);
            }
            Some(v)
        };
        on_epoch(&EpochReport {
            epoch,
            epochs: p.epochs,
            loss: loss_sum / steps as f64,
            metric,
            seconds: started.elapsed().as_secs_f64(),
        });
        if metric.is_some() && epoch - best_epoch >= p.patience {
            break;
        }
    }
    let _ = epochs_run;
    if let Some(saved) = best {
        for (v, t) in w.vars().iter().zip(&saved) {
            v.set(t).map_err(compute)?;
        }
    }
    let (uk, ik) = (known(by_user, nu, true), known(by_user, ni, false));
    pool.install(|| w.export(&uk, &ik, uf, itf)).map_err(compute)
}
