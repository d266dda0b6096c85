//! Small dense kernels for the row solves: dot products, axpy, the
//! symmetric matrix-vector product, a register-tiled weighted rank-`n` update
//! of a lower triangle (`A += Zᵀ Y`, the "syrk" of the normal equations), the
//! fused CG product `Σ w (y·v) y`, and allocation-free Cholesky factorizations
//! on caller-owned buffers.
//!
//! ## Runtime dispatch
//! Every kernel body is written once, generic over whether fused multiply-add
//! is used, and compiled three times: plain (any x86-64 or other target),
//! `avx2,fma` and `avx512f`. The best level the CPU supports is detected once
//! at run time ([`simd`]); the environment variable `IALS_SIMD=scalar|avx2|avx512`
//! lowers it (never raises it). No `target-cpu` flag is needed.
//!
//! ## Determinism
//! All reductions run in a fixed order with a fixed lane count (16), which
//! does not depend on the level or on threads. The `avx2` and `avx512` levels
//! perform the same operations in the same order (both fuse multiply-adds), so
//! they give bit-identical results; the plain level rounds each product
//! separately and agrees to rounding.

use std::sync::atomic::{AtomicU8, Ordering};

/// Lanes of every reduction (two AVX2 registers, one AVX-512 register).
const LANES: usize = 16;

/// The instruction-set level the kernels run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Simd {
    /// Portable code, separate multiply and add.
    Scalar,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F (with AVX2 and FMA).
    Avx512,
}

impl std::fmt::Display for Simd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        })
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(0);

fn detect() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            return Simd::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Simd::Avx2;
        }
    }
    Simd::Scalar
}

/// The best level this CPU supports (ignores `IALS_SIMD`).
pub fn simd_supported() -> Simd {
    detect()
}

/// The level the kernels use: the best supported, lowered by `IALS_SIMD`.
pub fn simd() -> Simd {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Simd::Scalar,
        2 => Simd::Avx2,
        3 => Simd::Avx512,
        _ => {
            let best = detect();
            let wanted = match std::env::var("IALS_SIMD").ok().as_deref() {
                Some("scalar") => Simd::Scalar,
                Some("avx2") => Simd::Avx2,
                _ => Simd::Avx512,
            };
            let level = best.min(wanted);
            LEVEL.store(
                match level {
                    Simd::Scalar => 1,
                    Simd::Avx2 => 2,
                    Simd::Avx512 => 3,
                },
                Ordering::Relaxed,
            );
            level
        }
    }
}

/// `a * b + c`, fused when `F`.
#[inline(always)]
fn fma<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn fma64<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Generates `pub fn $name(args)` dispatching at run time to the body
/// `$body::<FMA, R>` compiled for each level, and `$name_at(level, args)`
/// (the level is clamped to what the CPU supports).
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $name_at:ident ($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $body:ident) => {
        $(#[$m])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) $(-> $r)? {
            $name_at(simd(), $($a),*)
        }

        /// The same kernel at a given level (clamped to the supported one).
        #[allow(dead_code, clippy::too_many_arguments)]
        #[inline]
        $vis fn $name_at(level: Simd, $($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($a: $t),*) $(-> $r)? {
                    $body::<true, 8>($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($a: $t),*) $(-> $r)? {
                    $body::<true, 4>($($a),*)
                }
                match level.min(simd_supported_cached()) {
                    // SAFETY: the CPU supports these features (checked at run time).
                    Simd::Avx512 => return unsafe { avx512($($a),*) },
                    // SAFETY: as above.
                    Simd::Avx2 => return unsafe { avx2($($a),*) },
                    Simd::Scalar => {}
                }
            }
            let _ = level;
            $body::<false, 4>($($a),*)
        }
    };
}

/// [`simd_supported`], detected once.
#[inline]
fn simd_supported_cached() -> Simd {
    static BEST: AtomicU8 = AtomicU8::new(0);
    match BEST.load(Ordering::Relaxed) {
        1 => Simd::Scalar,
        2 => Simd::Avx2,
        3 => Simd::Avx512,
        _ => {
            let b = detect();
            BEST.store(
                match b {
                    Simd::Scalar => 1,
                    Simd::Avx2 => 2,
                    Simd::Avx512 => 3,
                },
                Ordering::Relaxed,
            );
            b
        }
    }
}

/// Pairwise sum of the 16 lanes in a fixed tree.
#[inline(always)]
fn reduce16(acc: &[f32; LANES]) -> f32 {
    let mut h = [0.0f32; 8];
    for l in 0..8 {
        h[l] = acc[l] + acc[l + 8];
    }
    let q = [h[0] + h[4], h[1] + h[5], h[2] + h[6], h[3] + h[7]];
    (q[0] + q[2]) + (q[1] + q[3])
}

#[inline(always)]
fn dot_body<const F: bool, const R: usize>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] = fma::<F>(x[l], y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] = fma::<F>(*x, *y, acc[l]);
    }
    reduce16(&acc)
}

dispatch! {
    /// `Σ a_i b_i` over the common length, 16 lanes summed in a fixed tree.
    pub fn dot / dot_at(a: &[f32], b: &[f32]) -> f32 = dot_body
}

#[inline(always)]
fn axpy_body<const F: bool, const R: usize>(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = fma::<F>(alpha, *xi, *yi);
    }
}

dispatch! {
    /// `y += alpha * x` (over the common length).
    pub fn axpy / axpy_at(alpha: f32, x: &[f32], y: &mut [f32]) = axpy_body
}

/// Hint the cache to load `data[start..start + len]` (no effect if out of range).
#[inline(always)]
pub(crate) fn prefetch(data: &[f32], start: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if start + len <= data.len() {
            let p = data.as_ptr().wrapping_add(start);
            let mut off = 0;
            while off < len {
                // SAFETY: prefetching never faults; the address is in the slice.
                #[allow(unused_unsafe)]
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        p.wrapping_add(off) as *const i8,
                    )
                };
                off += 16;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, start, len);
}

/// Rows fetched ahead of use by the sparse kernels.
pub(crate) const PREFETCH_AHEAD: usize = 20;

#[inline(always)]
fn rows_axpy_body<const F: bool, const R: usize>(
    y_all: &[f32],
    k: usize,
    idx: &[u32],
    coef: &[f32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if F && R == 8 && k.is_multiple_of(LANES) && out.len() >= k {
        let n = idx.len().min(coef.len());
        let rows = y_all.len() / k;
        assert!(
            idx[..n].iter().all(|&i| (i as usize) < rows),
            "rows_axpy: index out of range"
        );
        // Column panels of up to 64 held in registers; each panel is one pass
        // over the rows (the panels touch disjoint cache lines of each row).
        let mut c0 = 0;
        while c0 < k {
            let width = (k - c0).min(4 * LANES);
            // SAFETY: only the avx512 wrapper instantiates F with R = 8; every
            // row index was checked above and c0 + width <= k.
            unsafe { rows_axpy_avx512(y_all, k, c0, width, &idx[..n], &coef[..n], out) };
            c0 += width;
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if F && R == 4 && k.is_multiple_of(AVX2_LANES) && out.len() >= k {
        let n = idx.len().min(coef.len());
        let rows = y_all.len() / k;
        assert!(
            idx[..n].iter().all(|&i| (i as usize) < rows),
            "rows_axpy: index out of range"
        );
        let mut c0 = 0;
        while c0 < k {
            let width = (k - c0).min(8 * AVX2_LANES);
            // SAFETY: only the avx2 wrapper instantiates F with R = 4 (the
            // avx512 one uses R = 8 and returns above); every row index was
            // checked above and c0 + width <= k.
            unsafe { rows_axpy_avx2(y_all, k, c0, width, &idx[..n], &coef[..n], out) };
            c0 += width;
        }
        return;
    }
    let out = &mut out[..k];
    for (t, (&i, &c)) in idx.iter().zip(coef).enumerate() {
        if let Some(&ip) = idx.get(t + PREFETCH_AHEAD) {
            prefetch(y_all, ip as usize * k, k);
        }
        let row = &y_all[i as usize * k..(i as usize + 1) * k];
        axpy_body::<F, R>(c, row, out);
    }
}

/// [`rows_axpy`] on columns `c0..c0 + width` (`width <= 64`, a multiple of
/// 16): `out` stays in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows_axpy_avx512(
    y_all: &[f32],
    k: usize,
    c0: usize,
    width: usize,
    idx: &[u32],
    coef: &[f32],
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let groups = width / LANES;
    let mut acc = [_mm512_setzero_ps(); 4];
    for (g, a) in acc.iter_mut().enumerate().take(groups) {
        *a = _mm512_loadu_ps(out.as_ptr().add(c0 + g * LANES));
    }
    let base = y_all.as_ptr().add(c0);
    for (t, (&i, &c)) in idx.iter().zip(coef).enumerate() {
        if let Some(&ip) = idx.get(t + PREFETCH_AHEAD) {
            prefetch(y_all, ip as usize * k + c0, width);
        }
        let row = base.add(i as usize * k);
        let cv = _mm512_set1_ps(c);
        for (g, a) in acc.iter_mut().enumerate().take(groups) {
            *a = _mm512_fmadd_ps(cv, _mm512_loadu_ps(row.add(g * LANES)), *a);
        }
    }
    for (g, a) in acc.iter().enumerate().take(groups) {
        _mm512_storeu_ps(out.as_mut_ptr().add(c0 + g * LANES), *a);
    }
}

/// Lanes of an AVX2 register.
#[cfg(target_arch = "x86_64")]
const AVX2_LANES: usize = 8;

/// [`rows_axpy`] on columns `c0..c0 + width` (`width <= 64`, a multiple of
/// 8) with AVX2: `out` stays in up to eight registers; the same fused
/// multiply-adds, in the same order, as the generic loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_axpy_avx2(
    y_all: &[f32],
    k: usize,
    c0: usize,
    width: usize,
    idx: &[u32],
    coef: &[f32],
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let groups = width / AVX2_LANES;
    let mut acc = [_mm256_setzero_ps(); 8];
    for (g, a) in acc.iter_mut().enumerate().take(groups) {
        *a = _mm256_loadu_ps(out.as_ptr().add(c0 + g * AVX2_LANES));
    }
    let base = y_all.as_ptr().add(c0);
    for (t, (&i, &c)) in idx.iter().zip(coef).enumerate() {
        if let Some(&ip) = idx.get(t + PREFETCH_AHEAD) {
            prefetch(y_all, ip as usize * k + c0, width);
        }
        let row = base.add(i as usize * k);
        let cv = _mm256_set1_ps(c);
        if groups == 8 {
            for (g, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(cv, _mm256_loadu_ps(row.add(g * AVX2_LANES)), *a);
            }
        } else {
            for (g, a) in acc.iter_mut().enumerate().take(groups) {
                *a = _mm256_fmadd_ps(cv, _mm256_loadu_ps(row.add(g * AVX2_LANES)), *a);
            }
        }
    }
    for (g, a) in acc.iter().enumerate().take(groups) {
        _mm256_storeu_ps(out.as_mut_ptr().add(c0 + g * AVX2_LANES), *a);
    }
}

dispatch! {
    /// `out += Σ_t coef_t Y[idx_t]` where `Y` is row-major with `k` columns
    /// (`y_all`), in order of `t`, prefetching rows ahead: `b_u = Σ c p y`.
    pub fn rows_axpy / rows_axpy_at(y_all: &[f32], k: usize, idx: &[u32], coef: &[f32], out: &mut [f32]) = rows_axpy_body
}

#[inline(always)]
fn symv_body<const F: bool, const R: usize>(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if F && R == 8 && k.is_multiple_of(LANES) && a.len() >= k * k && v.len() >= k && out.len() >= k
    {
        // SAFETY: only the avx512 wrapper instantiates F with R = 8; the
        // lengths are checked above.
        unsafe { symv_avx512(a, k, v, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if F && R == 4
        && k.is_multiple_of(AVX2_LANES)
        && a.len() >= k * k
        && v.len() >= k
        && out.len() >= k
    {
        // SAFETY: only the avx2 wrapper instantiates F with R = 4; the
        // lengths are checked above.
        unsafe { symv_avx2(a, k, v, out) };
        return;
    }
    let out = &mut out[..k];
    out.iter_mut().for_each(|o| *o = 0.0);
    for (row, &vj) in a.chunks_exact(k).zip(&v[..k]) {
        axpy_body::<F, R>(vj, row, out);
    }
}

/// [`symv`] with up to four AVX-512 accumulators held in registers across
/// the rows of `A`: the same fused sums, in the same order, as the generic loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn symv_avx512(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let ap = a.as_ptr();
    let mut c0 = 0;
    while c0 < k {
        let groups = ((k - c0) / LANES).min(4);
        let mut acc = [_mm512_setzero_ps(); 4];
        for j in 0..k {
            let vj = _mm512_set1_ps(*v.get_unchecked(j));
            let row = ap.add(j * k + c0);
            for (g, accg) in acc.iter_mut().enumerate().take(groups) {
                *accg = _mm512_fmadd_ps(vj, _mm512_loadu_ps(row.add(g * LANES)), *accg);
            }
        }
        for (g, accg) in acc.iter().enumerate().take(groups) {
            _mm512_storeu_ps(out.as_mut_ptr().add(c0 + g * LANES), *accg);
        }
        c0 += groups * LANES;
    }
}

/// [`symv`] with up to eight AVX2 accumulators held in registers across the
/// rows of `A`: the same fused sums, in the same order, as the generic loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn symv_avx2(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let ap = a.as_ptr();
    let mut c0 = 0;
    while c0 < k {
        let groups = ((k - c0) / AVX2_LANES).min(8);
        let mut acc = [_mm256_setzero_ps(); 8];
        for j in 0..k {
            let vj = _mm256_set1_ps(*v.get_unchecked(j));
            let row = ap.add(j * k + c0);
            for (g, accg) in acc.iter_mut().enumerate().take(groups) {
                *accg = _mm256_fmadd_ps(vj, _mm256_loadu_ps(row.add(g * AVX2_LANES)), *accg);
            }
        }
        for (g, accg) in acc.iter().enumerate().take(groups) {
            _mm256_storeu_ps(out.as_mut_ptr().add(c0 + g * AVX2_LANES), *accg);
        }
        c0 += groups * AVX2_LANES;
    }
}

dispatch! {
    /// `out = A v` for a symmetric row-major `k x k` matrix (both triangles
    /// stored), as `Σ_j v_j A[j,:]` (no horizontal sums).
    pub fn symv / symv_at(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) = symv_body
}

#[inline(always)]
fn gemv_body<const F: bool, const R: usize>(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) {
    let rows = out.len().min(a.len() / k.max(1));
    #[cfg(target_arch = "x86_64")]
    if F && R == 8 && k.is_multiple_of(LANES) && k > 0 && v.len() >= k {
        let mut i = 0;
        while i + 4 <= rows {
            // SAFETY: only the avx512 wrapper instantiates F with R = 8;
            // rows i..i + 4 of `a` (length k each) and v[..k] are in bounds.
            let d = unsafe { dot4_avx512(&a[i * k..(i + 4) * k], k, &v[..k]) };
            out[i..i + 4].copy_from_slice(&d);
            i += 4;
        }
        for r in i..rows {
            out[r] = dot_body::<F, R>(&a[r * k..(r + 1) * k], v);
        }
        return;
    }
    for (i, o) in out.iter_mut().enumerate().take(rows) {
        *o = dot_body::<F, R>(&a[i * k..(i + 1) * k], v);
    }
}

/// Four row dot products at once (independent accumulator chains), each with
/// exactly the operations of [`dot`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dot4_avx512(a: &[f32], k: usize, v: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    debug_assert!(a.len() >= 4 * k && v.len() >= k && k.is_multiple_of(LANES));
    let ap = a.as_ptr();
    let vp = v.as_ptr();
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut c = 0;
    while c < k {
        let vv = _mm512_loadu_ps(vp.add(c));
        for (r, x) in acc.iter_mut().enumerate() {
            *x = _mm512_fmadd_ps(_mm512_loadu_ps(ap.add(r * k + c)), vv, *x);
        }
        c += LANES;
    }
    let mut out = [0.0f32; 4];
    for (r, x) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; LANES];
        _mm512_storeu_ps(lanes.as_mut_ptr(), *x);
        out[r] = reduce16(&lanes);
    }
    out
}

dispatch! {
    /// `out_i = A[i, :]·v` for the first `out.len()` rows of a row-major
    /// matrix with `k` columns (each entry exactly [`dot`]).
    pub fn gemv / gemv_at(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) = gemv_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn syrk_body<const F: bool, const R: usize>(
    a: &mut [f32],
    lda: usize,
    i_start: usize,
    i_end: usize,
    z: &[f32],
    y: &[f32],
    stride: usize,
    n: usize,
) {
    if n == 0 || i_end <= i_start {
        return;
    }
    assert!(
        i_end <= stride && i_end <= lda && z.len() >= n * stride && y.len() >= n * stride,
        "syrk: operands too short"
    );
    assert!(
        a.len() >= (i_end - i_start - 1) * lda + i_end,
        "syrk: A too short"
    );
    let z = &z[..n * stride];
    let y = &y[..n * stride];
    let mut i0 = i_start;
    while i0 < i_end {
        let rows = R.min(i_end - i0);
        let last_i = i0 + rows - 1;
        let mut j0 = 0;
        while j0 <= last_i {
            let cols = (last_i + 1 - j0).min(LANES);
            let base = (i0 - i_start) * lda + j0;
            if rows == R
                && j0 + LANES <= stride.min(lda)
                && tile::<F, R>(a, base, lda, i0, j0, z, y, stride)
            {
                // Done by the explicit-SIMD tile.
            } else if rows == R && j0 + LANES <= stride.min(lda) {
                let mut acc = [[0.0f32; LANES]; R];
                for (r, accr) in acc.iter_mut().enumerate() {
                    accr.copy_from_slice(&a[base + r * lda..base + r * lda + LANES]);
                }
                for (zt, yt) in z.chunks_exact(stride).zip(y.chunks_exact(stride)) {
                    let yv: &[f32; LANES] = yt[j0..j0 + LANES].try_into().expect("invariant");
                    let zv: &[f32; R] = zt[i0..i0 + R].try_into().expect("invariant");
                    for r in 0..R {
                        let s = zv[r];
                        for l in 0..LANES {
                            acc[r][l] = fma::<F>(s, yv[l], acc[r][l]);
                        }
                    }
                }
                for (r, accr) in acc.iter().enumerate() {
                    let i = i0 + r;
                    let upto = (i + 1).saturating_sub(j0).min(LANES);
                    a[base + r * lda..base + r * lda + upto].copy_from_slice(&accr[..upto]);
                }
            } else {
                // Edge tile: plain loops, same order per element.
                for r in 0..rows {
                    let i = i0 + r;
                    let upto = (i + 1).saturating_sub(j0).min(cols);
                    for l in 0..upto {
                        let j = j0 + l;
                        let mut s = a[base + r * lda + l];
                        for (zt, yt) in z.chunks_exact(stride).zip(y.chunks_exact(stride)) {
                            s = fma::<F>(zt[i], yt[j], s);
                        }
                        a[base + r * lda + l] = s;
                    }
                }
            }
            j0 += LANES;
        }
        i0 += rows;
    }
}

/// One full `R x 16` tile of [`syrk_lower`] with explicit intrinsics
/// (`R = 8`: eight AVX-512 accumulators; `R = 4`: eight AVX2 ones). Returns
/// false when no explicit version applies (the caller then runs the generic
/// loop, which computes the same fused sums in the same order).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const F: bool, const R: usize>(
    a: &mut [f32],
    base: usize,
    lda: usize,
    i0: usize,
    j0: usize,
    z: &[f32],
    y: &[f32],
    stride: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !F {
            return false;
        }
        let n = z.len() / stride;
        // Bounds the loops below rely on (checked once, not per row).
        assert!(base + (R - 1) * lda + LANES <= a.len());
        assert!(n == 0 || (n - 1) * stride + j0 + LANES <= y.len());
        assert!(n == 0 || (n - 1) * stride + i0 + R <= z.len());
        let i_last = i0 + R - 1;
        if R == 8 {
            // SAFETY: only reached from the avx512 wrapper (F and R = 8 are
            // used by it alone), so AVX-512F is available; all offsets are
            // within the slices by the asserts above.
            unsafe { tile_avx512(a, base, lda, i0, j0, z, y, stride, n, i_last) };
            return true;
        }
        if R == 4 {
            // SAFETY: only reached from the avx2 wrapper (F and R = 4);
            // offsets checked above.
            unsafe { tile_avx2(a, base, lda, i0, j0, z, y, stride, n, i_last) };
            return true;
        }
    }
    let _ = (a, base, lda, i0, j0, z, y, stride);
    false
}

/// The AVX-512 twin of [`tile_avx2`]: the same tile, loop structure and
/// operation order on 16-lane registers. The two are kept as separate
/// functions on purpose (the intrinsics differ by register width); a change
/// to one must be made to the other.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx512(
    a: &mut [f32],
    base: usize,
    lda: usize,
    i0: usize,
    j0: usize,
    z: &[f32],
    y: &[f32],
    stride: usize,
    n: usize,
    i_last: usize,
) {
    use std::arch::x86_64::*;
    let ap = a.as_mut_ptr().add(base);
    let mut acc = [_mm512_setzero_ps(); 8];
    for (r, v) in acc.iter_mut().enumerate() {
        *v = _mm512_loadu_ps(ap.add(r * lda));
    }
    let mut yp = y.as_ptr().add(j0);
    let mut zp = z.as_ptr().add(i0);
    for _ in 0..n {
        let yv = _mm512_loadu_ps(yp);
        for (r, v) in acc.iter_mut().enumerate() {
            *v = _mm512_fmadd_ps(_mm512_set1_ps(*zp.add(r)), yv, *v);
        }
        yp = yp.add(stride);
        zp = zp.add(stride);
    }
    for (r, v) in acc.iter().enumerate() {
        let i = i0 + r;
        let upto = (i + 1).saturating_sub(j0).min(LANES);
        if upto == LANES {
            _mm512_storeu_ps(ap.add(r * lda), *v);
        } else if upto > 0 {
            let mask: __mmask16 = ((1u32 << upto) - 1) as __mmask16;
            _mm512_mask_storeu_ps(ap.add(r * lda), mask, *v);
        }
    }
    let _ = i_last;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx2(
    a: &mut [f32],
    base: usize,
    lda: usize,
    i0: usize,
    j0: usize,
    z: &[f32],
    y: &[f32],
    stride: usize,
    n: usize,
    i_last: usize,
) {
    use std::arch::x86_64::*;
    let ap = a.as_mut_ptr().add(base);
    let mut lo = [_mm256_setzero_ps(); 4];
    let mut hi = [_mm256_setzero_ps(); 4];
    for r in 0..4 {
        lo[r] = _mm256_loadu_ps(ap.add(r * lda));
        hi[r] = _mm256_loadu_ps(ap.add(r * lda + 8));
    }
    let mut yp = y.as_ptr().add(j0);
    let mut zp = z.as_ptr().add(i0);
    for _ in 0..n {
        let y0 = _mm256_loadu_ps(yp);
        let y1 = _mm256_loadu_ps(yp.add(8));
        for r in 0..4 {
            let s = _mm256_set1_ps(*zp.add(r));
            lo[r] = _mm256_fmadd_ps(s, y0, lo[r]);
            hi[r] = _mm256_fmadd_ps(s, y1, hi[r]);
        }
        yp = yp.add(stride);
        zp = zp.add(stride);
    }
    for r in 0..4 {
        let i = i0 + r;
        let upto = (i + 1).saturating_sub(j0).min(LANES);
        if upto == LANES {
            _mm256_storeu_ps(ap.add(r * lda), lo[r]);
            _mm256_storeu_ps(ap.add(r * lda + 8), hi[r]);
        } else if upto > 0 {
            let mut buf = [0.0f32; LANES];
            _mm256_storeu_ps(buf.as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(buf.as_mut_ptr().add(8), hi[r]);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), ap.add(r * lda), upto);
        }
    }
    let _ = i_last;
}

dispatch! {
    /// Lower-triangle rank-`n` update `A[i][j] += Σ_t z_t[i] y_t[j]` for
    /// `i_start <= i < i_end`, `j <= i`, where row `t` of `z` and `y` starts at
    /// `t * stride`; row `i` of `A` is at `(i − i_start) * lda`. Each entry is
    /// summed over `t` in order (register tiles of 4 or 8 rows x 16 columns).
    /// The strict upper triangle of `A` is neither read for the result nor written.
    #[allow(clippy::too_many_arguments)]
    pub fn syrk_lower / syrk_lower_at(
        a: &mut [f32],
        lda: usize,
        i_start: usize,
        i_end: usize,
        z: &[f32],
        y: &[f32],
        stride: usize,
        n: usize,
    ) = syrk_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn weighted_matvec_body<const F: bool, const R: usize>(
    y: &[f32],
    stride: usize,
    k: usize,
    w: &[f32],
    scale: f32,
    v: &[f32],
    out: &mut [f32],
) {
    let v = &v[..k];
    let out = &mut out[..k];
    for (yt, &wt) in y.chunks_exact(stride).zip(w) {
        let yt = &yt[..k];
        let t = scale * wt * dot_body::<F, R>(yt, v);
        axpy_body::<F, R>(t, yt, out);
    }
}

dispatch! {
    /// `out += scale Σ_t w_t (y_t·v) y_t` over the rows `y_t` (length `k`,
    /// starting at `t * stride`) paired with `w`: the data part of the CG
    /// product, one pass over the rows.
    pub fn weighted_matvec / weighted_matvec_at(
        y: &[f32],
        stride: usize,
        k: usize,
        w: &[f32],
        scale: f32,
        v: &[f32],
        out: &mut [f32],
    ) = weighted_matvec_body
}

#[inline(always)]
fn gemv_t_body<const F: bool, const R: usize>(
    y: &[f32],
    stride: usize,
    b: usize,
    coef: &[f32],
    out: &mut [f32],
) {
    let out = &mut out[..b];
    for (yt, &c) in y.chunks_exact(stride).zip(coef) {
        axpy_body::<F, R>(c, &yt[..b], out);
    }
}

dispatch! {
    /// `out += Σ_t coef_t y_t` (rows of length `b` at `t * stride`).
    pub fn gemv_t / gemv_t_at(y: &[f32], stride: usize, b: usize, coef: &[f32], out: &mut [f32]) = gemv_t_body
}

#[inline(always)]
fn gemv_n_body<const F: bool, const R: usize>(
    y: &[f32],
    stride: usize,
    b: usize,
    d: &[f32],
    out: &mut [f32],
) {
    let d = &d[..b];
    for (yt, o) in y.chunks_exact(stride).zip(out.iter_mut()) {
        *o += dot_body::<F, R>(&yt[..b], d);
    }
}

dispatch! {
    /// `out_t += y_t·d` (rows of length `b` at `t * stride`).
    pub fn gemv_n / gemv_n_at(y: &[f32], stride: usize, b: usize, d: &[f32], out: &mut [f32]) = gemv_n_body
}

#[inline(always)]
fn cholesky_upper_body<const F: bool, const R: usize>(
    u: &mut [f64],
    k: usize,
) -> Result<(), usize> {
    assert!(u.len() >= k * k, "cholesky: buffer too short");
    const P: usize = 4;
    let mut j0 = 0;
    while j0 < k {
        let j1 = (j0 + P).min(k);
        for j in j0..j1 {
            let d = u[j * k + j];
            if !(d > 0.0 && d.is_finite()) {
                return Err(j);
            }
            let d = d.sqrt();
            u[j * k + j] = d;
            // One division, then multiplications (vector division is slow).
            let inv = 1.0 / d;
            for v in &mut u[j * k + j + 1..(j + 1) * k] {
                *v *= inv;
            }
            for i in j + 1..j1 {
                let (top, bot) = u.split_at_mut(i * k);
                let src = &top[j * k + i..(j + 1) * k];
                let s = -src[0];
                for (o, &x) in bot[i..k].iter_mut().zip(src) {
                    *o = fma64::<F>(s, x, *o);
                }
            }
        }
        let mut i = j1;
        while i < k {
            if j1 - j0 == P && i + 4 <= k {
                // Four target rows against the four panel rows: each panel
                // value loaded once for four rows (register blocking).
                let (top, bot) = u.split_at_mut(i * k);
                let p0 = &top[j0 * k..(j0 + 1) * k];
                let p1 = &top[(j0 + 1) * k..(j0 + 2) * k];
                let p2 = &top[(j0 + 2) * k..(j0 + 3) * k];
                let p3 = &top[(j0 + 3) * k..(j0 + 4) * k];
                let (r0, rest) = bot.split_at_mut(k);
                let (r1, rest) = rest.split_at_mut(k);
                let (r2, rest) = rest.split_at_mut(k);
                let r3 = &mut rest[..k];
                let s: [[f64; 4]; 4] = [
                    [-p0[i], -p0[i + 1], -p0[i + 2], -p0[i + 3]],
                    [-p1[i], -p1[i + 1], -p1[i + 2], -p1[i + 3]],
                    [-p2[i], -p2[i + 1], -p2[i + 2], -p2[i + 3]],
                    [-p3[i], -p3[i + 1], -p3[i + 2], -p3[i + 3]],
                ];
                {
                    let rows: [&mut [f64]; 4] = [&mut *r0, &mut *r1, &mut *r2, &mut *r3];
                    for (r, row) in rows.into_iter().enumerate() {
                        for m in i + r..i + 4 {
                            let mut v = row[m];
                            v = fma64::<F>(s[0][r], p0[m], v);
                            v = fma64::<F>(s[1][r], p1[m], v);
                            v = fma64::<F>(s[2][r], p2[m], v);
                            v = fma64::<F>(s[3][r], p3[m], v);
                            row[m] = v;
                        }
                    }
                }
                let c = i + 4;
                let n = k - c;
                let (p0, p1, p2, p3) = (&p0[c..c + n], &p1[c..c + n], &p2[c..c + n], &p3[c..c + n]);
                let (r0, r1, r2, r3) = (
                    &mut r0[c..c + n],
                    &mut r1[c..c + n],
                    &mut r2[c..c + n],
                    &mut r3[c..c + n],
                );
                #[cfg(target_arch = "x86_64")]
                if F && R == 8 {
                    // SAFETY: only the avx512 wrapper instantiates F with
                    // R = 8; all eight slices have length n.
                    unsafe { update4_avx512([p0, p1, p2, p3], [r0, r1, r2, r3], &s, n) };
                    i += 4;
                    continue;
                }
                for m in 0..n {
                    let (a0, a1, a2, a3) = (p0[m], p1[m], p2[m], p3[m]);
                    let mut v = r0[m];
                    v = fma64::<F>(s[0][0], a0, v);
                    v = fma64::<F>(s[1][0], a1, v);
                    v = fma64::<F>(s[2][0], a2, v);
                    v = fma64::<F>(s[3][0], a3, v);
                    r0[m] = v;
                    let mut v = r1[m];
                    v = fma64::<F>(s[0][1], a0, v);
                    v = fma64::<F>(s[1][1], a1, v);
                    v = fma64::<F>(s[2][1], a2, v);
                    v = fma64::<F>(s[3][1], a3, v);
                    r1[m] = v;
                    let mut v = r2[m];
                    v = fma64::<F>(s[0][2], a0, v);
                    v = fma64::<F>(s[1][2], a1, v);
                    v = fma64::<F>(s[2][2], a2, v);
                    v = fma64::<F>(s[3][2], a3, v);
                    r2[m] = v;
                    let mut v = r3[m];
                    v = fma64::<F>(s[0][3], a0, v);
                    v = fma64::<F>(s[1][3], a1, v);
                    v = fma64::<F>(s[2][3], a2, v);
                    v = fma64::<F>(s[3][3], a3, v);
                    r3[m] = v;
                }
                i += 4;
                continue;
            }
            let (top, bot) = u.split_at_mut(i * k);
            let row = &mut bot[i..k];
            for j in j0..j1 {
                let src = &top[j * k + i..(j + 1) * k];
                let s = -src[0];
                for (o, &x) in row.iter_mut().zip(src) {
                    *o = fma64::<F>(s, x, *o);
                }
            }
            i += 1;
        }
        j0 = j1;
    }
    Ok(())
}

/// The 4 x 4 trailing update of [`cholesky_upper`] with AVX-512 (eight
/// `f64` lanes, masked tail): `r_i[m] += Σ_t s[t][i] p_t[m]`, `t` in order,
/// fused; the same operations as the generic loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn update4_avx512(p: [&[f64]; 4], r: [&mut [f64]; 4], s: &[[f64; 4]; 4], n: usize) {
    use std::arch::x86_64::*;
    debug_assert!(p.iter().all(|x| x.len() >= n) && r.iter().all(|x| x.len() >= n));
    let sv: [[__m512d; 4]; 4] = [
        [
            _mm512_set1_pd(s[0][0]),
            _mm512_set1_pd(s[0][1]),
            _mm512_set1_pd(s[0][2]),
            _mm512_set1_pd(s[0][3]),
        ],
        [
            _mm512_set1_pd(s[1][0]),
            _mm512_set1_pd(s[1][1]),
            _mm512_set1_pd(s[1][2]),
            _mm512_set1_pd(s[1][3]),
        ],
        [
            _mm512_set1_pd(s[2][0]),
            _mm512_set1_pd(s[2][1]),
            _mm512_set1_pd(s[2][2]),
            _mm512_set1_pd(s[2][3]),
        ],
        [
            _mm512_set1_pd(s[3][0]),
            _mm512_set1_pd(s[3][1]),
            _mm512_set1_pd(s[3][2]),
            _mm512_set1_pd(s[3][3]),
        ],
    ];
    let pp = [p[0].as_ptr(), p[1].as_ptr(), p[2].as_ptr(), p[3].as_ptr()];
    let [r0, r1, r2, r3] = r;
    let rp = [
        r0.as_mut_ptr(),
        r1.as_mut_ptr(),
        r2.as_mut_ptr(),
        r3.as_mut_ptr(),
    ];
    let mut m = 0;
    while m < n {
        let left = n - m;
        let mask: __mmask8 = if left >= 8 {
            0xFF
        } else {
            ((1u32 << left) - 1) as __mmask8
        };
        let a = [
            _mm512_maskz_loadu_pd(mask, pp[0].add(m)),
            _mm512_maskz_loadu_pd(mask, pp[1].add(m)),
            _mm512_maskz_loadu_pd(mask, pp[2].add(m)),
            _mm512_maskz_loadu_pd(mask, pp[3].add(m)),
        ];
        for (row, &rptr) in rp.iter().enumerate() {
            let mut v = _mm512_maskz_loadu_pd(mask, rptr.add(m));
            v = _mm512_fmadd_pd(sv[0][row], a[0], v);
            v = _mm512_fmadd_pd(sv[1][row], a[1], v);
            v = _mm512_fmadd_pd(sv[2][row], a[2], v);
            v = _mm512_fmadd_pd(sv[3][row], a[3], v);
            _mm512_mask_storeu_pd(rptr.add(m), mask, v);
        }
        m += 8;
    }
}

dispatch! {
    /// In-place Cholesky `A = Uᵀ U` of the upper triangle of a row-major
    /// `k x k` matrix (equivalently: the lower triangle of a column-major one);
    /// `U` overwrites the upper triangle, the strict lower one is ignored.
    /// Right-looking, trailing updates four pivots at a time on contiguous
    /// rows. Returns the index of the first non-positive (or non-finite) pivot.
    pub fn cholesky_upper / cholesky_upper_at(u: &mut [f64], k: usize) -> Result<(), usize> = cholesky_upper_body
}

#[inline(always)]
fn cholesky_upper_solve_body<const F: bool, const R: usize>(u: &[f64], k: usize, b: &mut [f64]) {
    let b = &mut b[..k];
    // Uᵀ z = b, by columns of Uᵀ = rows of U.
    for j in 0..k {
        // The reciprocal does not depend on b, so it is computed off the
        // critical path of the substitution.
        let zj = b[j] * (1.0 / u[j * k + j]);
        b[j] = zj;
        let s = -zj;
        for (o, &x) in b[j + 1..].iter_mut().zip(&u[j * k + j + 1..(j + 1) * k]) {
            *o = fma64::<F>(s, x, *o);
        }
    }
    // U x = z, by rows.
    for i in (0..k).rev() {
        let row = &u[i * k + i + 1..(i + 1) * k];
        let mut acc = [0.0f64; 8];
        let tail = &b[i + 1..];
        let cr = row.chunks_exact(8);
        let ct = tail.chunks_exact(8);
        let (rr, rt) = (cr.remainder(), ct.remainder());
        for (x, y) in cr.zip(ct) {
            for l in 0..8 {
                acc[l] = fma64::<F>(x[l], y[l], acc[l]);
            }
        }
        for (l, (x, y)) in rr.iter().zip(rt).enumerate() {
            acc[l] = fma64::<F>(*x, *y, acc[l]);
        }
        let s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        b[i] = (b[i] - s) * (1.0 / u[i * k + i]);
    }
}

dispatch! {
    /// Solve `Uᵀ U x = b` in place (`b` becomes `x`) with the factor of
    /// [`cholesky_upper`].
    pub fn cholesky_upper_solve / cholesky_upper_solve_at(u: &[f64], k: usize, b: &mut [f64]) = cholesky_upper_solve_body
}

/// Lower-triangle rank-one update of a row-major `k x k` matrix:
/// `A[i][j] += w y_i y_j` for `j <= i` (unvectorized; the towers' feature
/// rows accumulate with it pair by pair).
#[inline]
pub fn syr_lower(a: &mut [f32], k: usize, w: f32, y: &[f32]) {
    debug_assert_eq!(a.len(), k * k);
    debug_assert_eq!(y.len(), k);
    for i in 0..k {
        let s = w * y[i];
        let row = &mut a[i * k..i * k + i + 1];
        for (aij, yj) in row.iter_mut().zip(&y[..=i]) {
            *aij += s * yj;
        }
    }
}

/// `e^x` in f32 for `x <= 0` (clamped at −87: `e^−87` ≈ 1.6e-38), relative error below 3e-7:
/// `x = n ln 2 + r`, a degree-6 polynomial for `e^r` on `|r| <= ln 2 / 2`,
/// `2^n` from the exponent bits. Branch-free (rounding by the 1.5·2^23
/// trick), so loops over it vectorize.
#[inline(always)]
pub(crate) fn exp_neg(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_452 + r * 0.001_388_889)))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn exp_shift_dot_body<const F: bool, const R: usize>(v: &mut [f32], w: &[f32], shift: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (vc, wc) in v.chunks_mut(LANES).zip(w.chunks(LANES)) {
        for ((x, &wv), a) in vc.iter_mut().zip(wc).zip(acc.iter_mut()) {
            *x = exp_neg(*x - shift);
            *a = fma::<F>(wv, *x, *a);
        }
    }
    reduce16(&acc)
}

dispatch! {
    /// `v_d ← e^{v_d − shift}` (for `v_d <= shift`) and `Σ_d w_d v_d`
    /// (16 lanes summed in a fixed tree): the softmax's exponentials and
    /// its weighted normalizer in one pass.
    pub fn exp_shift_dot / exp_shift_dot_at(v: &mut [f32], w: &[f32], shift: f32) -> f32 = exp_shift_dot_body
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const SEED: u64 = 20_261_128;

    /// `Σ a_i b_i` in `f64`.
    #[inline]
    fn dot64(a: &[f64], b: &[f64]) -> f64 {
        debug_assert_eq!(a.len(), b.len());
        let mut acc = [0.0f64; 4];
        let ca = a.chunks_exact(4);
        let cb = b.chunks_exact(4);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..4 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut tail = 0.0f64;
        for (x, y) in ra.iter().zip(rb) {
            tail += x * y;
        }
        (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
    }

    /// In-place Cholesky of the lower triangle of a row-major `k x k` matrix
    /// (`A = L Lᵀ`, `L` overwrites the lower triangle). The strict upper
    /// triangle is ignored. Returns the index of the first non-positive pivot.
    /// The plain reference (test oracle only; the crate factors every system
    /// with [`cholesky_upper`] through `solver::normal`).
    fn cholesky_in_place(a: &mut [f64], k: usize) -> Result<(), usize> {
        debug_assert!(a.len() >= k * k);
        for i in 0..k {
            for j in 0..=i {
                let (head, tail) = a.split_at_mut(i * k);
                let li = &tail[..k];
                let s = if j < i {
                    let lj = &head[j * k..j * k + j];
                    li[j] - dot64(&li[..j], lj)
                } else {
                    li[i] - dot64(&li[..i], &li[..i])
                };
                if j == i {
                    if !(s > 0.0 && s.is_finite()) {
                        return Err(i);
                    }
                    tail[i] = s.sqrt();
                } else {
                    let d = head[j * k + j];
                    tail[j] = s / d;
                }
            }
        }
        Ok(())
    }

    /// Solve `L Lᵀ x = b` in place (`b` becomes `x`) with the factor from
    /// [`cholesky_in_place`].
    fn cholesky_solve(l: &[f64], k: usize, b: &mut [f64]) {
        // Forward: L z = b.
        for i in 0..k {
            let s = b[i] - dot64(&l[i * k..i * k + i], &b[..i]);
            b[i] = s / l[i * k + i];
        }
        // Backward: Lᵀ x = z, column-oriented so that rows of L are read contiguously.
        for i in (0..k).rev() {
            let xi = b[i] / l[i * k + i];
            b[i] = xi;
            let row = &l[i * k..i * k + i];
            for (bp, lp) in b[..i].iter_mut().zip(row) {
                *bp -= lp * xi;
            }
        }
    }

    fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn levels() -> Vec<Simd> {
        let best = simd_supported();
        [Simd::Scalar, Simd::Avx2, Simd::Avx512]
            .into_iter()
            .filter(|l| *l <= best)
            .collect()
    }

    fn close(a: f32, b: f32, scale: f32) -> bool {
        (a - b).abs() <= 1e-5 * scale.max(1.0)
    }

    #[test]
    fn cholesky_solves_spd_system() {
        // A = M Mᵀ + I for a fixed M.
        let k = 5;
        let m: Vec<f64> = (0..k * k)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut a = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] = (0..k).map(|p| m[i * k + p] * m[j * k + p]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let x_true: Vec<f64> = (0..k).map(|i| i as f64 - 2.0).collect();
        let b: Vec<f64> = (0..k)
            .map(|i| (0..k).map(|j| a[i * k + j] * x_true[j]).sum())
            .collect();
        let mut l = a.clone();
        let mut bl = b.clone();
        cholesky_in_place(&mut l, k).unwrap();
        cholesky_solve(&l, k, &mut bl);
        for level in levels() {
            let mut u = a.clone();
            let mut bu = b.clone();
            cholesky_upper_at(level, &mut u, k).unwrap();
            cholesky_upper_solve_at(level, &u, k, &mut bu);
            for i in 0..k {
                assert!((bl[i] - x_true[i]).abs() < 1e-10, "{bl:?}");
                assert!((bu[i] - x_true[i]).abs() < 1e-10, "{level}: {bu:?}");
            }
        }
    }

    #[test]
    fn cholesky_reports_non_positive_pivot() {
        let mut a = vec![1.0, 0.0, 2.0, 1.0]; // [[1,2],[2,1]] lower: 1; 2 1
        assert_eq!(cholesky_in_place(&mut a, 2), Err(1));
        for level in levels() {
            let mut u = vec![1.0, 2.0, 0.0, 1.0]; // upper: 1 2; 1
            assert_eq!(cholesky_upper_at(level, &mut u, 2), Err(1));
            let mut nan = vec![f64::NAN];
            assert_eq!(cholesky_upper_at(level, &mut nan, 1), Err(0));
        }
    }

    #[test]
    fn cholesky_upper_matches_reference_on_random_spd() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for k in [1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64] {
            let m: Vec<f64> = (0..k * (k + 3))
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let mut a = vec![0.0f64; k * k];
            for i in 0..k {
                for j in 0..k {
                    a[i * k + j] = (0..k + 3)
                        .map(|p| m[i * (k + 3) + p] * m[j * (k + 3) + p])
                        .sum::<f64>()
                        + if i == j { 0.5 } else { 0.0 };
                }
            }
            let b: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut l = a.clone();
            let mut x_ref = b.clone();
            cholesky_in_place(&mut l, k).unwrap();
            cholesky_solve(&l, k, &mut x_ref);
            for level in levels() {
                let mut u = a.clone();
                let mut x = b.clone();
                cholesky_upper_at(level, &mut u, k).unwrap();
                for i in 0..k {
                    for j in i..k {
                        // U = Lᵀ.
                        assert!((u[i * k + j] - l[j * k + i]).abs() < 1e-9, "{level} k={k}");
                    }
                }
                cholesky_upper_solve_at(level, &u, k, &mut x);
                for i in 0..k {
                    assert!(
                        (x[i] - x_ref[i]).abs() < 1e-8 * (1.0 + x_ref[i].abs()),
                        "{level} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn dot_axpy_symv_match_scalar_at_every_level() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for n in [0, 1, 7, 15, 16, 17, 31, 64, 100, 257] {
            let a = rand_vec(&mut rng, n);
            let b = rand_vec(&mut rng, n);
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let at_avx2 = dot_at(Simd::Avx2, &a, &b);
            for level in levels() {
                let d = dot_at(level, &a, &b);
                assert!(close(d, naive, n as f32), "{level} n={n}: {d} vs {naive}");
                if level >= Simd::Avx2 {
                    assert_eq!(d.to_bits(), at_avx2.to_bits(), "avx2 vs {level}");
                }
                let mut y = b.clone();
                axpy_at(level, 0.75, &a, &mut y);
                for i in 0..n {
                    assert!(close(y[i], b[i] + 0.75 * a[i], 1.0));
                }
            }
            if n > 0 && n <= 64 {
                let k = n;
                let mut g = rand_vec(&mut rng, k * k);
                for i in 0..k {
                    for j in 0..i {
                        g[j * k + i] = g[i * k + j];
                    }
                }
                let v = rand_vec(&mut rng, k);
                for level in levels() {
                    let mut out = vec![9.0; k];
                    symv_at(level, &g, k, &v, &mut out);
                    if level >= Simd::Avx2 {
                        let mut seq = vec![0.0f32; k];
                        for j in 0..k {
                            for i in 0..k {
                                seq[i] = v[j].mul_add(g[j * k + i], seq[i]);
                            }
                        }
                        assert_eq!(out, seq, "{level} k={k}");
                    }
                    let mut out2 = vec![0.0; k];
                    gemv(&g, k, &v, &mut out2);
                    for i in 0..k {
                        let naive: f32 = (0..k).map(|j| g[i * k + j] * v[j]).sum();
                        assert!(close(out[i], naive, k as f32), "{level} k={k}");
                        assert!(close(out2[i], naive, k as f32));
                    }
                }
            }
        }
    }

    #[test]
    fn syrk_matches_scalar_at_every_level() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for (b, stride, n) in [
            (1, 1, 5),
            (3, 5, 0),
            (5, 7, 9),
            (16, 16, 3),
            (17, 20, 11),
            (32, 32, 40),
            (64, 64, 33),
            (70, 72, 13),
        ] {
            let z = rand_vec(&mut rng, n * stride);
            let y = rand_vec(&mut rng, n * stride);
            let a0 = rand_vec(&mut rng, b * b);
            // Reference: full lower triangle.
            let mut want = a0.clone();
            for i in 0..b {
                for j in 0..=i {
                    for t in 0..n {
                        want[i * b + j] += z[t * stride + i] * y[t * stride + j];
                    }
                }
            }
            let mut first: Option<Vec<f32>> = None;
            for level in levels() {
                let mut got = a0.clone();
                syrk_lower_at(level, &mut got, b, 0, b, &z, &y, stride, n);
                for i in 0..b {
                    for j in 0..b {
                        if j <= i {
                            assert!(
                                close(got[i * b + j], want[i * b + j], n as f32),
                                "{level} b={b} n={n} ({i},{j})"
                            );
                        } else {
                            assert_eq!(got[i * b + j], a0[i * b + j], "upper written");
                        }
                    }
                }
                // Bands of rows give the same entries.
                for (p, q) in [(0, b / 2), (b / 2, b)] {
                    let mut band = vec![0.0f32; (q - p) * b];
                    for i in p..q {
                        band[(i - p) * b..(i - p + 1) * b].copy_from_slice(&a0[i * b..(i + 1) * b]);
                    }
                    syrk_lower_at(level, &mut band, b, p, q, &z, &y, stride, n);
                    for i in p..q {
                        for j in 0..=i {
                            assert_eq!(band[(i - p) * b + j], got[i * b + j], "band {level}");
                        }
                    }
                }
                if level >= Simd::Avx2 {
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert_eq!(f, &got, "avx2 and avx512 differ"),
                    }
                }
            }
        }
    }

    #[test]
    fn gemv_rows_equal_dot_bit_for_bit() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for (rows, k) in [(1, 16), (3, 5), (9, 64), (6, 256), (7, 48)] {
            let a = rand_vec(&mut rng, rows * k);
            let v = rand_vec(&mut rng, k);
            for level in levels() {
                let mut out = vec![0.0f32; rows];
                gemv_at(level, &a, k, &v, &mut out);
                for r in 0..rows {
                    let d = dot_at(level, &a[r * k..(r + 1) * k], &v);
                    assert_eq!(out[r].to_bits(), d.to_bits(), "{level} rows={rows} k={k}");
                }
            }
        }
    }

    #[test]
    fn rows_axpy_matches_scalar_at_every_level() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for (rows, k, n) in [
            (5, 1, 3),
            (40, 17, 30),
            (100, 64, 50),
            (60, 80, 40),
            (70, 256, 90),
        ] {
            let y = rand_vec(&mut rng, rows * k);
            let idx: Vec<u32> = (0..n).map(|_| rng.random_range(0..rows as u32)).collect();
            let coef = rand_vec(&mut rng, n);
            let o0 = rand_vec(&mut rng, k);
            for level in levels() {
                let mut out = o0.clone();
                rows_axpy_at(level, &y, k, &idx, &coef, &mut out);
                for j in 0..k {
                    let want = o0[j]
                        + (0..n)
                            .map(|t| coef[t] * y[idx[t] as usize * k + j])
                            .sum::<f32>();
                    assert!(close(out[j], want, n as f32), "{level} k={k}");
                }
                if level >= Simd::Avx2 {
                    // The register-held kernels do the generic loop's fused
                    // multiply-adds in its order: the same bits.
                    let mut seq = o0.clone();
                    for (&i, &c) in idx.iter().zip(&coef) {
                        for j in 0..k {
                            seq[j] = c.mul_add(y[i as usize * k + j], seq[j]);
                        }
                    }
                    assert_eq!(out, seq, "{level} k={k}");
                }
            }
        }
    }

    #[test]
    fn matvec_kernels_match_scalar_at_every_level() {
        println!("seed {SEED}");
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for (k, stride, n) in [(1, 1, 3), (5, 8, 7), (16, 16, 5), (33, 40, 9), (64, 64, 20)] {
            let y = rand_vec(&mut rng, n * stride);
            let w = rand_vec(&mut rng, n);
            let v = rand_vec(&mut rng, k);
            let o0 = rand_vec(&mut rng, k.max(n));
            for level in levels() {
                let mut out = o0[..k].to_vec();
                weighted_matvec_at(level, &y, stride, k, &w, -0.5, &v, &mut out);
                let mut out_t = o0[..k].to_vec();
                gemv_t_at(level, &y, stride, k, &w, &mut out_t);
                let mut out_n = o0[..n].to_vec();
                gemv_n_at(level, &y, stride, k, &v, &mut out_n);
                for j in 0..k {
                    let mut want = o0[j];
                    let mut want_t = o0[j];
                    for t in 0..n {
                        let yt = &y[t * stride..t * stride + k];
                        let d: f32 = yt.iter().zip(&v).map(|(a, b)| a * b).sum();
                        want += -0.5 * w[t] * d * yt[j];
                        want_t += w[t] * yt[j];
                    }
                    assert!(close(out[j], want, (n * k) as f32), "{level} k={k}");
                    assert!(close(out_t[j], want_t, n as f32), "{level} k={k}");
                }
                for t in 0..n {
                    let yt = &y[t * stride..t * stride + k];
                    let d: f32 = yt.iter().zip(&v).map(|(a, b)| a * b).sum();
                    assert!(close(out_n[t], o0[t] + d, k as f32), "{level} k={k}");
                }
            }
        }
    }

    #[test]
    fn exp_neg_is_accurate_and_exp_shift_dot_agrees_at_every_level() {
        let mut worst = 0.0f64;
        for j in 0..200_000 {
            let x = -(j as f32) * 87.0 / 200_000.0;
            let want = (x as f64).exp();
            let got = exp_neg(x) as f64;
            if want > 1e-30 {
                worst = worst.max((got - want).abs() / want);
            }
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert!(exp_neg(-200.0) < 1e-37);
        let v0: Vec<f32> = (0..77).map(|j| (j as f32 * 0.37).sin() * 5.0).collect();
        let w: Vec<f32> = (0..77).map(|j| (j % 3) as f32).collect();
        let shift = v0.iter().cloned().fold(f32::MIN, f32::max);
        let want: f64 = v0
            .iter()
            .zip(&w)
            .map(|(&v, &wv)| wv as f64 * ((v - shift) as f64).exp())
            .sum();
        for level in [Simd::Scalar, Simd::Avx2, Simd::Avx512] {
            let mut v = v0.clone();
            let got = exp_shift_dot_at(level, &mut v, &w, shift) as f64;
            assert!(
                (got - want).abs() < 1e-5 * want,
                "{level:?}: {got} vs {want}"
            );
            for (a, &b) in v.iter().zip(&v0) {
                assert!((*a as f64 - ((b - shift) as f64).exp()).abs() < 1e-6);
            }
        }
    }
}
