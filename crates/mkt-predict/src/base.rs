//! The learners a predictor or an uplift model is built from, behind one fit and one score.

use crate::design::Design;
use crate::features::{Features, Value};
use crate::gbdt::{self, Gbdt, GbdtParams, Rows, TrainLog};
use crate::linear::{self, Linear};
use crate::loss::Loss;
use crate::mlp::{self, Mlp, MlpParams};
use mkt_core::error::Result;
use mkt_core::progress::Tick;
use rayon::ThreadPool;

#[derive(Debug, Clone, PartialEq)]
pub enum BaseParams {
    Gbdt(GbdtParams),
    Linear { l2: f64 },
    Mlp(MlpParams),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    Gbdt(Gbdt),
    Linear { design: Design, model: Linear },
    Mlp(Mlp),
}

impl Base {
    pub fn fit(
        loss: Loss,
        params: &BaseParams,
        data: Rows<'_>,
        valid: Option<Rows<'_>>,
        pool: &ThreadPool,
        tick: &mut dyn Tick,
    ) -> Result<(Base, TrainLog)> {
        match params {
            BaseParams::Gbdt(p) => {
                let (m, log) = gbdt::train(loss, data, valid, p, pool, tick)?;
                Ok((Base::Gbdt(m), log))
            }
            BaseParams::Linear { l2 } => {
                let design = Design::fit(data.x);
                let cols = design.columns(data.x);
                let model = linear::fit(loss, &cols, data.y, data.w, *l2, pool, tick)?;
                Ok((Base::Linear { design, model }, TrainLog::default()))
            }
            BaseParams::Mlp(p) => {
                let (m, log) = mlp::train(loss, p, data, valid, pool, tick)?;
                Ok((Base::Mlp(m), log))
            }
        }
    }

    pub fn loss(&self) -> Loss {
        match self {
            Base::Gbdt(m) => m.loss,
            Base::Linear { model, .. } => model.loss,
            Base::Mlp(m) => m.loss,
        }
    }

    pub fn raw(&self, x: &[Value]) -> f64 {
        match self {
            Base::Gbdt(m) => m.raw(x),
            Base::Linear { design, model } => model.raw(&design.row(x)),
            Base::Mlp(m) => m.raw(x),
        }
    }

    /// Every output: the raw score, or a network's classes' logits.
    pub fn raw_all(&self, x: &[Value]) -> Vec<f64> {
        match self {
            Base::Mlp(m) => m.raw_all(x),
            _ => vec![self.raw(x)],
        }
    }

    /// A probability (classification) or a value (regression).
    pub fn predict(&self, x: &[Value]) -> f64 {
        self.loss().output(self.raw(x))
    }

    pub fn predict_all(&self, x: &Features) -> Vec<f64> {
        (0..x.rows()).map(|i| self.predict(&x.row(i))).collect()
    }
}
