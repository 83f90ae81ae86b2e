//! An uplift model as trained, stored and served: the meta-learner and its base learners, the
//! feature schema, the treatment and outcome columns it was trained on and the Qini, AUUC and
//! uplift@k of its held-out rows.

use crate::base::Base;
use crate::encode;
use crate::features::{Features, Value};
use crate::input_transform::InputTransform;
use crate::predictor::{schema_from_json, schema_json, split, Algorithm, Options, Task};
use crate::uplift::{self, Meta, Test, UpliftModel};
use crate::uplift_metrics::{auuc, qini_coefficient, uplift_at_k, Scored};
use mkt_core::progress::Tick;
use mkt_core::tensors::{f64s, serialize, text, Buf, Reader};
use mkt_core::{Error, Result};
use rayon::ThreadPool;
use serde_json::{json, Value as Json};

pub const FORMAT: &str = "pg_marketing.uplift/1";

/// mkt.train_uplift's own params, beside the base learner's.
pub const KEYS: [&str; 2] = ["base", "propensity"];

/// The `params` of mkt.train_uplift: the base learner (read first, since it decides which of the
/// learner's params are valid), that learner's options, and the design's propensity.
#[derive(Debug, Clone, PartialEq)]
pub struct UpliftOptions {
    pub base: Algorithm,
    pub options: Options,
    pub propensity: Option<f64>,
}

impl UpliftOptions {
    pub fn parse(params: &Json) -> Result<UpliftOptions> {
        let base = match params.get("base") {
            None | Some(Json::Null) => Algorithm::Gbdt,
            Some(Json::String(s)) => Algorithm::parse(s)?,
            Some(v) => {
                return Err(Error::InvalidParameter(format!(
                    "parameter \"base\" must be a string, got {v}"
                )))
            }
        };
        let (options, propensity) = Options::parse_with(
            "mkt.train_uplift",
            Task::Classification,
            base,
            params,
            &KEYS,
            |p| match p.value("propensity") {
                None => Ok(None),
                Some(_) => p.float("propensity", 0.5, 1e-6, 1.0 - 1e-6).map(Some),
            },
        )?;
        if options.balanced {
            return Err(Error::InvalidParameter(
                "class_weight is for mkt.train_predictor".into(),
            ));
        }
        Ok(UpliftOptions {
            base,
            options,
            propensity,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Uplift {
    pub meta: Meta,
    pub base: Algorithm,
    pub treatment: String,
    pub outcome: String,
    pub key: Option<String>,
    pub features: Features,
    pub model: UpliftModel,
    pub validation: Vec<(String, f64)>,
    /// The held-out rows' predicted uplift at each percentile (see Predictor::score_quantiles).
    pub score_quantiles: Vec<f64>,
    pub rows: u64,
    pub treated: u64,
    pub transform: Option<InputTransform>,
    /// A sample of the held-out rows as scored, for the report's Qini curve.
    pub holdout: Vec<Scored>,
}

/// Qini, AUUC and uplift at 10% and 30% of scored rows (those that are defined), with counts.
pub fn metrics(rows: &[Scored]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, v) in [
        ("qini", qini_coefficient(rows)),
        ("auuc", auuc(rows)),
        ("uplift_at_10", uplift_at_k(rows, 0.1)),
        ("uplift_at_30", uplift_at_k(rows, 0.3)),
    ] {
        if let Some(v) = v {
            out.push((name.to_string(), v));
        }
    }
    let treated = rows.iter().filter(|r| r.treated).count();
    out.push(("rows".into(), rows.len() as f64));
    out.push(("treated".into(), treated as f64));
    out.push(("control".into(), (rows.len() - treated) as f64));
    out
}

/// Checks the treatment flags (0/1) and returns them as booleans.
pub fn treatment_flags(column: &str, t: &[f64]) -> Result<Vec<bool>> {
    if let Some(v) = t.iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(Error::InvalidParameter(format!(
            "the treatment column {column} must be 0/1 or boolean (1 = treated); it has the value {v}"
        )));
    }
    Ok(t.iter().map(|&v| v == 1.0).collect())
}

#[allow(clippy::too_many_arguments)]
pub fn train(
    meta: Meta,
    base: Algorithm,
    o: &Options,
    propensity: Option<f64>,
    (treatment, outcome): (&str, &str),
    x: &Features,
    treated: &[bool],
    y: &[f64],
    pool: &ThreadPool,
    tick: &mut dyn Tick,
) -> Result<Uplift> {
    if y.is_empty() {
        return Err(Error::EmptyData(format!(
            "no row has both {treatment} and {outcome}"
        )));
    }
    if x.columns.is_empty() {
        return Err(Error::invalid(
            "an uplift model needs at least one feature column",
        ));
    }
    let (train_idx, valid_idx) = split(y.len(), o.validation_fraction, o.seed);
    let pick = |idx: &[usize]| -> (Features, Vec<bool>, Vec<f64>) {
        (
            x.take(idx),
            idx.iter().map(|&i| treated[i]).collect(),
            idx.iter().map(|&i| y[i]).collect(),
        )
    };
    let (tx, tt, ty) = pick(&train_idx);
    let (vx, vt, vy) = pick(&valid_idx);
    let model = uplift::fit(
        meta,
        &o.base,
        Test {
            x: &tx,
            treated: &tt,
            outcome: &ty,
        },
        propensity,
        pool,
        tick,
    )?;
    let scored: Vec<Scored> = (0..vy.len())
        .map(|i| Scored {
            outcome: vy[i],
            treated: vt[i],
            uplift: model.uplift(&vx.row(i)),
        })
        .collect();
    let validation = if scored.is_empty() {
        Vec::new()
    } else {
        metrics(&scored)
    };
    let score_quantiles =
        crate::predictor::percentiles(&scored.iter().map(|s| s.uplift).collect::<Vec<_>>());
    Ok(Uplift {
        meta,
        base,
        treatment: treatment.into(),
        outcome: outcome.into(),
        key: o.key.clone(),
        features: crate::predictor::schema_of(x),
        model,
        validation,
        score_quantiles,
        rows: y.len() as u64,
        treated: treated.iter().filter(|&&t| t).count() as u64,
        transform: None,
        holdout: crate::holdout::sample_indices(scored.len())
            .into_iter()
            .map(|i| scored[i])
            .collect(),
    })
}

fn learners(m: &UpliftModel) -> Vec<(&'static str, &Base)> {
    match m {
        UpliftModel::S { model } | UpliftModel::ClassTransformation { model } => {
            vec![("model", model)]
        }
        UpliftModel::T { treated, control } => vec![("treated", treated), ("control", control)],
        UpliftModel::X {
            tau_treated,
            tau_control,
            ..
        } => vec![("tau_treated", tau_treated), ("tau_control", tau_control)],
    }
}

impl Uplift {
    pub fn uplift(&self, x: &[Value]) -> f64 {
        self.model.uplift(x)
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let info = json!({
            "meta": self.meta.name(),
            "base": self.base.name(),
            "treatment": self.treatment,
            "outcome": self.outcome,
            "key": self.key,
            "features": schema_json(&self.features),
            "validation": crate::predictor::metrics_to_json(&self.validation),
            "score_quantiles": self.score_quantiles,
            "rows": self.rows,
            "treated": self.treated,
            "transform": self.transform.as_ref().map(InputTransform::to_json),
        });
        let mut t: Vec<(String, Buf)> = vec![("info".into(), text(&info.to_string()))];
        if let UpliftModel::X { propensity, .. } = &self.model {
            t.push(("propensity".into(), f64s(&[*propensity])));
        }
        for (p, b) in learners(&self.model) {
            encode::push(&mut t, p, b);
        }
        let h = &self.holdout;
        t.push((
            "holdout_uplift".into(),
            f64s(&h.iter().map(|s| s.uplift).collect::<Vec<_>>()),
        ));
        t.push((
            "holdout_treated".into(),
            f64s(&h.iter().map(|s| s.treated as u8 as f64).collect::<Vec<_>>()),
        ));
        t.push((
            "holdout_outcome".into(),
            f64s(&h.iter().map(|s| s.outcome).collect::<Vec<_>>()),
        ));
        serialize(&t, FORMAT)
    }

    pub fn decode(bytes: &[u8]) -> Result<Uplift> {
        let meta_info = mkt_core::tensors::metadata(bytes)?;
        if meta_info.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(Error::Corrupted(format!(
                "not an uplift model ({:?})",
                meta_info.get("format")
            )));
        }
        let r = Reader::new(bytes, None)?;
        let info: Json =
            serde_json::from_str(&r.text("info")?).map_err(|e| Error::Corrupted(e.to_string()))?;
        let bad = |what: &str| Error::Corrupted(format!("uplift model {what}"));
        let features = schema_from_json(&info["features"])?;
        let meta = Meta::parse(info["meta"].as_str().unwrap_or_default())
            .map_err(|_| bad("meta-learner"))?;
        let nf = features.columns.len();
        let read = |p: &str, n: usize| encode::read(&r, p, n);
        let model = match meta {
            // The S-learner reads the treatment as one more feature.
            Meta::S => UpliftModel::S {
                model: read("model", nf + 1)?,
            },
            Meta::ClassTransformation => UpliftModel::ClassTransformation {
                model: read("model", nf)?,
            },
            Meta::T => UpliftModel::T {
                treated: read("treated", nf)?,
                control: read("control", nf)?,
            },
            Meta::X => {
                let propensity = r
                    .f64s("propensity")?
                    .first()
                    .copied()
                    .ok_or_else(|| bad("propensity"))?;
                if !(propensity > 0.0 && propensity < 1.0) {
                    return Err(bad("propensity"));
                }
                UpliftModel::X {
                    tau_treated: read("tau_treated", nf)?,
                    tau_control: read("tau_control", nf)?,
                    propensity,
                }
            }
        };
        let text_of = |k: &str| info[k].as_str().map(str::to_string).ok_or_else(|| bad(k));
        Ok(Uplift {
            meta,
            base: Algorithm::parse(info["base"].as_str().unwrap_or_default())
                .map_err(|_| bad("base"))?,
            treatment: text_of("treatment")?,
            outcome: text_of("outcome")?,
            key: info["key"].as_str().map(str::to_string),
            features,
            model,
            validation: crate::predictor::metrics_from_json(&info["validation"])?,
            score_quantiles: crate::predictor::quantiles_of(&info),
            rows: info["rows"].as_u64().unwrap_or(0),
            treated: info["treated"].as_u64().unwrap_or(0),
            transform: InputTransform::from_info(&info["transform"])?,
            holdout: {
                let get = |n: &str| crate::predictor::optional(&r, n);
                let (u, t, o) = (
                    get("holdout_uplift")?,
                    get("holdout_treated")?,
                    get("holdout_outcome")?,
                );
                if t.len() != u.len() || o.len() != u.len() {
                    return Err(bad("held-out sample"));
                }
                (0..u.len())
                    .map(|i| Scored {
                        uplift: u[i],
                        treated: t[i] == 1.0,
                        outcome: o[i],
                    })
                    .collect()
            },
        })
    }

    /// The task of the outcome models: a probability for a 0/1 outcome, else a value.
    pub fn outcome_task(&self) -> Task {
        let loss = match &self.model {
            UpliftModel::S { model } | UpliftModel::ClassTransformation { model } => model.loss(),
            UpliftModel::T { treated, .. } => treated.loss(),
            UpliftModel::X { .. } => crate::loss::Loss::Squared,
        };
        match loss {
            crate::loss::Loss::Logistic => Task::Classification,
            crate::loss::Loss::Squared => Task::Regression,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Column;
    use mkt_core::progress::no_tick;
    use mkt_core::rng::Rng;

    #[test]
    fn every_stored_meta_learner_decodes_to_the_same_scores() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut rng = Rng::new(3);
        let (mut a, mut c, mut t, mut y) = (vec![], vec![], vec![], vec![]);
        for i in 0..2000 {
            let x = rng.normal();
            let treated = rng.uniform() < 0.4;
            a.push(x);
            c.push((i % 4) as u32);
            t.push(treated);
            let p = 0.2 + if treated && x > 0.0 { 0.3 } else { 0.0 };
            y.push(if rng.uniform() < p { 1.0 } else { 0.0 });
        }
        let levels = ["a", "b", "c", "d"].map(String::from).to_vec();
        let x = Features {
            names: vec!["x".into(), "c".into()],
            columns: vec![Column::Numeric(a), Column::Categorical { codes: c, levels }],
        };
        for base in [Algorithm::Gbdt, Algorithm::Logistic, Algorithm::Mlp] {
            let o = Options::parse(
                "t",
                Task::Classification,
                base,
                &json!({"validation_fraction": 0.3}),
            )
            .unwrap();
            for meta in [Meta::S, Meta::T, Meta::X, Meta::ClassTransformation] {
                let m = train(
                    meta,
                    base,
                    &o,
                    None,
                    ("treated", "bought"),
                    &x,
                    &t,
                    &y,
                    &pool,
                    &mut no_tick(),
                )
                .unwrap();
                assert!(
                    m.validation.iter().any(|(k, _)| k == "qini"),
                    "{:?}",
                    m.validation
                );
                let back = Uplift::decode(&m.encode().unwrap()).unwrap();
                assert_eq!(back.meta, meta);
                assert_eq!(back.holdout, m.holdout);
                assert!(!back.holdout.is_empty());
                assert!(crate::report::uplift_charts("u", &back)[0]
                    .1
                    .starts_with("<svg"));
                assert_eq!(
                    (back.score_quantiles.len(), &back.score_quantiles),
                    (101, &m.score_quantiles)
                );
                for i in 0..100 {
                    let r = x.row(i);
                    assert_eq!(
                        back.uplift(&r).to_bits(),
                        m.uplift(&r).to_bits(),
                        "{meta:?} {base:?}"
                    );
                }
            }
        }
        let e = treatment_flags("arm", &[0.0, 1.0, 2.0]).unwrap_err();
        let u =
            UpliftOptions::parse(&json!({"base": "logistic", "l2": 2, "propensity": 0.3})).unwrap();
        assert_eq!((u.base, u.propensity), (Algorithm::Logistic, Some(0.3)));
        let bad = |v| UpliftOptions::parse(&v).unwrap_err().to_string();
        assert!(bad(json!({"propensity": 1})).contains("between 0.000001 and 0.999999"));
        assert!(bad(json!({"class_weight": "balanced"})).contains("mkt.train_predictor"));
        assert!(bad(json!({"base": 3})).contains("must be a string"));
        assert!(
            bad(json!({"base": "logistic", "trees": 3})).contains("unknown parameter \"trees\"")
        );
        assert!(e.to_string().contains("the value 2"));
    }
}
