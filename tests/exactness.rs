//! Every solver and the loss against the definition: a brute-force objective
//! over all m x n pairs on tiny data.

mod common;

use common::*;
use ials::internals::solver::{solve_row, RowProblem, Workspace};
use ials::train::{initial_factors, loss};
use ials::{Factors, Gramian, Params, Solver, SolverKind};

const SEED: u64 = 20261128;

fn solve_all_users(
    params: &Params,
    data: &ials::Interactions,
    x: &mut Factors,
    y: &Factors,
    solver: Solver,
) {
    let g = Gramian::of(y);
    let pb = RowProblem {
        fixed: y,
        gram: &g,
        weighting: params.weighting(),
        alpha0: params.unobserved_weight(),
    };
    let mut ws = Workspace::new(params.factors());
    for u in 0..data.n_users() {
        let row = data.user_row(u);
        let lam = params.row_regularization(row.len(), data.n_items());
        solve_row(solver, &pb, row, lam, x.row_mut(u), &mut ws).unwrap();
    }
}

#[test]
fn gramian_loss_equals_dense_loss() {
    println!("seed {SEED}");
    for (data, grid) in cases(9, 7, 0.35, SEED, 3) {
        for params in grid {
            let (x, y) = initial_factors(&params.to_builder().init_std(0.7).check().unwrap(), 9, 7);
            let parts = loss(&params, &data, &x, &y);
            let dense = dense_loss(&params, &data, &x, &y);
            let rel = (parts.total() - dense).abs() / dense.abs().max(1e-12);
            assert!(
                rel < 1e-5,
                "{params:?}: gramian {} vs dense {dense}",
                parts.total()
            );
        }
    }
}

#[test]
fn cholesky_row_is_the_exact_minimizer() {
    println!("seed {SEED}");
    for (data, grid) in cases(8, 10, 0.3, SEED + 1, 4) {
        for params in grid {
            let (mut x, y) =
                initial_factors(&params.to_builder().init_std(0.5).check().unwrap(), 8, 10);
            solve_all_users(&params, &data, &mut x, &y, Solver::Cholesky);
            for u in 0..data.n_users() {
                let g = user_gradient(&params, &data, x.row(u), u, &y);
                // Scale: the gradient's size at the initial point would be O(1).
                assert!(
                    norm(&g) < 1e-3,
                    "{params:?} user {u}: |grad| = {}",
                    norm(&g)
                );
            }
        }
    }
}

#[test]
fn fitted_items_satisfy_the_normal_equations() {
    // After a full iteration the item half-sweep was last, so every item row
    // is the exact minimizer given X.
    for (data, grid) in cases(10, 6, 0.4, SEED + 2, 3) {
        for params in grid {
            let p = params
                .to_builder()
                .solver(SolverKind::Cholesky)
                .iterations(2)
                .check()
                .unwrap();
            let model = p.fit(&data).unwrap();
            for i in 0..data.n_items() {
                let g = item_gradient(
                    &p,
                    &data,
                    model.user_factors(),
                    model.item_factors().row(i),
                    i,
                );
                assert!(norm(&g) < 1e-3, "{p:?} item {i}: |grad| = {}", norm(&g));
            }
            // The reported loss is the dense loss.
            let last = model.loss_history().last().unwrap().loss.unwrap().total();
            let dense = dense_loss(&p, &data, model.user_factors(), model.item_factors());
            assert!((last - dense).abs() / dense < 1e-5, "{last} vs {dense}");
        }
    }
}

#[test]
fn the_loss_fused_into_the_item_sweep_equals_the_separate_pass() {
    // Each iteration's reported loss is computed inside the item half-sweep;
    // it must be bit for bit the loss of the final factors computed apart.
    for (data, grid) in cases(11, 7, 0.4, SEED + 7, 3) {
        for params in grid {
            for solver in [SolverKind::Cholesky, SolverKind::Cg] {
                for iterations in 1..=3 {
                    let p = params
                        .to_builder()
                        .solver(solver)
                        .cg_steps(2)
                        .iterations(iterations)
                        .threads(2)
                        .check()
                        .unwrap();
                    let model = p.fit(&data).unwrap();
                    let reported = model.loss_history().last().unwrap().loss;
                    let apart = loss(&p, &data, model.user_factors(), model.item_factors());
                    assert_eq!(reported, Some(apart), "{p:?} after {iterations}");
                }
            }
        }
    }
}

#[test]
fn a_fit_without_the_loss_has_the_same_factors_and_reports_none() {
    for (data, grid) in cases(11, 7, 0.4, SEED + 8, 2) {
        for params in grid {
            let with = params.to_builder().iterations(3).check().unwrap();
            let without = with.to_builder().track_loss(false).check().unwrap();
            let (a, b) = (with.fit(&data).unwrap(), without.fit(&data).unwrap());
            assert_eq!(a.user_factors(), b.user_factors(), "{params:?}");
            assert_eq!(a.item_factors(), b.item_factors(), "{params:?}");
            assert!(a.loss_history().iter().all(|r| r.loss.is_some()));
            assert!(b.loss_history().iter().all(|r| r.loss.is_none()));
            assert_eq!(b.loss_history().len(), 3);
        }
    }
}

#[test]
fn cg_with_many_steps_reaches_cholesky() {
    for (data, grid) in cases(12, 9, 0.4, SEED + 3, 5) {
        for params in grid {
            let (x0, y) = initial_factors(&params, 12, 9);
            let mut exact = x0.clone();
            solve_all_users(&params, &data, &mut exact, &y, Solver::Cholesky);
            let mut cg = x0.clone();
            for _ in 0..5 {
                solve_all_users(&params, &data, &mut cg, &y, Solver::Cg { steps: 50 });
            }
            for (a, b) in cg.as_slice().iter().zip(exact.as_slice()) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{params:?}: cg {a} vs cholesky {b}"
                );
            }
        }
    }
}

#[test]
fn one_full_block_is_one_cholesky_solve_and_small_blocks_converge() {
    for (data, grid) in cases(12, 9, 0.4, SEED + 4, 6) {
        for params in grid {
            let (x0, y) =
                initial_factors(&params.to_builder().init_std(0.3).check().unwrap(), 12, 9);
            let mut exact = x0.clone();
            solve_all_users(&params, &data, &mut exact, &y, Solver::Cholesky);
            let mut full = x0.clone();
            solve_all_users(&params, &data, &mut full, &y, Solver::Block { size: 6 });
            for (a, b) in full.as_slice().iter().zip(exact.as_slice()) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{params:?}: block=k {a} vs cholesky {b}"
                );
            }
            for bs in [1, 2, 4] {
                let mut blk = x0.clone();
                for _ in 0..300 {
                    solve_all_users(&params, &data, &mut blk, &y, Solver::Block { size: bs });
                }
                for (a, b) in blk.as_slice().iter().zip(exact.as_slice()) {
                    assert!(
                        (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                        "{params:?} b={bs}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn loss_never_increases_under_cholesky() {
    for (data, grid) in cases(30, 20, 0.2, SEED + 5, 4) {
        for params in grid {
            let p = params
                .to_builder()
                .solver(SolverKind::Cholesky)
                .iterations(12)
                .check()
                .unwrap();
            let model = p.fit(&data).unwrap();
            let h = model.loss_history();
            assert_eq!(h.len(), 12);
            for w in h.windows(2) {
                let (a, b) = (w[0].loss.unwrap().total(), w[1].loss.unwrap().total());
                assert!(
                    b <= a * (1.0 + 1e-6) + 1e-9,
                    "{p:?}: loss went up {a} -> {b}"
                );
            }
        }
    }
}

#[test]
fn block_and_cg_decrease_the_loss_of_their_start() {
    // Both are descent methods: each half-sweep can only lower the objective.
    let data = tiny(30, 20, 0.2, SEED + 6);
    for solver in [SolverKind::Cg, SolverKind::Block] {
        let p = Params::builder()
            .factors(6)
            .block_size(2)
            .solver(solver)
            .iterations(8)
            .regularization(0.1)
            .check()
            .unwrap();
        let (x, y) = initial_factors(&p, 30, 20);
        let start = loss(&p, &data, &x, &y).total();
        let model = p.fit(&data).unwrap();
        let h = model.loss_history();
        assert!(h[0].loss.unwrap().total() < start);
        for w in h.windows(2) {
            assert!(
                w[1].loss.unwrap().total() <= w[0].loss.unwrap().total() * (1.0 + 1e-6),
                "{solver}: {:?}",
                h
            );
        }
    }
}

#[test]
fn observed_negatives_are_opt_in_and_pull_scores_down() {
    // Refused by default: the builder, CSR input and a fit without the flag.
    let mut b = ials::InteractionsBuilder::new();
    let err = b.push("u", "i", -1.0).unwrap_err();
    assert!(matches!(err, ials::Error::InvalidValue { .. }), "{err:?}");
    let data = tiny_negatives(6, 5, 0.5, SEED + 7);
    let plain = Params::builder().factors(3).check().unwrap();
    let err = plain.fit(&data).unwrap_err();
    assert!(matches!(err, ials::Error::NegativeValues), "{err:?}");
    assert!(err.to_string().contains("observed negatives"));
    // With the flag, an observed negative of weight w is the same objective
    // as target 0 with confidence w: a pair shown but not taken scores lower
    // than the same pair left unobserved.
    let mut pos = ials::InteractionsBuilder::new().observed_negatives(true);
    let mut neg = ials::InteractionsBuilder::new().observed_negatives(true);
    for u in 0..6 {
        for i in 0..5 {
            if (u + i) % 2 == 0 {
                pos.push(&u.to_string(), &i.to_string(), 1.0).unwrap();
                neg.push(&u.to_string(), &i.to_string(), 1.0).unwrap();
            }
        }
    }
    neg.push("1", "0", -20.0).unwrap();
    pos.add_item("0").unwrap();
    let p = Params::builder()
        .factors(3)
        .confidence(ials::ConfidenceKind::AsGiven)
        .solver(SolverKind::Cholesky)
        .regularization(0.1)
        .iterations(10)
        .observed_negatives(true)
        .check()
        .unwrap();
    let a = p.fit(&pos.build().unwrap()).unwrap();
    let b = p.fit(&neg.build().unwrap()).unwrap();
    assert!(
        b.score(1, 0).abs() < a.score(1, 0).abs() || b.score(1, 0) < a.score(1, 0),
        "{} vs {}",
        b.score(1, 0),
        a.score(1, 0)
    );
}
