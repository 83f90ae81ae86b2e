//! Synthetic shop data with the structure real marketing data has, so that models can be compared
//! on it honestly:
//! - power-law item popularity (a few hits, a long tail);
//! - latent tastes tied to user attributes (segment, region, age band) and to item categories,
//!   plus a personal style per user and item, so personalisation beats popularity;
//! - drift: tastes shift towards other categories and new items launch during the period;
//! - a funnel: views, some carts, fewer purchases, with prices per category.
//!
//! The same scale gives the same rows on every machine.

use mkt_core::rng::Rng;

pub const SEGMENTS: [&str; 4] = ["new", "regular", "vip", "bargain_hunter"];
pub const REGIONS: [&str; 5] = ["north", "south", "east", "west", "central"];
pub const AGE_BANDS: [&str; 5] = ["18-24", "25-34", "35-44", "45-54", "55+"];
pub const CATEGORIES: [&str; 10] = [
    "electronics",
    "books",
    "fashion",
    "home",
    "sports",
    "beauty",
    "toys",
    "grocery",
    "garden",
    "automotive",
];
pub const EVENT_TYPES: [&str; 3] = ["view", "cart", "purchase"];

/// Start of the simulated period: 2026-01-01 00:00:00 UTC, in microseconds since the Unix epoch.
pub const START_MICROS: i64 = 1_767_225_600_000_000;
/// Length of the period: 90 days.
pub const PERIOD_MICROS: i64 = 90 * 86_400 * 1_000_000;

const STYLE_DIM: usize = 4;
const SEED: u64 = 20_260_101;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Users {
    pub user_id: Vec<i64>,
    pub segment: Vec<&'static str>,
    pub region: Vec<&'static str>,
    pub age_band: Vec<&'static str>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Items {
    pub item_id: Vec<i64>,
    pub category: Vec<&'static str>,
    /// In cents.
    pub price_cents: Vec<i64>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Events {
    pub user_id: Vec<i64>,
    pub item_id: Vec<i64>,
    pub event_type: Vec<&'static str>,
    /// Microseconds since the Unix epoch.
    pub ts_micros: Vec<i64>,
    /// In cents: 0 for views, the price for carts, price x quantity for purchases.
    pub value_cents: Vec<i64>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct DemoData {
    pub users: Users,
    pub items: Items,
    pub events: Events,
}

pub fn n_users(scale: u32) -> usize {
    5000 * scale as usize
}

pub fn n_items(scale: u32) -> usize {
    (1500.0 * (scale as f64).sqrt()).round() as usize
}

/// Category preference implied by an attribute value: each value favours a few categories.
fn attribute_taste(kind: u64, value: usize) -> [f64; 10] {
    let mut rng = Rng::stream(SEED, 1_000 + kind * 100 + value as u64);
    let mut t = [0.0; 10];
    for v in t.iter_mut() {
        *v = rng.normal() * 0.6;
    }
    t
}

fn sample(cum: &[f64], rng: &mut Rng) -> usize {
    let x = rng.uniform() * cum[cum.len() - 1];
    cum.partition_point(|&c| c <= x).min(cum.len() - 1)
}

/// The demo's events as unweighted interactions (what most model tests train on).
pub fn interactions(scale: u32) -> mkt_core::interactions::Interactions {
    let d = generate(scale);
    let raw = mkt_core::interactions::RawInteractions {
        users: mkt_core::ids::IdColumn::Int(d.events.user_id),
        items: mkt_core::ids::IdColumn::Int(d.events.item_id),
        weights: vec![],
        times: None,
    };
    mkt_core::interactions::Interactions::build(&raw).expect("demo events are valid")
}

pub fn generate(scale: u32) -> DemoData {
    let (nu, ni) = (n_users(scale), n_items(scale));
    let mut rng = Rng::stream(SEED, scale as u64);
    let seg_t: Vec<[f64; 10]> = (0..SEGMENTS.len()).map(|v| attribute_taste(0, v)).collect();
    let reg_t: Vec<[f64; 10]> = (0..REGIONS.len()).map(|v| attribute_taste(1, v)).collect();
    let age_t: Vec<[f64; 10]> = (0..AGE_BANDS.len())
        .map(|v| attribute_taste(2, v))
        .collect();

    // Items: category, style, price, launch time and a Zipf popularity from a shuffled rank.
    let mut items = Items::default();
    let mut item_cat = Vec::with_capacity(ni);
    let mut item_style = Vec::with_capacity(ni);
    let mut launch = Vec::with_capacity(ni);
    let mut ranks: Vec<usize> = (1..=ni).collect();
    for i in (1..ni).rev() {
        ranks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut pop = Vec::with_capacity(ni);
    for (i, &rank) in ranks.iter().enumerate() {
        let c = rng.below(CATEGORIES.len() as u64) as usize;
        let base = [
            2500.0, 1500.0, 4000.0, 6000.0, 3500.0, 2000.0, 2500.0, 800.0, 3000.0, 9000.0,
        ][c];
        let price = (base * (rng.normal() * 0.5).exp()).round().max(99.0) as i64;
        items.item_id.push(1000 + i as i64);
        items.category.push(CATEGORIES[c]);
        items.price_cents.push(price);
        item_cat.push(c);
        item_style.push((0..STYLE_DIM).map(|_| rng.normal()).collect::<Vec<f64>>());
        // A fifth of the catalogue launches during the period.
        launch.push(if rng.uniform() < 0.2 {
            rng.uniform() * 0.8
        } else {
            -1.0
        });
        pop.push((rank as f64).powf(-0.9));
    }

    let mut users = Users::default();
    let mut events = Events::default();
    let mut w_early = vec![0f64; ni];
    let mut w_late = vec![0f64; ni];
    for u in 0..nu {
        let mut r = Rng::stream(SEED ^ 0xABCD, u as u64);
        let (s, g, a) = (
            r.below(4) as usize,
            r.below(5) as usize,
            r.below(5) as usize,
        );
        let s = if u % 17 == 0 { 2 } else { s }; // vips are rarer but present in every region
        users.user_id.push(1 + u as i64);
        users.segment.push(SEGMENTS[s]);
        users.region.push(REGIONS[g]);
        users.age_band.push(AGE_BANDS[a]);
        let mut taste = [0f64; 10];
        for c in 0..10 {
            taste[c] = seg_t[s][c] + reg_t[g][c] + age_t[a][c] + r.normal() * 0.5;
        }
        // Drift: later in the period part of the taste moves to the next category.
        let mut late = [0f64; 10];
        for c in 0..10 {
            late[c] = 0.6 * taste[c] + 0.4 * taste[(c + 9) % 10];
        }
        let style: Vec<f64> = (0..STYLE_DIM).map(|_| r.normal()).collect();
        let pop_exp = if s == 3 { 0.7 } else { 0.5 };
        let (mut ce, mut cl) = (0.0, 0.0);
        for i in 0..ni {
            let st: f64 = style
                .iter()
                .zip(&item_style[i])
                .map(|(x, y)| x * y)
                .sum::<f64>()
                * 0.6;
            let p = pop[i].powf(pop_exp);
            let e = if launch[i] < 0.0 {
                p * (2.2 * taste[item_cat[i]] + st).exp()
            } else {
                0.0
            };
            let l = p * (2.2 * late[item_cat[i]] + st).exp();
            ce += e;
            cl += l;
            w_early[i] = ce;
            w_late[i] = cl;
        }
        let n = ((r.normal() * 0.8 + 2.3).exp().round() as usize).clamp(1, 400);
        let mut times: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        times.sort_by(|x, y| x.partial_cmp(y).unwrap());
        for t in times {
            let i = loop {
                let i = if r.uniform() < t {
                    sample(&w_late, &mut r)
                } else {
                    sample(&w_early, &mut r)
                };
                if launch[i] < t {
                    break i;
                }
            };
            let ts = START_MICROS + (t * PERIOD_MICROS as f64) as i64;
            let affinity = 1.6 * taste[item_cat[i]];
            let cart_p = 0.3 / (1.0 + (-affinity).exp());
            let mut push = |etype: &'static str, dt: i64, value: i64| {
                events.user_id.push(1 + u as i64);
                events.item_id.push(items.item_id[i]);
                events.event_type.push(etype);
                events.ts_micros.push(ts + dt);
                events.value_cents.push(value);
            };
            push(EVENT_TYPES[0], 0, 0);
            if r.uniform() < cart_p {
                push(EVENT_TYPES[1], 60_000_000, items.price_cents[i]);
                if r.uniform() < 0.45 {
                    let qty = 1 + r.below(3) as i64;
                    push(EVENT_TYPES[2], 300_000_000, items.price_cents[i] * qty);
                }
            }
        }
    }
    DemoData {
        users,
        items,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn deterministic_sizes_and_funnel() {
        let a = generate(1);
        assert_eq!(a, generate(1));
        assert_eq!(a.users.user_id.len(), 5000);
        assert_eq!(a.items.item_id.len(), 1500);
        let n = a.events.user_id.len();
        assert!((80_000..=125_000).contains(&n), "{n} events");
        let count = |t: &str| a.events.event_type.iter().filter(|e| **e == t).count();
        assert!(
            count("view") > count("cart")
                && count("cart") > count("purchase")
                && count("purchase") > 0
        );
    }

    #[test]
    fn popularity_is_skewed() {
        let a = generate(1);
        let mut per_item: HashMap<i64, usize> = HashMap::new();
        for i in &a.events.item_id {
            *per_item.entry(*i).or_default() += 1;
        }
        let mut counts: Vec<usize> = per_item.into_values().collect();
        counts.sort_unstable_by(|x, y| y.cmp(x));
        let top = counts.iter().take(counts.len() / 10).sum::<usize>();
        let total: usize = counts.iter().sum();
        // the top tenth of the items carry a large share of the events
        assert!(
            top * 10 > total * 3,
            "top decile share {}",
            top as f64 / total as f64
        );
    }
}
