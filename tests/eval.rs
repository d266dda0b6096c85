//! Evaluation: metrics on hand-computed cases, split properties, baselines,
//! external embeddings versus the model, early stopping.

use ials::eval::*;
use ials::{Factors, Interactions, Params, SolverKind, SynthConfig};

fn mat(m: usize, n: usize, t: &[(u32, u32)]) -> Interactions {
    Interactions::from_indexed(m, n, t.iter().map(|&(u, i)| (u, i, 1.0))).unwrap()
}

#[test]
fn evaluator_hand_computed_with_ties_short_and_empty_users() {
    // 3 users, 5 items. User 0: train {0}, test {1, 2}. User 1: train {1},
    // test {4}. User 2: train {2}, no test (skipped).
    let train = mat(3, 5, &[(0, 0), (1, 1), (2, 2)]);
    let test = mat(3, 5, &[(0, 1), (0, 2), (1, 4)]);
    // Every item scores the same: ties go to the lower index.
    let ev = Evaluator::new(&train, &test).unwrap().k(2).with_auc(true);
    let r = ev.evaluate_fn(|_, out| out.iter_mut().for_each(|o| *o = 1.0));
    // User 0 ranks [1, 2]: recall 1, ndcg 1, precision 1, AP 1, RR 1.
    // User 1 ranks [0, 2]: nothing.
    assert_eq!(r.users, 2);
    assert_eq!(r.recall, 0.5);
    assert_eq!(r.ndcg, 0.5);
    assert_eq!(r.precision, 0.5);
    assert_eq!(r.map, 0.5);
    assert_eq!(r.mrr, 0.5);
    assert_eq!(r.hit_rate, 0.5);
    // All ties: AUC 0.5 for each user.
    assert_eq!(r.auc, Some(0.5));
    // Items 1, 2 (user 0) and 0, 2 (user 1): 3 of 5.
    assert!((r.coverage - 0.6).abs() < 1e-12);
    // Fewer test items than K: user 1 with K = 3 and item 4 ranked 3rd
    // gets recall 1 (1 / min(3, 1)) and ndcg 1/log2(4) = 0.5.
    let r = Evaluator::new(&train, &test)
        .unwrap()
        .k(3)
        .evaluate_fn(|u, out| {
            out.iter_mut().for_each(|o| *o = 0.0);
            if u == 1 {
                out[0] = 3.0;
                out[2] = 2.0;
                out[4] = 1.0;
            }
        });
    // user 0 (scores all 0): ranks [1, 2, 3] -> recall 1, ndcg 1.
    assert_eq!(r.recall, 1.0);
    assert!((r.ndcg - (1.0 + 0.5) / 2.0).abs() < 1e-12);
}

#[test]
fn shape_mismatch_is_an_error() {
    let a = mat(2, 3, &[(0, 0)]);
    let b = mat(2, 4, &[(0, 0)]);
    assert!(matches!(Evaluator::new(&a, &b), Err(ials::Error::Shape(_))));
}

fn synth(seed: u64) -> Interactions {
    println!("seed {seed}");
    SynthConfig::new(300, 120, 6000, seed)
        .interactions()
        .unwrap()
}

fn pairs(d: &Interactions) -> Vec<(u32, u32)> {
    d.triplets().map(|(u, i, _)| (u, i)).collect()
}

#[test]
fn splits_are_reproducible_and_disjoint() {
    let data = synth(5);
    let all = pairs(&data);
    let check = |train: &Interactions, test: &Interactions| {
        let (a, b) = (pairs(train), pairs(test));
        assert_eq!(a.len() + b.len(), all.len());
        let mut u: Vec<_> = a.iter().chain(&b).copied().collect();
        u.sort();
        let mut s = all.clone();
        s.sort();
        assert_eq!(u, s, "train + test = data, disjoint");
    };
    let (tr, te) = random_holdout(&data, 0.2, 9).unwrap();
    check(&tr, &te);
    let (tr2, te2) = random_holdout(&data, 0.2, 9).unwrap();
    assert_eq!(pairs(&tr), pairs(&tr2));
    assert_eq!(pairs(&te), pairs(&te2));
    let (_, te3) = random_holdout(&data, 0.2, 10).unwrap();
    assert_ne!(pairs(&te), pairs(&te3));

    let (tr, te) = leave_k_out(&data, 2, None, 1).unwrap();
    check(&tr, &te);
    for u in 0..data.n_users() {
        let n = data.user_row(u).len();
        assert_eq!(te.user_row(u).len(), if n > 2 { 2 } else { 0 });
    }
    // Timestamps: the latest item goes to test.
    let ts: Vec<i64> = data.triplets().map(|(_, i, _)| i as i64).collect();
    let (_, te) = leave_k_out(&data, 1, Some(&ts), 1).unwrap();
    for u in 0..data.n_users() {
        let row = data.user_row(u).indices;
        if row.len() > 1 {
            assert_eq!(te.user_row(u).indices, &[*row.last().unwrap()]);
        }
    }

    let cfg = StrongConfig {
        test_users: 30,
        validation_users: 20,
        test_fraction: 0.2,
        seed: 4,
    };
    let s = strong_generalization(&data, &cfg).unwrap();
    let v = s.validation.as_ref().unwrap();
    assert_eq!((s.test.users.len(), v.users.len()), (30, 20));
    let mut parts = pairs(&s.train);
    for h in [&s.test, v] {
        for &u in &h.users {
            assert!(s.train.user_row(u as usize).is_empty());
            let (f, t) = (
                h.fold_in.user_row(u as usize).len(),
                h.test.user_row(u as usize).len(),
            );
            assert!(f >= 1 && t >= 1);
        }
        parts.extend(pairs(&h.fold_in));
        parts.extend(pairs(&h.test));
    }
    parts.sort();
    let mut s_all = all.clone();
    s_all.sort();
    assert_eq!(parts, s_all);
    let s2 = strong_generalization(&data, &cfg).unwrap();
    assert_eq!(s.test.users, s2.test.users);
}

#[test]
fn external_embeddings_match_the_model_and_fold_in_reproduces_rows() {
    let data = synth(8);
    let (train, test) = random_holdout(&data, 0.2, 8).unwrap();
    let params = Params::builder()
        .factors(8)
        .iterations(6)
        .regularization(0.1)
        .solver(SolverKind::Cholesky)
        .seed(8)
        .check()
        .unwrap();
    let model = params.fit(&train).unwrap();
    let ev = Evaluator::new(&train, &test).unwrap().with_auc(true);
    let direct = ev.evaluate_fn(|u, out| {
        let recs = model.recommend(u, out.len(), &ials::Filter::new()).unwrap();
        for (i, s) in recs {
            out[i as usize] = s;
        }
    });
    // Export through .npy and back, as an external model would arrive.
    let dir = tempfile::tempdir().unwrap();
    let (up, ip) = (dir.path().join("U.npy"), dir.path().join("V.npy"));
    let (x, y) = (model.user_factors(), model.item_factors());
    ials::io::npy::save_f32(&up, x.rows(), x.k(), x.as_slice()).unwrap();
    ials::io::npy::save_f32(&ip, y.rows(), y.k(), y.as_slice()).unwrap();
    let (r, c, d) = ials::io::npy::load_f32(&up).unwrap();
    let u = Factors::from_vec(r, c, d).unwrap();
    let (r, c, d) = ials::io::npy::load_f32(&ip).unwrap();
    let v = Factors::from_vec(r, c, d).unwrap();
    let external = ev.evaluate(&FactorScorer::new(&u, &v));
    assert_eq!(direct, external);
    assert!(external.recall > 0.0);
    // Folding a training user in from its own items after the final item
    // sweep is close to one more user half-sweep: same ranking quality.
    let fold = ev.evaluate(&FoldInScorer::new(model.params(), model.item_factors()));
    assert!(
        (fold.recall - external.recall).abs() < 0.05,
        "{fold:?} vs {external:?}"
    );
}

#[test]
fn baselines_score_and_ease_refuses_large() {
    let data = synth(11);
    let (train, test) = random_holdout(&data, 0.2, 11).unwrap();
    let ev = Evaluator::new(&train, &test).unwrap();
    let pop = ev.evaluate(&Popularity::fit(&train));
    let knn = ev.evaluate(&ItemKnn::fit(&train, 50));
    let ease = ev.evaluate(&Ease::fit(&train, 50.0, 1000).unwrap());
    println!("pop {pop:?}\nknn {knn:?}\nease {ease:?}");
    assert!(pop.recall > 0.0 && knn.recall > 0.0 && ease.recall > 0.0);
    let e = Ease::fit(&train, 50.0, 100).unwrap_err();
    assert!(matches!(e, ials::Error::TooLarge(_)));
    assert!(e.to_string().contains("item limit is 100"), "{e}");
}

#[test]
#[allow(clippy::needless_range_loop)]
fn ease_matches_its_definition_on_tiny_data() {
    // B_{:,j} = e_j − P_{:,j}/P_jj, so (G + λI) B_{:,j} = (G + λI)_{:,j} − e_j/P_jj:
    // every row i ≠ j of (G + λI) B_{:,j} equals (G + λI)_{ij}, and B_jj = 0.
    let train = mat(
        4,
        3,
        &[
            (0, 0),
            (0, 1),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 2),
            (3, 0),
            (3, 1),
            (3, 2),
        ],
    );
    let lambda = 2.0;
    let e = Ease::fit(&train, lambda, 10).unwrap();
    // G + λI
    let g = [
        [3.0 + lambda, 2.0, 2.0],
        [2.0, 3.0 + lambda, 2.0],
        [2.0, 2.0, 3.0 + lambda],
    ];
    for j in 0..3 {
        for i in 0..3 {
            if i == j {
                assert_eq!(e.weight(i, j), 0.0);
                continue;
            }
            let lhs: f64 = (0..3).map(|l| g[i][l] * e.weight(l, j) as f64).sum();
            assert!((lhs - g[i][j]).abs() < 1e-4, "{i} {j}: {lhs}");
        }
    }
}

#[test]
fn early_stopping_keeps_the_best_iteration() {
    let data = synth(13);
    let (train, valid) = random_holdout(&data, 0.2, 13).unwrap();
    let params = Params::builder()
        .factors(8)
        .iterations(12)
        .seed(13)
        .check()
        .unwrap();
    let (model, stop) =
        fit_with_early_stopping(&params, &train, &valid, Metric::recall(10), 2).unwrap();
    let best = stop.best_iteration();
    assert!(best >= 1);
    assert_eq!(model.params().iterations(), best);
    assert_eq!(model.loss_history().len(), best);
    let best_value = stop.history().iter().map(|h| h.1).fold(f64::MIN, f64::max);
    assert_eq!(stop.best_value(), best_value);
    // The kept factors give the best value back.
    let ev = Evaluator::new(&train, &valid).unwrap().k(10);
    let again = ev.evaluate(&FactorScorer::new(
        model.user_factors(),
        model.item_factors(),
    ));
    assert_eq!(again.recall, best_value);
    // Refitting with the recorded iteration count reproduces it (determinism).
    let refit = model.params().fit(&train).unwrap();
    assert_eq!(
        refit.item_factors().as_slice(),
        model.item_factors().as_slice()
    );
}

#[cfg(feature = "cli")]
#[test]
fn cli_eval_external_embeddings_equal_ials_baseline() {
    use std::io::Write;
    let data = synth(21);
    let (train, test) = random_holdout(&data, 0.2, 21).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, d: &Interactions| {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        for (u, i, v) in d.triplets() {
            writeln!(f, "{},{},{}", d.users().id(u), d.items().id(i), v).unwrap();
        }
        p
    };
    let (trp, tep) = (write("train.csv", &train), write("test.csv", &test));
    // Fit the model the CLI will fit (default params) on the train file as
    // the CLI reads it, and export its embeddings with their ids.
    let read = ials::data::read::read_interactions(&trp, &Default::default()).unwrap();
    let model = Params::default().fit(&read).unwrap();
    let (x, y) = (model.user_factors(), model.item_factors());
    ials::io::npy::save_f32(&dir.path().join("U.npy"), x.rows(), x.k(), x.as_slice()).unwrap();
    ials::io::npy::save_f32(&dir.path().join("V.npy"), y.rows(), y.k(), y.as_slice()).unwrap();
    std::fs::write(dir.path().join("users.txt"), read.users().ids().join("\n")).unwrap();
    std::fs::write(dir.path().join("items.txt"), read.items().ids().join("\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ials"))
        .current_dir(dir.path())
        .args([
            "eval",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--baseline",
            "ials,popularity",
            "--json",
        ])
        .args([
            "--user-factors",
            "U.npy",
            "--item-factors",
            "V.npy",
            "--users",
            "users.txt",
            "--items",
            "items.txt",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = tep;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows[0]["model"], "ials");
    assert_eq!(rows[2]["model"], "external");
    assert_eq!(rows[0]["metrics"], rows[2]["metrics"]);
    assert!(rows[0]["metrics"]["recall"].as_f64().unwrap() > 0.0);
}

#[test]
fn tune_is_tiny_deterministic_and_sees_only_its_input() {
    use ials::eval::tune::{tune, TuneConfig};
    let data = synth(31);
    // The test part is never passed: tune carves validation out of `train`.
    let (train, _test) = random_holdout(&data, 0.2, 31).unwrap();
    let cfg = TuneConfig {
        budget_seconds: 1e6,
        explore_trials: Some(3),
        min_explore_trials: 3,
        small_factors: 4,
        max_factors: 8,
        top: 2,
        max_iterations: 4,
        seed: 31,
        // Stage 4 has its own test.
        confirm_folds: 0,
        ..Default::default()
    };
    let base = Params::builder().threads(1).check().unwrap();
    let a = tune(&train, &base, &cfg, |_| {}).unwrap();
    let b = tune(&train, &base, &cfg, |_| {}).unwrap();
    // 3 trials at k = 4; at k = 8 the best 2 carried, then λ steps of 4×
    // (one way, or a failed step and the other way: 2 to 5 trials) and α0
    // (1 or 2), repeats skipped.
    // What budget is left goes to neighbours of the best at its k (stage 3).
    let stage = |n| a.trials.iter().filter(move |t| t.stage == n);
    assert_eq!(stage(1).count(), 3);
    assert!(stage(1).all(|t| t.params.factors() == 4));
    assert!(stage(2).all(|t| t.params.factors() == 8));
    assert!((3..=9).contains(&stage(2).count()));
    // Stage 3: neighbours of the best (finer λ and α0 steps, k one step
    // either way within [small, max]), then random perturbations.
    assert!(stage(3).all(|t| [4, 8].contains(&t.params.factors())));
    assert!(stage(3).count() >= 4);
    assert_eq!(
        a.trials.iter().map(|t| t.stage).collect::<Vec<_>>(),
        [stage(1), stage(2), stage(3)]
            .into_iter()
            .flat_map(|s| s.map(|t| t.stage))
            .collect::<Vec<_>>()
    );
    // Every trial's curve is its validation metric after each sweep, and
    // its value the best of them, reached at `iterations`.
    for t in &a.trials {
        let best = t.curve.iter().copied().fold(f64::MIN, f64::max);
        assert_eq!(t.value, best);
        assert_eq!(t.curve[t.params.iterations() - 1], best);
    }
    let best = a.trials.iter().map(|t| t.value).fold(f64::MIN, f64::max);
    assert!(a
        .trials
        .iter()
        .any(|t| t.value == best && t.params == a.best));
    assert_eq!(a.best_by_factors().len(), 2);
    assert_eq!(a.best, b.best);
    assert_eq!(
        a.model.item_factors().as_slice(),
        b.model.item_factors().as_slice()
    );
    // The refit is on all of the input.
    assert_eq!(a.model.train().nnz(), train.nnz());
}

#[test]
fn tune_confirms_close_contenders_on_fresh_splits() {
    use ials::eval::tune::{tune, TuneConfig};
    let (train, _) = random_holdout(&synth(36), 0.2, 36).unwrap();
    let cfg = TuneConfig {
        budget_seconds: 1e6,
        explore_trials: Some(4),
        min_explore_trials: 4,
        small_factors: 2,
        max_factors: 8,
        max_iterations: 6,
        perturbations: 1,
        confirm_folds: 3,
        // Every k's best is a contender.
        confirm_within: 1.0,
        seed: 36,
        ..Default::default()
    };
    let base = Params::builder().threads(1).check().unwrap();
    let t = tune(&train, &base, &cfg, |_| {}).unwrap();
    let own: Vec<_> = t.trials.iter().filter(|t| t.fold == 0).collect();
    let fresh: Vec<_> = t.trials.iter().filter(|t| t.fold > 0).collect();
    // One contender a k (2, 4, 8), best first, each on the own split and
    // the three fresh ones, in fold order after the search.
    assert_eq!(t.contenders.len(), 3);
    assert!(own.iter().all(|t| t.stage < 4));
    assert!(fresh.iter().all(|t| t.stage == 4));
    assert_eq!(fresh.len(), 9);
    assert!(t.trials.iter().skip(own.len()).all(|t| t.fold > 0));
    for (f, chunk) in fresh.chunks(3).enumerate() {
        for (c, tr) in t.contenders.iter().zip(chunk) {
            assert_eq!(tr.fold as usize, f + 1);
            assert_eq!(tr.params.factors(), c.factors);
            assert_eq!(c.values[f + 1], tr.value);
            assert_eq!(c.iterations[f + 1], tr.params.iterations());
        }
    }
    for c in &t.contenders {
        let tr = &t.trials[c.trial];
        assert_eq!(tr.fold, 0);
        // The best of its k on the own split.
        assert!(own
            .iter()
            .filter(|o| o.params.factors() == c.factors)
            .all(|o| o.value <= tr.value));
        assert_eq!(c.values[0], tr.value);
        assert_eq!(c.values.len(), 4);
        let mean = c.values[1..].iter().sum::<f64>() / 3.0;
        assert!((c.fresh_mean - mean).abs() < 1e-12);
    }
    // The best fresh mean wins, refitted with the median of its best sweeps.
    let w = t
        .contenders
        .iter()
        .max_by(|a, b| a.fresh_mean.total_cmp(&b.fresh_mean))
        .unwrap();
    let mut its = w.iterations.clone();
    its.sort_unstable();
    assert_eq!(t.best.factors(), w.factors);
    assert_eq!(t.best.iterations(), its[2]);
    assert_eq!(
        t.best.regularization(),
        t.trials[w.trial].params.regularization()
    );
    // The by-k curve reads the own split only.
    for (k, v) in t.best_by_factors() {
        let m = own
            .iter()
            .filter(|o| o.params.factors() == k)
            .map(|o| o.value)
            .fold(f64::MIN, f64::max);
        assert_eq!(v, m);
    }
    // Deterministic, and off with `confirm_folds: 0`.
    let again = tune(&train, &base, &cfg, |_| {}).unwrap();
    assert_eq!(again.best, t.best);
    assert_eq!(
        again.model.item_factors().as_slice(),
        t.model.item_factors().as_slice()
    );
    let off = tune(
        &train,
        &base,
        &TuneConfig {
            confirm_folds: 0,
            ..cfg
        },
        |_| {},
    )
    .unwrap();
    assert!(off.contenders.is_empty());
    assert!(off.trials.iter().all(|t| t.fold == 0));
}

#[test]
fn tune_screens_out_poor_trials_after_min_iterations() {
    use ials::eval::tune::{tune, TuneConfig};
    let (train, _) = random_holdout(&synth(34), 0.2, 34).unwrap();
    let cfg = TuneConfig {
        budget_seconds: 1e6,
        explore_trials: Some(8),
        min_explore_trials: 8,
        small_factors: 4,
        max_factors: 4,
        max_iterations: 12,
        min_iterations: 3,
        patience: 100,
        screen: 0.97,
        perturbations: 2,
        seed: 34,
        ..Default::default()
    };
    let base = Params::builder().threads(1).check().unwrap();
    let t = tune(&train, &base, &cfg, |_| {}).unwrap();
    let mut best = f64::NEG_INFINITY;
    let mut screened = 0;
    for tr in &t.trials {
        // Patience never binds: a trial ends at 12 sweeps unless screened
        // at sweep 3 or later, which happens exactly when it is below the bar.
        let bar = best * 0.97;
        if tr.curve.len() < 12 {
            screened += 1;
            assert!(tr.curve.len() >= 3);
            let at_stop = tr.curve.iter().copied().fold(f64::MIN, f64::max);
            assert!(at_stop < bar, "trial {} stopped above the bar", tr.id);
        } else {
            assert!(
                tr.curve[..3].iter().copied().fold(f64::MIN, f64::max) >= bar,
                "trial {} below the bar ran on",
                tr.id
            );
        }
        best = best.max(tr.value);
    }
    assert!(screened > 0, "no trial was screened out");
}

#[test]
fn tune_carries_lambda_across_k_while_k_gains_more_than_k_jump() {
    use ials::eval::tune::{tune, TuneConfig};
    let (train, _) = random_holdout(&synth(35), 0.2, 35).unwrap();
    let run = |k_jump: f64| {
        let cfg = TuneConfig {
            budget_seconds: 1e6,
            explore_trials: Some(3),
            min_explore_trials: 3,
            small_factors: 2,
            max_factors: 8,
            max_iterations: 4,
            perturbations: 0,
            k_jump,
            seed: 35,
            ..Default::default()
        };
        let base = Params::builder().threads(1).check().unwrap();
        let t = tune(&train, &base, &cfg, |_| {}).unwrap();
        let at = |k: usize| -> Vec<(f32, f32)> {
            t.trials
                .iter()
                .filter(|t| t.stage == 2 && t.params.factors() == k)
                .map(|t| (t.params.regularization(), t.params.unobserved_weight()))
                .collect()
        };
        (at(4), at(8))
    };
    // Always carry (any gain is enough): at k 4 the carried trial, then only
    // λ / 4 steps down (α0 unchanged, never up); the full searches at the
    // last k. Never carry: λ both ways and α0 searched at k 4 too.
    let (skip4, skip8) = run(-1.0);
    assert!((2..=5).contains(&skip4.len()), "{skip4:?}");
    let (l0, a0) = skip4[0];
    for (i, &(l, a)) in skip4.iter().enumerate().skip(1) {
        assert_eq!(a, a0, "{skip4:?}");
        let want = l0 / 4f32.powi(i as i32);
        assert!((l - want).abs() <= 1e-6 * want, "{skip4:?}");
    }
    assert!(skip8.len() >= 3);
    let (full4, _) = run(f64::INFINITY);
    assert!(full4.len() > skip4.len(), "{full4:?} vs {skip4:?}");
    assert!(full4
        .iter()
        .any(|&(l, a)| l > full4[0].0 || a != full4[0].1));
}

#[test]
fn tune_stops_at_its_budget() {
    use ials::eval::tune::{tune, TuneConfig};
    let (train, _) = random_holdout(&synth(32), 0.2, 32).unwrap();
    let cfg = TuneConfig {
        budget_seconds: 1e-3,
        min_explore_trials: 2,
        small_factors: 4,
        max_factors: 64,
        max_iterations: 3,
        ..Default::default()
    };
    let base = Params::builder().threads(1).check().unwrap();
    let t = tune(&train, &base, &cfg, |_| {}).unwrap();
    // One trial whatever the budget, then nothing: every further trial is
    // over budget (the minimum of 2 only applies while the budget lasts).
    assert_eq!(t.trials.len(), 1);
    assert!(t.trials.iter().all(|t| t.stage == 1));
}

#[test]
fn tune_searches_binary_values_only_when_there_are_values() {
    use ials::eval::tune::{tune, TuneConfig};
    let data = synth(33);
    let binary = Interactions::from_indexed(
        data.n_users(),
        data.n_items(),
        data.triplets().map(|(u, i, _)| (u, i, 1.0)),
    )
    .unwrap();
    let cfg = TuneConfig {
        budget_seconds: 1e6,
        explore_trials: Some(12),
        min_explore_trials: 12,
        small_factors: 4,
        max_factors: 4,
        max_iterations: 2,
        ..Default::default()
    };
    let base = Params::builder().threads(1).check().unwrap();
    let t = tune(&binary, &base, &cfg, |_| {}).unwrap();
    assert!(t.trials.iter().all(|t| !t.binary));
    if data.triplets().any(|(_, _, v)| v != 1.0) {
        let t = tune(&data, &base, &cfg, |_| {}).unwrap();
        assert!(t.trials.iter().any(|t| t.binary));
        assert!(t.trials.iter().any(|t| !t.binary));
        if t.best_binary {
            assert!(t.model.train().data().iter().all(|&v| v == 1.0));
        }
    }
}

#[cfg(feature = "cli")]
fn write_split(dir: &std::path::Path, seed: u64) -> (Interactions, Interactions) {
    use std::io::Write;
    let data = synth(seed);
    let (train, test) = random_holdout(&data, 0.2, seed).unwrap();
    for (name, d) in [("train.csv", &train), ("test.csv", &test)] {
        let mut f = std::fs::File::create(dir.join(name)).unwrap();
        for (u, i, v) in d.triplets() {
            writeln!(f, "{},{},{}", d.users().id(u), d.items().id(i), v).unwrap();
        }
    }
    (train, test)
}

#[cfg(feature = "cli")]
fn ials(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ials"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ials {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[cfg(feature = "cli")]
#[test]
fn cli_fit_then_eval_model_equals_exported_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_split(d, 41);
    ials(
        d,
        &[
            "fit",
            "--input",
            "train.csv",
            "--output",
            "m",
            "--factors",
            "8",
            "--iterations",
            "5",
            "--threads",
            "1",
        ],
    );
    ials(d, &["export", "--model", "m", "--output", "npy"]);
    let out = ials(
        d,
        &[
            "eval",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--model",
            "m",
            "--user-factors",
            "npy/user_factors.npy",
            "--item-factors",
            "npy/item_factors.npy",
            "--users",
            "npy/users.txt",
            "--items",
            "npy/items.txt",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows[0]["model"], "model");
    assert_eq!(rows[1]["model"], "external");
    assert_eq!(rows[0]["metrics"], rows[1]["metrics"]);
    assert!(rows[0]["metrics"]["recall"].as_f64().unwrap() > 0.0);
    // A directory that is not a model is a clear error naming it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ials"))
        .current_dir(d)
        .args(["eval", "--train", "train.csv", "--test", "test.csv"])
        .args(["--model", "npy"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("manifest.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(feature = "cli")]
#[test]
fn cli_tune_saves_a_model_that_info_recommend_and_eval_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (train, _) = write_split(d, 43);
    // tune only ever gets the train file.
    let args = [
        "tune",
        "--input",
        "train.csv",
        "--output",
        "tuned",
        "--trials",
        "2",
        "--small-factors",
        "4",
        "--max-factors",
        "8",
        "--max-iterations",
        "3",
        "--budget",
        "10m",
        "--max-trials",
        "9",
        "--threads",
        "1",
    ];
    ials(d, &args);
    for f in ["manifest.json", "trials.json", "best_params.json"] {
        assert!(d.join("tuned").join(f).is_file(), "{f}");
    }
    let trials: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("tuned/trials.json")).unwrap())
            .unwrap();
    let n = trials.as_array().unwrap().len();
    // 2 at k = 4 (--trials 2), then k = 8 and refinement up to --max-trials.
    assert_eq!(n, 9, "{n} trials");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("tuned/tune.json")).unwrap()).unwrap();
    assert_eq!(
        summary["best_validation_by_factors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let model = ials::Model::load(d.join("tuned")).unwrap();
    assert_eq!(model.train().nnz(), train.nnz());
    let best: Params =
        serde_json::from_str(&std::fs::read_to_string(d.join("tuned/best_params.json")).unwrap())
            .unwrap();
    assert_eq!(model.params(), &best);
    let info = ials(d, &["info", "--model", "tuned", "--verify"]);
    assert!(!info.is_empty());
    ials(
        d,
        &[
            "recommend",
            "--model",
            "tuned",
            "--all",
            "--k",
            "5",
            "--output",
            "recs.csv",
        ],
    );
    assert!(!std::fs::read_to_string(d.join("recs.csv"))
        .unwrap()
        .is_empty());
    let out = ials(
        d,
        &[
            "eval",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--model",
            "tuned",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v[0]["metrics"]["recall"].as_f64().unwrap() > 0.0);
    // Tuning again over the saved model replaces it (and its records).
    ials(d, &args);
    ials::Model::load(d.join("tuned")).unwrap();
}

#[test]
fn ease_equals_brute_force_inverse_on_synthetic_data() {
    // B = I − P diag(1/diag P), P = (XᵀX + λI)⁻¹ by nalgebra's dense inverse.
    let train = synth(47);
    let n = train.n_items();
    let lambda = 7.5;
    let mut g = nalgebra::DMatrix::<f64>::identity(n, n) * lambda;
    for u in 0..train.n_users() {
        let s = train.user_row(u).indices;
        for &i in s {
            for &j in s {
                g[(i as usize, j as usize)] += 1.0;
            }
        }
    }
    let p = g.try_inverse().unwrap();
    let e = Ease::fit(&train, lambda, n).unwrap();
    for i in 0..n {
        for j in 0..n {
            let want = if i == j { 0.0 } else { -p[(i, j)] / p[(j, j)] };
            let got = e.weight(i, j) as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{i} {j}: {got} vs {want}"
            );
        }
    }
}
