//! The encoder against sentence-transformers' own vectors (fixtures/make_parity.py made them).
//! The model folder comes from MKT_TEXT_MODEL, which `make test-core` sets after installing it.

use std::path::PathBuf;

use mkt_text::encoder::{TextEncoder, MAX_TOKENS};

fn model_folder() -> Option<PathBuf> {
    match std::env::var_os("MKT_TEXT_MODEL") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("MKT_TEXT_MODEL is not set: run `make test-core`, which installs the text model")
        }
        None => {
            eprintln!("skipped: MKT_TEXT_MODEL is not set (`make test-core` sets it)");
            None
        }
    }
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn matches_sentence_transformers_on_200_texts() {
    let Some(folder) = model_folder() else { return };
    let enc = TextEncoder::load(&folder).unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_parity.json")).unwrap();
    let texts: Vec<&str> = fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let expected: Vec<Vec<f32>> = fixture["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    assert_eq!(texts.len(), 200);
    let got = enc.embed(&texts, None, |_| Ok(())).unwrap();
    let mut worst = (1.0f64, 0usize);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.len(), 384);
        let c = cosine(g, e);
        if c < worst.0 {
            worst = (c, i);
        }
    }
    eprintln!("lowest cosine {:.7} (text {})", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "text {:?}: cosine {}",
        texts[worst.1],
        worst.0
    );
    // Some fixture texts pass the limit, so truncation is what was compared.
    let longest = enc
        .token_ids(&texts)
        .unwrap()
        .iter()
        .map(Vec::len)
        .max()
        .unwrap();
    assert_eq!(longest, MAX_TOKENS);
    // Batches run side by side, one per thread, give the same vectors in the same order.
    let side_by_side = enc
        .embed_batches(&texts, Some(&pool()), 2, |_| Ok(()))
        .unwrap();
    for (i, (a, b)) in side_by_side.iter().zip(&got).enumerate() {
        let c = cosine(a, b);
        assert!(
            c >= 0.999999,
            "text {i}: cosine {c} between batches side by side and one at a time"
        );
    }
}

#[test]
fn blank_texts_are_zero_and_order_is_kept() {
    let Some(folder) = model_folder() else { return };
    let enc = TextEncoder::load(&folder).unwrap();
    let texts = [
        "red running shoes",
        "",
        "  \t",
        "a blue raincoat",
        "red running shoes",
    ];
    let mut batches = 0;
    let v = enc
        .embed(&texts, Some(&pool()), |_| {
            batches += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(batches, 1);
    assert!(v[1].iter().chain(&v[2]).all(|&x| x == 0.0));
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert!(cosine(&v[0], &v[4]) > 0.99999);
    assert!(cosine(&v[0], &v[3]) < 0.9);
}

#[test]
fn a_stop_between_batches_ends_the_work() {
    let Some(folder) = model_folder() else { return };
    let enc = TextEncoder::load(&folder).unwrap();
    let texts: Vec<String> = (0..70).map(|i| format!("product number {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    let err = enc
        .embed(&refs, None, |done| {
            seen.push(done);
            if done >= 32 {
                Err(mkt_core::Error::InvalidState("stopped".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(seen, vec![0, 32]);
    assert_eq!(err, mkt_core::Error::InvalidState("stopped".into()));
}

#[test]
fn a_folder_without_the_model_names_what_is_missing() {
    let dir = std::env::temp_dir().join("mkt-text-empty-folder");
    std::fs::create_dir_all(&dir).unwrap();
    let err = TextEncoder::load(&dir).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, mkt_core::Error::MissingFile(_)));
    assert!(
        msg.contains("model.safetensors") && msg.contains("tokenizer.json"),
        "{msg}"
    );
}

#[test]
fn a_file_that_does_not_parse_is_named() {
    let dir = std::env::temp_dir().join("mkt-text-corrupt-folder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": ").unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(dir.join("model.safetensors"), b"not safetensors").unwrap();
    let err = TextEncoder::load(&dir).err().unwrap();
    assert!(matches!(err, mkt_core::Error::Corrupted(_)), "{err:?}");
    assert!(err.to_string().contains("config.json"), "{err}");
}
