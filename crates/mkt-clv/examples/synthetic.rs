//! Transactions of customers drawn from a BG/NBD with Gamma-Gamma spend (r 3, alpha 5, a 1,
//! b 12; p 4, q 3, v 20 per week), each first buying on a random day of 2025 and observed to its
//! end, as CSV (customer, timestamp, amount) for COPY: the CLV benchmark's data.
//!   cargo run --release -p mkt-clv --example synthetic -- <customers> [seed]

use mkt_clv::purchases::Kind;
use mkt_clv::simulate::customer;
use mkt_core::rng::Rng;
use std::io::{BufWriter, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|v| v.parse().ok()).expect("usage: synthetic <customers> [seed]");
    let mut rng = Rng::new(args.get(2).and_then(|v| v.parse().ok()).unwrap_or(7));
    let (params, (p, q, v)) = ([3.0, 5.0, 1.0, 12.0], (4.0, 3.0, 20.0));
    let out = std::io::stdout();
    let mut w = BufWriter::new(out.lock());
    let mut times = Vec::new();
    let start = 1_735_689_600.0; // 2025-01-01 00:00 UTC
    let year_weeks = 52.0;
    for c in 1..=n {
        let first = rng.uniform() * year_weeks;
        customer(Kind::BgNbd, &params, year_weeks - first, &mut rng, &mut times);
        // Gamma-Gamma: the customer's mean spend, then each purchase's amount around it
        let nu = rng.gamma(q) / v;
        let mut emit = |at: f64, rng: &mut Rng| {
            let amount = rng.gamma(p) / nu;
            let secs = start + at * 7.0 * 86400.0;
            writeln!(w, "{c},{secs:.0},{amount:.2}").expect("stdout");
        };
        emit(first, &mut rng);
        for &t in times.clone().iter() {
            emit(first + t, &mut rng);
        }
    }
}
