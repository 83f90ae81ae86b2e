//! A predictor as trained, stored and served: the task (a 0/1 outcome's probability, a value, or
//! each of several classes' probability),
//! the feature schema it reads, the learner, the decision threshold chosen on the held-out rows
//! and the metrics measured there.

use crate::base::{Base, BaseParams};
use crate::classification::{
    at_threshold, average_precision, best_f1_threshold, brier, log_loss, regression_errors, roc_auc,
};
use crate::encode;
use crate::features::{Column, Features, Value};
use crate::gbdt::{GbdtParams, Rows, TrainLog};
use crate::grow::GrowParams;
use crate::holdout::sample_indices;
pub use crate::holdout::split;
use crate::input_transform::InputTransform;
use crate::loss::Loss;
use crate::mlp::MlpParams;
use mkt_core::params::Params;
use mkt_core::progress::Tick;
use mkt_core::tensors::{f64s, serialize, text, Buf, Reader};
use mkt_core::{Error, Result};
use mkt_neural::device::DeviceChoice;
use rayon::ThreadPool;
use serde_json::{json, Value as Json};

pub const FORMAT: &str = "pg_marketing.predictor/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Classification,
    Regression,
    Multiclass,
}

impl Task {
    pub const NAMES: [&'static str; 3] = ["classification", "regression", "multiclass"];

    pub fn parse(s: &str) -> Result<Task> {
        match s {
            "classification" => Ok(Task::Classification),
            "regression" => Ok(Task::Regression),
            "multiclass" => Ok(Task::Multiclass),
            _ => Err(Error::UnknownName {
                what: "task",
                given: s.into(),
                valid: Task::NAMES.join(", "),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        Task::NAMES[self as usize]
    }

    pub fn loss(self) -> Loss {
        match self {
            Task::Classification | Task::Multiclass => Loss::Logistic,
            Task::Regression => Loss::Squared,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Gbdt,
    Logistic,
    Mlp,
}

impl Algorithm {
    pub const NAMES: [&'static str; 3] = ["gbdt", "logistic", "mlp"];

    pub fn parse(s: &str) -> Result<Algorithm> {
        match s {
            "gbdt" => Ok(Algorithm::Gbdt),
            "logistic" => Ok(Algorithm::Logistic),
            "mlp" => Ok(Algorithm::Mlp),
            _ => Err(Error::UnknownName {
                what: "predictor algorithm",
                given: s.into(),
                valid: Algorithm::NAMES.join(", "),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        Algorithm::NAMES[self as usize]
    }
}

const COMMON: [&str; 6] = [
    "key",
    "transform",
    "validation_fraction",
    "class_weight",
    "seed",
    "deploy",
];
const GBDT: [&str; 10] = [
    "trees",
    "learning_rate",
    "max_leaves",
    "max_depth",
    "min_data_in_leaf",
    "l2",
    "max_bins",
    "early_stopping_rounds",
    "min_gain",
    "cat_smooth",
];

const MLP: [&str; 7] = [
    "hidden",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "early_stopping_rounds",
    "device",
];

fn hidden_layers(p: &Params) -> Result<Vec<usize>> {
    let bad = |v: &Json| {
        Error::InvalidParameter(format!(
            "parameter \"hidden\" of {} must be an array of 1 to 8 layer widths between 1 and 65536, got {v}",
            p.owner()
        ))
    };
    match p.value("hidden") {
        None => Ok(MlpParams::default().hidden),
        Some(v @ Json::Array(a)) if !a.is_empty() && a.len() <= 8 => a
            .iter()
            .map(|w| match w.as_u64() {
                Some(n) if (1..=65_536).contains(&n) => Ok(n as usize),
                _ => Err(bad(v)),
            })
            .collect(),
        Some(v) => Err(bad(v)),
    }
}

/// The `params` of mkt.train_predictor (and the base learner of mkt.train_uplift).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub base: BaseParams,
    pub validation_fraction: f64,
    pub balanced: bool,
    pub seed: u64,
    pub deploy: bool,
    pub key: Option<String>,
    /// A stored mkt.fit_transform applied to the source (and to every row scored) first.
    pub transform: Option<String>,
}

impl Options {
    /// The device the network trains on when params do not name one.
    pub fn default_device(&mut self, d: DeviceChoice) {
        if let BaseParams::Mlp(m) = &mut self.base {
            m.device.get_or_insert(d);
        }
    }

    pub fn parse(owner: &str, task: Task, algorithm: Algorithm, params: &Json) -> Result<Options> {
        Options::parse_with(owner, task, algorithm, params, &[], |_| Ok(())).map(|(o, _)| o)
    }

    /// `parse` that also accepts the keys `extra`, which `read_extra` reads (mkt.train_uplift's).
    pub fn parse_with<T>(
        owner: &str,
        task: Task,
        algorithm: Algorithm,
        params: &Json,
        extra: &[&str],
        read_extra: impl FnOnce(&Params) -> Result<T>,
    ) -> Result<(Options, T)> {
        let mut keys: Vec<&str> = COMMON.to_vec();
        keys.extend(extra);
        match algorithm {
            Algorithm::Gbdt => keys.extend(GBDT),
            Algorithm::Logistic => keys.push("l2"),
            Algorithm::Mlp => keys.extend(MLP),
        }
        let p = Params::new(owner, params, &keys)?;
        let base = match algorithm {
            Algorithm::Gbdt => BaseParams::Gbdt(GbdtParams {
                trees: p.int("trees", 100, 1, 100_000)? as usize,
                max_bins: p.int("max_bins", 255, 2, 255)? as usize,
                early_stopping_rounds: p.int("early_stopping_rounds", 10, 0, 100_000)? as usize,
                grow: GrowParams {
                    max_leaves: p.int("max_leaves", 31, 2, 65_536)? as usize,
                    max_depth: p.int("max_depth", 0, 0, 64)? as usize,
                    min_data_in_leaf: p.int("min_data_in_leaf", 20, 1, 1 << 40)? as usize,
                    min_sum_hessian: 1e-3,
                    l2: p.float("l2", 0.0, 0.0, 1e12)?,
                    min_gain: p.float("min_gain", 0.0, 0.0, 1e300)?,
                    cat_smooth: p.float("cat_smooth", 10.0, 0.0, 1e12)?,
                    learning_rate: p.float("learning_rate", 0.1, 1e-6, 1.0)?,
                },
            }),
            Algorithm::Logistic => BaseParams::Linear {
                l2: p.float("l2", 1.0, 0.0, 1e12)?,
            },
            Algorithm::Mlp => {
                let d = MlpParams::default();
                BaseParams::Mlp(MlpParams {
                    hidden: hidden_layers(&p)?,
                    epochs: p.int("epochs", d.epochs as i64, 1, 100_000)? as usize,
                    batch_size: p.int("batch_size", d.batch_size as i64, 1, 1 << 20)? as usize,
                    learning_rate: p.float("learning_rate", d.learning_rate, 1e-7, 10.0)?,
                    weight_decay: p.float("weight_decay", 0.0, 0.0, 10.0)?,
                    patience: p.int("early_stopping_rounds", d.patience as i64, 1, 100_000)?
                        as usize,
                    device: DeviceChoice::given(&p)?,
                    seed: p.int("seed", 42, 0, i64::MAX)? as u64,
                })
            }
        };
        let balanced = match p.choice("class_weight", "none", &["none", "balanced"])? {
            "balanced" if task == Task::Regression => {
                return Err(Error::invalid(
                    "class_weight \"balanced\" is for classification",
                ));
            }
            c => c == "balanced",
        };
        let options = Options {
            base,
            validation_fraction: p.float("validation_fraction", 0.1, 0.0, 0.9)?,
            balanced,
            seed: p.int("seed", 42, 0, i64::MAX)? as u64,
            deploy: p.boolean("deploy", true)?,
            key: p.text("key")?,
            transform: p.text("transform")?,
        };
        Ok((options, read_extra(&p)?))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    pub task: Task,
    pub algorithm: Algorithm,
    pub label: String,
    pub key: Option<String>,
    pub features: Features,
    /// The learner; for multiclass one per class in class order, or one network with an output
    /// per class (see `combine`).
    pub models: Vec<Base>,
    /// The classes of a multiclass predictor, as text, in their order; empty otherwise.
    pub classes: Vec<String>,
    /// How a multiclass predictor's learners make probabilities.
    pub combine: crate::classes::Combine,
    /// Scores at or above it are called positive (the best F1 on the held-out rows; 0.5 without).
    pub threshold: f64,
    /// Metrics on the held-out rows.
    pub validation: Vec<(String, f64)>,
    /// The held-out rows' scores at each percentile (0..=100): what share of customers a score
    /// threshold selects. Empty without held-out rows.
    pub score_quantiles: Vec<f64>,
    pub rows: u64,
    pub transform: Option<InputTransform>,
    /// A sample of the held-out rows (scores, labels) for the report's curves; for multiclass
    /// (predicted class, true class) as class positions.
    pub holdout: (Vec<f64>, Vec<f64>),
    /// The held-out loss after each tree or epoch.
    pub valid_loss: Vec<f64>,
}

/// Scores at each percentile 0..=100 (nearest rank); empty for no scores.
pub fn percentiles(scores: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    (0..=100)
        .map(|p| v[((p as f64 / 100.0) * (v.len() - 1) as f64).round() as usize])
        .collect()
}

/// The score threshold that selects about the top `fraction` of customers, from percentiles.
pub fn top_threshold(percentiles: &[f64], fraction: f64) -> Option<f64> {
    if percentiles.len() != 101 || !(fraction > 0.0 && fraction <= 1.0) {
        return None;
    }
    Some(percentiles[((1.0 - fraction) * 100.0).round() as usize])
}

/// Classification labels must be 0 or 1, and both must occur.
pub fn check_labels(task: Task, label: &str, y: &[f64]) -> Result<()> {
    if y.is_empty() {
        return Err(Error::EmptyData(format!("no row has a label in {label}")));
    }
    if task == Task::Classification {
        if let Some(v) = y.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(Error::InvalidParameter(format!(
                "classification needs a 0/1 or boolean label; {label} has the value {v} (use task 'multiclass' for classes, 'regression' for a number)"
            )));
        }
        let positives = y.iter().filter(|&&v| v == 1.0).count();
        if positives == 0 || positives == y.len() {
            return Err(Error::EmptyData(format!(
                "the label {label} has a single class ({} rows, all {})",
                y.len(),
                if positives == 0 { 0 } else { 1 }
            )));
        }
    }
    Ok(())
}

/// The task's metrics of scores against labels: for multiclass `scores` holds each row's class
/// probabilities, row after row, and `y` class positions.
pub fn metrics(task: Task, scores: &[f64], y: &[f64], threshold: f64) -> Vec<(String, f64)> {
    match task {
        Task::Classification => {
            let labels: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
            let mut out = Vec::new();
            if let Some(a) = roc_auc(scores, &labels) {
                out.push(("roc_auc".into(), a));
            }
            if let Some(a) = average_precision(scores, &labels) {
                out.push(("pr_auc".into(), a));
            }
            out.push(("log_loss".into(), log_loss(scores, &labels)));
            out.push(("brier".into(), brier(scores, &labels)));
            for (suffix, t) in [("", 0.5), ("_at_threshold", threshold)] {
                let m = at_threshold(scores, &labels, t);
                out.push((format!("accuracy{suffix}"), m.accuracy));
                out.push((format!("precision{suffix}"), m.precision));
                out.push((format!("recall{suffix}"), m.recall));
                out.push((format!("f1{suffix}"), m.f1));
            }
            out.push(("threshold".into(), threshold));
            out.push(("rows".into(), y.len() as f64));
            out
        }
        Task::Multiclass => crate::classes::metrics(
            scores,
            scores.len() / y.len().max(1),
            &crate::classes::codes(y),
        ),
        Task::Regression => {
            let e = regression_errors(scores, y);
            vec![
                ("rmse".into(), e.rmse),
                ("mae".into(), e.mae),
                ("r2".into(), e.r2),
                ("rows".into(), y.len() as f64),
            ]
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn train(
    task: Task,
    algorithm: Algorithm,
    o: &Options,
    label: &str,
    x: &Features,
    y: &[f64],
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<(Predictor, TrainLog)> {
    if task == Task::Multiclass {
        return Err(Error::Internal(
            "a multiclass predictor trains through multiclass::train".into(),
        ));
    }
    check_labels(task, label, y)?;
    if x.columns.is_empty() {
        return Err(Error::invalid(
            "a predictor needs at least one feature column",
        ));
    }
    let (train_idx, valid_idx) = split(y.len(), o.validation_fraction, o.seed);
    // Without validation rows the training rows are all of them, in order: no copy.
    let taken;
    let (tx, ty): (&Features, std::borrow::Cow<[f64]>) = if valid_idx.is_empty() {
        (x, y.into())
    } else {
        taken = x.take(&train_idx);
        (&taken, train_idx.iter().map(|&i| y[i]).collect())
    };
    let (vx, vy) = (
        x.take(&valid_idx),
        valid_idx.iter().map(|&i| y[i]).collect::<Vec<_>>(),
    );
    if task == Task::Classification && ty.iter().all(|&v| v == ty[0]) {
        return Err(Error::EmptyData(format!(
            "the training rows of {label} have a single class; lower validation_fraction"
        )));
    }
    let weights = |ys: &[f64]| -> Vec<f64> {
        if !o.balanced {
            return vec![1.0; ys.len()];
        }
        let pos = ty.iter().filter(|&&v| v == 1.0).count() as f64;
        let n = ty.len() as f64;
        let (wp, wn) = (n / (2.0 * pos), n / (2.0 * (n - pos)));
        ys.iter().map(|&v| if v == 1.0 { wp } else { wn }).collect()
    };
    let (tw, vw) = (weights(&ty), weights(&vy));
    let valid = (!vy.is_empty()).then_some(Rows {
        x: &vx,
        y: &vy,
        w: &vw,
    });
    let (model, log) = Base::fit(
        task.loss(),
        &o.base,
        Rows {
            x: tx,
            y: &ty,
            w: &tw,
        },
        valid,
        pool,
        tick,
    )?;
    let scores = model.predict_all(&vx);
    let threshold = match task {
        Task::Classification => {
            let labels: Vec<bool> = vy.iter().map(|&v| v == 1.0).collect();
            best_f1_threshold(&scores, &labels).unwrap_or(0.5)
        }
        Task::Regression | Task::Multiclass => 0.5,
    };
    let validation = if vy.is_empty() {
        Vec::new()
    } else {
        metrics(task, &scores, &vy, threshold)
    };
    let schema = schema_of(x);
    let kept = sample_indices(scores.len());
    let holdout = (
        kept.iter().map(|&i| scores[i]).collect(),
        kept.iter().map(|&i| vy[i]).collect(),
    );
    let valid_loss = log.valid_loss.clone();
    Ok((
        Predictor {
            task,
            algorithm,
            label: label.into(),
            key: o.key.clone(),
            features: schema,
            models: vec![model],
            classes: Vec::new(),
            combine: crate::classes::Combine::OneVsRest,
            threshold,
            validation,
            score_quantiles: percentiles(&scores),
            rows: y.len() as u64,
            transform: None,
            holdout,
            valid_loss,
        },
        log,
    ))
}

/// An array a version may lack (written by later releases): empty when absent.
pub fn optional(r: &Reader<'_>, name: &str) -> Result<Vec<f64>> {
    if r.has(name) {
        Ok(r.f64s(name)?.to_vec())
    } else {
        Ok(Vec::new())
    }
}

/// Named metrics as stored: a list of [name, value] pairs (keeping their order).
pub fn metrics_to_json(m: &[(String, f64)]) -> Json {
    Json::Array(m.iter().map(|(k, v)| json!([k, v])).collect())
}

pub fn metrics_from_json(v: &Json) -> Result<Vec<(String, f64)>> {
    let bad = || Error::Corrupted("stored metrics".into());
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| {
            Ok((
                p[0].as_str().ok_or_else(bad)?.to_string(),
                p[1].as_f64().unwrap_or(f64::NAN),
            ))
        })
        .collect()
}

/// The stored percentiles (absent or malformed: none, so no top-share targeting).
pub fn quantiles_of(info: &Json) -> Vec<f64> {
    let q: Vec<f64> = info["score_quantiles"]
        .as_array()
        .map_or(Vec::new(), |a| a.iter().filter_map(Json::as_f64).collect());
    if q.len() == 101 {
        q
    } else {
        Vec::new()
    }
}

/// The feature columns' names and kinds (with their levels), without the rows.
pub fn schema_of(x: &Features) -> Features {
    Features {
        names: x.names.clone(),
        columns: x
            .columns
            .iter()
            .map(|c| match c {
                Column::Numeric(_) => Column::Numeric(Vec::new()),
                Column::Categorical { levels, .. } => Column::Categorical {
                    codes: Vec::new(),
                    levels: levels.clone(),
                },
            })
            .collect(),
    }
}

/// The schema of feature columns as JSON: names with their levels (null for numeric ones).
pub fn schema_json(f: &Features) -> Json {
    Json::Array(
        f.names
            .iter()
            .zip(&f.columns)
            .map(|(n, c)| match c {
                Column::Numeric(_) => json!({"name": n}),
                Column::Categorical { levels, .. } => json!({"name": n, "levels": levels}),
            })
            .collect(),
    )
}

pub fn schema_from_json(v: &Json) -> Result<Features> {
    let bad = || Error::Corrupted("feature schema".into());
    let mut f = Features {
        names: Vec::new(),
        columns: Vec::new(),
    };
    for c in v.as_array().ok_or_else(bad)? {
        f.names.push(
            c.get("name")
                .and_then(Json::as_str)
                .ok_or_else(bad)?
                .to_string(),
        );
        f.columns.push(match c.get("levels") {
            Some(Json::Array(l)) => Column::Categorical {
                codes: Vec::new(),
                levels: l
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
                    .collect::<Result<_>>()?,
            },
            _ => Column::Numeric(Vec::new()),
        });
    }
    Ok(f)
}

impl Predictor {
    /// The one learner of a binary or regression predictor (a multiclass one's first class).
    pub fn model(&self) -> &Base {
        &self.models[0]
    }

    /// The probability (classification), the value (regression), or the most likely class's
    /// probability (multiclass).
    pub fn predict(&self, x: &[Value]) -> f64 {
        match self.task {
            Task::Multiclass => self.probabilities(x).into_iter().fold(0.0, f64::max),
            _ => self.model().predict(x),
        }
    }

    /// The names of the classes mkt.predict_class answers with: a binary predictor's are 0 and 1.
    pub fn class_names(&self) -> Vec<String> {
        match self.task {
            Task::Multiclass => self.classes.clone(),
            Task::Classification => vec!["0".into(), "1".into()],
            Task::Regression => Vec::new(),
        }
    }

    /// Each class's probability, in the order of `class_names` (none for regression).
    pub fn probabilities(&self, x: &[Value]) -> Vec<f64> {
        match self.task {
            Task::Multiclass => self.combine.probabilities(&self.models, x),
            Task::Classification => {
                let p = self.model().predict(x);
                vec![1.0 - p, p]
            }
            Task::Regression => Vec::new(),
        }
    }

    /// The class called (a binary predictor's by its threshold) and its probability.
    pub fn predict_class(&self, x: &[Value]) -> Option<(usize, f64)> {
        let p = self.probabilities(x);
        match self.task {
            Task::Multiclass => {
                let c = crate::classes::argmax(&p);
                Some((c, p[c]))
            }
            Task::Classification => {
                let c = usize::from(p[1] >= self.threshold);
                Some((c, p[c]))
            }
            Task::Regression => None,
        }
    }

    /// Per-feature contributions to the raw score (log-odds for classification) and the score
    /// they start from: TreeSHAP for trees, coefficient times value for the linear model. A
    /// multiclass predictor explains the called class's raw score: its softmax logit, or its
    /// log-odds against the rest (`Combine::OneVsRest`).
    pub fn explain(&self, x: &[Value]) -> (f64, Vec<f64>) {
        // The learner, and which of its outputs, that scores the class explained.
        let (model, output) = match self.task {
            Task::Multiclass => {
                let c = crate::classes::argmax(&self.probabilities(x));
                match self.combine {
                    crate::classes::Combine::Network => (self.model(), c),
                    _ => (&self.models[c], 0),
                }
            }
            _ => (self.model(), 0),
        };
        explain_base(model, self.features.columns.len(), x, output)
    }

    /// Each feature's share of split gain (trees), its absolute coefficients' sum per unit of
    /// the feature (linear), or its permutation importance on the held-out rows (network).
    /// A multiclass predictor's is the mean over its classes' learners.
    pub fn importance(&self) -> Vec<f64> {
        let n = self.features.columns.len();
        let mut imp = vec![0.0; n];
        for m in &self.models {
            for (a, b) in imp.iter_mut().zip(importance_base(m, n)) {
                *a += b / self.models.len() as f64;
            }
        }
        imp
    }

    /// (feature, importance), most important first (ties by name).
    pub fn ranked_importance(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .features
            .names
            .iter()
            .cloned()
            .zip(self.importance())
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let info = json!({
            "task": self.task.name(),
            "algorithm": self.algorithm.name(),
            "label": self.label,
            "key": self.key,
            "features": schema_json(&self.features),
            "threshold": self.threshold,
            "validation": metrics_to_json(&self.validation),
            "score_quantiles": self.score_quantiles,
            "rows": self.rows,
            "transform": self.transform.as_ref().map(InputTransform::to_json),
            "classes": self.classes,
            "combine": self.combine.name(),
        });
        let mut t: Vec<(String, Buf)> = vec![("info".into(), text(&info.to_string()))];
        for (k, m) in self.models.iter().enumerate() {
            encode::push(&mut t, &model_prefix(k), m);
        }
        t.push(("holdout_scores".into(), f64s(&self.holdout.0)));
        t.push(("holdout_labels".into(), f64s(&self.holdout.1)));
        t.push(("valid_loss".into(), f64s(&self.valid_loss)));
        serialize(&t, FORMAT)
    }

    pub fn decode(bytes: &[u8]) -> Result<Predictor> {
        let meta = mkt_core::tensors::metadata(bytes)?;
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(Error::Corrupted(format!(
                "not a predictor ({:?})",
                meta.get("format")
            )));
        }
        let r = Reader::new(bytes, None)?;
        let info: Json =
            serde_json::from_str(&r.text("info")?).map_err(|e| Error::Corrupted(e.to_string()))?;
        let bad = |what: &str| Error::Corrupted(format!("predictor {what}"));
        let features = schema_from_json(&info["features"])?;
        let task =
            Task::parse(info["task"].as_str().unwrap_or_default()).map_err(|_| bad("task"))?;
        // Versions before multiclass have no classes.
        let classes: Vec<String> = match info.get("classes") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a
                .iter()
                .map(|c| c.as_str().map(str::to_string).ok_or_else(|| bad("classes")))
                .collect::<Result<_>>()?,
            Some(_) => return Err(bad("classes")),
        };
        if (task == Task::Multiclass) != (classes.len() >= 2)
            || classes.len() > crate::classes::MAX_CLASSES
        {
            return Err(bad("classes"));
        }
        let combine = match info.get("combine").and_then(Json::as_str) {
            None => crate::classes::Combine::OneVsRest,
            Some(c) => crate::classes::Combine::parse(c).ok_or_else(|| bad("combine"))?,
        };
        let (learners, outputs) = match task {
            Task::Multiclass => combine.learners(classes.len()),
            _ => (1, 1),
        };
        let models = (0..learners)
            .map(|k| {
                encode::read_with_outputs(&r, &model_prefix(k), features.columns.len(), outputs)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Predictor {
            task,
            algorithm: Algorithm::parse(info["algorithm"].as_str().unwrap_or_default())
                .map_err(|_| bad("algorithm"))?,
            label: info["label"]
                .as_str()
                .ok_or_else(|| bad("label"))?
                .to_string(),
            key: info["key"].as_str().map(str::to_string),
            features,
            models,
            classes,
            combine,
            threshold: info["threshold"].as_f64().ok_or_else(|| bad("threshold"))?,
            validation: metrics_from_json(&info["validation"])?,
            score_quantiles: quantiles_of(&info),
            rows: info["rows"].as_u64().unwrap_or(0),
            transform: InputTransform::from_info(&info["transform"])?,
            holdout: (
                optional(&r, "holdout_scores")?,
                optional(&r, "holdout_labels")?,
            ),
            valid_loss: optional(&r, "valid_loss")?,
        })
    }

    pub fn heap_bytes(&self) -> usize {
        self.models
            .iter()
            .map(|m| match m {
                Base::Gbdt(m) => m
                    .trees
                    .iter()
                    .map(|t| t.nodes.len() * std::mem::size_of::<crate::tree::Node>())
                    .sum(),
                Base::Linear { model, .. } => model.coef.len() * 8,
                Base::Mlp(m) => m.parameters() * 4,
            })
            .sum()
    }
}

/// Where the stored form keeps learner `k`: the first under "model" (as before multiclass).
fn model_prefix(k: usize) -> String {
    if k == 0 {
        "model".into()
    } else {
        format!("model{k}")
    }
}

fn explain_base(model: &Base, n: usize, x: &[Value], output: usize) -> (f64, Vec<f64>) {
    match model {
        Base::Gbdt(m) => (m.expected_raw(), m.contributions(x)),
        Base::Linear { design, model } => {
            let row = design.row(x);
            let mut phi = vec![0.0; n];
            for ((f, _), (c, v)) in design.columns_of().iter().zip(model.coef.iter().zip(&row)) {
                phi[*f] += c * v;
            }
            (model.intercept, phi)
        }
        Base::Mlp(m) => m.contributions(x, output),
    }
}

fn importance_base(model: &Base, n: usize) -> Vec<f64> {
    match model {
        Base::Gbdt(m) => m.gain_importance(),
        Base::Linear { design, model } => {
            let mut imp = vec![0.0; n];
            for ((f, _), c) in design.columns_of().iter().zip(&model.coef) {
                imp[*f] += c.abs();
            }
            imp
        }
        Base::Mlp(m) => m.importance.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;

    fn data() -> (Features, Vec<f64>) {
        let mut rng = Rng::new(9);
        let (mut a, mut c, mut y) = (vec![], vec![], vec![]);
        for i in 0..3000 {
            let x = rng.normal();
            let cat = (i % 3) as u32;
            a.push(if i % 17 == 0 { f64::NAN } else { x });
            c.push(if i % 23 == 0 {
                crate::features::MISSING
            } else {
                cat
            });
            let z = 1.2 * x + [0.5, -0.5, 0.0][cat as usize];
            y.push(if rng.uniform() < crate::loss::sigmoid(z) {
                1.0
            } else {
                0.0
            });
        }
        let levels = ["red", "green", "blue"].map(String::from).to_vec();
        (
            Features {
                names: vec!["x".into(), "colour".into()],
                columns: vec![Column::Numeric(a), Column::Categorical { codes: c, levels }],
            },
            y,
        )
    }

    #[test]
    fn a_stored_predictor_decodes_to_the_same_model_and_explanations_add_up() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (x, y) = data();
        for algorithm in [Algorithm::Gbdt, Algorithm::Logistic, Algorithm::Mlp] {
            let o = Options::parse(
                "test",
                Task::Classification,
                algorithm,
                &json!({"class_weight": "balanced"}),
            )
            .unwrap();
            let (p, _) = train(
                Task::Classification,
                algorithm,
                &o,
                "y",
                &x,
                &y,
                &pool,
                &mut no_tick(),
            )
            .unwrap();
            let auc = p.validation.iter().find(|(k, _)| k == "roc_auc").unwrap().1;
            assert!(auc > 0.7, "{algorithm:?} {auc}");
            let back = Predictor::decode(&p.encode().unwrap()).unwrap();
            assert_eq!(back.features, p.features);
            assert_eq!(back.validation, p.validation);
            assert_eq!(back.score_quantiles, p.score_quantiles);
            assert_eq!(
                (&back.holdout, &back.valid_loss),
                (&p.holdout, &p.valid_loss)
            );
            assert_eq!(
                p.holdout.0.len(),
                p.validation.iter().find(|(k, _)| k == "rows").unwrap().1 as usize
            );
            if algorithm != Algorithm::Logistic {
                assert!(p.valid_loss.len() > 1, "{algorithm:?}");
            }
            let charts = crate::report::predictor_charts("m", &p);
            assert!(charts.len() >= 3 && charts.iter().all(|(_, svg)| svg.starts_with("<svg")));
            // The top 30% by the held-out percentiles is about 30% of all rows.
            let t = top_threshold(&p.score_quantiles, 0.3).unwrap();
            let share = (0..x.rows()).filter(|&i| p.predict(&x.row(i)) >= t).count() as f64
                / x.rows() as f64;
            assert!((share - 0.3).abs() < 0.05, "{algorithm:?} {share}");
            for i in 0..200 {
                let r = x.row(i);
                assert_eq!(back.predict(&r).to_bits(), p.predict(&r).to_bits());
                let (start, phi) = back.explain(&r);
                assert!((start + phi.iter().sum::<f64>() - back.model().raw(&r)).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn labels_and_params_are_checked() {
        let e = check_labels(Task::Classification, "bought", &[0.0, 1.0, 2.0]).unwrap_err();
        assert!(e.to_string().contains("the value 2"), "{e}");
        let e = check_labels(Task::Classification, "bought", &[1.0, 1.0]).unwrap_err();
        assert!(e.to_string().contains("single class"), "{e}");
        assert!(check_labels(Task::Regression, "spend", &[0.0, 3.5]).is_ok());
        let e = Options::parse(
            "mkt.train_predictor",
            Task::Classification,
            Algorithm::Logistic,
            &json!({"trees": 5}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown parameter \"trees\""), "{e}");
        assert!(Options::parse(
            "t",
            Task::Regression,
            Algorithm::Gbdt,
            &json!({"class_weight": "balanced"})
        )
        .is_err());
        assert!(Algorithm::parse("svm")
            .unwrap_err()
            .to_string()
            .contains("gbdt, logistic"));
        let mut bytes = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let (x, y) = data();
            let o = Options::parse(
                "t",
                Task::Classification,
                Algorithm::Gbdt,
                &json!({"trees": 3}),
            )
            .unwrap();
            train(
                Task::Classification,
                Algorithm::Gbdt,
                &o,
                "y",
                &x,
                &y,
                &pool,
                &mut no_tick(),
            )
            .unwrap()
            .0
            .encode()
            .unwrap()
        };
        let n = bytes.len();
        bytes[n - 9] ^= 0x7f;
        // Flipped bytes either still decode to a valid model or are refused; they never panic.
        let _ = Predictor::decode(&bytes);
    }
}
