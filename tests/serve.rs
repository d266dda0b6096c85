//! Serving: the blocked top-k against brute force, filters, fold-in against
//! the normal equations, explanations, partial_fit.

use std::cmp::Ordering;

use ials::internals::solver::{solve_row, RowProblem, Workspace};
use ials::serve::topk::score;
use ials::serve::{recommend_history, Filter, UpdateOptions};
use ials::{
    ConfidenceKind, Factors, Gramian, IdMap, Interactions, Model, Params, Side, Solver, SolverKind,
    SynthConfig, Target,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rank(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0))
}

/// Brute force: score every allowed target with the kernel's arithmetic, sort.
fn brute(q: &[f32], t: &Factors, k: usize, keep: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = (0..t.rows() as u32)
        .filter(|&j| keep(j))
        .map(|j| (j, score(q, t.row(j as usize))))
        .filter(|e| e.1 > f32::NEG_INFINITY)
        .collect();
    all.sort_by(rank);
    all.truncate(k);
    all
}

/// Factors with small integer entries: exact scores, many ties.
fn int_factors(rows: usize, k: usize, rng: &mut ChaCha8Rng) -> Factors {
    let data = (0..rows * k)
        .map(|_| rng.random_range(-2..=2) as f32)
        .collect();
    Factors::from_vec(rows, k, data).unwrap()
}

fn model_with(data: &Interactions, x: Factors, y: Factors) -> Model {
    let params = Params::builder().factors(x.k()).check().unwrap();
    let (u, i, train) = data.clone().into_parts();
    Model::new(params, u, i, train, x, y, Vec::new())
}

fn all_recs(model: &Model, k: usize, f: &Filter) -> Vec<Vec<(u32, f32)>> {
    let mut out = Vec::new();
    model
        .recommend_all::<ials::Error>(k, f, |u, l| {
            assert_eq!(u, out.len(), "users arrive in order");
            out.push(l.to_vec());
            Ok(())
        })
        .unwrap();
    out
}

/// Rows scaled to unit norm (zero rows stay zero): the cosine oracle.
fn unit_rows(f: &Factors) -> Factors {
    let mut out = f.clone();
    for r in 0..out.rows() {
        let row = out.row_mut(r);
        let n = ials::serve::topk::score(row, row).sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
    out
}

#[test]
fn blocked_top_k_equals_brute_force_sort_with_ties_by_index() {
    for (seed, m, n, kf, ints) in [
        (1u64, 700, 300, 5, true),
        (2, 530, 1001, 13, true),
        (3, 300, 257, 64, false),
        (4, 1, 17, 3, false),
    ] {
        println!("seed {seed}: {m} x {n}, k = {kf}, integer factors: {ints}");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (x, y) = if ints {
            (int_factors(m, kf, &mut rng), int_factors(n, kf, &mut rng))
        } else {
            (
                Factors::random_normal(m, kf, 1.0, seed),
                Factors::random_normal(n, kf, 1.0, seed + 100),
            )
        };
        let data = SynthConfig::new(m, n, m * 8, seed).interactions().unwrap();
        let model = model_with(&data, x, y);
        let filters = [
            Filter::new(),
            Filter::new().exclude_seen(true),
            Filter::new()
                .exclude_seen(true)
                .exclude((0..n as u32).filter(|i| i % 3 == 0)),
            Filter::new()
                .candidates((0..n as u32).filter(|i| i % 2 == 1))
                .exclude([1, 5, 9]),
            Filter::new().candidates([]),
        ];
        for f in &filters {
            for top in [0, 1, 10, n + 5] {
                let got = all_recs(&model, top, f);
                assert_eq!(got.len(), m);
                for (u, list) in got.iter().enumerate() {
                    let seen = model.user_history(u).indices;
                    let keep = |j: u32| {
                        f.allows(j) && !(f.excludes_seen() && seen.binary_search(&j).is_ok())
                    };
                    let want = brute(model.user_factors().row(u), model.item_factors(), top, keep);
                    assert_eq!(list, &want, "seed {seed} user {u} top {top} filter {f:?}");
                    assert!(list.iter().all(|&(j, _)| keep(j)), "filtered item returned");
                    let one = model.recommend(u, top, f).unwrap();
                    assert_eq!(&one, list, "single-user path differs");
                }
            }
        }
    }
}

#[test]
fn recommend_all_is_identical_on_any_thread_count() {
    let seed = 9;
    println!("seed {seed}");
    let data = SynthConfig::new(900, 400, 9000, seed)
        .interactions()
        .unwrap();
    let x = Factors::random_normal(900, 24, 1.0, seed);
    let y = Factors::random_normal(400, 24, 1.0, seed + 1);
    let model = model_with(&data, x, y);
    let f = Filter::new().exclude_seen(true);
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| all_recs(&model, 7, &f))
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(2));
}

#[test]
fn similar_all_matches_brute_force_cosine_and_never_returns_itself() {
    let seed = 12;
    println!("seed {seed}");
    let data = SynthConfig::new(300, 200, 3000, seed)
        .interactions()
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = int_factors(300, 6, &mut rng);
    x.row_mut(4).iter_mut().for_each(|v| *v = 0.0); // a zero row
    let y = int_factors(200, 6, &mut rng);
    let model = model_with(&data, x, y);
    let f = Filter::new().exclude([3, 7]);
    let ny = unit_rows(model.item_factors());
    let mut got = Vec::new();
    model
        .similar_all::<ials::Error>(Side::Item, 5, &f, |i, l| {
            got.push((i, l.to_vec()));
            Ok(())
        })
        .unwrap();
    for (i, list) in &got {
        let want = brute(ny.row(*i), &ny, 5, |j| j as usize != *i && f.allows(j));
        assert_eq!(list, &want, "item {i}");
        assert_eq!(list, &model.similar(Side::Item, *i, 5, &f).unwrap());
    }
    let nx = unit_rows(model.user_factors());
    for u in [0usize, 4, 299] {
        let want = brute(nx.row(u), &nx, 4, |j| j as usize != u);
        assert_eq!(
            model.similar(Side::User, u, 4, &Filter::new()).unwrap(),
            want
        );
    }
}

#[test]
fn filters_with_out_of_range_indices_are_typed_errors() {
    let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 1.0), (2, 3, 1.0)]).unwrap();
    let model = model_with(&data, Factors::zeros(3, 2), Factors::zeros(4, 2));
    let e = model
        .recommend(0, 2, &Filter::new().exclude([4]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ials::Error::IndexOutOfRange {
                kind: "item",
                index: 4,
                len: 4
            }
        ),
        "{e}"
    );
    let e = model.recommend(3, 2, &Filter::new()).unwrap_err();
    assert!(
        matches!(e, ials::Error::IndexOutOfRange { kind: "user", .. }),
        "{e}"
    );
    let e = model.recommend_all::<ials::Error>(2, &Filter::new().candidates([9]), |_, _| Ok(()));
    assert!(matches!(e, Err(ials::Error::IndexOutOfRange { .. })));
    let e = model.fold_in_user(&[(7, 1.0)]).unwrap_err();
    assert!(
        matches!(e, ials::Error::IndexOutOfRange { kind: "item", .. }),
        "{e}"
    );
    let e = model.fold_in_user(&[(1, -1.0)]).unwrap_err();
    assert!(matches!(e, ials::Error::InvalidValue { .. }), "{e}");
}

/// A fitted model with every knob that fold-in must honour set away from its default.
fn fitted(seed: u64) -> (Interactions, Model) {
    let data = SynthConfig::new(120, 80, 1500, seed)
        .interactions()
        .unwrap();
    let params = Params::builder()
        .factors(6)
        .iterations(4)
        .regularization(0.05)
        .reg_exponent(1.0)
        .alpha(2.0)
        .confidence(ConfidenceKind::Log)
        .unobserved_weight(0.3)
        .target(Target::Reciprocal)
        .solver(SolverKind::Cholesky)
        .seed(seed)
        .check()
        .unwrap();
    let model = params.fit(&data).unwrap();
    (data, model)
}

/// ∇ of the objective over one row `x` by brute force over all pairs (f64).
fn brute_gradient(params: &Params, fixed: &Factors, hist: &[(u32, f32)], x: &[f32]) -> Vec<f64> {
    let k = x.len();
    let wt = params.weighting();
    let a0 = params.unobserved_weight() as f64;
    let lambda = params.row_regularization(hist.len(), fixed.rows()) as f64;
    let mut g: Vec<f64> = x.iter().map(|&v| 2.0 * lambda * v as f64).collect();
    for j in 0..fixed.rows() {
        let y = fixed.row(j);
        let yhat: f64 = (0..k).map(|p| x[p] as f64 * y[p] as f64).sum();
        let d = match hist.iter().find(|h| h.0 as usize == j) {
            Some(&(_, r)) => {
                let (c, p) = wt.weight(r);
                2.0 * c as f64 * (yhat - p as f64)
            }
            None => 2.0 * a0 * yhat,
        };
        for p in 0..k {
            g[p] += d * y[p] as f64;
        }
    }
    g
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

#[test]
fn folded_in_new_user_and_item_satisfy_the_normal_equations() {
    let seed = 21;
    println!("seed {seed}");
    let (_, model) = fitted(seed);
    let hist = [(3u32, 2.0f32), (10, 1.0), (41, 5.0), (3, 1.0), (77, 0.0)];
    let merged = [(3u32, 3.0f32), (10, 1.0), (41, 5.0), (77, 0.0)];
    let x = model.fold_in_user(&hist).unwrap();
    let g = brute_gradient(model.params(), model.item_factors(), &merged, &x);
    // Scale: the gradient's terms are of the size of b = Σ c p y.
    let scale = 1.0
        + norm(&brute_gradient(
            model.params(),
            model.item_factors(),
            &merged,
            &[0.0; 6],
        ));
    assert!(
        norm(&g) < 1e-4 * scale,
        "user gradient {g:?} (scale {scale})"
    );
    let users = [(0u32, 1.0f32), (5, 3.0), (119, 2.0)];
    let y = model.fold_in_item(&users).unwrap();
    let g = brute_gradient(model.params(), model.user_factors(), &users, &y);
    let scale = 1.0
        + norm(&brute_gradient(
            model.params(),
            model.user_factors(),
            &users,
            &[0.0; 6],
        ));
    assert!(norm(&g) < 1e-4 * scale, "item gradient {g:?}");
    assert_eq!(model.fold_in_user(&[]).unwrap(), vec![0.0; 6]);
    let named: Vec<(String, f32)> = merged
        .iter()
        .map(|&(i, v)| (model.items().id(i).to_owned(), v))
        .collect();
    let (xi, unknown) = model
        .fold_in_user_ids(
            named
                .iter()
                .map(|(s, v)| (s.as_str(), *v))
                .chain([("no-such-item", 1.0)]),
        )
        .unwrap();
    assert_eq!(unknown, ["no-such-item"]);
    assert_eq!(xi, model.fold_in_user(&merged).unwrap());
}

/// The model after one more user half-sweep (Cholesky) against its item factors.
fn after_user_half_sweep(data: &Interactions, model: &Model) -> Model {
    let p = model.params();
    let y = model.item_factors();
    let g = Gramian::of(y);
    let pb = RowProblem {
        fixed: y,
        gram: &g,
        weighting: p.weighting(),
        alpha0: p.unobserved_weight(),
    };
    let mut x = model.user_factors().clone();
    let mut ws = Workspace::new(p.factors());
    for u in 0..data.n_users() {
        let row = data.user_row(u);
        let lambda = p.row_regularization(row.len(), data.n_items());
        solve_row(Solver::Cholesky, &pb, row, lambda, x.row_mut(u), &mut ws).unwrap();
    }
    let (users, items, train) = data.clone().into_parts();
    Model::new(p.clone(), users, items, train, x, y.clone(), Vec::new())
}

fn history(model: &Model, u: usize) -> Vec<(u32, f32)> {
    let r = model.user_history(u);
    r.indices
        .iter()
        .copied()
        .zip(r.values.iter().copied())
        .collect()
}

#[test]
fn fold_in_of_a_training_user_after_a_user_half_sweep_gives_back_its_row() {
    let (data, model) = fitted(31);
    let model = after_user_half_sweep(&data, &model);
    for u in [0, 1, 57, 119] {
        let x = model.fold_in_user(&history(&model, u)).unwrap();
        assert_eq!(x.as_slice(), model.user_factors().row(u), "user {u}");
    }
}

#[test]
fn explain_contributions_sum_to_the_resolved_score() {
    let (data, model) = fitted(41);
    let model = after_user_half_sweep(&data, &model);
    for (u, i) in [(0usize, 0usize), (3, 17), (100, 79)] {
        let e = model.explain(u, i).unwrap();
        let resolved = score(
            &model.fold_in_user(&history(&model, u)).unwrap(),
            model.item_factors().row(i),
        ) as f64;
        let sum: f64 = e.contributions.iter().map(|c| c.1).sum();
        assert!((sum - e.score).abs() < 1e-12 * (1.0 + e.score.abs()));
        assert!(
            (e.score - resolved).abs() < 1e-4 * (1.0 + resolved.abs()),
            "{} vs {resolved}",
            e.score
        );
        let stored = e.model_score.unwrap() as f64;
        approx::assert_abs_diff_eq!(e.score, stored, epsilon = 1e-4 * (1.0 + stored.abs()));
        assert_eq!(e.contributions.len(), model.user_history(u).len());
        assert!(
            e.contributions.windows(2).all(|w| w[0].1 >= w[1].1),
            "largest first"
        );
        let (top, rest) = e.top(2);
        let t: f64 = top.iter().map(|c| c.1).sum();
        assert!((t + rest - e.score).abs() < 1e-9 * (1.0 + e.score.abs()));
    }
    let h = [(2u32, 1.0f32), (9, 4.0)];
    let e = model.explain_history(&h, 5).unwrap();
    let want = score(
        &model.fold_in_user(&h).unwrap(),
        model.item_factors().row(5),
    ) as f64;
    approx::assert_abs_diff_eq!(e.score, want, epsilon = 1e-4 * (1.0 + want.abs()));
}

#[test]
fn partial_fit_with_no_new_data_changes_nothing() {
    let (_, mut model) = fitted(51);
    let before = model.clone();
    let r = model
        .partial_fit(std::iter::empty(), &UpdateOptions::default())
        .unwrap();
    assert_eq!(r.triplets, 0);
    assert_eq!(model.user_factors(), before.user_factors());
    assert_eq!(model.item_factors(), before.item_factors());
    assert_eq!(model.train(), before.train());
    assert_eq!(model.users(), before.users());
    assert_eq!(model.loss_history(), before.loss_history());
}

#[test]
fn partial_fit_grows_maps_and_touches_only_affected_rows() {
    let (_, mut model) = fitted(61);
    let before = model.clone();
    let _ = model.item_gramian(); // cached, must be reset
    let (u0, i0) = (
        before.users().id(0).to_owned(),
        before.items().id(5).to_owned(),
    );
    let new = [
        (u0.as_str(), i0.as_str(), 2.0f32),
        ("new-user", i0.as_str(), 1.0),
        ("new-user", "new-item", 3.0),
        ("other-new", "new-item", 1.0),
    ];
    let r = model.partial_fit(new, &UpdateOptions::default()).unwrap();
    assert_eq!(
        (r.new_users, r.new_items, r.affected_users, r.affected_items),
        (2, 1, 3, 2)
    );
    assert_eq!((model.n_users(), model.n_items()), (122, 81));
    assert_eq!(model.users().get("new-user"), Some(120));
    assert_eq!(model.items().get("new-item"), Some(80));
    // The pair (0, 5) had its value added to.
    let old = before.user_history(0);
    let pos = old.indices.binary_search(&5);
    let new_row = model.user_history(0);
    let p = new_row.indices.binary_search(&5).unwrap();
    let expect = pos.map_or(2.0, |q| old.values[q] + 2.0);
    assert_eq!(new_row.values[p], expect);
    for u in 1..120 {
        assert_eq!(
            model.user_factors().row(u),
            before.user_factors().row(u),
            "user {u} moved"
        );
    }
    for i in (0..80).filter(|&i| i != 5) {
        assert_eq!(
            model.item_factors().row(i),
            before.item_factors().row(i),
            "item {i} moved"
        );
    }
    assert_ne!(model.user_factors().row(120), &[0.0; 6][..]);
    assert_ne!(model.item_factors().row(80), &[0.0; 6][..]);
    assert_eq!(model.item_gramian(), &Gramian::of(model.item_factors()));
    // Still serves.
    let recs = model
        .recommend(120, 3, &Filter::new().exclude_seen(true))
        .unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|&(i, _)| i != 5 && i != 80));
    assert_eq!(all_recs(&model, 2, &Filter::new()).len(), 122);
    // Bad input leaves the model untouched.
    let snapshot = model.clone();
    let e = model.partial_fit([("x", "y", f32::NAN)], &UpdateOptions::default());
    assert!(matches!(e, Err(ials::Error::InvalidValue { .. })));
    assert_eq!(model.user_factors(), snapshot.user_factors());
    assert_eq!(model.users(), snapshot.users());
    // Sweeps extend the history.
    let r = model
        .partial_fit(
            [("new-user", "new-item", 1.0)],
            &UpdateOptions {
                rounds: 1,
                sweeps: 2,
            },
        )
        .unwrap();
    assert_eq!(r.sweeps, 2);
    assert_eq!(
        model.loss_history().len(),
        snapshot.loss_history().len() + 2
    );
}

#[test]
fn history_file_is_folded_in_and_unknown_items_are_reported() {
    let (_, model) = fitted(71);
    let ids: Vec<String> = (0..4).map(|i| model.items().id(i).to_owned()).collect();
    let text = format!(
        "alice,{a},2\nbob,nope,1\nalice,{b},1\nbob,{c},1\nalice,nope,3\ncarol,zzz,1\n",
        a = ids[0],
        b = ids[1],
        c = ids[2]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hist.csv");
    std::fs::write(&path, text).unwrap();
    let f = Filter::new().exclude_seen(true);
    let out = recommend_history(&model, &path, &Default::default(), 5, &f).unwrap();
    assert_eq!(out.lines, 6);
    assert_eq!(
        out.unknown_items,
        vec![("nope".to_owned(), 2), ("zzz".to_owned(), 1)]
    );
    let names: Vec<&str> = out.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(out.users[0].known_items, 2);
    assert_eq!(out.users[0].unknown_lines, 1);
    assert!(out.users[2].recommendations.is_empty());
    let h = [(0u32, 2.0f32), (1, 1.0)];
    let x = model.fold_in_user(&h).unwrap();
    let want = model.recommend_vector(&x, &[0, 1], 5, &f).unwrap();
    assert_eq!(out.users[0].recommendations, want);
    let e = recommend_history(
        &model,
        &dir.path().join("missing.csv"),
        &Default::default(),
        5,
        &f,
    );
    assert!(matches!(e, Err(ials::Error::Io { .. })));
    let _ = IdMap::new();
}
