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
    let data = tiny(9, 7, 0.35, SEED);
    for params in param_grid(3) {
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

#[test]
fn cholesky_row_is_the_exact_minimizer() {
    println!("seed {SEED}");
    let data = tiny(8, 10, 0.3, SEED + 1);
    for params in param_grid(4) {
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

#[test]
fn fitted_items_satisfy_the_normal_equations() {
    // After a full iteration the item half-sweep was last, so every item row
    // is the exact minimizer given X.
    let data = tiny(10, 6, 0.4, SEED + 2);
    for params in param_grid(3) {
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
        let last = model.loss_history().last().unwrap().loss.total();
        let dense = dense_loss(&p, &data, model.user_factors(), model.item_factors());
        assert!((last - dense).abs() / dense < 1e-5, "{last} vs {dense}");
    }
}

#[test]
fn cg_with_many_steps_reaches_cholesky() {
    let data = tiny(12, 9, 0.4, SEED + 3);
    for params in param_grid(5) {
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

#[test]
fn one_full_block_is_one_cholesky_solve_and_small_blocks_converge() {
    let data = tiny(12, 9, 0.4, SEED + 4);
    for params in param_grid(6) {
        let (x0, y) = initial_factors(&params.to_builder().init_std(0.3).check().unwrap(), 12, 9);
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

#[test]
fn loss_never_increases_under_cholesky() {
    let data = tiny(30, 20, 0.2, SEED + 5);
    for params in param_grid(4) {
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
            let (a, b) = (w[0].loss.total(), w[1].loss.total());
            assert!(
                b <= a * (1.0 + 1e-6) + 1e-9,
                "{p:?}: loss went up {a} -> {b}"
            );
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
        assert!(h[0].loss.total() < start);
        for w in h.windows(2) {
            assert!(
                w[1].loss.total() <= w[0].loss.total() * (1.0 + 1e-6),
                "{solver}: {:?}",
                h
            );
        }
    }
}
