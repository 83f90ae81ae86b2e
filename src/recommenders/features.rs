//! Reading the feature tables a neural model names in its params.

use crate::pg::error::{report, OrSql, SqlResult};
use crate::pg::gucs::MAX_MEMORY_MB;
use crate::pg::source::{self, ColumnData, Want};
use mkt_core::ids::{IdColumn, IdKind};
use mkt_core::Error;
use mkt_neural::FeatureTable;
use mkt_reco::FeatureSpec;

/// Reads `spec` (`which` is "user" or "item", for messages). Number columns are numeric features,
/// every other type categorical (read as text); each of `text_columns` becomes 384 numeric
/// features, its sentence embedding (`mkt.embed`; a NULL or blank text is all zeros).
pub fn read(spec: &FeatureSpec, which: &str) -> SqlResult<FeatureTable> {
    let mut src = source::resolve(&spec.source)?;
    if let Some(name) = &spec.transform {
        // The stored transform's outputs become columns the spec can name, computed with the
        // statistics fitted when the transform was, whatever the table holds now.
        src = crate::prep::transforms::with_outputs(name, src)?;
    }
    let cols = source::describe(&src)?;
    let key = source::find(&cols, &spec.key, &format!("{which} feature key"))?;
    let key_kind = source::id_kind(key, &format!("{which} feature key"))?;
    let mut wanted: Vec<(&str, Want)> = vec![(key.name.as_str(), Want::Text)];
    let mut numeric = Vec::new();
    for name in &spec.columns {
        let c = source::find(&cols, name, &format!("{which} feature"))?;
        if c.name == key.name {
            return Err(Error::invalid(format!(
                "{which} feature column \"{}\" is the key column",
                c.name
            )))
            .sql();
        }
        let is_num = c.is_numeric();
        numeric.push(is_num);
        wanted.push((
            c.name.as_str(),
            if is_num { Want::Float } else { Want::Text },
        ));
    }
    let n_plain = wanted.len();
    for name in &spec.text_columns {
        let c = source::find(&cols, name, &format!("{which} text feature"))?;
        wanted.push((c.name.as_str(), Want::Text));
    }
    let mut data = source::read_columns(&src, &wanted)?.into_iter();
    let Some(ColumnData::Text(keys)) = data.next() else {
        return Err(report(Error::Internal("the feature key was not read as text".into())));
    };
    // Rows without a key cannot be joined to anything.
    let keep: Vec<bool> = keys.iter().map(Option::is_some).collect();
    let keys: Vec<String> = keys.into_iter().flatten().collect();
    if keys.is_empty() {
        return Err(Error::EmptyData(format!(
            "the {which} feature table {} has no rows with a key",
            spec.source
        )))
        .sql();
    }
    let keys = match key_kind {
        IdKind::Int => IdColumn::Int(
            keys.iter()
                .map(|k| k.parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|e| report(Error::Internal(format!("an integer key read as text: {e}"))))?,
        ),
        IdKind::Text => IdColumn::Text(keys),
    };
    let mut table = FeatureTable {
        keys,
        categorical: Vec::new(),
        numeric: Vec::new(),
    };
    if !spec.text_columns.is_empty() {
        spec.check_text_memory(
            which,
            table.keys.len(),
            crate::text::encoder::dim()?,
            MAX_MEMORY_MB.get() as usize,
            "mkt.max_memory_mb",
        )
        .sql()?;
    }
    let mut data: Vec<ColumnData> = data.collect();
    let texts = data.split_off(n_plain - 1);
    for ((name, _), col) in wanted[n_plain..].iter().zip(texts) {
        let ColumnData::Text(v) = col else {
            return Err(report(Error::Internal("a text feature was not read as text".into())));
        };
        let v = filter(v, &keep);
        let refs: Vec<Option<&str>> = v.iter().map(|t| t.as_deref()).collect();
        let vectors = crate::text::encoder::embed(&refs)?;
        let dim = vectors.iter().flatten().next().map_or(0, Vec::len);
        for d in 0..dim {
            let column = vectors
                .iter()
                .map(|e| Some(e.as_ref().map_or(0.0, |e| e[d] as f64)))
                .collect();
            table.numeric.push((format!("{name}[{d}]"), column));
        }
    }
    for ((name, _), col) in wanted[1..n_plain].iter().zip(data) {
        let name = name.to_string();
        match col {
            ColumnData::Float(v) => table.numeric.push((name, filter(v, &keep))),
            ColumnData::Text(v) => table.categorical.push((name, filter(v, &keep))),
            ColumnData::Json(_) => {
                return Err(report(Error::Internal("a feature was read as json".into())))
            }
        }
    }
    Ok(table)
}

fn filter<T>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
    v.into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}
