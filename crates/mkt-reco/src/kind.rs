//! The recommender algorithms by name: what a stored model says it is.

use mkt_core::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Popularity,
    Als,
    ItemKnn,
    Ease,
    Bpr,
    Neural,
    NeuMf,
    Sequential,
}

impl Algorithm {
    pub const NAMES: [&'static str; 8] = [
        "popularity",
        "als",
        "item_knn",
        "ease",
        "bpr",
        "neural",
        "neumf",
        "sequential",
    ];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "popularity" => Ok(Algorithm::Popularity),
            "als" => Ok(Algorithm::Als),
            "item_knn" => Ok(Algorithm::ItemKnn),
            "ease" => Ok(Algorithm::Ease),
            "bpr" => Ok(Algorithm::Bpr),
            "neural" => Ok(Algorithm::Neural),
            "neumf" => Ok(Algorithm::NeuMf),
            "sequential" => Ok(Algorithm::Sequential),
            _ => Err(Error::unknown("algorithm", name, &Self::NAMES)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Popularity => "popularity",
            Algorithm::Als => "als",
            Algorithm::ItemKnn => "item_knn",
            Algorithm::Ease => "ease",
            Algorithm::Bpr => "bpr",
            Algorithm::Neural => "neural",
            Algorithm::NeuMf => "neumf",
            Algorithm::Sequential => "sequential",
        }
    }
}
