//! The stored form of every model kind: one safetensors buffer of little-endian arrays and a
//! `format` entry in its metadata naming what it holds. Reading checks every name, type and length
//! it is asked for, so corrupted or hostile bytes give `Error::Corrupted`, never a panic; large
//! arrays read from a shared mapping view it instead of being copied.

use crate::ids::IdMap;
use crate::shared::{Backing, Plain, Shared};
use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::sync::Arc;

/// An encoded tensor waiting to be serialised: dtype, shape, little-endian bytes.
pub struct Buf(pub Dtype, pub Vec<usize>, pub Vec<u8>);

fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * N);
    for &x in v {
        out.extend_from_slice(&f(x));
    }
    out
}

pub fn f32s(v: &[f32], shape: Vec<usize>) -> Buf {
    Buf(Dtype::F32, shape, le(v, f32::to_le_bytes))
}
pub fn f64s(v: &[f64]) -> Buf {
    Buf(Dtype::F64, vec![v.len()], le(v, f64::to_le_bytes))
}
pub fn u32s(v: &[u32]) -> Buf {
    Buf(Dtype::U32, vec![v.len()], le(v, u32::to_le_bytes))
}
pub fn u64s(v: &[u64]) -> Buf {
    Buf(Dtype::U64, vec![v.len()], le(v, u64::to_le_bytes))
}
pub fn i64s(v: &[i64]) -> Buf {
    Buf(Dtype::I64, vec![v.len()], le(v, i64::to_le_bytes))
}
pub fn i8s(v: &[i8]) -> Buf {
    Buf(Dtype::I8, vec![v.len()], le(v, i8::to_le_bytes))
}
pub fn text(s: &str) -> Buf {
    Buf(Dtype::U8, vec![s.len()], s.as_bytes().to_vec())
}

/// An id map as `<name>.int`, or `<name>.text.offsets` and `<name>.text.bytes`.
pub fn push_ids(out: &mut Vec<(String, Buf)>, name: &str, ids: &IdMap) {
    match ids {
        IdMap::Int(v) => out.push((format!("{name}.int"), i64s(v))),
        IdMap::Text(v) => {
            let mut offsets = Vec::with_capacity(v.len() + 1);
            let mut bytes = Vec::new();
            offsets.push(0u64);
            for s in v {
                bytes.extend_from_slice(s.as_bytes());
                offsets.push(bytes.len() as u64);
            }
            out.push((format!("{name}.text.offsets"), u64s(&offsets)));
            let n = bytes.len();
            out.push((format!("{name}.text.bytes"), Buf(Dtype::U8, vec![n], bytes)));
        }
    }
}

/// The buffer of `tensors`, with `format` as its only metadata (safetensors writes metadata in
/// hash-map order, so anything else that must be stored goes in a tensor: equal models then encode
/// to equal bytes).
pub fn serialize(tensors: &[(String, Buf)], format: &str) -> Result<Vec<u8>> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, Buf(dtype, shape, data))| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Corrupted(format!("cannot encode {name}: {e}")))
        })
        .collect::<Result<_>>()?;
    let meta = HashMap::from([("format".to_string(), format.to_string())]);
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Corrupted(format!("cannot encode model: {e}")))
}

/// The metadata of a stored buffer (its `format` says which kind of model it holds).
pub fn metadata(bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::Corrupted(format!("not a model blob: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

pub struct Reader<'a> {
    st: SafeTensors<'a>,
    /// The bytes being decoded when they come from a shared mapping: large arrays then view them
    /// instead of being copied.
    backing: Option<Arc<dyn Backing>>,
}

/// Arrays smaller than this are copied even from a mapping: not worth a page-cache reference.
const MIN_MAPPED_BYTES: usize = 64 * 1024;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], backing: Option<Arc<dyn Backing>>) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Corrupted(format!("not a model blob: {e}")))?;
        Ok(Reader { st, backing })
    }

    pub fn raw(&self, name: &str, dtype: Dtype) -> Result<(Vec<usize>, &'a [u8])> {
        let v = self
            .st
            .tensor(name)
            .map_err(|e| Error::Corrupted(format!("tensor {name}: {e}")))?;
        if v.dtype() != dtype {
            return Err(Error::Corrupted(format!(
                "tensor {name} has type {:?}, expected {dtype:?}",
                v.dtype()
            )));
        }
        Ok((v.shape().to_vec(), v.data()))
    }

    pub fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    pub fn array<T: Plain, const N: usize>(
        &self,
        name: &str,
        dtype: Dtype,
        from_le: fn([u8; N]) -> T,
    ) -> Result<(Vec<usize>, Shared<T>)> {
        let (shape, d) = self.raw(name, dtype)?;
        if let Some(b) = self.backing.as_ref().filter(|_| d.len() >= MIN_MAPPED_BYTES) {
            let offset = d.as_ptr() as usize - b.bytes().as_ptr() as usize;
            if let Some(v) = Shared::mapped(b.clone(), offset, d.len() / N) {
                return Ok((shape, v));
            }
        }
        let v: Vec<T> = d
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                from_le(a)
            })
            .collect();
        Ok((shape, v.into()))
    }

    pub fn f32s(&self, name: &str) -> Result<(Vec<usize>, Shared<f32>)> {
        self.array(name, Dtype::F32, f32::from_le_bytes)
    }
    pub fn f64s(&self, name: &str) -> Result<Shared<f64>> {
        Ok(self.array(name, Dtype::F64, f64::from_le_bytes)?.1)
    }
    pub fn u32s(&self, name: &str) -> Result<Shared<u32>> {
        Ok(self.array(name, Dtype::U32, u32::from_le_bytes)?.1)
    }
    pub fn u64s(&self, name: &str) -> Result<Shared<u64>> {
        Ok(self.array(name, Dtype::U64, u64::from_le_bytes)?.1)
    }
    pub fn i64s(&self, name: &str) -> Result<Shared<i64>> {
        Ok(self.array(name, Dtype::I64, i64::from_le_bytes)?.1)
    }
    pub fn i8s(&self, name: &str) -> Result<Shared<i8>> {
        Ok(self.array(name, Dtype::I8, i8::from_le_bytes)?.1)
    }
    pub fn text(&self, name: &str) -> Result<String> {
        let (_, d) = self.raw(name, Dtype::U8)?;
        String::from_utf8(d.to_vec()).map_err(|_| Error::Corrupted(format!("{name} is not UTF-8")))
    }

    pub fn ids(&self, name: &str) -> Result<IdMap> {
        let map = if self.has(&format!("{name}.int")) {
            IdMap::Int(self.i64s(&format!("{name}.int"))?)
        } else {
            let offsets = self.u64s(&format!("{name}.text.offsets"))?;
            let (_, bytes) = self.raw(&format!("{name}.text.bytes"), Dtype::U8)?;
            if offsets.first() != Some(&0) || offsets.last().map(|&o| o as usize) != Some(bytes.len()) {
                return Err(Error::Corrupted(format!(
                    "{name} text offsets do not match the bytes"
                )));
            }
            let mut v = Vec::with_capacity(offsets.len() - 1);
            for w in offsets.windows(2) {
                if w[0] > w[1] {
                    return Err(Error::Corrupted(format!("{name} text offsets decrease")));
                }
                let s = std::str::from_utf8(&bytes[w[0] as usize..w[1] as usize])
                    .map_err(|_| Error::Corrupted(format!("{name} text id is not UTF-8")))?;
                v.push(s.to_string());
            }
            IdMap::Text(v)
        };
        map.validate()?;
        Ok(map)
    }
}

pub fn expect_shape(name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::Corrupted(format!(
            "tensor {name} has shape {got:?}, expected {want:?}"
        )));
    }
    Ok(())
}
