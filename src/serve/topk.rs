//! Blocked top-k of all dot products `queries · targetsᵀ`: the kernel behind
//! [`Model::recommend_all`](crate::Model::recommend_all) and the similar-all
//! methods.
//!
//! ## How it works
//! The targets (items) are packed once into panels of [`NR`] rows laid out
//! factor-major (`panel[p][lane]`), so that a register tile of `MR` queries x
//! `NR` targets is one run of `k` fused multiply-adds per accumulator. Queries
//! are cut into blocks of [`BLOCK_QUERIES`] rows (the unit of parallel work)
//! and targets into tiles of [`TILE_PANELS`] panels (256 KiB at `k = 64`, so a
//! tile stays in L2 while every query of the block runs over it). No score
//! matrix is ever written: each register tile is compared with the running
//! k-th best score of each of its queries, and only the rare scores that beat
//! it take the slow path (filter check, sorted insertion into the query's
//! top-k list).
//!
//! The micro-kernel is chosen at run time ([`kernel_name`]): with AVX2 and
//! FMA, `MR = 6` queries x 16 targets in 12 `ymm` accumulators (explicit
//! intrinsics); elsewhere a portable loop with `MR = 4`. Both compute the
//! same fused multiply-add chain.
//!
//! Cost: `O(m n k)` multiply-adds (the product) plus `O(m n / NR)`
//! comparisons; memory `O(n k)` for the packed targets and `O(BLOCK_QUERIES k)`
//! a worker.
//!
//! ## Order, ties and determinism
//! Every score is `Σ_p x_p y_p` accumulated left to right with fused
//! multiply-adds ([`score`]), whatever the instruction set, so results are
//! bit-identical on any machine and any number of threads. Results are
//! sorted by score, highest first; **ties go to the lower target index**
//! (targets are visited in increasing index order and a later target must
//! beat the k-th score strictly). NaN or `-inf` scores are never returned, so
//! a list can be shorter than `k`.
//!
//! ## Parallelisation
//! Query blocks run on rayon in waves of a few blocks per worker; after each
//! wave the results are handed to the sink in query order, so output can be
//! streamed while memory stays `O(wave · BLOCK_QUERIES · k)`.

use rayon::prelude::*;

use crate::factors::Factors;

/// Targets per panel (one register row of accumulators).
pub const NR: usize = 16;
/// Queries per unit of parallel work.
pub const BLOCK_QUERIES: usize = 256;
/// Panels per target tile (the tile is `TILE_PANELS · NR · k` floats).
pub const TILE_PANELS: usize = 64;
/// Query blocks per worker per wave.
const WAVE_PER_THREAD: usize = 4;

/// The score the kernel computes: `Σ_p x_p y_p` left to right with fused
/// multiply-adds (`acc = x_p.mul_add(y_p, acc)` from `acc = 0`).
#[inline]
pub fn score(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .fold(0.0f32, |acc, (a, b)| a.mul_add(*b, acc))
}

/// Order of ranked results: higher score first, ties by lower index.
pub(crate) fn rank_order(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// The `k` best of `scored` under [`rank_order`], sorted.
pub(crate) fn top_k(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, rank_order);
        scored.truncate(k);
    }
    scored.sort_by(rank_order);
    scored
}

/// The `k` best `(index, score)` seen so far, sorted (score descending,
/// index ascending), for one query. Offer candidates in increasing index order.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    entries: Vec<(u32, f32)>,
    threshold: f32,
}

impl TopK {
    /// An empty list keeping up to `k` entries.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            entries: Vec::with_capacity(k),
            threshold: if k == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            },
        }
    }

    /// Forget all entries.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.threshold = if self.k == 0 {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        };
    }

    /// A score must be strictly above this to enter.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Offer a candidate; kept if `s > threshold()`.
    #[inline]
    pub fn push(&mut self, index: u32, s: f32) {
        if s > self.threshold {
            self.insert(index, s);
        }
    }

    fn insert(&mut self, index: u32, s: f32) {
        // After every entry with a score >= s (those came earlier, so they
        // have lower indices).
        let pos = self.entries.partition_point(|e| e.1 >= s);
        if self.entries.len() == self.k {
            self.entries.pop();
        }
        self.entries.insert(pos, (index, s));
        if self.entries.len() == self.k {
            self.threshold = self.entries[self.k - 1].1;
        }
    }

    /// The entries, best first.
    pub fn as_slice(&self) -> &[(u32, f32)] {
        &self.entries
    }

    /// The entries, best first.
    pub fn into_vec(self) -> Vec<(u32, f32)> {
        self.entries
    }
}

/// Targets packed into panels of `NR` rows, factor-major within a panel.
pub(crate) struct Packed {
    k: usize,
    /// Number of targets.
    n: usize,
    /// Target index -> returned id (`None`: the identity).
    ids: Option<Vec<u32>>,
    panels: Vec<f32>,
}

impl Packed {
    /// Pack the rows `ids` of `y` (all rows when `None`), in that order.
    pub(crate) fn new(y: &Factors, ids: Option<Vec<u32>>) -> Self {
        let k = y.k();
        let n = ids.as_ref().map_or(y.rows(), |v| v.len());
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0.0f32; n_panels * k * NR];
        for (pi, panel) in panels.chunks_exact_mut((k * NR).max(1)).enumerate() {
            for lane in 0..NR {
                let t = pi * NR + lane;
                if t >= n {
                    break;
                }
                let row = ids.as_ref().map_or(t, |v| v[t] as usize);
                for (p, &v) in y.row(row).iter().enumerate() {
                    panel[p * NR + lane] = v;
                }
            }
        }
        Packed { k, n, ids, panels }
    }

    fn n_panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    #[inline]
    fn id(&self, t: usize) -> u32 {
        self.ids.as_ref().map_or(t as u32, |v| v[t])
    }
}

/// One block's lists, flattened, and their lengths.
type BlockLists = (Vec<(u32, f32)>, Vec<usize>);

/// Per-worker state of one query block.
struct BlockState {
    lists: Vec<TopK>,
    /// The block's queries packed as micro-blocks (zero padded).
    pad: Vec<f32>,
}

/// One block of queries `[q0, q1)` to rank against all packed targets.
struct Job<'a, E> {
    queries: &'a Factors,
    q0: usize,
    q1: usize,
    targets: &'a Packed,
    excluded: &'a E,
}

/// The top-k of one block of queries against all packed targets.
#[inline(always)]
fn run_block<const MR: usize, E, K>(job: &Job<'_, E>, st: &mut BlockState, kernel: K)
where
    E: Fn(usize, u32) -> bool,
    K: Fn(&[f32], &[f32], &[f32; MR], &mut [[f32; NR]; MR]) -> u32,
{
    let (queries, q0, q1) = (job.queries, job.q0, job.q1);
    let (targets, excluded) = (job.targets, job.excluded);
    let k = targets.k;
    let n_panels = targets.n_panels();
    let panel_len = k * NR;
    for l in st.lists.iter_mut() {
        l.clear();
    }
    // Pack the block's queries as micro-blocks of MR rows, factor-major
    // (`xp[mb][p][r]`), zero padded.
    let n_micro = (q1 - q0).div_ceil(MR);
    st.pad.clear();
    st.pad.resize(n_micro * MR * k, 0.0);
    for q in q0..q1 {
        let (mb, r) = ((q - q0) / MR, (q - q0) % MR);
        let dst = &mut st.pad[mb * MR * k..(mb + 1) * MR * k];
        for (p, &v) in queries.row(q).iter().enumerate() {
            dst[p * MR + r] = v;
        }
    }
    let mut t0 = 0;
    while t0 < n_panels {
        let t1 = (t0 + TILE_PANELS).min(n_panels);
        for mb in 0..n_micro {
            let m0 = q0 + mb * MR;
            let rows = (q1 - m0).min(MR);
            let xs = &st.pad[mb * MR * k..(mb + 1) * MR * k];
            let mut thr = [f32::INFINITY; MR];
            for (r, t) in thr.iter_mut().enumerate().take(rows) {
                *t = st.lists[m0 - q0 + r].threshold();
            }
            for pi in t0..t1 {
                let panel = &targets.panels[pi * panel_len..(pi + 1) * panel_len];
                let mut acc = [[0.0f32; NR]; MR];
                let pass = kernel(xs, panel, &thr, &mut acc);
                if pass == 0 {
                    continue;
                }
                for r in 0..rows {
                    if pass & (1 << r) != 0 {
                        let list = &mut st.lists[m0 - q0 + r];
                        slow_path(list, &acc[r], pi, m0 + r, targets, excluded);
                        thr[r] = list.threshold();
                    }
                }
            }
        }
        t0 = t1;
    }
}

#[inline(never)]
fn slow_path<E>(
    list: &mut TopK,
    acc: &[f32; NR],
    panel: usize,
    query: usize,
    targets: &Packed,
    excluded: &E,
) where
    E: Fn(usize, u32) -> bool,
{
    for (l, &s) in acc.iter().enumerate() {
        if s > list.threshold() {
            let t = panel * NR + l;
            if t >= targets.n {
                break;
            }
            let id = targets.id(t);
            if !excluded(query, id) {
                list.insert(id, s);
            }
        }
    }
}

/// The portable micro-kernel: `acc[r][l] = Σ_p xs[p][r] panel[p][l]` (fused
/// multiply-adds, `p` ascending); returns a bit per row with a score above
/// its threshold.
#[inline(always)]
fn micro_portable<const MR: usize>(
    xs: &[f32],
    panel: &[f32],
    thr: &[f32; MR],
    acc: &mut [[f32; NR]; MR],
) -> u32 {
    for (yv, xv) in panel.chunks_exact(NR).zip(xs.chunks_exact(MR)) {
        for r in 0..MR {
            for l in 0..NR {
                acc[r][l] = xv[r].mul_add(yv[l], acc[r][l]);
            }
        }
    }
    let mut pass = 0u32;
    for r in 0..MR {
        if acc[r].iter().any(|&s| s > thr[r]) {
            pass |= 1 << r;
        }
    }
    pass
}

/// Rows of the AVX2 micro-kernel: 6 x 16 accumulators in 12 `ymm` registers.
#[cfg(target_arch = "x86_64")]
const MR_AVX2: usize = 6;

/// The AVX2 + FMA micro-kernel (same arithmetic as [`micro_portable`]).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `xs` holds `k · MR_AVX2` floats and
/// `panel` `k · NR`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn micro_avx2(
    xs: &[f32],
    panel: &[f32],
    thr: &[f32; MR_AVX2],
    acc: &mut [[f32; NR]; MR_AVX2],
) -> u32 {
    use std::arch::x86_64::*;
    let k = panel.len() / NR;
    debug_assert_eq!(xs.len(), k * MR_AVX2);
    let z = _mm256_setzero_ps();
    let mut c = [[z; 2]; MR_AVX2];
    let mut yp = panel.as_ptr();
    let mut xp = xs.as_ptr();
    for _ in 0..k {
        let y0 = _mm256_loadu_ps(yp);
        let y1 = _mm256_loadu_ps(yp.add(8));
        let mut r = 0;
        while r < MR_AVX2 {
            let x = _mm256_broadcast_ss(&*xp.add(r));
            c[r][0] = _mm256_fmadd_ps(x, y0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(x, y1, c[r][1]);
            r += 1;
        }
        yp = yp.add(NR);
        xp = xp.add(MR_AVX2);
    }
    let mut pass = 0u32;
    for r in 0..MR_AVX2 {
        let t = _mm256_set1_ps(thr[r]);
        let m = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(c[r][0], t),
            _mm256_cmp_ps::<_CMP_GT_OQ>(c[r][1], t),
        );
        if _mm256_movemask_ps(m) != 0 {
            pass |= 1 << r;
            _mm256_storeu_ps(acc[r].as_mut_ptr(), c[r][0]);
            _mm256_storeu_ps(acc[r].as_mut_ptr().add(8), c[r][1]);
        }
    }
    pass
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_block_avx2<E: Fn(usize, u32) -> bool>(job: &Job<'_, E>, st: &mut BlockState) {
    run_block::<MR_AVX2, E, _>(job, st, |xs, p, t, acc| {
        // SAFETY: this function only runs when AVX2 and FMA were detected;
        // `run_block` passes slices of k · MR and k · NR floats.
        unsafe { micro_avx2(xs, p, t, acc) }
    })
}

/// Which instruction set the kernel uses: the crate's one SIMD level
/// ([`crate::linalg::simd`], lowered by `IALS_SIMD`). Both kernels fuse
/// every multiply-add in the same order, so they give the same lists.
pub fn kernel_name() -> &'static str {
    match crate::linalg::simd() {
        crate::linalg::Simd::Avx2 | crate::linalg::Simd::Avx512 => "avx2+fma",
        crate::linalg::Simd::Scalar => "portable",
    }
}

/// What receives each query's ranked list, in query order; its first error
/// stops the run.
pub trait Sink<E>: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E> {}

impl<E, F: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>> Sink<E> for F {}

fn dispatch<E: Fn(usize, u32) -> bool>(
    kernel: &'static str,
    job: &Job<'_, E>,
    st: &mut BlockState,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if kernel == "avx2+fma" {
            // SAFETY: `kernel_name` is "avx2+fma" only at a level the CPU
            // supports (`simd()` never exceeds the detected level).
            return unsafe { run_block_avx2(job, st) };
        }
    }
    let _ = kernel;
    run_block::<4, E, _>(job, st, micro_portable::<4>)
}

/// The `k` best targets of every query row, handed to `sink(query, list)` in
/// query order (see the module docs for order, ties and cost).
///
/// `allowed`: the target rows to consider, strictly increasing (`None`: all).
/// `excluded(query, target)`: targets to skip for one query; it is only asked
/// about targets that would otherwise enter that query's list. The first error
/// of `sink` stops the run and is returned.
pub fn top_k_all<X, S, Er>(
    queries: &Factors,
    targets: &Factors,
    allowed: Option<Vec<u32>>,
    k: usize,
    excluded: X,
    mut sink: S,
) -> std::result::Result<(), Er>
where
    X: Fn(usize, u32) -> bool + Sync,
    S: Sink<Er>,
{
    assert_eq!(
        queries.k(),
        targets.k(),
        "top_k_all: queries and targets have different k"
    );
    if let Some(a) = &allowed {
        assert!(
            a.windows(2).all(|w| w[0] < w[1])
                && a.last().is_none_or(|&t| (t as usize) < targets.rows()),
            "top_k_all: allowed targets must be increasing and in range"
        );
    }
    let m = queries.rows();
    let packed = Packed::new(targets, allowed);
    let k = k.min(packed.n);
    let kernel = kernel_name();
    let n_blocks = m.div_ceil(BLOCK_QUERIES);
    let wave = (rayon::current_num_threads() * WAVE_PER_THREAD).max(1);
    let mut b0 = 0;
    while b0 < n_blocks {
        let b1 = (b0 + wave).min(n_blocks);
        // Each block's lists, flattened: one allocation a block, not a row.
        let results: Vec<BlockLists> = (b0..b1)
            .into_par_iter()
            .map_init(
                || BlockState {
                    lists: Vec::new(),
                    pad: Vec::new(),
                },
                |st, b| {
                    let q0 = b * BLOCK_QUERIES;
                    let q1 = (q0 + BLOCK_QUERIES).min(m);
                    st.lists.resize_with(q1 - q0, || TopK::new(k));
                    st.lists.truncate(q1 - q0);
                    let job = Job {
                        queries,
                        q0,
                        q1,
                        targets: &packed,
                        excluded: &excluded,
                    };
                    dispatch(kernel, &job, st);
                    let mut flat = Vec::with_capacity((q1 - q0) * k);
                    let mut lens = Vec::with_capacity(q1 - q0);
                    for l in &st.lists {
                        flat.extend_from_slice(l.as_slice());
                        lens.push(l.as_slice().len());
                    }
                    (flat, lens)
                },
            )
            .collect();
        for (b, (flat, lens)) in (b0..b1).zip(results) {
            let mut s = 0;
            for (r, len) in lens.into_iter().enumerate() {
                sink(b * BLOCK_QUERIES + r, &flat[s..s + len])?;
                s += len;
            }
        }
        b0 = b1;
    }
    Ok(())
}

/// The `k` best targets of one query by a plain scan (same scores and order
/// as [`top_k_all`]); `O(n k)`.
pub fn top_k_one<X>(
    query: &[f32],
    targets: &Factors,
    allowed: Option<&[u32]>,
    k: usize,
    excluded: X,
) -> Vec<(u32, f32)>
where
    X: Fn(u32) -> bool,
{
    let mut list = TopK::new(k.min(allowed.map_or(targets.rows(), |a| a.len())));
    let mut offer = |t: u32| {
        let s = score(query, targets.row(t as usize));
        if s > list.threshold() && !excluded(t) {
            list.insert(t, s);
        }
    };
    match allowed {
        Some(a) => a.iter().for_each(|&t| offer(t)),
        None => (0..targets.rows() as u32).for_each(offer),
    }
    list.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_keeps_best_with_index_ties() {
        let mut t = TopK::new(3);
        for (i, s) in [(0, 1.0), (1, 2.0), (2, 2.0), (3, 0.5), (4, 2.0), (5, 3.0)] {
            t.push(i, s);
        }
        assert_eq!(t.as_slice(), &[(5, 3.0), (1, 2.0), (2, 2.0)]);
        let mut z = TopK::new(0);
        z.push(0, 1.0);
        assert!(z.as_slice().is_empty());
    }

    /// The portable and the detected micro-kernels give identical lists.
    #[test]
    fn portable_kernel_matches_detected_kernel() {
        for (m, n, k, seed) in [(300usize, 201usize, 64usize, 1u64), (13, 40, 7, 2)] {
            println!("seed {seed}: {m} x {n}, k = {k}");
            let x = Factors::random_normal(m, k, 1.0, seed);
            let y = Factors::random_normal(n, k, 1.0, seed + 7);
            let packed = Packed::new(&y, None);
            let excluded = |q: usize, t: u32| (q + t as usize).is_multiple_of(5);
            let run = |kernel: &'static str| {
                let mut st = BlockState {
                    lists: (0..m).map(|_| TopK::new(9)).collect(),
                    pad: Vec::new(),
                };
                let job = Job {
                    queries: &x,
                    q0: 0,
                    q1: m,
                    targets: &packed,
                    excluded: &excluded,
                };
                dispatch(kernel, &job, &mut st);
                st.lists.into_iter().map(TopK::into_vec).collect::<Vec<_>>()
            };
            let portable = run("portable");
            assert_eq!(portable, run(kernel_name()), "kernel {}", kernel_name());
            for (q, list) in portable.iter().enumerate() {
                let want = top_k_one(x.row(q), &y, None, 9, |t| excluded(q, t));
                assert_eq!(list, &want);
            }
        }
    }
}
