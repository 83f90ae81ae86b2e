//! Text's SQL functions: mkt.embed(text) and mkt.embed(text[]).

use crate::text::encoder;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

#[pg_extern(stable, parallel_safe, strict)]
fn embed(text: &str) -> Result<Vec<f32>, ErrorReport> {
    let mut v = encoder::embed(&[Some(text)])?;
    Ok(v.pop().flatten().unwrap_or_default())
}

#[pg_extern(stable, parallel_safe, strict, name = "embed")]
fn embed_many(
    texts: Vec<Option<String>>,
) -> Result<
    TableIterator<'static, (name!(ord, i32), name!(embedding, Option<Vec<f32>>))>,
    ErrorReport,
> {
    let refs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
    let vectors = encoder::embed(&refs)?;
    Ok(TableIterator::new(
        vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i as i32 + 1, v)),
    ))
}
