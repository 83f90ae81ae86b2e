//! A feed-forward network on the scaled design matrix: ReLU hidden layers (128 and 64 units by
//! default), one output (log-odds with binary cross-entropy, or the value with squared error) or
//! one per class (logits with softmax cross-entropy),
//! Adam on mini-batches, early stopping on the held-out rows' loss. Trained with candle (on a CUDA
//! GPU when asked and built for it); served by a plain forward pass over the stored weights, so a
//! call does not set up tensors for one row.

use crate::design::Design;
use crate::features::{Features, Value, MISSING};
use crate::gbdt::{Rows, TrainLog};
use crate::loss::Loss;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use mkt_core::progress::{Progress, Tick};
use mkt_core::rng::Rng;
use mkt_core::{Error, Result};
use mkt_neural::device::DeviceChoice;
use rayon::prelude::*;
use rayon::ThreadPool;

#[derive(Debug, Clone, PartialEq)]
pub struct MlpParams {
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a better held-out loss before training stops.
    pub patience: usize,
    /// None: the caller's default (the `mkt.device` setting in SQL; the CPU here).
    pub device: Option<DeviceChoice>,
    pub seed: u64,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams {
            hidden: vec![128, 64],
            epochs: 200,
            batch_size: 256,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            patience: 10,
            device: None,
            seed: 42,
        }
    }
}

/// One dense layer: `out = b + x W`, W stored row-major as `inp` rows of `out`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub inp: usize,
    pub out: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub loss: Loss,
    pub design: Design,
    /// Each design column is scaled to `(v - shift) / scale` (training mean and deviation).
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
    /// Regression predicts the target scaled the same way: raw = y_shift + y_scale * output.
    pub y_shift: f64,
    pub y_scale: f64,
    pub layers: Vec<Dense>,
    /// Permutation importance of each feature: how much the held-out loss grows when its values
    /// are shuffled among the rows.
    pub importance: Vec<f64>,
}

/// Orderings averaged by the sampled Shapley values of `Mlp::contributions`.
const SHAPLEY_ORDERINGS: usize = 64;
/// Rows the permutation importance reads at most.
const IMPORTANCE_ROWS: usize = 5000;

impl Mlp {
    fn scaled(&self, x: &[Value]) -> Vec<f32> {
        self.design
            .row(x)
            .iter()
            .zip(self.shift.iter().zip(&self.scale))
            .map(|(v, (s, k))| ((v - s) / k) as f32)
            .collect()
    }

    /// The last layer's values.
    fn outputs(&self, input: Vec<f32>) -> Vec<f32> {
        let mut h = input;
        let last = self.layers.len() - 1;
        for (l, d) in self.layers.iter().enumerate() {
            let mut o = d.b.clone();
            for (i, &x) in h.iter().enumerate() {
                if x != 0.0 {
                    let row = &d.w[i * d.out..(i + 1) * d.out];
                    for (oj, wj) in o.iter_mut().zip(row) {
                        *oj += x * wj;
                    }
                }
            }
            if l != last {
                for v in &mut o {
                    *v = v.max(0.0);
                }
            }
            h = o;
        }
        h
    }

    /// The raw score: log-odds for classification, the value for regression.
    pub fn raw(&self, x: &[Value]) -> f64 {
        self.y_shift + self.y_scale * self.outputs(self.scaled(x))[0] as f64
    }

    /// Every output's raw score: the classes' logits of a network trained on classes (the one
    /// output of another network is `raw`).
    pub fn raw_all(&self, x: &[Value]) -> Vec<f64> {
        self.outputs(self.scaled(x))
            .into_iter()
            .map(|v| self.y_shift + self.y_scale * v as f64)
            .collect()
    }

    /// How many outputs the last layer has: 1, or the number of classes.
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, |d| d.out)
    }

    /// A row's loss: the loss of the raw score, or for classes the softmax cross-entropy of the
    /// row's class position `y`.
    fn row_loss(&self, x: &[Value], y: f64) -> f64 {
        if self.n_outputs() > 1 {
            crate::loss::cross_entropy(&mut self.raw_all(x), y as usize)
        } else {
            self.loss.value(self.raw(x), y)
        }
    }

    /// Sampled Shapley values against the row with every feature missing (numbers at their
    /// training mean, categories at no level): each ordering's marginal contributions add up to
    /// raw(x) - raw(baseline) exactly, so their average does too. Orderings come in reversed
    /// pairs from a fixed seed, so an explanation is the same on every call. `output` picks the
    /// raw score explained (of `raw_all`: 0 for a one-output network, a class's logit otherwise).
    pub fn contributions(&self, x: &[Value], output: usize) -> (f64, Vec<f64>) {
        let score = |r: &[Value]| self.raw_all(r).get(output).copied().unwrap_or(0.0);
        let p = x.len();
        let missing: Vec<Value> = x
            .iter()
            .map(|v| match v {
                Value::Number(_) => Value::Number(f64::NAN),
                Value::Code(_) => Value::Code(MISSING),
            })
            .collect();
        let start = score(&missing);
        let mut phi = vec![0.0; p];
        if p == 0 {
            return (start, phi);
        }
        let mut rng = Rng::new(0x5EED);
        let mut order: Vec<usize> = (0..p).collect();
        for k in 0..SHAPLEY_ORDERINGS {
            if k % 2 == 0 {
                for i in (1..p).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
            } else {
                order.reverse();
            }
            let mut row = missing.clone();
            let mut prev = start;
            for &f in &order {
                row[f] = x[f];
                let now = score(&row);
                phi[f] += now - prev;
                prev = now;
            }
        }
        for v in &mut phi {
            *v /= SHAPLEY_ORDERINGS as f64;
        }
        (start, phi)
    }

    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|d| d.w.len() + d.b.len()).sum()
    }
}

fn compute(e: candle_core::Error) -> Error {
    Error::Compute(e.to_string())
}

type R<T> = candle_core::Result<T>;

/// Scaled design rows, row-major, as f32.
fn matrix(design: &Design, shift: &[f64], scale: &[f64], x: &Features) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.rows() * design.width());
    for i in 0..x.rows() {
        for (v, (s, k)) in design.row(&x.row(i)).iter().zip(shift.iter().zip(scale)) {
            out.push(((v - s) / k) as f32);
        }
    }
    out
}

struct Net {
    vars: Vec<(Var, Var)>,
}

impl Net {
    /// The outputs of a batch: rows by outputs.
    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let mut h = x.clone();
        let last = self.vars.len() - 1;
        for (l, (w, b)) in self.vars.iter().enumerate() {
            h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if l != last {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    fn all(&self) -> Vec<Var> {
        self.vars
            .iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect()
    }

    fn export(&self) -> R<Vec<Dense>> {
        self.vars
            .iter()
            .map(|(w, b)| {
                let (inp, out) = w.as_tensor().dims2()?;
                Ok(Dense {
                    inp,
                    out,
                    w: w.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                    b: b.as_tensor().to_vec1::<f32>()?,
                })
            })
            .collect()
    }
}

/// He-uniform weights (for ReLU layers) from the model's own seed, zero biases.
fn init(sizes: &[usize], rng: &mut Rng, dev: &Device) -> R<Net> {
    let mut vars = Vec::new();
    for pair in sizes.windows(2) {
        let (inp, out) = (pair[0], pair[1]);
        let a = (6.0 / inp.max(1) as f64).sqrt();
        let w: Vec<f32> = (0..inp * out)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * a) as f32)
            .collect();
        vars.push((
            Var::from_vec(w, (inp, out), dev)?,
            Var::zeros(out, DType::F32, dev)?,
        ));
    }
    Ok(Net { vars })
}

/// What the network's outputs are trained for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// One output under a loss.
    One(Loss),
    /// One logit per class, under the softmax cross-entropy.
    Classes(usize),
}

impl Target {
    fn outputs(self) -> usize {
        match self {
            Target::One(_) => 1,
            Target::Classes(k) => k,
        }
    }
}

/// The weighted mean loss of a batch, on the scaled target for regression. `z` is rows by
/// outputs; `y` the targets, or for classes each row's one-hot class (rows by classes).
fn batch_loss(t: Target, z: &Tensor, y: &Tensor, w: &Tensor, w_sum: f64) -> R<Tensor> {
    let per_row = match t {
        // log(1 + e^z) - y z, written so that it does not overflow
        Target::One(Loss::Logistic) => {
            let z = z.squeeze(1)?;
            ((z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)? - (y * &z)?)?
        }
        Target::One(Loss::Squared) => ((z.squeeze(1)? - y)?.sqr()? * 0.5)?,
        // candle_nn's log_softmax is made of differentiable tensor ops (not the fused softmax).
        Target::Classes(_) => (y * candle_nn::ops::log_softmax(z, 1)?)?.sum(1)?.neg()?,
    };
    (per_row * w)?.sum_all()? / w_sum
}

fn mean_loss(m: &Mlp, rows: &Rows<'_>, pool: &ThreadPool) -> f64 {
    let n = rows.x.rows();
    let (l, w) = pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| (rows.w[i] * m.row_loss(&rows.x.row(i), rows.y[i]), rows.w[i]))
            .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    if w > 0.0 {
        l / w
    } else {
        0.0
    }
}

/// Each feature's permutation importance on (at most `IMPORTANCE_ROWS` of) the rows.
fn permutation_importance(m: &Mlp, rows: &Rows<'_>, seed: u64, pool: &ThreadPool) -> Vec<f64> {
    let idx: Vec<usize> = (0..rows.x.rows().min(IMPORTANCE_ROWS)).collect();
    let x = rows.x.take(&idx);
    let (y, w) = (&rows.y[..idx.len()], &rows.w[..idx.len()]);
    let base = mean_loss(m, &Rows { x: &x, y, w }, pool);
    (0..x.columns.len())
        .map(|f| {
            let mut perm = idx.clone();
            let mut rng = Rng::stream(seed, 1000 + f as u64);
            for i in (1..perm.len()).rev() {
                perm.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut shuffled = x.clone();
            shuffled.columns[f] = x.columns[f].take(&perm);
            let l = mean_loss(m, &Rows { x: &shuffled, y, w }, pool);
            (l - base).max(0.0)
        })
        .collect()
}

/// Rows from which the network holds out its own validation rows.
const CARVE_MIN_ROWS: usize = 200;

struct Owned {
    x: Features,
    y: Vec<f64>,
    w: Vec<f64>,
}

impl Owned {
    fn rows(&self) -> Rows<'_> {
        Rows {
            x: &self.x,
            y: &self.y,
            w: &self.w,
        }
    }
}

fn carve(data: &Rows<'_>, seed: u64) -> (Owned, Owned) {
    let (t, v) = crate::holdout::split(data.x.rows(), 0.1, seed ^ 0x00C0_FFEE);
    let own = |idx: &[usize]| Owned {
        x: data.x.take(idx),
        y: idx.iter().map(|&i| data.y[i]).collect(),
        w: idx.iter().map(|&i| data.w[i]).collect(),
    };
    (own(&t), own(&v))
}

/// Trains the network on `data`, stopping early on `valid`'s loss when given.
pub fn train(
    loss: Loss,
    p: &MlpParams,
    data: Rows<'_>,
    valid: Option<Rows<'_>>,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Mlp, TrainLog)> {
    train_for(Target::One(loss), p, data, valid, pool, tick)
}

/// Trains one network whose `k` outputs are the classes' logits (`y` holds class positions),
/// on the softmax cross-entropy, stopping early as `train` does.
pub fn train_classes(
    k: usize,
    p: &MlpParams,
    data: Rows<'_>,
    valid: Option<Rows<'_>>,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Mlp, TrainLog)> {
    train_for(Target::Classes(k), p, data, valid, pool, tick)
}

fn train_for(
    target: Target,
    p: &MlpParams,
    data: Rows<'_>,
    valid: Option<Rows<'_>>,
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Mlp, TrainLog)> {
    let loss = match target {
        Target::One(l) => l,
        Target::Classes(_) => Loss::Logistic,
    };
    if data.x.rows() == 0 {
        return Err(Error::EmptyData("no rows to train the network on".into()));
    }
    // Without held-out rows from the caller (an uplift model's base learners), a tenth of the
    // rows is held out here so that the network still stops early.
    let carved = (valid.is_none() && data.x.rows() >= CARVE_MIN_ROWS).then(|| carve(&data, p.seed));
    let (data, valid) = match &carved {
        Some((t, v)) => (t.rows(), Some(v.rows())),
        None => (data, valid),
    };
    let n = data.x.rows();
    let dev = p.device.unwrap_or(DeviceChoice::Cpu).open()?;
    let design = Design::fit(data.x);
    let cols = design.columns(data.x);
    let (mut shift, mut scale) = (Vec::new(), Vec::new());
    for c in &cols {
        let mean = c.iter().sum::<f64>() / n as f64;
        let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        shift.push(mean);
        scale.push(if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 });
    }
    let (y_shift, y_scale) = match target {
        Target::One(Loss::Logistic) | Target::Classes(_) => (0.0, 1.0),
        Target::One(Loss::Squared) => {
            let mean = data.y.iter().sum::<f64>() / n as f64;
            let sd =
                (data.y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64).sqrt();
            (mean, if sd > 1e-12 { sd } else { 1.0 })
        }
    };
    let width = design.width();
    let xs: Vec<f32> = {
        let mut out = Vec::with_capacity(n * width);
        for i in 0..n {
            for (c, (s, k)) in cols.iter().zip(shift.iter().zip(&scale)) {
                out.push(((c[i] - s) / k) as f32);
            }
        }
        out
    };
    drop(cols);
    let ys: Vec<f32> = data
        .y
        .iter()
        .map(|v| ((v - y_shift) / y_scale) as f32)
        .collect();
    let ws: Vec<f32> = data.w.iter().map(|&v| v as f32).collect();
    let mut sizes = vec![width];
    sizes.extend(&p.hidden);
    sizes.push(target.outputs());
    let mut rng = Rng::stream(p.seed, 7);
    let net = pool
        .install(|| init(&sizes, &mut rng, &dev))
        .map_err(compute)?;
    let mut opt = AdamW::new(
        net.all(),
        ParamsAdamW {
            lr: p.learning_rate,
            weight_decay: p.weight_decay,
            ..ParamsAdamW::default()
        },
    )
    .map_err(compute)?;
    let make = |layers: Vec<Dense>| Mlp {
        loss,
        design: design.clone(),
        shift: shift.clone(),
        scale: scale.clone(),
        y_shift,
        y_scale,
        layers,
        importance: Vec::new(),
    };
    let batch = p.batch_size.min(n).max(1);
    let steps = n.div_ceil(batch);
    let mut order: Vec<usize> = (0..n).collect();
    let mut log = TrainLog::default();
    let (mut best, mut best_loss, mut best_epoch) = (None, f64::INFINITY, 0);
    for epoch in 1..=p.epochs {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (s, chunk) in order.chunks(batch).enumerate() {
            let m = chunk.len();
            let mut bx = Vec::with_capacity(m * width);
            for &i in chunk {
                bx.extend_from_slice(&xs[i * width..(i + 1) * width]);
            }
            let by: Vec<f32> = match target {
                Target::One(_) => chunk.iter().map(|&i| ys[i]).collect(),
                Target::Classes(k) => {
                    let mut v = vec![0f32; m * k];
                    for (r, &i) in chunk.iter().enumerate() {
                        v[r * k + (ys[i] as usize).min(k - 1)] = 1.0;
                    }
                    v
                }
            };
            let bw: Vec<f32> = chunk.iter().map(|&i| ws[i]).collect();
            let w_sum = bw.iter().map(|&v| v as f64).sum::<f64>().max(1e-12);
            pool.install(|| -> R<()> {
                let x = Tensor::from_vec(bx, (m, width), &dev)?;
                let y = match target {
                    Target::One(_) => Tensor::from_vec(by, m, &dev)?,
                    Target::Classes(k) => Tensor::from_vec(by, (m, k), &dev)?,
                };
                let w = Tensor::from_vec(bw, m, &dev)?;
                let z = net.forward(&x)?;
                opt.backward_step(&batch_loss(target, &z, &y, &w, w_sum)?)
            })
            .map_err(compute)?;
            tick.tick(&Progress {
                phase: "training",
                done: (epoch - 1) * steps + s + 1,
                total: p.epochs * steps,
            });
        }
        let Some(v) = &valid else { continue };
        let layers = net.export().map_err(compute)?;
        let l = mean_loss(&make(layers.clone()), v, pool);
        log.valid_loss.push(l);
        if l < best_loss {
            (best, best_loss, best_epoch) = (Some(layers), l, epoch);
        } else if epoch - best_epoch >= p.patience {
            break;
        }
    }
    let layers = match best {
        Some(b) => b,
        None => net.export().map_err(compute)?,
    };
    let mut model = make(layers);
    model.importance =
        permutation_importance(&model, valid.as_ref().unwrap_or(&data), p.seed, pool);
    Ok((model, log))
}

/// The network's scaled inputs for every row, as training saw them (tests).
pub fn inputs(m: &Mlp, x: &Features) -> Vec<f32> {
    matrix(&m.design, &m.shift, &m.scale, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Column;
    use mkt_core::progress::no_tick;

    fn pool() -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    /// y = 1 when x1 and x2 have the same sign: no linear model does better than chance.
    fn xor(n: usize, seed: u64) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let (mut a, mut b, mut c, mut y) = (vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let (u, v) = (rng.normal(), rng.normal());
            a.push(u);
            b.push(v);
            c.push((i % 3) as u32);
            y.push(if (u > 0.0) == (v > 0.0) { 1.0 } else { 0.0 });
        }
        let levels = ["a", "b", "c"].map(String::from).to_vec();
        (
            Features {
                names: vec!["x1".into(), "x2".into(), "noise".into()],
                columns: vec![
                    Column::Numeric(a),
                    Column::Numeric(b),
                    Column::Categorical { codes: c, levels },
                ],
            },
            y,
        )
    }

    fn values(net: &Net) -> Vec<Vec<f32>> {
        net.all()
            .iter()
            .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    /// Every value of every parameter differs from `before`.
    fn all_moved(net: &Net, before: &[Vec<f32>]) {
        for ((v, now), b) in net.all().iter().zip(values(net)).zip(before) {
            assert!(
                now.iter().zip(b).all(|(x, y)| x != y),
                "a parameter of shape {:?} did not move",
                v.as_tensor().dims()
            );
        }
    }

    #[test]
    fn every_parameter_moves_after_one_step() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(1);
        let net = init(&[4, 8, 3, 1], &mut rng, &dev).unwrap();
        let before = values(&net);
        let mut opt = AdamW::new(net.all(), ParamsAdamW::default()).unwrap();
        let x = Tensor::from_vec(
            (0..32).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(),
            (8, 4),
            &dev,
        )
        .unwrap();
        let y = Tensor::from_vec(vec![1f32, 0., 1., 0., 1., 1., 0., 0.], 8, &dev).unwrap();
        let w = Tensor::ones(8, DType::F32, &dev).unwrap();
        for loss in [Loss::Logistic, Loss::Squared] {
            let z = net.forward(&x).unwrap();
            opt.backward_step(&batch_loss(Target::One(loss), &z, &y, &w, 8.0).unwrap())
                .unwrap();
        }
        all_moved(&net, &before);
    }

    #[test]
    fn every_parameter_moves_after_one_step_under_the_softmax_loss() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(2);
        let net = init(&[4, 8, 3], &mut rng, &dev).unwrap();
        let before = values(&net);
        let mut opt = AdamW::new(net.all(), ParamsAdamW::default()).unwrap();
        let x = Tensor::from_vec(
            (0..32).map(|i| (i as f32 * 0.61).cos()).collect::<Vec<_>>(),
            (8, 4),
            &dev,
        )
        .unwrap();
        let classes = [0usize, 1, 2, 0, 2, 1, 1, 0];
        let mut onehot = vec![0f32; 24];
        for (r, &c) in classes.iter().enumerate() {
            onehot[r * 3 + c] = 1.0;
        }
        let y = Tensor::from_vec(onehot, (8, 3), &dev).unwrap();
        let w = Tensor::ones(8, DType::F32, &dev).unwrap();
        let z = net.forward(&x).unwrap();
        opt.backward_step(&batch_loss(Target::Classes(3), &z, &y, &w, 8.0).unwrap())
            .unwrap();
        all_moved(&net, &before);
    }

    #[test]
    fn the_network_learns_what_a_linear_model_cannot_and_serves_what_candle_computes() {
        let pool = pool();
        let (x, y) = xor(4000, 3);
        let w = vec![1.0; y.len()];
        let (vx, vy) = xor(1000, 4);
        let vw = vec![1.0; vy.len()];
        let p = MlpParams {
            hidden: vec![32, 16],
            epochs: 60,
            ..MlpParams::default()
        };
        let (m, log) = train(
            Loss::Logistic,
            &p,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            Some(Rows {
                x: &vx,
                y: &vy,
                w: &vw,
            }),
            &pool,
            &mut no_tick(),
        )
        .unwrap();
        assert!(!log.valid_loss.is_empty());
        let correct = (0..vx.rows())
            .filter(|&i| (m.raw(&vx.row(i)) > 0.0) == (vy[i] == 1.0))
            .count() as f64
            / vx.rows() as f64;
        assert!(correct > 0.9, "accuracy {correct}");
        // The two informative features matter; the noise category hardly.
        assert!(
            m.importance[0] > 10.0 * m.importance[2].max(1e-4),
            "{:?}",
            m.importance
        );
        assert!(
            m.importance[1] > 10.0 * m.importance[2].max(1e-4),
            "{:?}",
            m.importance
        );
        // The plain forward pass equals candle's.
        let dev = Device::Cpu;
        let net = Net {
            vars: m
                .layers
                .iter()
                .map(|d| {
                    (
                        Var::from_vec(d.w.clone(), (d.inp, d.out), &dev).unwrap(),
                        Var::from_vec(d.b.clone(), d.out, &dev).unwrap(),
                    )
                })
                .collect(),
        };
        let t = Tensor::from_vec(inputs(&m, &vx), (vx.rows(), m.design.width()), &dev).unwrap();
        let z: Vec<f32> = net
            .forward(&t)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        for (i, zc) in z.iter().enumerate().take(200) {
            assert!((m.raw(&vx.row(i)) - *zc as f64).abs() < 1e-4);
        }
        // Explanations add up to the raw score.
        for i in 0..20 {
            let r = vx.row(i);
            let (start, phi) = m.contributions(&r, 0);
            assert!((start + phi.iter().sum::<f64>() - m.raw(&r)).abs() < 1e-9);
        }
    }

    #[test]
    fn regression_learns_a_curve_on_the_original_scale() {
        let pool = pool();
        let mut rng = Rng::new(5);
        let xs: Vec<f64> = (0..3000).map(|_| rng.uniform() * 4.0 - 2.0).collect();
        let y: Vec<f64> = xs.iter().map(|v| 1000.0 + 50.0 * v * v).collect();
        let x = Features {
            names: vec!["x".into()],
            columns: vec![Column::Numeric(xs.clone())],
        };
        let w = vec![1.0; y.len()];
        let p = MlpParams {
            hidden: vec![32],
            epochs: 80,
            learning_rate: 3e-3,
            ..MlpParams::default()
        };
        let (m, _) = train(
            Loss::Squared,
            &p,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            None,
            &pool,
            &mut no_tick(),
        )
        .unwrap();
        let at = |v: f64| m.raw(&[Value::Number(v)]);
        assert!((at(0.0) - 1000.0).abs() < 10.0, "{}", at(0.0));
        assert!((at(1.5) - 1112.5).abs() < 10.0, "{}", at(1.5));
    }
}
