//! mkt.train_predictor and mkt.train_uplift: reading the source, training in the call's pool,
//! storing the version in the model catalog and deploying it unless told not to.

use crate::models::catalog::{record_metrics, NewVersion};
use crate::models::{access, lifecycle};
use crate::pg::error::{require_primary, OrSql, SqlResult};
use crate::pg::source::{self, Column};
use crate::pg::{pool, progress};
use crate::predictors::rows::{self, numbers, Kind, Raw};
use mkt_core::names::quote_shown;
use mkt_core::Error;
use mkt_neural::device::DeviceChoice;
use mkt_predict::features::{Column as FeatureColumn, Features};
use mkt_predict::multiclass;
use mkt_predict::predictor::{self, Algorithm, Options, Task};
use mkt_predict::uplift::Meta;
use mkt_predict::uplift_stored::{self, treatment_flags, UpliftOptions};
use pgrx::prelude::*;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Whether to deploy a new version, and why (kept in the deploy history); retraining decides it
/// from the new version and the rows it held out.
pub struct Verdict {
    pub deploy: bool,
    pub reason: String,
}

/// The row mkt.train_predictor and mkt.train_uplift return.
pub struct Outcome {
    pub model_id: i64,
    pub version: i32,
    pub algorithm: String,
    pub rows: i64,
    pub features: i32,
    pub metrics: Value,
    pub train_seconds: f64,
    pub deployed: bool,
}

/// One-hot coding of a category with more levels than this would make the linear model's design
/// matrix as wide as the data; trees bin any number of levels.
const MAX_LINEAR_LEVELS: usize = 1000;

fn check_levels(alg: Algorithm, x: &Features) -> SqlResult<()> {
    if alg == Algorithm::Gbdt {
        return Ok(());
    }
    for (name, c) in x.names.iter().zip(&x.columns) {
        if let FeatureColumn::Categorical { levels, .. } = c {
            if levels.len() > MAX_LINEAR_LEVELS {
                return Err(Error::InvalidParameter(format!(
                    "feature {} has {} levels; the {} model one-hot codes at most {MAX_LINEAR_LEVELS} (use gbdt)",
                    quote_shown(name),
                    levels.len(),
                    alg.name()
                )))
                .sql();
            }
        }
    }
    Ok(())
}

fn metrics_json(m: &[(String, f64)]) -> Value {
    let counted = ["rows", "treated", "control", "classes"];
    Value::Object(
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if counted.contains(&k.as_str()) {
                        json!(*v as i64)
                    } else {
                        json!(v)
                    },
                )
            })
            .collect::<Map<_, _>>(),
    )
}

/// The columns read for training: features, then the extra (label, treatment, outcome) ones.
struct Read {
    x: Features,
    extra: Vec<Vec<f64>>,
    dropped: usize,
    /// The classes of a label read as text (multiclass), in order; its values are positions.
    classes: Vec<String>,
}

/// A text label as class positions (NaN for NULL, so the row is dropped) and the classes.
fn class_codes(v: Vec<Option<String>>) -> (Vec<f64>, Vec<String>) {
    let classes = mkt_predict::classes::sorted_classes(v.iter().flatten().cloned().collect());
    let at: std::collections::HashMap<&str, f64> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as f64))
        .collect();
    let codes = v
        .iter()
        .map(|t| {
            t.as_deref()
                .and_then(|t| at.get(t).copied())
                .unwrap_or(f64::NAN)
        })
        .collect();
    (codes, classes)
}

fn read(
    source_text: &str,
    features: Option<&[String]>,
    extra: &[(&Column, Kind)],
    key: Option<&Column>,
    described: &[Column],
    src: &crate::pg::source::Resolved,
) -> SqlResult<Read> {
    let mut exclude: Vec<&str> = extra.iter().map(|(c, _)| c.name.as_str()).collect();
    if let Some(k) = key {
        exclude.push(&k.name);
    }
    let feats = rows::feature_columns(described, features, &exclude)?;
    let mut cols: Vec<(String, Kind)> = feats.iter().map(|(c, k)| (c.name.clone(), *k)).collect();
    cols.extend(extra.iter().map(|(c, k)| (c.name.clone(), *k)));
    let mut raws = rows::read(src, &cols)?;
    let mut classes = Vec::new();
    let extra_raw: Vec<Vec<f64>> = raws
        .split_off(feats.len())
        .into_iter()
        .map(|r| match r {
            Raw::Texts(v) => {
                let (codes, names) = class_codes(v);
                classes = names;
                codes
            }
            r => numbers(r),
        })
        .collect();
    let n = extra_raw.first().map_or(0, Vec::len);
    let keep = rows::complete_rows(&extra_raw);
    if n == 0 {
        return Err(Error::EmptyData(format!(
            "the source {} has no rows",
            mkt_core::names::quote_literal(source_text)
        )))
        .sql();
    }
    let names = feats.iter().map(|(c, _)| c.name.clone()).collect();
    let x = rows::training_features(names, raws, &keep);
    let extra = extra_raw
        .iter()
        .map(|c| keep.iter().map(|&i| c[i]).collect())
        .collect();
    Ok(Read {
        x,
        extra,
        dropped: n - keep.len(),
        classes,
    })
}

/// A trained predictor or uplift model on its way into the catalog.
struct Trained<'a> {
    algorithm: &'static str,
    blob: Vec<u8>,
    key: Option<&'a Column>,
    /// The label, or the outcome.
    target_col: &'a str,
    treatment_col: Option<&'a str>,
    rows: usize,
    features: usize,
    validation: &'a [(String, f64)],
    /// (metric name, rows dropped for a NULL label, treatment or outcome).
    dropped: (&'static str, usize),
}

/// Stores the version with its metrics (see mkt.model_versions' comment for how the columns are
/// filled), deploys it if the verdict says so, and makes the row training returns.
fn finish(
    model_name: &str,
    source_text: &str,
    params: &Value,
    t: Trained,
    verdict: Verdict,
    started: Instant,
) -> SqlResult<Outcome> {
    let seconds = started.elapsed().as_secs_f64();
    let (model_id, version) = lifecycle::store(&NewVersion {
        model_name,
        algorithm: t.algorithm,
        params,
        source: source_text,
        user_col: t.key.map_or("", |k| k.name.as_str()),
        item_col: Some(t.target_col),
        weight_col: t.treatment_col,
        user_id_type: "text",
        item_id_type: None,
        n_users: t.rows as i64,
        n_items: t.features as i64,
        n_interactions: t.rows as i64,
        train_seconds: seconds,
        blob: &t.blob,
    })?;
    let mut metrics = Map::new();
    metrics.insert("validation".into(), metrics_json(t.validation));
    metrics.insert(t.dropped.0.into(), json!(t.dropped.1));
    record_metrics(model_id, Value::Object(metrics))?;
    if verdict.deploy {
        lifecycle::deploy(model_name, model_id, &verdict.reason)?;
    }
    Ok(Outcome {
        model_id,
        version,
        algorithm: t.algorithm.into(),
        rows: t.rows as i64,
        features: t.features as i32,
        metrics: metrics_json(t.validation),
        train_seconds: seconds,
        deployed: verdict.deploy,
    })
}

/// The device a network trains on when params do not name one: the `mkt.device` setting.
fn default_device() -> SqlResult<DeviceChoice> {
    DeviceChoice::parse(crate::pg::gucs::device_name()).sql()
}

fn trained(deploy: bool) -> Verdict {
    Verdict {
        deploy,
        reason: "trained".into(),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn train_predictor(
    model_name: &str,
    source_text: &str,
    label_col: &str,
    features: Option<&[String]>,
    task: &str,
    algorithm: &str,
    params: &Value,
) -> SqlResult<Outcome> {
    train_predictor_with(
        model_name,
        source_text,
        label_col,
        features,
        task,
        algorithm,
        params,
        |_, _, _, o| trained(o.deploy),
    )
}

/// mkt.train_predictor with the deploy decision made by `decide` from the new model, the rows it
/// held out (features and labels) and the options.
#[allow(clippy::too_many_arguments)]
pub fn train_predictor_with(
    model_name: &str,
    source_text: &str,
    label_col: &str,
    features: Option<&[String]>,
    task: &str,
    algorithm: &str,
    params: &Value,
    decide: impl FnOnce(&predictor::Predictor, &Features, &[f64], &Options) -> Verdict,
) -> SqlResult<Outcome> {
    let started = Instant::now();
    require_primary("training")?;
    access::check_can_train(model_name)?;
    let task = Task::parse(task).sql()?;
    let alg = Algorithm::parse(algorithm).sql()?;
    let mut o = Options::parse("mkt.train_predictor", task, alg, params).sql()?;
    o.default_device(default_device()?);
    let transform = o
        .transform
        .as_deref()
        .map(rows::input_transform)
        .transpose()?;
    let src = rows::model_source(source_text, transform.as_ref())?;
    let described = source::describe(&src)?;
    let label = source::find(&described, label_col, "label")?;
    // Classes are read as text, whatever the label's type.
    let label_kind = match task {
        Task::Multiclass => rows::kind_of(label, "label").map(|_| Kind::Category)?,
        _ => rows::numeric_kind(label, "label")?,
    };
    let key = o
        .key
        .as_deref()
        .map(|k| source::find(&described, k, "key"))
        .transpose()?;
    let r = read(
        source_text,
        features,
        &[(label, label_kind)],
        key,
        &described,
        &src,
    )?;
    if r.dropped > 0 {
        notice!("pg_marketing: dropped {} rows with a NULL label", r.dropped);
    }
    check_levels(alg, &r.x)?;
    let pool = pool::pool()?;
    let y = &r.extra[0];
    let (mut p, _) = match task {
        Task::Multiclass => multiclass::train(
            alg,
            &o,
            &label.name,
            r.classes.clone(),
            &r.x,
            y,
            &pool,
            &mut progress::progress(),
        ),
        _ => predictor::train(
            task,
            alg,
            &o,
            &label.name,
            &r.x,
            y,
            &pool,
            &mut progress::progress(),
        ),
    }
    .sql()?;
    p.transform = transform;
    let (_, valid_idx) = predictor::split(y.len(), o.validation_fraction, o.seed);
    let verdict = decide(
        &p,
        &r.x.take(&valid_idx),
        &valid_idx.iter().map(|&i| y[i]).collect::<Vec<_>>(),
        &o,
    );
    finish(
        model_name,
        source_text,
        params,
        Trained {
            algorithm: alg.name(),
            blob: p.encode().sql()?,
            key,
            target_col: &label.name,
            treatment_col: None,
            rows: y.len(),
            features: r.x.columns.len(),
            validation: &p.validation,
            dropped: ("dropped_null_labels", r.dropped),
        },
        verdict,
        started,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn train_uplift(
    model_name: &str,
    source_text: &str,
    treatment_col: &str,
    outcome_col: &str,
    features: Option<&[String]>,
    algorithm: &str,
    params: &Value,
) -> SqlResult<Outcome> {
    train_uplift_with(
        model_name,
        source_text,
        treatment_col,
        outcome_col,
        features,
        algorithm,
        params,
        |_, _, o| trained(o.deploy),
    )
}

/// mkt.train_uplift with the deploy decision made by `decide` from the new model, the rows it
/// held out (features, treatment, outcome) and the options.
#[allow(clippy::too_many_arguments)]
pub fn train_uplift_with(
    model_name: &str,
    source_text: &str,
    treatment_col: &str,
    outcome_col: &str,
    features: Option<&[String]>,
    algorithm: &str,
    params: &Value,
    decide: impl FnOnce(&uplift_stored::Uplift, &[HeldOut], &Options) -> Verdict,
) -> SqlResult<Outcome> {
    let started = Instant::now();
    require_primary("training")?;
    access::check_can_train(model_name)?;
    let meta = Meta::parse(algorithm).sql()?;
    let UpliftOptions {
        base,
        options: mut o,
        propensity,
    } = UpliftOptions::parse(params).sql()?;
    o.default_device(default_device()?);
    let transform = o
        .transform
        .as_deref()
        .map(rows::input_transform)
        .transpose()?;
    let src = rows::model_source(source_text, transform.as_ref())?;
    let described = source::describe(&src)?;
    let treatment = source::find(&described, treatment_col, "treatment")?;
    let outcome = source::find(&described, outcome_col, "outcome")?;
    if treatment.name == outcome.name {
        return Err(Error::InvalidParameter(
            "the treatment and outcome columns must differ".into(),
        ))
        .sql();
    }
    let extra = [
        (treatment, rows::numeric_kind(treatment, "treatment")?),
        (outcome, rows::numeric_kind(outcome, "outcome")?),
    ];
    let key = o
        .key
        .as_deref()
        .map(|k| source::find(&described, k, "key"))
        .transpose()?;
    let r = read(source_text, features, &extra, key, &described, &src)?;
    if r.dropped > 0 {
        notice!(
            "pg_marketing: dropped {} rows with a NULL treatment or outcome",
            r.dropped
        );
    }
    check_levels(base, &r.x)?;
    let treated = treatment_flags(&treatment.name, &r.extra[0]).sql()?;
    let y = &r.extra[1];
    let pool = pool::pool()?;
    let mut m = uplift_stored::train(
        meta,
        base,
        &o,
        propensity,
        (&treatment.name, &outcome.name),
        &r.x,
        &treated,
        y,
        &pool,
        &mut progress::progress(),
    )
    .sql()?;
    m.transform = transform;
    let (_, valid_idx) = predictor::split(y.len(), o.validation_fraction, o.seed);
    let vx = r.x.take(&valid_idx);
    let held_out: Vec<HeldOut> = valid_idx
        .iter()
        .enumerate()
        .map(|(j, &i)| HeldOut {
            row: vx.row(j),
            treated: treated[i],
            outcome: y[i],
        })
        .collect();
    let verdict = decide(&m, &held_out, &o);
    finish(
        model_name,
        source_text,
        params,
        Trained {
            algorithm: meta.name(),
            blob: m.encode().sql()?,
            key,
            target_col: &outcome.name,
            treatment_col: Some(&treatment.name),
            rows: y.len(),
            features: r.x.columns.len(),
            validation: &m.validation,
            dropped: ("dropped_null_rows", r.dropped),
        },
        verdict,
        started,
    )
}

/// A held-out row of an uplift test: its features (coded as the new model reads them), whether
/// it was treated, and its outcome.
pub struct HeldOut {
    pub row: Vec<mkt_predict::features::Value>,
    pub treated: bool,
    pub outcome: f64,
}
