//! The encoder's weights, read in place from `model.safetensors`.
//!
//! The file is mapped read-only rather than read: every backend that embeds maps the same file,
//! so the kernel keeps one copy of its 87 MB in the page cache for all of them, and a new backend
//! pays no decoding. Only where the file's tensor data does not start on a 4-byte boundary (not
//! the case for the installed model) are the numbers copied into private memory.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;

use mkt_core::{Error, Result};
use safetensors::{Dtype, SafeTensors};

enum Backing {
    Mapped(memmap2::Mmap),
    Copied(Vec<f32>),
}

/// The `F32` tensors of one safetensors file by name, as row-major slices.
pub struct Weights {
    backing: Backing,
    /// Where each tensor's numbers lie in [`Weights::all`], and its shape.
    tensors: HashMap<String, (Range<usize>, Vec<usize>)>,
    /// Where the numbers start in the file, in bytes.
    start: usize,
}

impl Weights {
    pub fn open(path: &Path) -> Result<Self> {
        let corrupt =
            |e: &dyn std::fmt::Display| Error::Corrupted(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(|e| corrupt(&e))?;
        // SAFETY: the model folder holds installed files that are replaced, not rewritten, so the
        // mapped bytes do not change while mapped (scripts/text_model.sh copies a whole folder).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| corrupt(&e))?;
        let parsed = SafeTensors::deserialize(&map).map_err(|e| corrupt(&e))?;
        let base = map.as_ptr() as usize;
        let mut spans = Vec::new();
        for (name, view) in parsed.tensors() {
            if view.dtype() != Dtype::F32 {
                continue;
            }
            let from = view.data().as_ptr() as usize - base;
            spans.push((name, from..from + view.data().len(), view.shape().to_vec()));
        }
        let start = spans.iter().map(|(_, r, _)| r.start).min().unwrap_or(0);
        let end = spans.iter().map(|(_, r, _)| r.end).max().unwrap_or(0);
        if spans.iter().any(|(_, r, _)| (r.start - start) % 4 != 0) {
            return Err(corrupt(
                &"F32 tensors at offsets that are not multiples of 4",
            ));
        }
        let tensors = spans
            .into_iter()
            .map(|(name, r, shape)| (name, ((r.start - start) / 4..(r.end - start) / 4, shape)))
            .collect();
        drop(parsed);
        let backing = if start % 4 == 0 {
            Backing::Mapped(map)
        } else {
            Backing::Copied(
                map[start..end]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            )
        };
        Ok(Self {
            backing,
            tensors,
            start,
        })
    }

    /// Whether the numbers are read in place from the mapped file (shared by every process that
    /// maps it) rather than copied.
    pub fn is_mapped(&self) -> bool {
        matches!(self.backing, Backing::Mapped(_))
    }

    fn all(&self) -> &[f32] {
        match &self.backing {
            Backing::Mapped(map) => {
                let bytes = &map[self.start..];
                bytemuck::cast_slice(&bytes[..bytes.len() / 4 * 4])
            }
            Backing::Copied(v) => v,
        }
    }

    /// Where the tensor `name`, which must have `shape`, lies; [`Weights::at`] reads it.
    pub fn span(&self, name: &str, shape: &[usize]) -> Result<Range<usize>> {
        let Some((range, have)) = self.tensors.get(name) else {
            return Err(Error::Corrupted(format!(
                "model.safetensors has no F32 tensor {name}"
            )));
        };
        if have != shape {
            return Err(Error::Corrupted(format!(
                "model.safetensors: {name} has shape {have:?}, expected {shape:?}"
            )));
        }
        Ok(range.clone())
    }

    /// The numbers of a span [`Weights::span`] gave.
    pub fn at(&self, span: &Range<usize>) -> &[f32] {
        &self.all()[span.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, pad: usize) {
        // A header padded so the data starts `pad` bytes past a multiple of 4.
        let a: Vec<u8> = [1.5f32, -2.0, 3.25]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b: Vec<u8> = [7i64].iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut header = String::from(
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
        );
        while (8 + header.len()) % 4 != pad {
            header.push(' ');
        }
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(&b);
        bytes.extend(&a);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn reads_f32_tensors_mapped_or_copied() {
        let dir = std::env::temp_dir().join(format!("mkt-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for pad in [0, 2] {
            let path = dir.join(format!("w{pad}.safetensors"));
            write(&path, pad);
            let w = Weights::open(&path).unwrap();
            assert_eq!(w.is_mapped(), pad == 0);
            let a = w.span("a", &[3]).unwrap();
            assert_eq!(w.at(&a), &[1.5, -2.0, 3.25]);
            assert!(matches!(w.span("a", &[4]), Err(Error::Corrupted(_))));
            // Only F32 tensors are served.
            assert!(matches!(w.span("b", &[1]), Err(Error::Corrupted(_))));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
