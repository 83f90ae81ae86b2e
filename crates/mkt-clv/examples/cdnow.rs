//! Fits BG/NBD (and the other purchase models) and Gamma-Gamma on the CDNOW summaries that the
//! lifetimes wheel ships (`pip download --no-deps lifetimes==0.11.3`), and prints the parameters,
//! standard errors and log-likelihoods beside the published ones.
//!   cargo run --release -p mkt-clv --example cdnow -- <cdnow_customers_summary.csv> <..._with_transactions.csv>

use mkt_clv::fit::{fit_purchases, fit_spend};
use mkt_clv::purchases::{Kind, Rft};
use mkt_clv::spend::Spend;
use mkt_core::progress::no_tick;

fn rows(path: &str) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().build().expect("a thread pool");
    let args: Vec<String> = std::env::args().collect();
    let summary = rows(&args[1]);
    let customers: Vec<Rft> = summary.iter().map(|r| Rft { x: r[0], t_x: r[1], t: r[2] }).collect();
    for kind in [Kind::BgNbd, Kind::MbgNbd, Kind::ParetoNbd] {
        let t = std::time::Instant::now();
        let f = fit_purchases(kind, &customers.iter().map(|&c| (c, 1.0)).collect::<Vec<_>>(), 0.0, &mut no_tick(), &pool).unwrap();
        println!(
            "{:<11} {} ll={:.2} se={:?} ({} iterations, {:.3} s)",
            kind.name(),
            kind.param_names().iter().zip(&f.params).map(|(n, v)| format!("{n}={v:.6}")).collect::<Vec<_>>().join(" "),
            f.log_likelihood,
            f.std_errors.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>(),
            f.iterations,
            t.elapsed().as_secs_f64()
        );
    }
    println!("published   bg_nbd r=0.243 alpha=4.414 a=0.793 b=2.426 ll=-9582.4 (Fader, Hardie and Lee 2005)");
    let spend: Vec<Spend> = rows(&args[2]).iter().filter(|r| r[0] > 0.0).map(|r| Spend { x: r[0], m: r[3] }).collect();
    let (f, corr) = fit_spend(&spend, 0.0, &mut no_tick(), &pool).unwrap();
    println!(
        "gamma_gamma p={:.6} q={:.6} v={:.6} ll={:.2} se={:?} correlation={corr:.4} ({} buyers)",
        f.params[0], f.params[1], f.params[2], f.log_likelihood, f.std_errors, spend.len()
    );
    println!("published   gamma_gamma p=6.25 q=3.74 v=15.44 (lifetimes: 6.248802 3.744588 15.447748; correlation 0.1139)");
}
