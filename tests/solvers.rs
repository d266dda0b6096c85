//! Every row solver against a dense `f64` solve of the normal equations,
//! and the factor cache against fresh workspaces.

use ials::internals::solver::{solve_row, RowProblem, Solver, Workspace};
use ials::{ConfidenceKind, Factors, Gramian, RowView, Target, Weighting};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 4_242;

/// Dense `f64` solve of the normal equations, from the definition.
fn oracle(
    fixed: &Factors,
    idx: &[u32],
    vals: &[f32],
    wt: Weighting,
    alpha0: f32,
    lambda: f32,
) -> Vec<f64> {
    let k = fixed.k();
    let mut a = vec![0.0f64; k * k];
    let mut b = vec![0.0f64; k];
    for r in 0..fixed.rows() {
        let y = fixed.row(r);
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] += alpha0 as f64 * y[i] as f64 * y[j] as f64;
            }
        }
    }
    for (&i, &v) in idx.iter().zip(vals) {
        let (c, p) = wt.weight(v);
        let y = fixed.row(i as usize);
        for p_ in 0..k {
            for q in 0..k {
                a[p_ * k + q] += (c - alpha0) as f64 * y[p_] as f64 * y[q] as f64;
            }
            b[p_] += (c * p) as f64 * y[p_] as f64;
        }
    }
    for d in 0..k {
        a[d * k + d] += lambda as f64;
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let piv = (c..k)
            .max_by(|&x, &y| a[x * k + c].abs().total_cmp(&a[y * k + c].abs()))
            .unwrap();
        for j in 0..k {
            a.swap(c * k + j, piv * k + j);
        }
        b.swap(c, piv);
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
            b[r] -= f * b[c];
        }
    }
    for c in (0..k).rev() {
        let s: f64 = (c + 1..k).map(|j| a[c * k + j] * b[j]).sum();
        b[c] = (b[c] - s) / a[c * k + c];
    }
    b
}

fn problem(
    rng: &mut ChaCha8Rng,
    n_fixed: usize,
    k: usize,
    nnz: usize,
) -> (Factors, Vec<u32>, Vec<f32>) {
    let fixed = Factors::random_normal(n_fixed, k, 0.5, rng.random());
    let mut idx: Vec<u32> = (0..n_fixed as u32).collect();
    for i in (1..idx.len()).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    idx.truncate(nnz);
    idx.sort_unstable();
    // Counts: many 1s (so c = α0 = 1 with as-given confidence), some larger.
    let vals = idx
        .iter()
        .map(|_| {
            if rng.random_bool(0.5) {
                1.0
            } else {
                rng.random_range(1..6) as f32
            }
        })
        .collect();
    (fixed, idx, vals)
}

fn max_rel_err(x: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-6);
    x.iter()
        .zip(want)
        .map(|(&a, &b)| (a as f64 - b).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn solvers_match_dense_oracle_including_chunked_rows() {
    println!("seed {SEED}");
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    // (fixed rows, k, nnz): the last two exceed one gather chunk.
    for (n_fixed, k, nnz) in [
        (30, 1, 5),
        (40, 5, 12),
        (60, 16, 0),
        (80, 17, 40),
        (300, 33, 120),
        (2600, 64, 2100),
        (3000, 32, 2500),
    ] {
        let (fixed, idx, vals) = problem(&mut rng, n_fixed, k, nnz);
        let gram = Gramian::of(&fixed);
        for (kind, alpha0, lambda) in [
            (ConfidenceKind::AsGiven, 1.0f32, 0.05f32),
            (ConfidenceKind::Log, 0.3, 0.5),
            (ConfidenceKind::Linear, 0.0, 1.0),
        ] {
            let weighting = Weighting {
                kind,
                alpha: 2.0,
                epsilon: 1.0,
                target: Target::One,
            };
            let pb = RowProblem {
                fixed: &fixed,
                gram: &gram,
                weighting,
                alpha0,
            };
            let row = RowView {
                indices: &idx,
                values: &vals,
            };
            let want = oracle(&fixed, &idx, &vals, weighting, alpha0, lambda);
            let mut ws = Workspace::new(k);
            let mut chol = vec![0.3f32; k];
            solve_row(Solver::Cholesky, &pb, row, lambda, &mut chol, &mut ws).unwrap();
            let e = max_rel_err(&chol, &want);
            assert!(e < 2e-3, "cholesky k={k} nnz={nnz} {kind}: rel err {e}");
            // Block with b = k is one exact solve.
            let mut blk = vec![0.0f32; k];
            let full = Solver::Block { size: k };
            solve_row(full, &pb, row, lambda, &mut blk, &mut ws).unwrap();
            let e = max_rel_err(&blk, &want);
            assert!(e < 2e-3, "block b=k k={k} nnz={nnz} {kind}: rel err {e}");
            // Smaller blocks and CG converge to it when repeated.
            let mut blk = vec![0.0f32; k];
            let mut cg = vec![0.0f32; k];
            for _ in 0..60 {
                let small = Solver::Block { size: 3.min(k) };
                solve_row(small, &pb, row, lambda, &mut blk, &mut ws).unwrap();
                let cg3 = Solver::Cg { steps: 3 };
                solve_row(cg3, &pb, row, lambda, &mut cg, &mut ws).unwrap();
            }
            let e = max_rel_err(&blk, &want);
            assert!(e < 5e-3, "block b=3 k={k} nnz={nnz} {kind}: rel err {e}");
            let e = max_rel_err(&cg, &want);
            assert!(e < 5e-3, "cg k={k} nnz={nnz} {kind}: rel err {e}");
        }
    }
}

/// Rows whose counts are all 1 (so `c = α0` with as-given confidence)
/// reuse a cached factor: the result must equal a fresh workspace's bit
/// for bit, and a changed Gramian must not hit the stale entry.
#[test]
fn cached_factor_gives_identical_results_and_never_goes_stale() {
    let weighting = Weighting {
        kind: ConfidenceKind::AsGiven,
        alpha: 1.0,
        epsilon: 1.0,
        target: Target::One,
    };
    for (solver, k) in [(Solver::Cholesky, 12), (Solver::Block { size: 5 }, 12)] {
        let mut shared = Workspace::new(k);
        for seed in 0..3u64 {
            let fixed = Factors::random_normal(50, k, 0.3, 100 + seed);
            let gram = Gramian::of(&fixed);
            let pb = RowProblem {
                fixed: &fixed,
                gram: &gram,
                weighting,
                alpha0: 1.0,
            };
            for idx in [vec![1u32, 7, 9], vec![0u32, 3, 4, 30, 49], vec![2u32, 5]] {
                let vals = vec![1.0f32; idx.len()];
                let row = RowView {
                    indices: &idx,
                    values: &vals,
                };
                let mut a = vec![0.1f32; k];
                let mut b = a.clone();
                solve_row(solver, &pb, row, 0.2, &mut a, &mut shared).unwrap();
                let mut fresh = Workspace::new(k);
                solve_row(solver, &pb, row, 0.2, &mut b, &mut fresh).unwrap();
                assert_eq!(a, b, "{solver} seed {seed}");
            }
        }
    }
}
