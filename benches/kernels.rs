//! Criterion benches: each dense kernel, the Gramian, one row solve per
//! solver at k = 32..256, and one full iteration on a seeded synthetic set
//! with power-law item popularity. Ids carry the sizes; data is built outside
//! the timed closures. Measurement times are short so that `cargo bench`
//! finishes in a few minutes on two cores.
//!
//! Run one group: `cargo bench --bench kernels -- row_solve/cg`.
//! The SIMD level in use is printed first (`IALS_SIMD=scalar|avx2` lowers it).

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ials::confidence::{ConfidenceKind, Target, Weighting};
use ials::internals::linalg;
use ials::internals::solver::{solve_row, RowProblem, Workspace};
use ials::{Factors, Gramian, Params, RowView, Solver, SolverKind, SynthConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 2026;
const KS: [usize; 4] = [32, 64, 128, 256];

fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn kernels(c: &mut Criterion) {
    eprintln!("SIMD level: {}", linalg::simd());
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut g = c.benchmark_group("kernel");
    g.measurement_time(Duration::from_millis(800))
        .warm_up_time(Duration::from_millis(200))
        .sample_size(20);
    for k in KS {
        let n = 256;
        let y = rand_vec(&mut rng, n * k);
        let z = rand_vec(&mut rng, n * k);
        let mut a = vec![0.0f32; k * k];
        g.throughput(Throughput::Elements((n * k * (k + 1) / 2) as u64));
        g.bench_function(
            BenchmarkId::new("syrk_lower", format!("k={k}/n={n}")),
            |b| b.iter(|| linalg::syrk_lower(&mut a, k, 0, k, &z, &y, k, n)),
        );
        let w = rand_vec(&mut rng, n);
        let v = rand_vec(&mut rng, k);
        let mut out = vec![0.0f32; k];
        g.throughput(Throughput::Elements((2 * n * k) as u64));
        g.bench_function(
            BenchmarkId::new("weighted_matvec", format!("k={k}/n={n}")),
            |b| b.iter(|| linalg::weighted_matvec(&y, k, k, &w, 1.0, &v, &mut out)),
        );
        let rows = 20_000;
        let all = rand_vec(&mut rng, rows * k);
        let idx: Vec<u32> = (0..n).map(|_| rng.random_range(0..rows as u32)).collect();
        g.throughput(Throughput::Elements((n * k) as u64));
        g.bench_function(BenchmarkId::new("rows_axpy", format!("k={k}/n={n}")), |b| {
            b.iter(|| linalg::rows_axpy(&all, k, &idx, &w, &mut out))
        });
        let mut gram = rand_vec(&mut rng, k * k);
        for i in 0..k {
            for j in 0..i {
                gram[j * k + i] = gram[i * k + j];
            }
        }
        let mut out2 = vec![0.0f32; k];
        g.throughput(Throughput::Elements((k * k) as u64));
        g.bench_function(BenchmarkId::new("symv", format!("k={k}")), |b| {
            b.iter(|| linalg::symv(&gram, k, &v, &mut out2))
        });
        g.throughput(Throughput::Elements(k as u64));
        g.bench_function(BenchmarkId::new("dot", format!("k={k}")), |b| {
            b.iter(|| linalg::dot(black_box(&v), black_box(&out2)))
        });
        // An SPD matrix for the f64 Cholesky.
        let m = rand_vec(&mut rng, k * (k + 4));
        let mut spd = vec![0.0f64; k * k];
        for i in 0..k {
            for j in 0..k {
                spd[i * k + j] = (0..k + 4)
                    .map(|p| m[i * (k + 4) + p] as f64 * m[j * (k + 4) + p] as f64)
                    .sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let mut work = spd.clone();
        let rhs: Vec<f64> = (0..k).map(|i| i as f64).collect();
        let mut x = rhs.clone();
        g.throughput(Throughput::Elements((k * k * k / 3) as u64));
        g.bench_function(
            BenchmarkId::new("cholesky_factor_solve", format!("k={k}")),
            |b| {
                b.iter(|| {
                    work.copy_from_slice(&spd);
                    x.copy_from_slice(&rhs);
                    linalg::cholesky_upper(&mut work, k).expect("SPD");
                    linalg::cholesky_upper_solve(&work, k, &mut x);
                })
            },
        );
    }
    g.finish();
}

fn gramian(c: &mut Criterion) {
    let mut g = c.benchmark_group("gramian");
    g.measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200))
        .sample_size(10);
    let n = 20_000;
    for k in KS {
        let y = Factors::random_normal(n, k, 0.1, SEED);
        g.throughput(Throughput::Elements((n * k * (k + 1) / 2) as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("k={k}/n={n}")), |b| {
            b.iter(|| Gramian::of(black_box(&y)))
        });
    }
    g.finish();
}

fn row_solve(c: &mut Criterion) {
    let mut g = c.benchmark_group("row_solve");
    g.measurement_time(Duration::from_millis(800))
        .warm_up_time(Duration::from_millis(200))
        .sample_size(20);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let n_fixed = 20_000;
    let weighting = Weighting {
        kind: ConfidenceKind::AsGiven,
        alpha: 1.0,
        epsilon: 1.0,
        target: Target::One,
    };
    for k in KS {
        let fixed = Factors::random_normal(n_fixed, k, 0.1, SEED);
        let gram = Gramian::of(&fixed);
        let pb = RowProblem {
            fixed: &fixed,
            gram: &gram,
            weighting,
            alpha0: 1.0,
        };
        for nnz in [100, 1000] {
            let mut idx: Vec<u32> = (0..nnz)
                .map(|_| rng.random_range(0..n_fixed as u32))
                .collect();
            idx.sort_unstable();
            idx.dedup();
            // Counts: 1 (so c = α0) or more, as in the synthetic sets.
            let vals: Vec<f32> = idx
                .iter()
                .map(|_| {
                    if rng.random_bool(0.8) {
                        1.0
                    } else {
                        rng.random_range(2..6) as f32
                    }
                })
                .collect();
            let row = RowView {
                indices: &idx,
                values: &vals,
            };
            let nnz = idx.len();
            for solver in [
                Solver::Cholesky,
                Solver::Cg { steps: 3 },
                Solver::Block { size: 32.min(k) },
            ] {
                let mut ws = Workspace::new(k);
                let x0 = rand_vec(&mut rng, k);
                let mut x = x0.clone();
                let name = match solver {
                    Solver::Cholesky => "cholesky".to_owned(),
                    Solver::Cg { steps } => format!("cg{steps}"),
                    Solver::Block { size } => format!("block{size}"),
                };
                g.bench_function(BenchmarkId::new(name, format!("k={k}/nnz={nnz}")), |b| {
                    b.iter(|| {
                        x.copy_from_slice(&x0);
                        solve_row(solver, &pb, row, 0.05, &mut x, &mut ws).expect("SPD")
                    })
                });
            }
        }
    }
    g.finish();
}

fn iteration(c: &mut Criterion) {
    let mut g = c.benchmark_group("iteration");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(10);
    let (users, items, draws) = (20_000, 10_000, 700_000);
    let data = SynthConfig::new(users, items, draws, SEED)
        .interactions()
        .expect("synthetic data");
    let nnz = data.nnz();
    for (solver, k) in [
        (SolverKind::Cg, 64),
        (SolverKind::Cholesky, 64),
        (SolverKind::Block, 128),
    ] {
        let params = Params::builder()
            .factors(k)
            .iterations(1)
            .regularization(0.05)
            .confidence(ConfidenceKind::AsGiven)
            .solver(solver)
            .seed(SEED)
            .check()
            .expect("valid params");
        let (x0, y0) = ials::train::initial_factors(&params, data.n_users(), data.n_items());
        g.bench_function(
            BenchmarkId::new(
                solver.to_string(),
                format!("k={k}/users={users}/items={items}/nnz={nnz}"),
            ),
            |b| {
                b.iter(|| {
                    params
                        .fit_from(&data, x0.clone(), y0.clone(), |_| ControlFlow::Continue(()))
                        .expect("fit")
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().configure_from_args();
    targets = kernels, gramian, row_solve, iteration
}
criterion_main!(benches);
