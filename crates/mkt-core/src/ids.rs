//! External ids (bigint or text) and their dense internal indices.
//!
//! Ids are kept sorted, so the internal index of an id is its rank: lookups are binary searches with
//! no hash table to rebuild when a model is loaded, and ties in scores break towards the smaller id.

use crate::shared::Shared;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Int,
    Text,
}

impl IdKind {
    pub fn sql_type(self) -> &'static str {
        match self {
            IdKind::Int => "bigint",
            IdKind::Text => "text",
        }
    }
}

/// One external id as read from a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Id {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Int(v) => write!(f, "{v}"),
            Id::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

/// A column of raw ids, as read (with repeats).
#[derive(Debug, Clone)]
pub enum IdColumn {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl IdColumn {
    pub fn new(kind: IdKind) -> Self {
        match kind {
            IdKind::Int => IdColumn::Int(Vec::new()),
            IdKind::Text => IdColumn::Text(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            IdColumn::Int(v) => v.len(),
            IdColumn::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> IdKind {
        match self {
            IdColumn::Int(_) => IdKind::Int,
            IdColumn::Text(_) => IdKind::Text,
        }
    }
}

/// Sorted distinct ids; position = internal index.
#[derive(Debug, Clone, PartialEq)]
pub enum IdMap {
    /// A model read from a shared file views its ids there (8 MB private per backend at 1M items
    /// otherwise).
    Int(Shared<i64>),
    Text(Vec<String>),
}

impl IdMap {
    /// Approximate heap memory held, for cache accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            IdMap::Int(v) => v.heap_bytes(),
            IdMap::Text(v) => v.iter().map(|s| s.len() + 24).sum(),
        }
    }

    /// Bytes viewed in a shared mapping.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            IdMap::Int(v) => v.mapped_bytes(),
            IdMap::Text(_) => 0,
        }
    }

    /// Builds the map of a raw column and the internal index of every raw value.
    pub fn build(column: &IdColumn) -> (IdMap, Vec<u32>) {
        Self::build_with(column, None)
    }

    /// Like `build`, with the ids of `extra` in the map too (ids of the other kind are converted
    /// the way lookups convert them; those that do not convert are left out).
    pub fn build_with(column: &IdColumn, extra: Option<&IdColumn>) -> (IdMap, Vec<u32>) {
        match column {
            IdColumn::Int(raw) => {
                let mut ids = raw.clone();
                match extra {
                    Some(IdColumn::Int(e)) => ids.extend_from_slice(e),
                    Some(IdColumn::Text(e)) => {
                        ids.extend(e.iter().filter_map(|s| s.trim().parse::<i64>().ok()))
                    }
                    None => {}
                }
                ids.sort_unstable();
                ids.dedup();
                let idx = raw
                    .iter()
                    .map(|v| ids.binary_search(v).expect("id present") as u32)
                    .collect();
                (IdMap::Int(ids.into()), idx)
            }
            IdColumn::Text(raw) => {
                let converted: Vec<String> = match extra {
                    Some(IdColumn::Int(e)) => e.iter().map(|v| v.to_string()).collect(),
                    _ => Vec::new(),
                };
                let mut ids: Vec<&String> = raw.iter().chain(&converted).collect();
                if let Some(IdColumn::Text(e)) = extra {
                    ids.extend(e.iter());
                }
                ids.sort_unstable();
                ids.dedup();
                let idx = raw
                    .iter()
                    .map(|v| ids.binary_search(&v).expect("id present") as u32)
                    .collect();
                (IdMap::Text(ids.into_iter().cloned().collect()), idx)
            }
        }
    }

    /// Maps raw ids through an existing map; ids it does not hold become `None`.
    pub fn lookup_column(&self, column: &IdColumn) -> Vec<Option<u32>> {
        match (self, column) {
            (IdMap::Int(_), IdColumn::Int(raw)) => {
                raw.iter().map(|v| self.index_of_int(*v)).collect()
            }
            (IdMap::Text(_), IdColumn::Text(raw)) => {
                raw.iter().map(|v| self.index_of_text(v)).collect()
            }
            (_, IdColumn::Int(raw)) => raw
                .iter()
                .map(|v| self.index_of_text(&v.to_string()))
                .collect(),
            (_, IdColumn::Text(raw)) => raw
                .iter()
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .ok()
                        .and_then(|n| self.index_of_int(n))
                })
                .collect(),
        }
    }

    pub fn kind(&self) -> IdKind {
        match self {
            IdMap::Int(_) => IdKind::Int,
            IdMap::Text(_) => IdKind::Text,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            IdMap::Int(v) => v.len(),
            IdMap::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn index_of_int(&self, id: i64) -> Option<u32> {
        match self {
            IdMap::Int(v) => {
                // Sorted and distinct, so ids that span exactly their count are a serial range
                // (common: serial keys), where the position is an offset.
                if let (Some(&lo), Some(&hi)) = (v.first(), v.last()) {
                    if hi.wrapping_sub(lo) as u64 == v.len() as u64 - 1 {
                        return (lo..=hi).contains(&id).then(|| (id - lo) as u32);
                    }
                }
                v.binary_search(&id).ok().map(|i| i as u32)
            }
            IdMap::Text(_) => self.index_of_text(&id.to_string()),
        }
    }

    pub fn index_of_text(&self, id: &str) -> Option<u32> {
        match self {
            IdMap::Text(v) => v
                .binary_search_by(|probe| probe.as_str().cmp(id))
                .ok()
                .map(|i| i as u32),
            IdMap::Int(_) => id
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| self.index_of_int(n)),
        }
    }

    pub fn index_of(&self, id: &Id) -> Option<u32> {
        match id {
            Id::Int(v) => self.index_of_int(*v),
            Id::Text(s) => self.index_of_text(s),
        }
    }

    pub fn id(&self, index: u32) -> Id {
        match self {
            IdMap::Int(v) => Id::Int(v[index as usize]),
            IdMap::Text(v) => Id::Text(v[index as usize].clone()),
        }
    }

    /// The id as bigint; fails for text maps (the caller should use the text form).
    pub fn int_id(&self, index: u32) -> Result<i64> {
        match self {
            IdMap::Int(v) => Ok(v[index as usize]),
            IdMap::Text(_) => Err(Error::WrongType(
                "this model has text ids; call the text form of the function".into(),
            )),
        }
    }

    pub fn text_id(&self, index: u32) -> String {
        match self {
            IdMap::Int(v) => v[index as usize].to_string(),
            IdMap::Text(v) => v[index as usize].clone(),
        }
    }

    /// Fails for text ids, naming `what` ("item", "user") and pointing to the text form.
    pub fn require_int(&self, what: &str) -> Result<()> {
        match self {
            IdMap::Int(_) => Ok(()),
            IdMap::Text(_) => Err(Error::WrongType(format!(
                "this model has text {what} ids; call the text form of the function"
            ))),
        }
    }

    /// Checks the order invariant the binary searches rely on (for decoded blobs).
    pub fn validate(&self) -> Result<()> {
        let sorted = match self {
            IdMap::Int(v) => v.windows(2).all(|w| w[0] < w[1]),
            IdMap::Text(v) => v.windows(2).all(|w| w[0] < w[1]),
        };
        if sorted {
            Ok(())
        } else {
            Err(Error::Corrupted(
                "id list is not strictly increasing".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ids_are_sorted_and_indexed() {
        let (map, idx) = IdMap::build(&IdColumn::Int(vec![30, 10, 30, 20, i64::MIN, i64::MAX]));
        assert_eq!(map, IdMap::Int(vec![i64::MIN, 10, 20, 30, i64::MAX].into()));
        assert_eq!(idx, vec![3, 1, 3, 2, 0, 4]);
        assert_eq!(map.index_of_int(20), Some(2));
        assert_eq!(map.index_of_int(21), None);
        assert_eq!(map.index_of_text("30"), Some(3));
        assert!(map.validate().is_ok());
    }

    #[test]
    fn serial_ids_are_found_by_offset() {
        let (map, _) = IdMap::build(&IdColumn::Int((-3..1000).rev().collect()));
        for id in [-3, 0, 7, 999] {
            assert_eq!(map.index_of_int(id), Some((id + 3) as u32));
        }
        for id in [-4, 1000, i64::MIN, i64::MAX] {
            assert_eq!(map.index_of_int(id), None);
        }
        // One gap: no longer a range, still found.
        let (gapped, _) = IdMap::build(&IdColumn::Int(vec![1, 2, 4]));
        assert_eq!(gapped.index_of_int(4), Some(2));
        assert_eq!(gapped.index_of_int(3), None);
    }

    #[test]
    fn text_ids_handle_unicode_and_empty() {
        let (map, idx) = IdMap::build(&IdColumn::Text(vec![
            "b".into(),
            "".into(),
            "é".into(),
            "b".into(),
        ]));
        assert_eq!(map.len(), 3);
        assert_eq!(idx, vec![1, 0, 2, 1]);
        assert_eq!(map.index_of_text("é"), Some(2));
        assert_eq!(map.index_of_text(""), Some(0));
        assert!(map.int_id(0).is_err());
        assert_eq!(map.text_id(2), "é");
    }

    #[test]
    fn unsorted_map_is_corrupt() {
        assert!(IdMap::Int(vec![2, 1].into()).validate().is_err());
    }
}
