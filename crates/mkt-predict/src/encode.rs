//! The stored form of a learner inside a model's safetensors buffer, under a name prefix (an
//! uplift model holds several learners). Decoding checks every index, so corrupted bytes give
//! `Error::Corrupted`, never a panic or a loop.

use crate::base::Base;
use crate::design::{Design, Encoding};
use crate::gbdt::Gbdt;
use crate::linear::Linear;
use crate::loss::Loss;
use crate::mlp::{Dense, Mlp};
use crate::tree::{Node, Rule, Tree};
use mkt_core::tensors::{f32s, f64s, i64s, text, u32s, Buf, Reader};
use mkt_core::{Error, Result};

fn loss_name(l: Loss) -> &'static str {
    match l {
        Loss::Logistic => "logistic",
        Loss::Squared => "squared",
    }
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupted(what.into())
}

pub fn push(out: &mut Vec<(String, Buf)>, p: &str, b: &Base) {
    match b {
        Base::Gbdt(m) => {
            out.push((format!("{p}.kind"), text("gbdt")));
            out.push((format!("{p}.loss"), text(loss_name(m.loss))));
            out.push((format!("{p}.base"), f64s(&[m.base])));
            out.push((format!("{p}.features"), u32s(&[m.features as u32])));
            let mut start = vec![0u32];
            let (mut feature, mut threshold, mut left, mut right, mut missing) =
                (vec![], vec![], vec![], vec![], vec![]);
            let (mut gain, mut count, mut value) = (vec![], vec![], vec![]);
            let (mut cat_left, mut cat_right, mut cats) = (vec![], vec![], vec![]);
            for t in &m.trees {
                for n in &t.nodes {
                    match n {
                        Node::Leaf { value: v, count: c } => {
                            feature.push(-1);
                            threshold.push(0.0);
                            left.push(0);
                            right.push(0);
                            missing.push(0);
                            gain.push(0.0);
                            count.push(*c);
                            value.push(*v);
                            cat_left.push(0);
                            cat_right.push(0);
                        }
                        Node::Split {
                            feature: f,
                            rule,
                            missing_left,
                            left: l,
                            right: r,
                            gain: g,
                            count: c,
                        } => {
                            feature.push(*f as i64);
                            left.push(*l);
                            right.push(*r);
                            missing.push(*missing_left as u32);
                            gain.push(*g);
                            count.push(*c);
                            value.push(0.0);
                            match rule {
                                Rule::Threshold(t) => {
                                    threshold.push(*t);
                                    cat_left.push(0);
                                    cat_right.push(0);
                                }
                                Rule::Categories {
                                    left: cl,
                                    right: cr,
                                } => {
                                    threshold.push(f64::NAN);
                                    cat_left.push(cl.len() as u32);
                                    cat_right.push(cr.len() as u32);
                                    cats.extend(cl);
                                    cats.extend(cr);
                                }
                            }
                        }
                    }
                }
                start.push(feature.len() as u32);
            }
            out.push((format!("{p}.tree_start"), u32s(&start)));
            out.push((format!("{p}.feature"), i64s(&feature)));
            out.push((format!("{p}.threshold"), f64s(&threshold)));
            out.push((format!("{p}.left"), u32s(&left)));
            out.push((format!("{p}.right"), u32s(&right)));
            out.push((format!("{p}.missing_left"), u32s(&missing)));
            out.push((format!("{p}.gain"), f64s(&gain)));
            out.push((format!("{p}.count"), f64s(&count)));
            out.push((format!("{p}.value"), f64s(&value)));
            out.push((format!("{p}.cat_left"), u32s(&cat_left)));
            out.push((format!("{p}.cat_right"), u32s(&cat_right)));
            out.push((format!("{p}.cats"), u32s(&cats)));
        }
        Base::Linear { design, model } => {
            out.push((format!("{p}.kind"), text("linear")));
            out.push((format!("{p}.loss"), text(loss_name(model.loss))));
            let mut coef = vec![model.intercept];
            coef.extend(&model.coef);
            out.push((format!("{p}.coef"), f64s(&coef)));
            push_design(out, p, design);
        }
        Base::Mlp(m) => {
            out.push((format!("{p}.kind"), text("mlp")));
            out.push((format!("{p}.loss"), text(loss_name(m.loss))));
            push_design(out, p, &m.design);
            out.push((format!("{p}.shift"), f64s(&m.shift)));
            out.push((format!("{p}.scale"), f64s(&m.scale)));
            out.push((format!("{p}.y_scaling"), f64s(&[m.y_shift, m.y_scale])));
            out.push((format!("{p}.importance"), f64s(&m.importance)));
            out.push((format!("{p}.layers"), u32s(&[m.layers.len() as u32])));
            for (l, d) in m.layers.iter().enumerate() {
                out.push((format!("{p}.w{l}"), f32s(&d.w, vec![d.inp, d.out])));
                out.push((format!("{p}.b{l}"), f32s(&d.b, vec![d.out])));
            }
        }
    }
}

fn push_design(out: &mut Vec<(String, Buf)>, p: &str, design: &Design) {
    let (mut means, mut levels) = (vec![], vec![]);
    for e in &design.encodings {
        match e {
            Encoding::Numeric { mean } => {
                means.push(*mean);
                levels.push(0);
            }
            Encoding::OneHot { levels: l } => {
                means.push(0.0);
                levels.push(*l as u32 + 1);
            }
        }
    }
    out.push((format!("{p}.means"), f64s(&means)));
    out.push((format!("{p}.levels"), u32s(&levels)));
}

fn read_design(r: &Reader<'_>, p: &str, features: usize) -> Result<Design> {
    let means = r.f64s(&format!("{p}.means"))?.to_vec();
    let levels = r.u32s(&format!("{p}.levels"))?.to_vec();
    if means.len() != features || levels.len() != features {
        return Err(corrupt(format!(
            "{p}: encodings for {} features, the model has {features}",
            means.len()
        )));
    }
    let encodings: Vec<Encoding> = means
        .iter()
        .zip(&levels)
        .map(|(&mean, &l)| {
            if l == 0 {
                Encoding::Numeric { mean }
            } else {
                Encoding::OneHot {
                    levels: l as usize - 1,
                }
            }
        })
        .collect();
    Ok(Design { encodings })
}

fn read_mlp(r: &Reader<'_>, p: &str, loss: Loss, features: usize, outputs: usize) -> Result<Mlp> {
    let design = read_design(r, p, features)?;
    let width = design.width();
    let get = |n: &str| r.f64s(&format!("{p}.{n}")).map(|v| v.to_vec());
    let (shift, scale, y, importance) = (
        get("shift")?,
        get("scale")?,
        get("y_scaling")?,
        get("importance")?,
    );
    if shift.len() != width || scale.len() != width || y.len() != 2 {
        return Err(corrupt(format!(
            "{p}: scaling for {} inputs, the design has {width}",
            shift.len()
        )));
    }
    if importance.len() != features {
        return Err(corrupt(format!(
            "{p}: importance of {} features",
            importance.len()
        )));
    }
    let count = r
        .u32s(&format!("{p}.layers"))?
        .first()
        .copied()
        .unwrap_or(0) as usize;
    if count == 0 || count > 64 {
        return Err(corrupt(format!("{p}: {count} layers")));
    }
    let mut layers: Vec<Dense> = Vec::with_capacity(count);
    let mut inp = width;
    for l in 0..count {
        let (ws, w) = r.f32s(&format!("{p}.w{l}"))?;
        let (bs, b) = r.f32s(&format!("{p}.b{l}"))?;
        let out = ws.get(1).copied().unwrap_or(0);
        if ws.len() != 2 || ws[0] != inp || bs != [out] || out == 0 {
            return Err(corrupt(format!(
                "{p}: layer {l} has shape {ws:?}, {bs:?} after {inp} inputs"
            )));
        }
        layers.push(Dense {
            inp,
            out,
            w: w.to_vec(),
            b: b.to_vec(),
        });
        inp = out;
    }
    if inp != outputs {
        return Err(corrupt(format!("{p}: the last layer has {inp} outputs")));
    }
    Ok(Mlp {
        loss,
        design,
        shift,
        scale,
        y_shift: y[0],
        y_scale: y[1],
        layers,
        importance,
    })
}

fn loss_of(r: &Reader<'_>, p: &str) -> Result<Loss> {
    match r.text(&format!("{p}.loss"))?.as_str() {
        "logistic" => Ok(Loss::Logistic),
        "squared" => Ok(Loss::Squared),
        other => Err(corrupt(format!("unknown loss {other:?}"))),
    }
}

/// Reads the learner under prefix `p`; `features` is how many feature columns it reads.
pub fn read(r: &Reader<'_>, p: &str, features: usize) -> Result<Base> {
    read_with_outputs(r, p, features, 1)
}

/// `read` of a learner with `outputs` outputs (a network trained on classes has one per class).
pub fn read_with_outputs(r: &Reader<'_>, p: &str, features: usize, outputs: usize) -> Result<Base> {
    let loss = loss_of(r, p)?;
    match r.text(&format!("{p}.kind"))?.as_str() {
        "gbdt" => {
            let get_u = |n: &str| r.u32s(&format!("{p}.{n}")).map(|v| v.to_vec());
            let get_f = |n: &str| r.f64s(&format!("{p}.{n}")).map(|v| v.to_vec());
            let base = get_f("base")?
                .first()
                .copied()
                .ok_or_else(|| corrupt("no base score"))?;
            let nf = get_u("features")?.first().copied().unwrap_or(u32::MAX) as usize;
            if nf != features {
                return Err(corrupt(format!(
                    "{p} reads {nf} features, the model has {features}"
                )));
            }
            let start = get_u("tree_start")?;
            let feature = r.i64s(&format!("{p}.feature"))?;
            let (threshold, left, right, missing) = (
                get_f("threshold")?,
                get_u("left")?,
                get_u("right")?,
                get_u("missing_left")?,
            );
            let (gain, count, value) = (get_f("gain")?, get_f("count")?, get_f("value")?);
            let (cat_left, cat_right, cats) =
                (get_u("cat_left")?, get_u("cat_right")?, get_u("cats")?);
            let n = feature.len();
            if [
                threshold.len(),
                left.len(),
                right.len(),
                missing.len(),
                gain.len(),
                count.len(),
                value.len(),
                cat_left.len(),
                cat_right.len(),
            ]
            .iter()
            .any(|&l| l != n)
                || start.first() != Some(&0)
                || start.last().map(|&s| s as usize) != Some(n)
                || start.windows(2).any(|w| w[1] <= w[0])
            {
                return Err(corrupt(format!("{p}: node arrays of different lengths")));
            }
            let mut trees = Vec::with_capacity(start.len() - 1);
            let mut at_cat = 0usize;
            for w in start.windows(2) {
                let (lo, hi) = (w[0] as usize, w[1] as usize);
                let mut nodes = Vec::with_capacity(hi - lo);
                for i in lo..hi {
                    let local = (i - lo) as u32;
                    if feature[i] < 0 {
                        nodes.push(Node::Leaf {
                            value: value[i],
                            count: count[i],
                        });
                        continue;
                    }
                    let f = feature[i] as usize;
                    // Children come after their parent: a walk down always ends at a leaf.
                    let in_tree = |c: u32| c > local && (c as usize) < hi - lo;
                    if f >= features || !in_tree(left[i]) || !in_tree(right[i]) {
                        return Err(corrupt(format!("{p}: node {i} points outside its tree")));
                    }
                    let rule = if threshold[i].is_nan() {
                        let (nl, nr) = (cat_left[i] as usize, cat_right[i] as usize);
                        if at_cat + nl + nr > cats.len() {
                            return Err(corrupt(format!("{p}: category sets out of range")));
                        }
                        let l = cats[at_cat..at_cat + nl].to_vec();
                        let rr = cats[at_cat + nl..at_cat + nl + nr].to_vec();
                        at_cat += nl + nr;
                        if !l.is_sorted() || !rr.is_sorted() {
                            return Err(corrupt(format!("{p}: category sets out of order")));
                        }
                        Rule::Categories { left: l, right: rr }
                    } else {
                        Rule::Threshold(threshold[i])
                    };
                    nodes.push(Node::Split {
                        feature: f as u32,
                        rule,
                        missing_left: missing[i] != 0,
                        left: left[i],
                        right: right[i],
                        gain: gain[i],
                        count: count[i],
                    });
                }
                trees.push(Tree { nodes });
            }
            Ok(Base::Gbdt(Gbdt {
                loss,
                base,
                trees,
                features,
            }))
        }
        "linear" => {
            let coef = r.f64s(&format!("{p}.coef"))?.to_vec();
            let design = read_design(r, p, features)?;
            if coef.len() != design.width() + 1 {
                return Err(corrupt(format!(
                    "{p}: {} coefficients for {} design columns",
                    coef.len(),
                    design.width()
                )));
            }
            let model = Linear {
                loss,
                intercept: coef[0],
                coef: coef[1..].to_vec(),
                iterations: 0,
            };
            Ok(Base::Linear { design, model })
        }
        "mlp" => Ok(Base::Mlp(read_mlp(r, p, loss, features, outputs)?)),
        other => Err(corrupt(format!("unknown learner {other:?}"))),
    }
}
