//! Disjoint LinUCB (Li et al. 2010): a ridge regression of reward on context features per action,
//! choosing the action with the highest upper confidence bound θ·x + width·sqrt(xᵀA⁻¹x).

use mkt_core::params::Params;
use mkt_core::{Error, Result};
use serde_json::Value;

/// Which context keys become the feature vector: a bias, numeric keys as they are (absent = 0),
/// and one-hot indicators of the listed values of categorical keys.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearSpec {
    pub numeric: Vec<String>,
    pub categorical: Vec<(String, Vec<String>)>,
    pub width: f64,
    pub ridge: f64,
}

impl LinearSpec {
    pub fn parse(p: &Params) -> Result<Self> {
        let numeric = p.strings("features")?;
        let mut categorical = Vec::new();
        match p.value("categorical") {
            None => {}
            Some(Value::Object(m)) => {
                for (name, v) in m {
                    let values: Option<Vec<String>> = v
                        .as_array()
                        .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect());
                    match values {
                        Some(vs) if !vs.is_empty() => categorical.push((name.clone(), vs)),
                        _ => {
                            return Err(Error::invalid(format!(
                                "categorical \"{name}\" must list its values as a non-empty array of strings, got {v}"
                            )))
                        }
                    }
                }
            }
            Some(v) => {
                return Err(Error::invalid(format!(
                    "categorical must be an object of feature name to its values, got {v}"
                )))
            }
        }
        let spec = LinearSpec {
            numeric,
            categorical,
            width: p.float("alpha", 1.0, 0.0, 1e6)?,
            ridge: p.float("ridge", 1.0, 1e-9, 1e9)?,
        };
        if spec.dim() > 256 {
            return Err(Error::TooLarge(format!(
                "linucb uses at most 256 features, these params give {}",
                spec.dim()
            )));
        }
        Ok(spec)
    }

    pub fn dim(&self) -> usize {
        1 + self.numeric.len() + self.categorical.iter().map(|(_, v)| v.len()).sum::<usize>()
    }

    pub fn features(&self, context: &Value) -> Result<Vec<f64>> {
        let ctx = crate::state::context_object(context)?;
        let mut x = Vec::with_capacity(self.dim());
        x.push(1.0);
        for name in &self.numeric {
            match ctx.get(name) {
                None | Some(Value::Null) => x.push(0.0),
                Some(v) => match v.as_f64() {
                    Some(f) if f.is_finite() => x.push(f),
                    _ => {
                        return Err(Error::invalid(format!(
                        "context value of \"{name}\" must be a number (a linucb feature), got {v}"
                    )))
                    }
                },
            }
        }
        for (name, values) in &self.categorical {
            let got = ctx.get(name).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            });
            for v in values {
                x.push(if got.as_deref() == Some(v.as_str()) {
                    1.0
                } else {
                    0.0
                });
            }
        }
        Ok(x)
    }
}

/// One action's ridge regression, kept as A⁻¹ (updated by Sherman-Morrison) and b.
#[derive(Debug, Clone, PartialEq)]
pub struct LinArm {
    pub n: u64,
    pub a_inv: Vec<f64>,
    pub b: Vec<f64>,
}

impl LinArm {
    pub fn new(dim: usize, ridge: f64) -> Self {
        let mut a_inv = vec![0.0; dim * dim];
        for i in 0..dim {
            a_inv[i * dim + i] = 1.0 / ridge;
        }
        LinArm {
            n: 0,
            a_inv,
            b: vec![0.0; dim],
        }
    }

    fn dim(&self) -> usize {
        self.b.len()
    }

    fn a_inv_times(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim();
        (0..d)
            .map(|i| (0..d).map(|j| self.a_inv[i * d + j] * x[j]).sum())
            .collect()
    }

    /// θ = A⁻¹b, the regression's coefficients (θ[0] is the intercept).
    pub fn theta(&self) -> Vec<f64> {
        self.a_inv_times(&self.b)
    }

    /// θ·x + width·sqrt(xᵀA⁻¹x), θ = A⁻¹b.
    pub fn upper_bound(&self, x: &[f64], width: f64) -> f64 {
        let ax = self.a_inv_times(x);
        let mean: f64 = ax.iter().zip(&self.b).map(|(a, b)| a * b).sum();
        let var: f64 = ax.iter().zip(x).map(|(a, b)| a * b).sum();
        mean + width * var.max(0.0).sqrt()
    }

    pub fn update(&mut self, x: &[f64], reward: f64) {
        self.update_weighted(x, reward, 1.0)
    }

    /// A += w·x·xᵀ, b += w·r·x: a row that counts `weight` times.
    pub fn update_weighted(&mut self, x: &[f64], reward: f64, weight: f64) {
        let d = self.dim();
        let sw = weight.sqrt();
        let x: Vec<f64> = x.iter().map(|v| v * sw).collect();
        let x = &x[..];
        let ax = self.a_inv_times(x);
        let denom = 1.0 + ax.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
        for i in 0..d {
            for j in 0..d {
                self.a_inv[i * d + j] -= ax[i] * ax[j] / denom;
            }
        }
        // x is already scaled by sqrt(w): w·r·x = sqrt(w)·r·(sqrt(w)·x).
        for (b, xi) in self.b.iter_mut().zip(x) {
            *b += sw * reward * xi;
        }
        self.n += 1;
    }

    /// Little-endian f64s: n, A⁻¹ (row-major), b.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * (1 + self.a_inv.len() + self.b.len()));
        out.extend_from_slice(&(self.n as f64).to_le_bytes());
        for v in self.a_inv.iter().chain(&self.b) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8], dim: usize) -> Result<Self> {
        if bytes.len() != 8 * (1 + dim * dim + dim) {
            return Err(Error::Corrupted(format!(
                "linucb state has {} bytes, expected {} for {dim} features",
                bytes.len(),
                8 * (1 + dim * dim + dim)
            )));
        }
        let f: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok(LinArm {
            n: f[0] as u64,
            a_inv: f[1..1 + dim * dim].to_vec(),
            b: f[1 + dim * dim..].to_vec(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index arithmetic mirrors the formulas
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sherman_morrison_matches_direct_ridge() {
        // Two features + bias, three observations: A = I + Σ x xᵀ, b = Σ r x.
        let xs = [[1.0, 2.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]];
        let rs = [1.0, 0.0, 0.5];
        let mut arm = LinArm::new(3, 1.0);
        for (x, r) in xs.iter().zip(rs) {
            arm.update(x, r);
        }
        // A·A⁻¹ = I
        let mut a = [[0.0; 3]; 3];
        for i in 0..3 {
            a[i][i] = 1.0;
            for x in &xs {
                for j in 0..3 {
                    a[i][j] += x[i] * x[j];
                }
            }
        }
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i][k] * arm.a_inv[k * 3 + j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let back = LinArm::from_bytes(&arm.to_bytes(), 3).unwrap();
        assert_eq!(back, arm);
        assert!(LinArm::from_bytes(&[0u8; 7], 3).is_err());
    }

    #[test]
    fn features_from_context() {
        let v = json!({"features": ["age"], "categorical": {"segment": ["new", "vip"]}});
        let p = Params::new("linucb", &v, &["features", "categorical", "alpha", "ridge"]).unwrap();
        let s = LinearSpec::parse(&p).unwrap();
        assert_eq!(s.dim(), 4);
        assert_eq!(
            s.features(&json!({"age": 3, "segment": "vip"})).unwrap(),
            vec![1.0, 3.0, 0.0, 1.0]
        );
        assert_eq!(s.features(&json!({})).unwrap(), vec![1.0, 0.0, 0.0, 0.0]);
        assert!(s.features(&json!({"age": "x"})).is_err());
    }
}
