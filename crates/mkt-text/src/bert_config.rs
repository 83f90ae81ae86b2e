//! The parts of a BERT model's config.json that the forward pass reads, checked.

use mkt_core::{Error, Result};

/// The parts of config.json the forward pass reads.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub eps: f32,
    pub max_positions: usize,
    pub vocab: usize,
    pub type_vocab: usize,
}

impl BertConfig {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |m: String| Error::Corrupted(format!("config.json: {m}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let int = |k: &str| {
            v[k].as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("{k} must be a positive integer")))
        };
        let text_of = |k: &str, default: &str| v[k].as_str().unwrap_or(default).to_string();
        if text_of("hidden_act", "gelu") != "gelu" {
            return Err(bad(format!(
                "hidden_act {} is not supported (only gelu)",
                text_of("hidden_act", "")
            )));
        }
        if text_of("position_embedding_type", "absolute") != "absolute" {
            return Err(bad("only absolute position embeddings are supported".into()));
        }
        let c = Self {
            hidden: int("hidden_size")?,
            heads: int("num_attention_heads")?,
            layers: int("num_hidden_layers")?,
            intermediate: int("intermediate_size")?,
            eps: v["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32,
            max_positions: int("max_position_embeddings")?,
            vocab: int("vocab_size")?,
            type_vocab: int("type_vocab_size")?,
        };
        if !c.hidden.is_multiple_of(c.heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden, c.heads
            )));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_refuses_what_the_pass_does_not_compute() {
        let base = r#"{"hidden_size": 384, "num_attention_heads": 12, "num_hidden_layers": 6,
            "intermediate_size": 1536, "max_position_embeddings": 512, "vocab_size": 30522,
            "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;
        let c = BertConfig::parse(base).unwrap();
        assert_eq!((c.hidden, c.heads, c.layers), (384, 12, 6));
        for (from, to) in [
            (r#""gelu""#, r#""relu""#),
            (
                r#""num_attention_heads": 12"#,
                r#""num_attention_heads": 7"#,
            ),
            (r#""vocab_size": 30522"#, r#""vocab_size": "many""#),
        ] {
            let e = BertConfig::parse(&base.replace(from, to)).unwrap_err();
            assert!(matches!(e, Error::Corrupted(_)), "{to}: {e}");
        }
    }
}
