//! Sentences per second of the encoder on generated product texts:
//! `MKT_TEXT_MODEL=<folder> cargo run --release -p mkt-text --example embed_speed [n] [threads]`.
use mkt_text::encoder::TextEncoder;

fn main() {
    let folder = std::env::var("MKT_TEXT_MODEL").expect("MKT_TEXT_MODEL names the model folder");
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(500, |a| a.parse().unwrap());
    let threads: usize = args.get(2).map_or(2, |a| a.parse().unwrap());
    let words: Vec<&str> = "lightweight waterproof premium budget eco-friendly vintage compact ergonomic handmade \
        refurbished limited smart jacket laptop coffee-maker yoga-mat novel phone-case sofa tent lipstick drill \
        backpack watch printer kettle bicycle scarf"
        .split(' ')
        .collect();
    let texts: Vec<String> = (1..=n)
        .map(|g| {
            (0..4 + (g * 31) % 37)
                .map(|k| words[(g * 7 + k * 13) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let enc = TextEncoder::load(std::path::Path::new(&folder)).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    enc.embed(&refs[..32.min(n)], Some(&pool), |_| Ok(()))
        .unwrap();
    let t = std::time::Instant::now();
    enc.embed(&refs, Some(&pool), |_| Ok(())).unwrap();
    let s = t.elapsed().as_secs_f64();
    let tokens: usize = enc.token_ids(&refs).unwrap().iter().map(Vec::len).sum();
    println!(
        "{n} texts ({tokens} tokens) in {s:.2} s: {:.1} sentences/s, {:.0} tokens/s ({threads} threads)",
        n as f64 / s,
        tokens as f64 / s
    );
}
