//! Deciding for every row of a source in one call (mkt.decide_all): a nightly campaign's whole
//! customer base. Contexts are read through the executor, decided in memory (each state's arms read
//! once), and logged in chunks of one INSERT each, with the same columns mkt.decide logs.

use crate::pg::error::{require_primary, OrSql, SqlResult};
use crate::pg::progress;
use crate::pg::source::{self, Column, Target};
use crate::policies::cache;
use crate::policies::catalog::decisions::{self, Logged};
use crate::policies::catalog::state;
use crate::policies::decide::with_backend_rng;
use crate::policies::policy::Policy;
use mkt_core::ids::IdColumn;
use mkt_core::names::{quote_ident, quote_shown};
use mkt_core::progress::{Progress, Tick};
use mkt_core::Error;
use mkt_policy::config::Algorithm;
use mkt_policy::decide::{self, Decision, Knowledge};
use mkt_policy::ArmStats;
use mkt_prep::sql_expr::json_object_of;
use pgrx::prelude::*;
use serde_json::Value;
use std::collections::HashMap;

/// Decisions written by one INSERT; cancel is checked between them.
const CHUNK: usize = 20_000;

/// One decision as mkt.decide_all returns it.
pub type Decided = (i64, String, String, f64);

/// Reads (subject, context text) of every row whose subject is set.
fn read_rows(
    source_text: &str,
    subject_col: &str,
    context_cols: Option<&[String]>,
) -> SqlResult<(Vec<String>, Vec<String>)> {
    let src = source::resolve(source_text)?;
    let described = source::describe(&src)?;
    let subject = source::find(&described, subject_col, "subject")?;
    let ctx: Vec<&Column> = match context_cols {
        Some(names) => {
            let mut out: Vec<&Column> = Vec::new();
            for n in names {
                let c = source::find(&described, n, "context")?;
                if out.iter().any(|o| o.name == c.name) {
                    return Err(Error::InvalidParameter(format!(
                        "context column {} is listed twice",
                        quote_shown(&c.name)
                    )))
                    .sql();
                }
                out.push(c);
            }
            out
        }
        None => described
            .iter()
            .filter(|c| c.name != subject.name)
            .collect(),
    };
    let mut targets = vec![
        Target::Ids(IdColumn::Text(Vec::new())),
        Target::Ids(IdColumn::Text(Vec::new())),
    ];
    let names: Vec<&str> = ctx.iter().map(|c| c.name.as_str()).collect();
    let skipped = source::read_columnar(
        &src,
        &[quote_ident(&subject.name), json_object_of(&names)],
        &mut targets,
    )?;
    if skipped > 0 {
        notice!("pg_marketing: skipped {skipped} rows with a NULL subject");
    }
    let mut texts = targets.into_iter().map(|t| match t.into_ids() {
        IdColumn::Text(v) => v,
        IdColumn::Int(_) => Vec::new(),
    });
    let subjects = texts.next().unwrap_or_default();
    let contexts = texts.next().unwrap_or_default();
    Ok((subjects, contexts))
}

/// Rows of one state that share a Thompson sampling draw set before it is drawn again.
const SHARED_DRAWS: u32 = 64;

/// A state's distribution as decided last: its probabilities, Thompson's winners, and how many
/// rows have used it.
struct Shared {
    probabilities: Vec<f64>,
    winners: Option<Vec<usize>>,
    uses: u32,
}

/// Decides for each context. Each state's arms are read once; a state's distribution is computed
/// once (Q-learning's depends on the state alone) or, for Thompson sampling, shared by up to
/// `SHARED_DRAWS` rows, each of which takes a winner of the shared draws at random, so its logged
/// probability is still exactly the one it was chosen with. LinUCB scores each context.
fn decide_rows(p: &Policy, contexts: &[String]) -> SqlResult<Vec<(String, Decision)>> {
    let allowed = vec![true; p.cfg.actions.len()];
    let linear = match (&p.cfg.algorithm, &p.cfg.linear) {
        (Algorithm::LinUcb, Some(l)) => Some((l, state::linear_arms(p)?)),
        _ => None,
    };
    let reuse = match p.cfg.algorithm {
        Algorithm::Thompson => SHARED_DRAWS,
        _ => u32::MAX,
    };
    let mut arms_of: HashMap<String, Vec<Option<ArmStats>>> = HashMap::new();
    let mut shared: HashMap<String, Shared> = HashMap::new();
    let mut out = Vec::with_capacity(contexts.len());
    let mut tick = progress::progress();
    for (i, text) in contexts.iter().enumerate() {
        let raw: Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidParameter(format!("a context did not read as JSON: {e}")))
            .sql()?;
        let view = p.context(&raw)?;
        let st = p.cfg.state.key(&view).sql()?;
        let d = match &linear {
            Some((l, arms)) => {
                let x = l.features(&view).sql()?;
                with_backend_rng(|rng| {
                    decide::decide(&p.cfg, &Knowledge::Linear(arms, &x), &allowed, rng)
                })
            }
            None => {
                if !arms_of.contains_key(&st) {
                    arms_of.insert(st.clone(), state::arms(p, &st)?);
                }
                let arms = &arms_of[&st];
                with_backend_rng(|rng| {
                    let s = shared.entry(st.clone()).or_insert_with(|| Shared {
                        probabilities: Vec::new(),
                        winners: None,
                        uses: u32::MAX,
                    });
                    if s.uses >= reuse {
                        let (q, w) =
                            decide::distribution(&p.cfg, &Knowledge::Table(arms), &allowed, rng);
                        (s.probabilities, s.winners, s.uses) = (q, w, 0);
                    }
                    s.uses += 1;
                    Decision {
                        action: decide::draw(&s.probabilities, s.winners.as_deref(), rng),
                        probabilities: s.probabilities.clone(),
                    }
                })
            }
        };
        out.push((st, d));
        if i % 4096 == 4095 {
            tick.tick(&Progress {
                phase: "deciding",
                done: i + 1,
                total: contexts.len(),
            });
        }
    }
    Ok(out)
}

/// Logs one chunk of decisions; returns their ids in order. Rows of a state that share a
/// distribution (see `decide_rows`) share its jsonb text too.
fn log_chunk(
    p: &Policy,
    subjects: &[String],
    contexts: &[String],
    decided: &[(String, Decision)],
) -> SqlResult<Vec<i64>> {
    let mut texts: Vec<String> = Vec::new();
    let mut last: HashMap<&str, (&[f64], usize)> = HashMap::new();
    let text_of: Vec<usize> = decided
        .iter()
        .map(|(st, d)| match last.get(st.as_str()) {
            Some(&(q, i)) if q == d.probabilities.as_slice() => i,
            _ => {
                texts.push(p.distribution_json(&d.probabilities).to_string());
                last.insert(st, (&d.probabilities, texts.len() - 1));
                texts.len() - 1
            }
        })
        .collect();
    let distributions: Vec<&str> = text_of.iter().map(|&i| texts[i].as_str()).collect();
    decisions::log_decisions(
        p,
        Logged {
            subjects: subjects.iter().map(String::as_str).collect(),
            contexts: contexts.iter().map(String::as_str).collect(),
            states: decided.iter().map(|(st, _)| st.as_str()).collect(),
            actions: decided
                .iter()
                .map(|(_, d)| p.cfg.actions[d.action].as_str())
                .collect(),
            probabilities: decided
                .iter()
                .map(|(_, d)| d.probabilities[d.action])
                .collect(),
            distributions,
        },
    )
}

/// A decision for every row of `source` with a subject, each logged like mkt.decide's:
/// (decision_id, subject, action, probability) in the source's order.
pub fn decide_all(
    policy_name: &str,
    source_text: &str,
    subject_col: &str,
    context_cols: Option<&[String]>,
) -> SqlResult<Vec<Decided>> {
    require_primary("mkt.decide_all")?;
    let p = cache::load(policy_name)?;
    let (subjects, contexts) = read_rows(source_text, subject_col, context_cols)?;
    let decided = decide_rows(&p, &contexts)?;
    let mut out = Vec::with_capacity(subjects.len());
    let mut tick = progress::progress();
    for start in (0..subjects.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(subjects.len());
        let ids = log_chunk(
            &p,
            &subjects[start..end],
            &contexts[start..end],
            &decided[start..end],
        )?;
        for (k, id) in ids.into_iter().enumerate() {
            let (_, d) = &decided[start + k];
            out.push((
                id,
                subjects[start + k].clone(),
                p.cfg.actions[d.action].clone(),
                d.probabilities[d.action],
            ));
        }
        tick.tick(&Progress {
            phase: "logging decisions",
            done: end,
            total: subjects.len(),
        });
    }
    Ok(out)
}
