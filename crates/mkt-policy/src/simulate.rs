//! A marketing simulator any policy can be run against: hidden conversion rates drawn from a seed,
//! contexts with a `segment` key, rewards drawn from the rates; learning curves against a random
//! policy and the oracle that knows the rates.

use crate::config::PolicyConfig;
use crate::learner::Learner;
use mkt_core::progress::{no_tick, Progress, Tick};
use mkt_core::rng::Rng;
use mkt_core::{Error, Result};
use serde_json::json;

pub const SCENARIOS: [&str; 2] = ["demo", "journey"];
pub const SEGMENTS: [&str; 4] = ["new", "active", "vip", "lapsed"];
pub const STAGES: [&str; 3] = ["browse", "cart", "checkout"];
const BASE_RATE: [f64; 4] = [0.04, 0.08, 0.15, 0.02];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurvePoint {
    pub round: u64,
    pub cumulative_reward: f64,
    /// Sum over rounds of (expected reward of the best action) - (expected reward of the chosen one).
    pub cumulative_regret: f64,
    pub random_reward: f64,
    /// Expected cumulative reward of the policy that knows the hidden rates.
    pub oracle_reward: f64,
}

/// Hidden rates: per segment (and stage for journeys), per action.
struct World {
    rates: Vec<Vec<f64>>,
}

impl World {
    fn new(
        n_contexts: usize,
        n_actions: usize,
        base: impl Fn(usize) -> f64,
        rng: &mut Rng,
    ) -> Self {
        let rates = (0..n_contexts)
            .map(|c| {
                (0..n_actions)
                    .map(|_| (base(c) * (0.7 * rng.normal()).exp()).min(0.95))
                    .collect()
            })
            .collect();
        World { rates }
    }

    fn best(&self, c: usize) -> f64 {
        self.rates[c].iter().cloned().fold(0.0, f64::max)
    }
}

fn checkpoints(rounds: u64) -> u64 {
    (rounds / 200).max(1)
}

pub fn run(cfg: &PolicyConfig, scenario: &str, rounds: u64, seed: u64) -> Result<Vec<CurvePoint>> {
    run_with(cfg, scenario, rounds, seed, &mut no_tick())
}

/// Rounds between two progress ticks.
const TICK_ROUNDS: u64 = 10_000;

/// `run`, reporting progress (and giving the caller a chance to cancel) every 10k rounds.
pub fn run_with(
    cfg: &PolicyConfig,
    scenario: &str,
    rounds: u64,
    seed: u64,
    tick: &mut dyn Tick,
) -> Result<Vec<CurvePoint>> {
    if !(1..=10_000_000).contains(&rounds) {
        return Err(Error::invalid(format!(
            "rounds must be between 1 and 10000000, got {rounds}"
        )));
    }
    let mut learner = Learner::new(cfg.clone());
    match scenario {
        "demo" => Ok(run_demo(&mut learner, rounds, seed, tick)?),
        "journey" => Ok(run_journey(&mut learner, rounds, seed, tick)?),
        other => Err(Error::unknown("scenario", other, &SCENARIOS)),
    }
}

/// One-step offers: a random segment and engagement per round; conversion probability is the
/// segment's rate for the action scaled by (0.5 + engagement).
/// Closes round `t`: a curve point at each checkpoint, a progress tick every 10k rounds.
fn record(
    out: &mut Vec<CurvePoint>,
    now: &mut CurvePoint,
    t: u64,
    rounds: u64,
    tick: &mut dyn Tick,
) {
    now.round = t;
    if t.is_multiple_of(checkpoints(rounds)) || t == rounds {
        out.push(now.clone());
    }
    if t.is_multiple_of(TICK_ROUNDS) {
        tick.tick(&Progress {
            phase: "simulate",
            done: t as usize,
            total: rounds as usize,
        });
    }
}

fn run_demo(
    learner: &mut Learner,
    rounds: u64,
    seed: u64,
    tick: &mut dyn Tick,
) -> Result<Vec<CurvePoint>> {
    let n_actions = learner.cfg.actions.len();
    let mut world_rng = Rng::stream(seed, 1);
    let world = World::new(SEGMENTS.len(), n_actions, |s| BASE_RATE[s], &mut world_rng);
    let mut rng = Rng::stream(seed, 2);
    let all = vec![true; n_actions];
    let mut out = Vec::new();
    let mut now = CurvePoint::default();
    for t in 1..=rounds {
        let s = rng.below(SEGMENTS.len() as u64) as usize;
        let e = rng.uniform();
        let ctx = json!({"segment": SEGMENTS[s], "engagement": e});
        let scale = 0.5 + e;
        let (_, d) = learner.decide(&ctx, &all)?;
        let p = (world.rates[s][d.action] * scale).min(1.0);
        // Common random numbers: the random policy faces the same draw.
        let u = rng.uniform();
        let r = if u < p { 1.0 } else { 0.0 };
        learner.reward(&ctx, d.action, r, None)?;
        let random_action = rng.below(n_actions as u64) as usize;
        if u < (world.rates[s][random_action] * scale).min(1.0) {
            now.random_reward += 1.0;
        }
        let best = (world.best(s) * scale).min(1.0);
        now.cumulative_reward += r;
        now.cumulative_regret += best - p;
        now.oracle_reward += best;
        record(&mut out, &mut now, t, rounds, tick);
    }
    Ok(out)
}

/// Multi-step journeys: browse -> cart -> checkout -> purchase (reward 1). At each stage the
/// action decides how likely the customer moves on; otherwise the journey ends with nothing. Each
/// step is a round; regret per step is Q*(s, best) - Q*(s, chosen) of the undiscounted journey.
fn run_journey(
    learner: &mut Learner,
    rounds: u64,
    seed: u64,
    tick: &mut dyn Tick,
) -> Result<Vec<CurvePoint>> {
    let n_actions = learner.cfg.actions.len();
    let n_seg = SEGMENTS.len();
    let mut world_rng = Rng::stream(seed, 1);
    // Context c = stage * n_seg + segment; moving on is likelier early in the journey.
    let world = World::new(
        STAGES.len() * n_seg,
        n_actions,
        |c| [0.5, 0.5, 0.6][c / n_seg] * (1.0 + BASE_RATE[c % n_seg]),
        &mut world_rng,
    );
    // Q*(stage, seg, a) = rate * V*(next stage), V*(after checkout) = 1.
    let mut q_star = vec![vec![0.0; n_actions]; STAGES.len() * n_seg];
    for seg in 0..n_seg {
        let mut v_next = 1.0;
        for stage in (0..STAGES.len()).rev() {
            let c = stage * n_seg + seg;
            for (q, r) in q_star[c].iter_mut().zip(&world.rates[c]) {
                *q = r * v_next;
            }
            v_next = q_star[c].iter().cloned().fold(0.0, f64::max);
        }
    }
    let mut rng = Rng::stream(seed, 2);
    let mut random_rng = Rng::stream(seed, 3);
    let all = vec![true; n_actions];
    let mut out = Vec::new();
    let mut now = CurvePoint::default();
    let (mut seg, mut stage) = (rng.below(n_seg as u64) as usize, 0usize);
    let (mut rseg, mut rstage) = (random_rng.below(n_seg as u64) as usize, 0usize);
    for t in 1..=rounds {
        let c = stage * n_seg + seg;
        let ctx = json!({"segment": SEGMENTS[seg], "stage": STAGES[stage]});
        let (_, d) = learner.decide(&ctx, &all)?;
        let moved = rng.uniform() < world.rates[c][d.action];
        let best = q_star[c].iter().cloned().fold(0.0, f64::max);
        now.cumulative_regret += best - q_star[c][d.action];
        now.oracle_reward += if stage == 0 { best } else { 0.0 };
        let (r, next) = match (moved, stage + 1 == STAGES.len()) {
            (true, true) => (1.0, None),
            (true, false) => (0.0, Some(stage + 1)),
            (false, _) => (0.0, None),
        };
        let next_ctx = next.map(|s| json!({"segment": SEGMENTS[seg], "stage": STAGES[s]}));
        learner.reward(&ctx, d.action, r, next_ctx.as_ref())?;
        now.cumulative_reward += r;
        match next {
            Some(s) => stage = s,
            None => {
                seg = rng.below(n_seg as u64) as usize;
                stage = 0;
            }
        }
        // The random policy walks its own journeys, one step per round.
        let rc = rstage * n_seg + rseg;
        let ra = random_rng.below(n_actions as u64) as usize;
        if random_rng.uniform() < world.rates[rc][ra] {
            if rstage + 1 == STAGES.len() {
                now.random_reward += 1.0;
                rstage = 0;
                rseg = random_rng.below(n_seg as u64) as usize;
            } else {
                rstage += 1;
            }
        } else {
            rstage = 0;
            rseg = random_rng.below(n_seg as u64) as usize;
        }
        record(&mut out, &mut now, t, rounds, tick);
    }
    Ok(out)
}
