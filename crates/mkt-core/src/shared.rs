//! Read-only arrays that either own their memory or borrow it from bytes that several processes
//! map from one file.
//!
//! A deployed model is read by every backend that serves it. Decoded into owned vectors, a
//! 1M-user x 64-factor model costs each backend its own 256 MiB; borrowed from a read-only file
//! mapping, the kernel keeps one copy in the page cache for all of them. Code that reads a model
//! sees a plain slice either way.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Bytes that stay valid and unchanged for as long as anything holds the `Arc` (a read-only
/// mapping of a file that is never rewritten in place).
pub trait Backing: Send + Sync {
    fn bytes(&self) -> &[u8];
}

/// Owned bytes (tests, and decoding a buffer as if it were mapped).
impl Backing for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Element types valid for every bit pattern, so a slice of them may view arbitrary bytes.
pub trait Plain: Copy + Send + Sync + PartialEq + fmt::Debug + 'static {}
impl Plain for f32 {}
impl Plain for i8 {}
impl Plain for f64 {}
impl Plain for u32 {}
impl Plain for u64 {}
impl Plain for i64 {}

pub struct Shared<T: Plain>(Repr<T>);

enum Repr<T> {
    Owned(Vec<T>),
    Mapped {
        backing: Arc<dyn Backing>,
        offset: usize,
        len: usize,
    },
}

impl<T: Plain> Shared<T> {
    /// `len` elements at byte `offset` of `backing`, or `None` when they are out of bounds or
    /// misaligned, or when the platform's byte order is not the stored little-endian one (callers
    /// then decode an owned copy).
    pub fn mapped(backing: Arc<dyn Backing>, offset: usize, len: usize) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        let bytes = backing.bytes();
        let end = len.checked_mul(size)?.checked_add(offset)?;
        let aligned = (bytes.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<T>());
        if cfg!(target_endian = "little") && end <= bytes.len() && aligned {
            Some(Shared(Repr::Mapped {
                backing,
                offset,
                len,
            }))
        } else {
            None
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped { .. })
    }

    /// Bytes this value holds privately (a mapping's pages are shared, so they count 0).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Owned(v) => v.len() * std::mem::size_of::<T>(),
            Repr::Mapped { .. } => 0,
        }
    }

    /// Bytes this value views in a shared mapping.
    pub fn mapped_bytes(&self) -> usize {
        match &self.0 {
            Repr::Owned(_) => 0,
            Repr::Mapped { len, .. } => len * std::mem::size_of::<T>(),
        }
    }

    /// The same array without its first `n` elements (all of them when there are fewer): a
    /// mapped array stays a view of its mapping.
    pub fn skip(self, n: usize) -> Self {
        match self.0 {
            Repr::Owned(mut v) => {
                v.drain(..n.min(v.len()));
                Shared(Repr::Owned(v))
            }
            Repr::Mapped {
                backing,
                offset,
                len,
            } => {
                let n = n.min(len);
                Shared(Repr::Mapped {
                    backing,
                    offset: offset + n * std::mem::size_of::<T>(),
                    len: len - n,
                })
            }
        }
    }

    /// A private, writable copy (taken only when something must change a mapped array).
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Repr::Mapped { .. } = self.0 {
            self.0 = Repr::Owned(self.to_vec());
        }
        match &mut self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { .. } => unreachable!("just made owned"),
        }
    }
}

impl<T: Plain> Deref for Shared<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped {
                backing,
                offset,
                len,
            } => {
                // SAFETY: `mapped` checked bounds, alignment and byte order; T is Plain (valid for
                // any bits); Backing promises the bytes live and do not change while the Arc does.
                unsafe {
                    std::slice::from_raw_parts(
                        backing.bytes().as_ptr().add(*offset).cast::<T>(),
                        *len,
                    )
                }
            }
        }
    }
}

impl<'a, T: Plain> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Plain> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared(Repr::Owned(v))
    }
}

impl<T: Plain> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Shared(Repr::Owned(iter.into_iter().collect()))
    }
}

impl<T: Plain> Default for Shared<T> {
    fn default() -> Self {
        Shared(Repr::Owned(Vec::new()))
    }
}

impl<T: Plain> Clone for Shared<T> {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Owned(v) => Shared(Repr::Owned(v.clone())),
            Repr::Mapped {
                backing,
                offset,
                len,
            } => Shared(Repr::Mapped {
                backing: backing.clone(),
                offset: *offset,
                len: *len,
            }),
        }
    }
}

impl<T: Plain> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Plain> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Plain> PartialEq<Vec<T>> for Shared<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_views_equal_owned_copies_and_reject_bad_ranges() {
        let vals = [1.5f32, -2.0, 3.25];
        let mut raw = vec![0u8; 4];
        for v in vals {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        let backing: Arc<dyn Backing> = Arc::new(raw);
        let m = Shared::<f32>::mapped(backing.clone(), 4, 3).expect("aligned and in bounds");
        assert!(m.is_mapped());
        assert_eq!(m, Shared::from(vals.to_vec()));
        assert_eq!((m.heap_bytes(), m.mapped_bytes()), (0, 12));
        assert!(Shared::<f32>::mapped(backing.clone(), 4, 4).is_none(), "past the end");
        assert!(Shared::<f32>::mapped(backing.clone(), usize::MAX, 2).is_none());
        let mut c = m.clone();
        c.to_mut()[0] = 9.0;
        assert!(!c.is_mapped());
        assert_eq!(&c[..], &[9.0, -2.0, 3.25]);
        assert_eq!(&m[..], &vals, "the mapping itself is untouched");
    }

    #[test]
    fn skipping_keeps_a_view_a_view() {
        let vals = [1.0f32, 2.0, 3.0, 4.0];
        let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = Shared::<f32>::mapped(Arc::new(raw), 0, 4).unwrap();
        let rest = m.clone().skip(1);
        assert!(rest.is_mapped());
        assert_eq!(&rest[..], &[2.0, 3.0, 4.0]);
        assert_eq!(rest.mapped_bytes(), 12);
        assert_eq!(m.clone().skip(9).len(), 0, "past the end: empty");
        let owned = Shared::from(vals.to_vec()).skip(3);
        assert!(!owned.is_mapped());
        assert_eq!(&owned[..], &[4.0]);
    }
}
