//! Our learners on the data the Python peers use (bench/predict_peers.py runs both and compares):
//!   peers <data dir> <out dir>          UniversalBank (a loan offer; Education for multiclass) and
//!                                       Hair-Care-Product from the dmba wheel
//!   peers --synthetic <x.f64> <y.f64> <rows> <features> <trees>   timing on a raw float64 matrix
use mkt_core::progress::no_tick;
use mkt_predict::base::{Base, BaseParams};
use mkt_predict::classification::roc_auc;
use mkt_predict::features::{Column, Features};
use mkt_predict::gbdt::{self, GbdtParams, Rows};
use mkt_predict::grow::GrowParams;
use mkt_predict::loss::Loss;
use mkt_predict::uplift::{self, Meta, Test};
use mkt_predict::uplift_metrics::{auuc, qini_coefficient, uplift_at_k, Scored};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

type Table = (Vec<String>, Vec<Vec<String>>);

fn read_csv(path: &str) -> Table {
    let text = std::fs::read_to_string(path).expect("readable CSV");
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(String::from)
        .collect();
    (
        header,
        lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect(),
    )
}

fn col(t: &Table, name: &str) -> usize {
    t.0.iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn numeric(t: &Table, name: &str, rows: &[usize]) -> Vec<f64> {
    let c = col(t, name);
    rows.iter()
        .map(|&r| t.1[r][c].parse().expect("a number"))
        .collect()
}

fn categorical(t: &Table, name: &str, rows: &[usize], levels: &mut Vec<String>) -> Vec<u32> {
    let c = col(t, name);
    let mut index: HashMap<String, u32> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i as u32))
        .collect();
    rows.iter()
        .map(|&r| {
            let v = &t.1[r][c];
            *index.entry(v.clone()).or_insert_with(|| {
                levels.push(v.clone());
                levels.len() as u32 - 1
            })
        })
        .collect()
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
}

const BANK: [&str; 11] = [
    "Age",
    "Experience",
    "Income",
    "Family",
    "CCAvg",
    "Education",
    "Mortgage",
    "Securities Account",
    "CD Account",
    "Online",
    "CreditCard",
];

fn bank(dir: &str, out: &str) {
    let t = read_csv(&format!("{dir}/UniversalBank.csv"));
    let id = col(&t, "ID");
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..t.1.len()).partition(|&r| t.1[r][id].parse::<u64>().unwrap() % 5 == 0);
    let feats = |rows: &[usize]| Features {
        names: BANK.iter().map(|s| s.to_string()).collect(),
        columns: BANK
            .iter()
            .map(|n| Column::Numeric(numeric(&t, n, rows)))
            .collect(),
    };
    let (x, vx) = (feats(&train), feats(&test));
    let (y, vy) = (
        numeric(&t, "Personal Loan", &train),
        numeric(&t, "Personal Loan", &test),
    );
    let w = vec![1.0; y.len()];
    let labels: Vec<bool> = vy.iter().map(|&v| v == 1.0).collect();
    let p = GbdtParams {
        trees: 100,
        early_stopping_rounds: 0,
        ..Default::default()
    };
    let fit = |params: BaseParams| {
        let start = Instant::now();
        let (m, _) = Base::fit(
            Loss::Logistic,
            &params,
            Rows {
                x: &x,
                y: &y,
                w: &w,
            },
            None,
            &pool(),
            &mut no_tick(),
        )
        .unwrap();
        (m, start.elapsed().as_secs_f64())
    };
    let (g, gbdt_s) = fit(BaseParams::Gbdt(p));
    let (l, _) = fit(BaseParams::Linear { l2: 1.0 });
    // The design's network: 128 and 64 ReLU units, Adam, early stopping on a tenth of the rows.
    let (n, mlp_s) = fit(BaseParams::Mlp(mkt_predict::mlp::MlpParams::default()));
    let (gs, ls, ns) = (g.predict_all(&vx), l.predict_all(&vx), n.predict_all(&vx));
    println!(
        "bank: gbdt auc {:.4} ({gbdt_s:.3} s), logistic auc {:.4}, mlp auc {:.4} ({mlp_s:.2} s)",
        roc_auc(&gs, &labels).unwrap(),
        roc_auc(&ls, &labels).unwrap(),
        roc_auc(&ns, &labels).unwrap()
    );
    std::fs::write(format!("{out}/bank_mlp_seconds.txt"), format!("{mlp_s}")).unwrap();
    let mut s = String::from("gbdt,logistic,mlp\n");
    for ((a, b), c) in gs.iter().zip(&ls).zip(&ns) {
        writeln!(s, "{a:.17e},{b:.17e},{c:.17e}").unwrap();
    }
    std::fs::write(format!("{out}/bank_scores.csv"), s).unwrap();
    if let Base::Linear { model, .. } = &l {
        let mut s = format!("{:.17e}\n", model.intercept);
        for c in &model.coef {
            writeln!(s, "{c:.17e}").unwrap();
        }
        std::fs::write(format!("{out}/bank_coef.csv"), s).unwrap();
    }
}

/// Multiclass: each bank customer's Education (1, 2 or 3) from the other columns, on the same
/// split, by each algorithm with validation_fraction 0 (every training row, as the peers fit).
fn education(dir: &str, out: &str) {
    use mkt_predict::multiclass;
    use mkt_predict::predictor::{Algorithm, Options, Task};
    let t = read_csv(&format!("{dir}/UniversalBank.csv"));
    let id = col(&t, "ID");
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..t.1.len()).partition(|&r| t.1[r][id].parse::<u64>().unwrap() % 5 == 0);
    let names: Vec<&str> = BANK
        .iter()
        .copied()
        .filter(|n| *n != "Education")
        .chain(["Personal Loan"])
        .collect();
    let feats = |rows: &[usize]| Features {
        names: names.iter().map(|s| s.to_string()).collect(),
        columns: names
            .iter()
            .map(|n| Column::Numeric(numeric(&t, n, rows)))
            .collect(),
    };
    let (x, vx) = (feats(&train), feats(&test));
    // Classes 1, 2, 3 at positions 0, 1, 2.
    let y: Vec<f64> = numeric(&t, "Education", &train)
        .iter()
        .map(|v| v - 1.0)
        .collect();
    let vy: Vec<usize> = numeric(&t, "Education", &test)
        .iter()
        .map(|v| *v as usize - 1)
        .collect();
    let classes: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    let mut metrics = String::from("model,accuracy,balanced_accuracy,macro_f1,log_loss,seconds\n");
    for (alg, params) in [
        (
            Algorithm::Gbdt,
            serde_json::json!({"validation_fraction": 0, "early_stopping_rounds": 0}),
        ),
        (
            Algorithm::Logistic,
            serde_json::json!({"validation_fraction": 0}),
        ),
        (
            Algorithm::Mlp,
            serde_json::json!({"validation_fraction": 0}),
        ),
    ] {
        let o = Options::parse("peers", Task::Multiclass, alg, &params).unwrap();
        let start = Instant::now();
        let (p, _) = multiclass::train(
            alg,
            &o,
            "Education",
            classes.clone(),
            &x,
            &y,
            &pool(),
            &mut no_tick(),
        )
        .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let probs = multiclass::probabilities_all(&p, &vx);
        let m: HashMap<String, f64> = mkt_predict::classes::metrics(&probs, 3, &vy)
            .into_iter()
            .collect();
        writeln!(
            metrics,
            "{},{:.17e},{:.17e},{:.17e},{:.17e},{seconds}",
            alg.name(),
            m["accuracy"],
            m["balanced_accuracy"],
            m["macro_f1"],
            m["log_loss"]
        )
        .unwrap();
        let mut s = String::from("p1,p2,p3,truth\n");
        for (i, &c) in vy.iter().enumerate() {
            let r = &probs[i * 3..i * 3 + 3];
            writeln!(s, "{:.17e},{:.17e},{:.17e},{}", r[0], r[1], r[2], c + 1).unwrap();
        }
        std::fs::write(format!("{out}/education_{}.csv", alg.name()), s).unwrap();
        if alg == Algorithm::Logistic {
            // Each class's intercept and coefficients, for the comparison with scikit-learn's.
            let mut s = String::new();
            for m in &p.models {
                if let Base::Linear { model, .. } = m {
                    let row: Vec<String> = std::iter::once(model.intercept)
                        .chain(model.coef.iter().copied())
                        .map(|v| format!("{v:.17e}"))
                        .collect();
                    writeln!(s, "{}", row.join(",")).unwrap();
                }
            }
            std::fs::write(format!("{out}/education_coef.csv"), s).unwrap();
        }
    }
    std::fs::write(format!("{out}/education_metrics.csv"), metrics).unwrap();
}

fn hair(dir: &str, out: &str) {
    let t = read_csv(&format!("{dir}/Hair-Care-Product.csv"));
    let v = col(&t, "Validation");
    let (test, train): (Vec<usize>, Vec<usize>) = (0..t.1.len()).partition(|&r| t.1[r][v] == "1");
    let (mut hair_levels, mut region_levels) = (Vec::new(), Vec::new());
    let mut feats = |rows: &[usize]| Features {
        names: [
            "Age",
            "Hair Color",
            "U.S. Region",
            "Gender_ord",
            "Residence_ord",
        ]
        .map(String::from)
        .to_vec(),
        columns: vec![
            Column::Numeric(numeric(&t, "Age", rows)),
            Column::Categorical {
                codes: categorical(&t, "Hair Color", rows, &mut hair_levels),
                levels: hair_levels.clone(),
            },
            Column::Categorical {
                codes: categorical(&t, "U.S. Region", rows, &mut region_levels),
                levels: region_levels.clone(),
            },
            Column::Numeric(numeric(&t, "Gender_ord", rows)),
            Column::Numeric(numeric(&t, "Residence_ord", rows)),
        ],
    };
    let (x, vx) = (feats(&train), feats(&test));
    let treated = |rows: &[usize]| {
        numeric(&t, "Promotion_ord", rows)
            .iter()
            .map(|&v| v == 1.0)
            .collect::<Vec<_>>()
    };
    let (tt, vt) = (treated(&train), treated(&test));
    let (y, vy) = (
        numeric(&t, "Purchase", &train),
        numeric(&t, "Purchase", &test),
    );
    let mut scores = String::from("outcome,treated");
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut metrics = String::from("model,qini,auuc,uplift_at_10,uplift_at_30\n");
    let base = BaseParams::Gbdt(GbdtParams {
        trees: 50,
        early_stopping_rounds: 0,
        grow: GrowParams {
            max_leaves: 8,
            min_data_in_leaf: 50,
            ..Default::default()
        },
        ..Default::default()
    });
    for (base_name, base) in [("gbdt", base), ("logistic", BaseParams::Linear { l2: 1.0 })] {
        for meta in [Meta::S, Meta::T, Meta::X, Meta::ClassTransformation] {
            let m = uplift::fit(
                meta,
                &base,
                Test {
                    x: &x,
                    treated: &tt,
                    outcome: &y,
                },
                None,
                &pool(),
                &mut no_tick(),
            )
            .unwrap();
            let u: Vec<f64> = (0..vx.rows()).map(|i| m.uplift(&vx.row(i))).collect();
            let rows: Vec<Scored> = (0..u.len())
                .map(|i| Scored {
                    outcome: vy[i],
                    treated: vt[i],
                    uplift: u[i],
                })
                .collect();
            let name = format!("{}_{base_name}", meta.name());
            let f = |v: Option<f64>| v.map_or("".into(), |v| format!("{v:.17e}"));
            writeln!(
                metrics,
                "{name},{},{},{},{}",
                f(qini_coefficient(&rows)),
                f(auuc(&rows)),
                f(uplift_at_k(&rows, 0.1)),
                f(uplift_at_k(&rows, 0.3))
            )
            .unwrap();
            write!(scores, ",{name}").unwrap();
            columns.push(u);
        }
    }
    scores.push('\n');
    for i in 0..vy.len() {
        write!(scores, "{},{}", vy[i], vt[i] as u8).unwrap();
        for c in &columns {
            write!(scores, ",{:.17e}", c[i]).unwrap();
        }
        scores.push('\n');
    }
    std::fs::write(format!("{out}/hair_scores.csv"), scores).unwrap();
    std::fs::write(format!("{out}/hair_metrics.csv"), metrics).unwrap();
}

fn synthetic(x_path: &str, y_path: &str, rows: usize, features: usize, trees: usize) {
    let read = |p: &str| -> Vec<f64> {
        std::fs::read(p)
            .unwrap()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let (xs, y) = (read(x_path), read(y_path));
    // Row-major as numpy writes it.
    let columns = (0..features)
        .map(|f| Column::Numeric((0..rows).map(|r| xs[r * features + f]).collect()))
        .collect();
    let x = Features {
        names: (0..features).map(|f| format!("f{f}")).collect(),
        columns,
    };
    let p = GbdtParams {
        trees,
        early_stopping_rounds: 0,
        ..Default::default()
    };
    let start = Instant::now();
    let (m, _) = gbdt::train(
        Loss::Logistic,
        Rows {
            x: &x,
            y: &y,
            w: &vec![1.0; rows],
        },
        None,
        &p,
        &pool(),
        &mut no_tick(),
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let scores: Vec<f64> = (0..rows).map(|i| m.predict(&x.row(i))).collect();
    let labels: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
    println!(
        "synthetic: {} trees in {secs:.2} s, training auc {:.4}",
        m.trees.len(),
        roc_auc(&scores, &labels).unwrap()
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("--synthetic") {
        let n = |i: usize| a[i].parse().unwrap();
        synthetic(&a[2], &a[3], n(4), n(5), n(6));
    } else {
        bank(&a[1], &a[2]);
        education(&a[1], &a[2]);
        hair(&a[1], &a[2]);
    }
}
