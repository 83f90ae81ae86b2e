//! 'sequential': mkt-neural's sequence model as a recommender. It reads each user's items in the
//! order of `params.time_col` (ties by item id) and ranks what comes next after the latest
//! `max_length` of them; the model keeps those latest items per user (its `history`), so
//! `mkt.recommend` answers from the user's sequence as of training, or, with
//! `params.history_source`, from the user's latest events read at call time (`LiveHistory`).

use mkt_core::interactions::Interactions;
use mkt_core::params::Params;
use mkt_core::progress::{EpochReport, Tick};
use mkt_core::shared::Shared;
use mkt_core::tensors::{f32s, f64s, text, u32s, u64s, Buf, Reader};
use mkt_core::{Error, Result};
use crate::FeatureSpec;
use mkt_neural::sequence::{serving_layout, Architecture, SequenceConfig, SequenceNet};
use mkt_neural::sequence_serving::Inference;
use mkt_neural::{DeviceChoice, Encoded};

/// Keys of `params` the algorithm reads.
pub const KEYS: [&str; 17] = [
    "time_col",
    "device",
    "item_features",
    "hash_buckets",
    "architecture",
    "history_source",
    "max_length",
    "blocks",
    "heads",
    "dim",
    "dropout",
    "learning_rate",
    "epochs",
    "patience",
    "batch_size",
    "seed",
    "negatives",
];

#[derive(Debug, Clone, PartialEq)]
pub struct SequentialParams {
    pub time_col: String,
    /// A table or view of user, item and time (the training source's column names) that
    /// serving reads each user's latest events from.
    pub history_source: Option<String>,
    /// Item features (categorical codes, numbers, text embeddings) added to the item embeddings.
    pub item_features: Option<FeatureSpec>,
    /// Above this many distinct values a categorical feature is hashed into this many buckets.
    pub hash_buckets: usize,
    pub net: SequenceConfig,
    /// Where training runs; serving always runs on the CPU.
    pub device: DeviceChoice,
}

impl SequentialParams {
    /// `default_device` comes from the `mkt.device` setting.
    pub fn parse(p: &Params, default_device: &str) -> Result<Self> {
        let Some(time_col) = p.text("time_col")? else {
            return Err(Error::InvalidParameter(format!(
                "{} needs params.time_col: the column that orders each user's events",
                p.owner()
            )));
        };
        let architecture = match p.text("architecture")? {
            None => SequenceConfig::default().architecture,
            Some(a) => Architecture::parse(&a).ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "{}: unknown architecture '{a}' (expected one of: {})",
                    p.owner(),
                    Architecture::NAMES.join(", ")
                ))
            })?,
        };
        let d = SequenceConfig::of(architecture);
        let net = SequenceConfig {
            architecture,
            max_length: p.int("max_length", d.max_length as i64, 2, 512)? as usize,
            blocks: p.int("blocks", d.blocks as i64, 1, 8)? as usize,
            heads: p.int("heads", d.heads as i64, 1, 8)? as usize,
            dim: p.int("dim", d.dim as i64, 2, 512)? as usize,
            dropout: p.float("dropout", d.dropout, 0.0, 0.9)?,
            learning_rate: p.float("learning_rate", d.learning_rate, 1e-6, 1.0)?,
            epochs: p.int("epochs", d.epochs as i64, 1, 10_000)? as usize,
            patience: p.int("patience", d.patience as i64, 1, 1000)? as usize,
            batch: p.int("batch_size", d.batch as i64, 1, 65_536)? as usize,
            seed: p.int("seed", d.seed as i64, 0, i64::MAX)? as u64,
            // Absent: full softmax up to FULL_SOFTMAX_MAX_ITEMS items, sampled above.
            negatives: match p.value("negatives") {
                None => None,
                Some(_) => Some(p.int("negatives", 0, 0, 1 << 20)? as usize),
            },
        };
        if architecture == Architecture::Attention && !net.dim.is_multiple_of(net.heads) {
            return Err(Error::InvalidParameter(format!(
                "{}: dim ({}) must be a multiple of heads ({})",
                p.owner(),
                net.dim,
                net.heads
            )));
        }
        let history_source = p.text("history_source")?;
        let item_features = p
            .value("item_features")
            .map(|v| FeatureSpec::parse("item_features", v))
            .transpose()?;
        Ok(SequentialParams {
            time_col,
            history_source,
            item_features,
            hash_buckets: p.int("hash_buckets", 4096, 1, 1 << 24)? as usize,
            net,
            device: DeviceChoice::from_params(p, default_device)?,
        })
    }
}

/// Each user's latest items as of training, oldest first (not sorted by item, so not a `Csr`).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    indptr: Shared<u64>,
    items: Shared<u32>,
}

impl History {
    pub fn row(&self, u: usize) -> &[u32] {
        &self.items[self.indptr[u] as usize..self.indptr[u + 1] as usize]
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Without row `u` (an erased user).
    pub fn without_row(&self, u: usize) -> History {
        let (a, b) = (self.indptr[u] as usize, self.indptr[u + 1] as usize);
        let gone = (b - a) as u64;
        let mut indptr: Vec<u64> = self.indptr[..=u].to_vec();
        indptr.extend(self.indptr[u + 2..].iter().map(|p| p - gone));
        History {
            indptr: indptr.into(),
            items: [&self.items[..a], &self.items[b..]].concat().into(),
        }
    }
}

/// Where serving reads a user's latest events at call time: a table or view (already quoted)
/// and its columns (names as they are; `user_type` is the user column's SQL type).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHistory {
    pub source: String,
    pub user_col: String,
    pub user_type: String,
    pub item_col: String,
    pub time_col: String,
}

impl LiveHistory {
    /// The statement that reads a user's latest `n` items, newest first, with the user id as $1
    /// (bigint for integer ids, text otherwise). An integer id is compared uncast so that an
    /// index on an int4 user column still serves it; a text id is cast to the column's type.
    pub fn query(&self, n: usize, int_users: bool, int_items: bool) -> String {
        let q = mkt_core::names::quote_ident;
        let user = match int_users {
            true => format!("{} = $1", q(&self.user_col)),
            false => format!("{} = $1::{}", q(&self.user_col), self.user_type),
        };
        format!(
            "SELECT {}::{} FROM {} WHERE {user} AND {} IS NOT NULL ORDER BY {} DESC LIMIT {n}",
            q(&self.item_col),
            if int_items { "bigint" } else { "text" },
            self.source,
            q(&self.item_col),
            q(&self.time_col),
        )
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "source": self.source,
            "user_col": self.user_col,
            "user_type": self.user_type,
            "item_col": self.item_col,
            "time_col": self.time_col,
        })
        .to_string()
    }

    fn from_json(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::Corrupted(format!("sequence model history source: {e}")))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_string)
                .ok_or_else(|| Error::Corrupted(format!("sequence model history source lacks {k}")))
        };
        Ok(LiveHistory {
            source: field("source")?,
            user_col: field("user_col")?,
            user_type: field("user_type")?,
            item_col: field("item_col")?,
            time_col: field("time_col")?,
        })
    }
}

/// A trained sequence recommender: its stored parameters and the forward pass serving runs over
/// them. The candle net that trained it is not kept: a deployed model's parameters stay views of
/// its mapping, and serving reads the item embeddings there.
#[derive(Clone)]
pub struct Sequential {
    config: SequenceConfig,
    /// Every parameter (name, shape, values) as `SequenceNet::weights` names them.
    weights: Vec<(String, Vec<usize>, Shared<f32>)>,
    serving: Inference,
    pub history: History,
    /// Set where serving reads histories at call time.
    pub live: Option<LiveHistory>,
    /// Item embeddings (n_items x dim): what serving scores and similar items compare (the stored
    /// table without its padding row).
    pub item_vectors: Shared<f32>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("config", &self.config)
            .field("users", &self.history.n_rows())
            .finish()
    }
}

impl PartialEq for Sequential {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.history == other.history
            && self.live == other.live
            && self.weights == other.weights
    }
}

/// Each user's items ordered by time, ties by item index (needs the source's time column).
pub fn sequences(data: &Interactions) -> Result<Vec<Vec<u32>>> {
    let Some(times) = data.times.as_deref() else {
        return Err(Error::InvalidParameter(
            "algorithm 'sequential' needs params.time_col: the column that orders each user's events".into(),
        ));
    };
    let m = &data.by_user;
    Ok((0..m.n_rows)
        .map(|u| {
            let (a, b) = (m.indptr[u] as usize, m.indptr[u + 1] as usize);
            let mut row: Vec<(f64, u32)> = (a..b).map(|p| (times[p], m.indices[p])).collect();
            row.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            row.into_iter().map(|(_, i)| i).collect()
        })
        .collect())
}

/// The latest `keep` items of each sequence.
fn history_of(seqs: &[Vec<u32>], keep: usize) -> History {
    let mut indptr = vec![0u64];
    let mut items = Vec::new();
    for s in seqs {
        items.extend_from_slice(&s[s.len().saturating_sub(keep)..]);
        indptr.push(items.len() as u64);
    }
    History {
        indptr: indptr.into(),
        items: items.into(),
    }
}

pub fn fit(
    data: &Interactions,
    items: Option<&Encoded>,
    p: &SequentialParams,
    pool: &rayon::ThreadPool,
    tick: &mut dyn Tick,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Sequential> {
    let seqs = sequences(data)?;
    let dev = p.device.open()?;
    let fitted = mkt_neural::sequence::fit_on(
        &seqs,
        data.n_items(),
        items,
        &p.net,
        &dev,
        pool,
        tick,
        on_epoch,
    )?;
    let weights = fitted
        .net
        .weights()?
        .into_iter()
        .map(|(n, shape, v)| (n, shape, Shared::from(v)))
        .collect();
    Sequential::assemble(
        fitted.net.config().clone(),
        data.n_items(),
        weights,
        history_of(&seqs, p.net.max_length),
        None,
    )
}

impl Sequential {
    /// A model of `config` over `n_items` items from its parameters, each checked against the
    /// shape the net gives it.
    fn assemble(
        config: SequenceConfig,
        n_items: usize,
        weights: Vec<(String, Vec<usize>, Shared<f32>)>,
        history: History,
        live: Option<LiveHistory>,
    ) -> Result<Self> {
        let expected = SequenceNet::param_shapes(n_items, &config)?;
        let mut given: std::collections::HashMap<String, (Vec<usize>, Shared<f32>)> = weights
            .into_iter()
            .map(|(name, shape, values)| (name, (shape, values)))
            .collect();
        let mut ordered = Vec::with_capacity(expected.len());
        for (name, shape) in expected {
            let Some((got, values)) = given.remove(&name) else {
                return Err(Error::Corrupted(format!(
                    "sequence model parameter {name} is missing"
                )));
            };
            if got != shape || values.len() != shape.iter().product::<usize>() {
                return Err(Error::Corrupted(format!(
                    "sequence model parameter {name} has shape {got:?}, expected {shape:?}"
                )));
            }
            ordered.push((name, got, values));
        }
        let items = ordered.iter().find(|w| w.0 == "items").ok_or_else(|| {
            Error::Corrupted("the sequence model has no item embedding table".into())
        })?;
        let item_vectors = items.2.clone().skip(config.dim);
        let lookup = |name: &str| -> Option<Vec<f32>> {
            ordered.iter().find(|w| w.0 == name).map(|w| w.2.to_vec())
        };
        let serving = serving_layout(&config, item_vectors.clone(), &lookup).ok_or_else(|| {
            Error::Corrupted("the sequence model's parameters could not be read for serving".into())
        })?;
        Ok(Sequential {
            config,
            weights: ordered,
            serving,
            history,
            live,
            item_vectors,
        })
    }

    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// The forward pass, checking that `recent` is in the catalogue.
    fn serving(&self, recent: &[u32]) -> Result<&Inference> {
        self.serving.checked(recent)
    }

    /// Scores of every item after `recent` (oldest first) into `out`.
    pub fn scores(&self, recent: &[u32], out: &mut Vec<f32>) -> Result<()> {
        self.serving(recent)?.next_scores(recent, out);
        Ok(())
    }

    /// Scores of every item after `recent` (oldest first).
    pub fn next_scores(&self, recent: &[u32]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.scores(recent, &mut out)?;
        Ok(out)
    }

    /// The vector whose dot product with item i's row of `item_vectors` is item i's score after
    /// `recent`.
    pub fn next_query(&self, recent: &[u32]) -> Result<Vec<f32>> {
        Ok(self.serving(recent)?.query(recent))
    }

    /// The first attention block's projection of every item, for the serving file: None for a
    /// GRU, or where the rows ((2 + heads)·4·dim bytes an item) would pass `max_bytes`.
    pub fn first_block_items(&self, max_bytes: usize) -> Option<Vec<f32>> {
        match self.serving.first_block_len() {
            0 => None,
            n if n * 4 > max_bytes => None,
            _ => self.serving.first_block_items(),
        }
    }

    /// Serves the first block from `rows` (a view of the serving file).
    pub fn attach_first_block(&self, rows: Shared<f32>) -> Result<()> {
        match self.serving.attach_first_block(rows) {
            true => Ok(()),
            false => Err(Error::Corrupted(
                "the serving file's first-block rows are not this model's".into(),
            )),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.weights.iter().map(|w| w.2.heap_bytes()).sum::<usize>()
            + self.history.indptr.heap_bytes()
            + self.history.items.heap_bytes()
            + self.serving_heap_bytes()
            + self.serving.first_block_bytes().0
    }

    /// The serving layout's own copies: every parameter but the item table.
    fn serving_heap_bytes(&self) -> usize {
        self.weights
            .iter()
            .filter(|w| w.0 != "items")
            .map(|w| w.2.len() * 4)
            .sum()
    }

    pub fn mapped_bytes(&self) -> usize {
        self.weights
            .iter()
            .map(|w| w.2.mapped_bytes())
            .sum::<usize>()
            + self.serving.first_block_bytes().1
            + self.history.indptr.mapped_bytes()
            + self.history.items.mapped_bytes()
    }

    pub fn push_tensors(&self, t: &mut Vec<(String, Buf)>) -> Result<()> {
        let c = &self.config;
        let shape = [
            c.max_length,
            c.blocks,
            c.heads,
            c.dim,
            c.epochs,
            c.patience,
            c.batch,
        ]
        .map(|v| v as u64);
        t.push(("sequence.shape".into(), u64s(&shape)));
        t.push((
            "sequence.training".into(),
            f64s(&[c.dropout, c.learning_rate]),
        ));
        t.push(("sequence.seed".into(), u64s(&[c.seed])));
        if let Some(k) = c.negatives {
            t.push(("sequence.negatives".into(), u64s(&[k as u64])));
        }
        t.push((
            "sequence.architecture".into(),
            text(c.architecture.name()),
        ));
        for (name, shape, values) in &self.weights {
            t.push((format!("sequence.{name}"), f32s(values, shape.clone())));
        }
        t.push(("sequence.history.indptr".into(), u64s(&self.history.indptr)));
        t.push(("sequence.history.items".into(), u32s(&self.history.items)));
        if let Some(live) = &self.live {
            t.push(("sequence.live".into(), text(&live.to_json())));
        }
        Ok(())
    }

    pub fn read(r: &Reader, n_users: usize, n_items: usize) -> Result<Self> {
        let shape = r.u64s("sequence.shape")?;
        let training = r.f64s("sequence.training")?;
        let seed = r.u64s("sequence.seed")?;
        if shape.len() != 7 || training.len() != 2 || seed.len() != 1 {
            return Err(Error::Corrupted("sequence model shape".into()));
        }
        // Models stored before 'gru' existed are attention models.
        let architecture = match r.has("sequence.architecture") {
            false => Architecture::Attention,
            true => {
                let name = r.text("sequence.architecture")?;
                Architecture::parse(&name).ok_or_else(|| {
                    Error::Corrupted(format!("sequence model architecture '{name}'"))
                })?
            }
        };
        let net_cfg = SequenceConfig {
            architecture,
            max_length: shape[0] as usize,
            blocks: shape[1] as usize,
            heads: shape[2] as usize,
            dim: shape[3] as usize,
            dropout: training[0],
            learning_rate: training[1],
            epochs: shape[4] as usize,
            patience: shape[5] as usize,
            batch: shape[6] as usize,
            seed: seed[0],
            negatives: match r.has("sequence.negatives") {
                false => None,
                true => r.u64s("sequence.negatives")?.first().map(|&k| k as usize),
            },
        };
        let sane = (2..=512).contains(&net_cfg.max_length)
            && (1..=8).contains(&net_cfg.blocks)
            && (1..=8).contains(&net_cfg.heads)
            && (2..=512).contains(&net_cfg.dim);
        if !sane {
            return Err(Error::Corrupted(format!("sequence model shape {shape:?}")));
        }
        let history = History {
            indptr: r.u64s("sequence.history.indptr")?,
            items: r.u32s("sequence.history.items")?,
        };
        let p = &history.indptr;
        let whole = p.len() == n_users + 1
            && p.first() == Some(&0)
            && p.last().map(|&e| e as usize) == Some(history.items.len())
            && p.windows(2)
                .all(|w| w[0] <= w[1] && w[1] - w[0] <= net_cfg.max_length as u64)
            && history.items.iter().all(|&i| (i as usize) < n_items);
        if !whole {
            return Err(Error::Corrupted(
                "the sequence histories do not fit the model".into(),
            ));
        }
        let live = match r.has("sequence.live") {
            true => Some(LiveHistory::from_json(&r.text("sequence.live")?)?),
            false => None,
        };
        // Each parameter is read where it lies: a deployed model's large ones (the item table)
        // are views of its mapping.
        let weights = SequenceNet::param_shapes(n_items, &net_cfg)?
            .into_iter()
            .map(|(name, _)| {
                let (shape, values) = r.f32s(&format!("sequence.{name}"))?;
                Ok((name, shape, values))
            })
            .collect::<Result<Vec<_>>>()?;
        Sequential::assemble(net_cfg, n_items, weights, history, live)
    }
}
