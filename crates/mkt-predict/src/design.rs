//! The numeric design matrix the linear models read: numeric features as they are (a missing
//! value replaced by the training mean, so it adds nothing beyond the intercept), categorical
//! features one-hot against their first level (a missing or unseen level is all zeros).

use crate::features::{Column, Features, Value, MISSING};

#[derive(Debug, Clone, PartialEq)]
pub enum Encoding {
    Numeric {
        mean: f64,
    },
    /// One indicator per level after the first.
    OneHot {
        levels: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub encodings: Vec<Encoding>,
}

impl Design {
    pub fn fit(x: &Features) -> Design {
        let encodings = x
            .columns
            .iter()
            .map(|c| match c {
                Column::Numeric(v) => {
                    let (s, n) = v
                        .iter()
                        .filter(|x| !x.is_nan())
                        .fold((0.0, 0.0), |(s, n), x| (s + x, n + 1.0));
                    Encoding::Numeric {
                        mean: if n > 0.0 { s / n } else { 0.0 },
                    }
                }
                Column::Categorical { levels, .. } => Encoding::OneHot {
                    levels: levels.len(),
                },
            })
            .collect();
        Design { encodings }
    }

    pub fn width(&self) -> usize {
        self.encodings
            .iter()
            .map(|e| match e {
                Encoding::Numeric { .. } => 1,
                Encoding::OneHot { levels } => levels.saturating_sub(1),
            })
            .sum()
    }

    /// For each design column, the feature it comes from and, for an indicator, the level code.
    pub fn columns_of(&self) -> Vec<(usize, Option<u32>)> {
        let mut out = Vec::new();
        for (f, e) in self.encodings.iter().enumerate() {
            match e {
                Encoding::Numeric { .. } => out.push((f, None)),
                Encoding::OneHot { levels } => {
                    out.extend((1..*levels as u32).map(|l| (f, Some(l))))
                }
            }
        }
        out
    }

    pub fn row(&self, x: &[Value]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.width());
        for (e, v) in self.encodings.iter().zip(x) {
            match (e, v) {
                (Encoding::Numeric { mean }, Value::Number(n)) => {
                    out.push(if n.is_nan() { *mean } else { *n })
                }
                (Encoding::Numeric { mean }, Value::Code(_)) => out.push(*mean),
                (Encoding::OneHot { levels }, v) => {
                    let code = match v {
                        Value::Code(c) if *c != MISSING => Some(*c as usize),
                        _ => None,
                    };
                    out.extend((1..*levels).map(|l| if code == Some(l) { 1.0 } else { 0.0 }));
                }
            }
        }
        out
    }

    /// The whole table as design columns.
    pub fn columns(&self, x: &Features) -> Vec<Vec<f64>> {
        let n = x.rows();
        let mut cols = vec![Vec::with_capacity(n); self.width()];
        for i in 0..n {
            for (c, v) in cols.iter_mut().zip(self.row(&x.row(i))) {
                c.push(v);
            }
        }
        cols
    }
}
