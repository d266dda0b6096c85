//! Shared helpers for the integration tests: tiny random data and the
//! brute-force all-pairs oracle of the objective.
#![allow(dead_code, clippy::needless_range_loop)]

use ials::{Factors, Interactions, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A tiny random matrix: each pair observed with probability `density`,
/// values in [0, 5) (some exact zeros), at least one interaction.
pub fn tiny(m: usize, n: usize, density: f64, seed: u64) -> Interactions {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = Vec::new();
    for u in 0..m {
        for i in 0..n {
            if rng.random::<f64>() < density {
                let v = if rng.random::<f64>() < 0.1 {
                    0.0
                } else {
                    (rng.random::<f32>() * 5.0 * 4.0).round() / 4.0
                };
                t.push((u as u32, i as u32, v));
            }
        }
    }
    if t.is_empty() {
        t.push((0, 0, 1.0));
    }
    Interactions::from_indexed(m, n, t).unwrap()
}

/// [`tiny`] with about a third of its non-zero values negated (observed
/// negatives), built with negatives allowed.
pub fn tiny_negatives(m: usize, n: usize, density: f64, seed: u64) -> Interactions {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut b = ials::InteractionsBuilder::new().observed_negatives(true);
    for u in 0..m {
        b.add_user(&u.to_string()).unwrap();
    }
    for i in 0..n {
        b.add_item(&i.to_string()).unwrap();
    }
    let mut negatives = 0;
    for (u, i, v) in tiny(m, n, density, seed).triplets() {
        let v = if v > 0.0 && (rng.random::<f64>() < 0.35 || negatives == 0) {
            negatives += 1;
            -v
        } else {
            v
        };
        b.push(&u.to_string(), &i.to_string(), v).unwrap();
    }
    let data = b.build().unwrap();
    assert!(data.has_negatives());
    data
}

/// The data sets of the oracle tests with their parameter grids: [`tiny`]
/// with [`param_grid`], and [`tiny_negatives`] with the same grid and
/// observed negatives on.
pub fn cases(
    m: usize,
    n: usize,
    density: f64,
    seed: u64,
    k: usize,
) -> Vec<(Interactions, Vec<Params>)> {
    let neg: Vec<Params> = param_grid(k)
        .into_iter()
        .map(|p| p.to_builder().observed_negatives(true).check().unwrap())
        .collect();
    vec![
        (tiny(m, n, density, seed), param_grid(k)),
        (tiny_negatives(m, n, density, seed), neg),
    ]
}

/// Dense weights W (c on observed pairs, α0 elsewhere) and targets P.
pub fn dense(params: &Params, data: &Interactions) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (m, n) = (data.n_users(), data.n_items());
    let a0 = params.unobserved_weight() as f64;
    let mut w = vec![vec![a0; n]; m];
    let mut p = vec![vec![0.0; n]; m];
    let wt = params.weighting();
    for (u, i, r) in data.triplets() {
        // An observed negative (r < 0): confidence of |r|, target 0.
        let (c, pp) = if r < 0.0 {
            (wt.weight(-r).0, 0.0)
        } else {
            wt.weight(r)
        };
        w[u as usize][i as usize] = c as f64;
        p[u as usize][i as usize] = pp as f64;
    }
    (w, p)
}

fn dotf(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// λ_u and λ_i as the definition gives them.
pub fn lambdas(params: &Params, data: &Interactions) -> (Vec<f64>, Vec<f64>) {
    let (m, n) = (data.n_users(), data.n_items());
    let a0 = params.unobserved_weight() as f64;
    let nu = params.reg_exponent() as f64;
    let lam = params.regularization() as f64;
    let f = |count: usize, other: usize| {
        let base = if params.reg_include_unobserved() {
            count as f64 + a0 * other as f64
        } else {
            count as f64
        };
        lam * base.powf(nu)
    };
    (
        (0..m).map(|u| f(data.user_row(u).len(), n)).collect(),
        (0..n).map(|i| f(data.item_row(i).len(), m)).collect(),
    )
}

/// The objective summed over all m x n pairs, in f64.
pub fn dense_loss(params: &Params, data: &Interactions, x: &Factors, y: &Factors) -> f64 {
    let (w, p) = dense(params, data);
    let (lu, li) = lambdas(params, data);
    let mut l = 0.0;
    for u in 0..data.n_users() {
        for i in 0..data.n_items() {
            let d = p[u][i] - dotf(x.row(u), y.row(i));
            l += w[u][i] * d * d;
        }
        l += lu[u] * dotf(x.row(u), x.row(u));
    }
    for i in 0..data.n_items() {
        l += li[i] * dotf(y.row(i), y.row(i));
    }
    l
}

/// ∂L/∂x_u by brute force over all items (f64).
pub fn user_gradient(
    params: &Params,
    data: &Interactions,
    x: &[f32],
    u: usize,
    y: &Factors,
) -> Vec<f64> {
    let (w, p) = dense(params, data);
    let (lu, _) = lambdas(params, data);
    let k = x.len();
    let mut g: Vec<f64> = x.iter().map(|&v| 2.0 * lu[u] * v as f64).collect();
    for i in 0..data.n_items() {
        let yi = y.row(i);
        let e = p[u][i] - dotf(x, yi);
        for a in 0..k {
            g[a] -= 2.0 * w[u][i] * e * yi[a] as f64;
        }
    }
    g
}

/// ∂L/∂y_i by brute force over all users (f64).
pub fn item_gradient(
    params: &Params,
    data: &Interactions,
    x: &Factors,
    y: &[f32],
    i: usize,
) -> Vec<f64> {
    let (w, p) = dense(params, data);
    let (_, li) = lambdas(params, data);
    let k = y.len();
    let mut g: Vec<f64> = y.iter().map(|&v| 2.0 * li[i] * v as f64).collect();
    for u in 0..data.n_users() {
        let xu = x.row(u);
        let e = p[u][i] - dotf(xu, y);
        for a in 0..k {
            g[a] -= 2.0 * w[u][i] * e * xu[a] as f64;
        }
    }
    g
}

/// Euclidean norm.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Every parameterization the oracle tests sweep: each confidence kind,
/// α0 = 1 and α0 ≠ 1, ν = 0 and ν ≠ 0, both targets.
pub fn param_grid(k: usize) -> Vec<Params> {
    use ials::{ConfidenceKind, Target};
    let mut out = Vec::new();
    for conf in [
        ConfidenceKind::Linear,
        ConfidenceKind::Log,
        ConfidenceKind::AsGiven,
    ] {
        for a0 in [1.0f32, 0.3] {
            for nu in [0.0f32, 0.5] {
                for target in [Target::One, Target::Reciprocal] {
                    out.push(
                        Params::builder()
                            .factors(k)
                            .iterations(1)
                            .confidence(conf)
                            .alpha(2.0)
                            .epsilon(0.5)
                            .unobserved_weight(a0)
                            .reg_exponent(nu)
                            .regularization(0.1)
                            .target(target)
                            .check()
                            .unwrap(),
                    );
                }
            }
        }
    }
    out
}
