//! Exact top-k over factor rows, reading a fraction of them.
//!
//! Scoring every item in f32 reads 4·n·dim bytes per call; for a typical catalogue (10k items x 64
//! factors = 2.5 MB) that does not fit a core's L2 cache, so the f32 kernel waits on memory. Two
//! things cut that down, and neither changes a result:
//!
//! - Items are stored by descending L2 norm. By Cauchy-Schwarz no item can score above
//!   ‖u‖·‖x‖, so once the k-th best exact score found so far exceeds ‖u‖ times the norm of the
//!   next block, no later item can enter the top k and the scan stops. Trained factor models put
//!   large norms on the few items that win most rankings, so this usually stops after a small
//!   prefix of the catalogue.
//! - The scanned prefix is read from an 8-bit copy (a quarter of the bytes), in blocks of 8 items
//!   so one AVX2 register accumulates 8 scores without horizontal sums. Its scores are approximate
//!   with a rigorous error bound per item; every item whose approximate score plus its bound could
//!   reach the k-th exact score is rescored in f32.
//!
//! So callers get the ranking of a full f32 scan (same scores, same tie order).
//!
//! Error bound. With item row x = s·q + e (|e_d| <= s/2, q in i8) and query u = t·p + f
//! (|f_d| <= t/2, p in i16):
//! |x·u - s·t·(q·p)| <= s·|q|·|f| + t·|e|·|p| + |e|·|f| <= (t/2)·s·‖q‖₁ + s·(t/2)·‖p‖₁ + dim·s·t/4,
//! plus a slack for f32 rounding in both the approximation and the exact dot product.

use crate::dot::dot;
use crate::select::{top_k, top_k_dense, Best, Scored};
use mkt_core::shared::Shared;
use mkt_core::tensors::{f32s, i8s, u32s, u64s, Buf, Reader};
use mkt_core::{Error, Result};
use std::ops::Range;

const BLOCK: usize = 8;
/// Blocks scored between two checks of the norm bound.
const CHUNK_BLOCKS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedRows {
    n: usize,
    dim: usize,
    /// Dimension pairs after padding `dim` to a multiple of 4 (the kernel takes two pairs a step).
    pairs: usize,
    /// The item stored at each position (positions go by descending norm).
    order: Shared<u32>,
    /// The position of each item.
    position: Shared<u32>,
    /// Per block: the largest L2 norm of its rows (its first row's).
    block_norm: Shared<f32>,
    /// Per block of 8 positions, per dimension pair, 8 rows x 2 dimensions of i8.
    blocks: Shared<i8>,
    /// Per position (padded to whole blocks): the quantization step s.
    scale: Shared<f32>,
    /// Per position: s·‖q‖₁.
    l1: Shared<f32>,
    max_l1: f32,
    max_scale: f32,
    /// Largest |p| allowed for the query so that i32 sums cannot overflow.
    query_max: f32,
}

/// A query in the form the kernel takes, with the coefficients of its error bounds.
struct Code {
    packed: Vec<i32>,
    t: f32,
    /// Per-position bound on |exact - approximate|: a·l1 + b·scale.
    a: f32,
    b: f32,
    /// Upper bound on any exact score of a row with norm ν: norm·ν.
    norm: f32,
}

/// Relative slack covering f32 rounding in norms and dot products of `dim` terms, with a wide
/// margin over the worst case (about dim·2⁻²⁴ each).
fn rounding(dim: usize) -> f32 {
    8e-7 * (dim as f32 + 16.0)
}

impl QuantizedRows {
    /// The 8-bit copy of `rows` (row-major, `dim` wide); `None` when a value is not finite, in
    /// which case callers score in f32.
    pub fn build(rows: &[f32], dim: usize) -> Option<Self> {
        if dim == 0 || !rows.len().is_multiple_of(dim) || rows.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let n = rows.len() / dim;
        let padded = dim.div_ceil(4) * 4;
        let pairs = padded / 2;
        let n_blocks = n.div_ceil(BLOCK);
        let norms: Vec<f32> = rows.chunks_exact(dim).map(|r| dot(r, r).sqrt()).collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&x, &y| {
            norms[y as usize]
                .total_cmp(&norms[x as usize])
                .then(x.cmp(&y))
        });
        let mut position = vec![0u32; n];
        for (p, &i) in order.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        let block_norm: Vec<f32> = (0..n_blocks)
            .map(|b| norms[order[b * BLOCK] as usize])
            .collect();
        let mut blocks = vec![0i8; n_blocks * pairs * BLOCK * 2];
        let mut scale = vec![0f32; n_blocks * BLOCK];
        let mut l1 = vec![0f32; n];
        for (pos, &item) in order.iter().enumerate() {
            let row = &rows[item as usize * dim..(item as usize + 1) * dim];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = max / 127.0;
            scale[pos] = s;
            let (b, j) = (pos / BLOCK, pos % BLOCK);
            let mut sum = 0f32;
            for (d, &v) in row.iter().enumerate() {
                let q = if s > 0.0 {
                    (v / s).round().clamp(-127.0, 127.0)
                } else {
                    0.0
                };
                sum += q.abs();
                let (p, e) = (d / 2, d % 2);
                blocks[((b * pairs + p) * BLOCK + j) * 2 + e] = q as i8;
            }
            l1[pos] = s * sum;
        }
        let max_l1 = l1.iter().fold(0f32, |m, &v| m.max(v));
        let max_scale = scale.iter().fold(0f32, |m, &v| m.max(v));
        // pairs · 2 · 127 · query_max must stay below 2^31.
        let query_max = (i32::MAX as f64 / (pairs as f64 * 254.0))
            .min(32767.0)
            .floor() as f32;
        Some(QuantizedRows {
            n,
            dim,
            pairs,
            order: order.into(),
            position: position.into(),
            block_norm: block_norm.into(),
            blocks: blocks.into(),
            scale: scale.into(),
            l1: l1.into(),
            max_l1,
            max_scale,
            query_max,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    /// Private bytes (arrays viewing a shared mapping count 0).
    pub fn heap_bytes(&self) -> usize {
        self.order.heap_bytes()
            + self.position.heap_bytes()
            + self.block_norm.heap_bytes()
            + self.blocks.heap_bytes()
            + self.scale.heap_bytes()
            + self.l1.heap_bytes()
    }

    /// Bytes viewed in a shared mapping.
    pub fn mapped_bytes(&self) -> usize {
        self.order.mapped_bytes()
            + self.position.mapped_bytes()
            + self.block_norm.mapped_bytes()
            + self.blocks.mapped_bytes()
            + self.scale.mapped_bytes()
            + self.l1.mapped_bytes()
    }

    /// The arrays as tensors named `<prefix>.*`, so the copy can be stored beside a model and
    /// mapped instead of rebuilt by every process.
    pub fn push_tensors(&self, out: &mut Vec<(String, Buf)>, prefix: &str) {
        let shape = [self.n as u64, self.dim as u64, self.pairs as u64];
        out.push((format!("{prefix}.shape"), u64s(&shape)));
        let bounds = [self.max_l1, self.max_scale, self.query_max];
        out.push((format!("{prefix}.bounds"), f32s(&bounds, vec![3])));
        out.push((format!("{prefix}.order"), u32s(&self.order)));
        out.push((format!("{prefix}.position"), u32s(&self.position)));
        let nb = self.block_norm.len();
        out.push((format!("{prefix}.block_norm"), f32s(&self.block_norm, vec![nb])));
        out.push((format!("{prefix}.blocks"), i8s(&self.blocks)));
        out.push((format!("{prefix}.scale"), f32s(&self.scale, vec![self.scale.len()])));
        out.push((format!("{prefix}.l1"), f32s(&self.l1, vec![self.l1.len()])));
    }

    /// Reads what `push_tensors` wrote for rows of `n` x `dim`, checking every length and index the
    /// scan relies on, so a damaged file is an error rather than a wrong ranking or a panic.
    pub fn read(r: &Reader, prefix: &str, n: usize, dim: usize) -> Result<Self> {
        let bad = |what: &str| Error::Corrupted(format!("serving index {prefix}: {what}"));
        let shape = r.u64s(&format!("{prefix}.shape"))?;
        let (_, bounds) = r.f32s(&format!("{prefix}.bounds"))?;
        let pairs = dim.div_ceil(4) * 4 / 2;
        if shape[..] != [n as u64, dim as u64, pairs as u64] || bounds.len() != 3 {
            return Err(bad("its shape is not the model's"));
        }
        let n_blocks = n.div_ceil(BLOCK);
        let q = QuantizedRows {
            n,
            dim,
            pairs,
            order: r.u32s(&format!("{prefix}.order"))?,
            position: r.u32s(&format!("{prefix}.position"))?,
            block_norm: r.f32s(&format!("{prefix}.block_norm"))?.1,
            blocks: r.i8s(&format!("{prefix}.blocks"))?,
            scale: r.f32s(&format!("{prefix}.scale"))?.1,
            l1: r.f32s(&format!("{prefix}.l1"))?.1,
            max_l1: bounds[0],
            max_scale: bounds[1],
            query_max: bounds[2],
        };
        let lengths = q.order.len() == n
            && q.position.len() == n
            && q.block_norm.len() == n_blocks
            && q.blocks.len() == n_blocks * pairs * BLOCK * 2
            && q.scale.len() == n_blocks * BLOCK
            && q.l1.len() == n;
        if !lengths {
            return Err(bad("an array has the wrong length"));
        }
        let in_range = |v: &[u32]| v.iter().fold(0u32, |m, &x| m.max(x)) < n as u32;
        if n > 0 && !(in_range(&q.order) && in_range(&q.position)) {
            return Err(bad("an item index is out of range"));
        }
        Ok(q)
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// `None` when the query is not finite.
    fn encode(&self, query: &[f32]) -> Option<Code> {
        assert_eq!(query.len(), self.dim);
        if query.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let umax = query.iter().fold(0f32, |m, v| m.max(v.abs()));
        let t = if umax > 0.0 {
            umax / self.query_max
        } else {
            0.0
        };
        let mut packed = vec![0i32; self.pairs];
        let mut p_l1 = 0f32;
        for (d, &v) in query.iter().enumerate() {
            let p = if t > 0.0 {
                (v / t).round().clamp(-self.query_max, self.query_max)
            } else {
                0.0
            };
            p_l1 += p.abs();
            let bits = (p as i16 as u16 as u32) << (16 * (d % 2));
            packed[d / 2] |= bits as i32;
        }
        let padded = (self.pairs * 2) as f32;
        let slack = rounding(self.dim) * umax;
        Some(Code {
            packed,
            t,
            a: t / 2.0 + slack,
            b: t * (p_l1 / 2.0 + padded / 4.0) + slack * padded,
            norm: dot(query, query).sqrt() * (1.0 + rounding(self.dim)),
        })
    }

    /// Approximate scores of the positions in `blocks` into `out` (indexed by position).
    fn kernel(&self, code: &Code, blocks: Range<usize>, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::dot::avx2_fma() {
                // SAFETY: the CPU supports the features the function was compiled for; the
                // function checks the lengths it relies on.
                unsafe { x86::kernel_avx2(self, code, blocks, out) };
                return;
            }
        }
        self.kernel_portable(code, blocks, out);
    }

    fn kernel_portable(&self, code: &Code, blocks: Range<usize>, out: &mut [f32]) {
        let mut acc = [0i32; BLOCK];
        for b in blocks {
            acc.fill(0);
            let base = b * self.pairs * BLOCK * 2;
            for (p, &u) in code.packed.iter().enumerate() {
                let (u0, u1) = (u as i16 as i32, (u >> 16) as i16 as i32);
                let x = &self.blocks[base + p * BLOCK * 2..base + (p + 1) * BLOCK * 2];
                for j in 0..BLOCK {
                    acc[j] += x[2 * j] as i32 * u0 + x[2 * j + 1] as i32 * u1;
                }
            }
            for j in 0..BLOCK {
                out[b * BLOCK + j] = acc[j] as f32 * (self.scale[b * BLOCK + j] * code.t);
            }
        }
    }

    /// The best `k` rows by `rows[i]·query`, skipping `excluded`, exactly as `top_k` over f32 dot
    /// products would rank them. `rows` must be the matrix this copy was built from; `scratch` is
    /// reused between calls.
    pub fn top_k(
        &self,
        rows: &[f32],
        query: &[f32],
        excluded: &[u32],
        k: usize,
        scratch: &mut Vec<f32>,
    ) -> Vec<Scored> {
        debug_assert_eq!(rows.len(), self.n * self.dim);
        let dim = self.dim;
        // Dereferenced once: a mapped array's deref is a call through its backing.
        let order: &[u32] = &self.order;
        let exact_item = |i: u32| dot(&rows[i as usize * dim..(i as usize + 1) * dim], query);
        let Some(code) = self.encode(query) else {
            let mut s = vec![0f32; self.n];
            crate::dot::scores_into(rows, dim, query, &mut s);
            for &e in excluded {
                s[e as usize] = f32::NEG_INFINITY;
            }
            return top_k_dense(&s, k);
        };
        if k == 0 {
            return Vec::new();
        }
        // (item, exact score) of positions picked by their approximate scores.
        let rescore = |positions: &[Scored]| -> Vec<(u32, f32)> {
            positions
                .iter()
                .map(|s| {
                    let item = order[s.index as usize];
                    (item, exact_item(item))
                })
                .collect()
        };
        let kth = |pairs: &[(u32, f32)]| top_k(pairs.iter().copied(), k).last().map(|s| s.score);

        let n_blocks = self.block_norm.len();
        // Grown as the scan goes: the early stop usually reads a short prefix, and a buffer the
        // size of a million-item catalogue would be 4 MB of private memory per backend.
        let approx = scratch;
        let mut excluded_pos: Vec<u32> = excluded
            .iter()
            .map(|&e| self.position[e as usize])
            .collect();
        excluded_pos.sort_unstable();
        let mut next_excluded = 0;

        // Scan blocks by descending norm until the bound says no later item can make the top k.
        let mut end_block = 0;
        let mut tau: Option<f32> = None;
        let mut tau_at = 0;
        // No exact score in the prefix exceeds its best approximate one plus the largest error
        // bound, so while that stays below the next block's bound, deriving the k-th exact score
        // could not stop the scan: embeddings whose norms are alike (a sequence model's) then
        // scan to the end without rescoring a prefix at every doubling.
        let (a, b) = (code.a, code.b);
        let most_error = a * self.max_l1 + b * self.max_scale;
        let mut best_approx = f32::NEG_INFINITY;
        while end_block < n_blocks {
            if tau.is_some_and(|t| code.norm * self.block_norm[end_block] < t) {
                break;
            }
            let next = (end_block + CHUNK_BLOCKS).min(n_blocks);
            if approx.len() < next * BLOCK {
                approx.resize((next * BLOCK).max(approx.len() * 2).min(n_blocks * BLOCK), 0.0);
            }
            self.kernel(&code, end_block..next, approx);
            while next_excluded < excluded_pos.len()
                && (excluded_pos[next_excluded] as usize) < next * BLOCK
            {
                approx[excluded_pos[next_excluded] as usize] = f32::NEG_INFINITY;
                next_excluded += 1;
            }
            let end = (next * BLOCK).min(self.n);
            best_approx = approx[end_block * BLOCK..end]
                .iter()
                .fold(best_approx, |m, &x| m.max(x));
            end_block = next;
            let could_stop = end_block < n_blocks
                && best_approx + most_error >= code.norm * self.block_norm[end_block];
            // A better k-th score stops the scan sooner; re-derive it as the prefix doubles.
            if could_stop && (tau.is_none() || end >= 2 * tau_at) {
                let best = rescore(&top_k_dense(&approx[..end], k));
                if best.len() == k {
                    tau = kth(&best);
                    tau_at = end;
                }
            }
        }
        let end = (end_block * BLOCK).min(self.n);
        let approx = &mut approx[..end];

        // Exact scores for the best k of the prefix, then for every position that could beat the
        // k-th exact score found so far, which rises as better items turn up.
        let first = top_k_dense(approx, k);
        let mut best = Best::new(k);
        for (item, score) in rescore(&first) {
            best.offer(item, score);
        }
        if let (true, Some(mut tau)) = (first.len() == k, best.floor()) {
            for s in &first {
                approx[s.index as usize] = f32::NEG_INFINITY;
            }
            const CHUNK: usize = 32;
            for (c, ((ap, l1), sc)) in approx
                .chunks(CHUNK)
                .zip(self.l1.chunks(CHUNK))
                .zip(self.scale.chunks(CHUNK))
                .enumerate()
            {
                // One comparison per item against the loosest bound first: most chunks stop here.
                let loosest = tau - most_error;
                if !ap.iter().fold(false, |any, &x| any | (x >= loosest)) {
                    continue;
                }
                for (j, ((&x, &l), &s)) in ap.iter().zip(l1).zip(sc).enumerate() {
                    if x + a * l + b * s >= tau {
                        let item = order[c * CHUNK + j];
                        best.offer(item, exact_item(item));
                        tau = tau.max(best.floor().unwrap_or(tau));
                    }
                }
            }
        }
        best.into_sorted()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Code, QuantizedRows, BLOCK};
    use std::arch::x86_64::*;
    use std::ops::Range;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel_avx2(
        q: &QuantizedRows,
        code: &Code,
        blocks: Range<usize>,
        out: &mut [f32],
    ) {
        let pairs = q.pairs;
        assert!(q.blocks.len() >= blocks.end * pairs * BLOCK * 2);
        assert!(q.scale.len() >= blocks.end * BLOCK && out.len() >= blocks.end * BLOCK);
        assert!(code.packed.len() == pairs && pairs.is_multiple_of(2));
        let packed = &code.packed;
        let tv = _mm256_set1_ps(code.t);
        // Dereferenced once: a mapped array's deref is a call through its backing.
        let (rows, scale) = (q.blocks.as_ptr(), q.scale.as_ptr());
        for b in blocks {
            let base = rows.add(b * pairs * BLOCK * 2);
            let mut a0 = _mm256_setzero_si256();
            let mut a1 = _mm256_setzero_si256();
            let mut p = 0;
            while p < pairs {
                let x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(base.add(p * 16) as *const __m128i));
                let x1 =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(base.add(p * 16 + 16) as *const __m128i));
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, _mm256_set1_epi32(packed[p])));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, _mm256_set1_epi32(packed[p + 1])));
                p += 2;
            }
            let acc = _mm256_cvtepi32_ps(_mm256_add_epi32(a0, a1));
            let s = _mm256_mul_ps(_mm256_loadu_ps(scale.add(b * BLOCK)), tv);
            _mm256_storeu_ps(out.as_mut_ptr().add(b * BLOCK), _mm256_mul_ps(acc, s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }

    fn brute(rows: &[f32], dim: usize, q: &[f32], excluded: &[u32], k: usize) -> Vec<Scored> {
        top_k(
            rows.chunks_exact(dim)
                .enumerate()
                .filter(|(i, _)| !excluded.contains(&(*i as u32)))
                .map(|(i, r)| (i as u32, dot(r, q))),
            k,
        )
    }

    #[test]
    fn same_ranking_as_exact_scan() {
        let mut seed = 7;
        for &(n, dim) in &[
            (1, 1),
            (7, 3),
            (8, 4),
            (100, 5),
            (1000, 64),
            (333, 17),
            (2000, 130),
        ] {
            // Skewed row norms, as popular items have in trained models.
            let rows: Vec<f32> = (0..n * dim)
                .map(|i| lcg(&mut seed) * (1.0 + (i / dim % 10) as f32))
                .collect();
            let index = QuantizedRows::build(&rows, dim).unwrap();
            let mut scratch = Vec::new();
            for trial in 0..20 {
                let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed) * 3.0).collect();
                let excluded: Vec<u32> = (0..n as u32).filter(|i| (i + trial) % 7 == 0).collect();
                for k in [1, 10, n, n + 5] {
                    let got = index.top_k(&rows, &q, &excluded, k, &mut scratch);
                    assert_eq!(
                        got,
                        brute(&rows, dim, &q, &excluded, k),
                        "n={n} dim={dim} k={k}"
                    );
                }
            }
        }
    }

    /// The AVX2 kernel, where the CPU has it, gives the portable kernel's approximate scores
    /// exactly (the sums are integers; the scaling is the same product), for whole and partial
    /// ranges of blocks.
    #[test]
    fn kernels_agree() {
        let mut seed = 3;
        for dim in [1, 4, 5, 12, 17, 64, 130] {
            let n = 8 * 37 + 3;
            let rows: Vec<f32> = (0..n * dim).map(|_| lcg(&mut seed) * 4.0).collect();
            let index = QuantizedRows::build(&rows, dim).unwrap();
            let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed) * 2.0).collect();
            let code = index.encode(&q).unwrap();
            let blocks = index.block_norm.len();
            let mut want = vec![0f32; blocks * BLOCK];
            index.kernel_portable(&code, 0..blocks, &mut want);
            #[cfg(target_arch = "x86_64")]
            {
                let mut got = vec![0f32; blocks * BLOCK];
                if crate::dot::avx2_fma() {
                    // SAFETY: the CPU has the kernel's features.
                    unsafe { x86::kernel_avx2(&index, &code, 0..blocks, &mut got) };
                    assert_eq!(got, want, "avx2, dim {dim}");
                    got.fill(0.0);
                    // SAFETY: as above.
                    unsafe { x86::kernel_avx2(&index, &code, 3..blocks, &mut got) };
                    assert_eq!(got[3 * BLOCK..], want[3 * BLOCK..], "a range, dim {dim}");
                    assert!(got[..3 * BLOCK].iter().all(|&v| v == 0.0));
                }
            }
        }
    }

    #[test]
    fn stops_early_on_skewed_norms_with_the_same_result() {
        let mut seed = 11;
        let (n, dim) = (5000, 32);
        // Norms fall like a power law, as popularity does in trained models.
        let rows: Vec<f32> = (0..n * dim)
            .map(|i| lcg(&mut seed) * 10.0 / (1.0 + (i / dim) as f32).sqrt())
            .collect();
        let index = QuantizedRows::build(&rows, dim).unwrap();
        let mut scratch = Vec::new();
        for trial in 0..30 {
            let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
            let excluded: Vec<u32> = (0..40).map(|i| (i * 13 + trial) % 200).collect();
            for k in [1, 10, 100] {
                let got = index.top_k(&rows, &q, &excluded, k, &mut scratch);
                assert_eq!(got, brute(&rows, dim, &q, &excluded, k), "k={k}");
            }
        }
    }

    #[test]
    fn ties_zero_rows_and_zero_query() {
        let dim = 4;
        let mut rows = vec![0f32; 40 * dim];
        for i in 10..20 {
            rows[i * dim] = 1.0;
        }
        let index = QuantizedRows::build(&rows, dim).unwrap();
        let mut s = Vec::new();
        let q = [2.0, 0.0, 0.0, 0.0];
        assert_eq!(
            index.top_k(&rows, &q, &[11], 5, &mut s),
            brute(&rows, dim, &q, &[11], 5)
        );
        let zero = [0.0; 4];
        assert_eq!(
            index.top_k(&rows, &zero, &[], 3, &mut s),
            brute(&rows, dim, &zero, &[], 3)
        );
    }

    #[test]
    fn portable_kernel_matches_dispatched_one() {
        let mut seed = 3;
        let (n, dim) = (301, 36);
        let rows: Vec<f32> = (0..n * dim).map(|_| lcg(&mut seed)).collect();
        let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
        let index = QuantizedRows::build(&rows, dim).unwrap();
        let code = index.encode(&q).unwrap();
        let all = 0..index.block_norm.len();
        let mut fast = vec![0f32; index.scale.len()];
        index.kernel(&code, all.clone(), &mut fast);
        let mut slow = vec![0f32; index.scale.len()];
        index.kernel_portable(&code, all, &mut slow);
        assert_eq!(fast, slow);
        // Approximations stay within their bounds.
        for (pos, &approx) in fast[..n].iter().enumerate() {
            let item = index.order[pos] as usize;
            let exact = dot(&rows[item * dim..(item + 1) * dim], &q);
            let bound = code.a * index.l1[pos] + code.b * index.scale[pos];
            assert!((exact - approx).abs() <= bound, "pos {pos}");
        }
    }

    #[test]
    fn non_finite_values() {
        assert!(QuantizedRows::build(&[1.0, f32::NAN], 2).is_none());
        let rows = [1.0, 0.0, 0.0, 1.0];
        let index = QuantizedRows::build(&rows, 2).unwrap();
        let mut s = Vec::new();
        let q = [f32::INFINITY, 0.0];
        assert_eq!(
            index.top_k(&rows, &q, &[], 2, &mut s),
            brute(&rows, 2, &q, &[], 2)
        );
    }

    #[test]
    fn stored_and_read_back_it_ranks_the_same_and_damage_is_an_error() {
        let mut seed = 11;
        let (n, dim) = (500, 12);
        let rows: Vec<f32> = (0..n * dim).map(|_| lcg(&mut seed)).collect();
        let index = QuantizedRows::build(&rows, dim).unwrap();
        let mut t = Vec::new();
        index.push_tensors(&mut t, "q");
        let bytes = mkt_core::tensors::serialize(&t, "test").unwrap();
        let r = Reader::new(&bytes, None).unwrap();
        let back = QuantizedRows::read(&r, "q", n, dim).unwrap();
        assert_eq!(back, index);
        assert!(QuantizedRows::read(&r, "q", n + 1, dim).is_err(), "another model's shape");
        assert!(QuantizedRows::read(&r, "q", n, dim + 1).is_err());
        // an item index out of range
        let mut bad = Vec::new();
        index.push_tensors(&mut bad, "q");
        let order: Vec<u32> = (0..n as u32).map(|i| i + 1).collect();
        bad[2] = ("q.order".into(), u32s(&order));
        let bytes = mkt_core::tensors::serialize(&bad, "test").unwrap();
        let r = Reader::new(&bytes, None).unwrap();
        assert!(QuantizedRows::read(&r, "q", n, dim).is_err());
    }
}
