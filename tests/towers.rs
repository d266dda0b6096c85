//! Feature towers against the definitions: reduction to plain iALS, the
//! brute-force all-pairs objective and its gradient, the feature-Gramian
//! form, determinism, cold entities and bad input.

#![allow(clippy::needless_range_loop)]

use ials::towers::{Features, Tower, TowerParams, TowerTrainer};
use ials::{Error, Factors, Interactions, Params, SolverKind, SynthConfig, Target};

/// The feature Gramian `Φ = Σ_u f_u f_uᵀ` (`cols x cols`, dense, `f64`) of
/// `(entity, column, value)` triplets (duplicates summed).
fn feature_gramian(triplets: &[(u32, u32, f32)], rows: usize, cols: usize) -> Vec<f64> {
    let mut f = vec![vec![0.0f32; cols]; rows];
    for &(u, j, v) in triplets {
        f[u as usize][j as usize] += v;
    }
    let mut phi = vec![0.0f64; cols * cols];
    for fu in &f {
        for a in 0..cols {
            for b in 0..cols {
                phi[a * cols + b] += fu[a] as f64 * fu[b] as f64;
            }
        }
    }
    phi
}

/// `Aᵀ Φ A` (`k x k`, `f64`) for a dense `Φ` (`p x p`) and weights `A`
/// (`p x k`): the Gramian of the embeddings `X = F A`.
fn projected_gramian(phi: &[f64], a: &Factors) -> Vec<f64> {
    let (p, k) = (a.rows(), a.k());
    let mut out = vec![0.0f64; k * k];
    for r in 0..p {
        for s in 0..p {
            let v = phi[r * p + s];
            let (ar, as_) = (a.row(r), a.row(s));
            for c in 0..k {
                for d in 0..k {
                    out[c * k + d] += v * ar[c] as f64 * as_[d] as f64;
                }
            }
        }
    }
    out
}

/// Dense objective over all pairs in f64, and the gradient of each tower's
/// weights: `L = Σ_ui W_ui (T_ui − x_u·y_i)² + Σ_j λ_j ‖a_j‖²`.
struct Dense {
    loss: f64,
    all_pairs_sq: f64,
    grad_user: Vec<f64>,
    grad_item: Vec<f64>,
}

fn dense_design(tr: &TowerTrainer<'_>, t: Tower, rows: usize) -> Vec<f64> {
    let cols = tr.n_columns(t);
    let mut f = vec![0.0f64; rows * cols];
    for (u, j, v) in tr.design(t) {
        f[u as usize * cols + j as usize] += v as f64;
    }
    f
}

fn dense(params: &Params, data: &Interactions, tr: &TowerTrainer<'_>) -> Dense {
    let (m, n, k) = (data.n_users(), data.n_items(), params.factors());
    let fu = dense_design(tr, Tower::User, m);
    let fi = dense_design(tr, Tower::Item, n);
    let (a, b) = (tr.weights(Tower::User), tr.weights(Tower::Item));
    let (pu, pi) = (a.rows(), b.rows());
    let embed = |f: &[f64], w: &Factors, rows: usize, p: usize| -> Vec<f64> {
        let mut x = vec![0.0; rows * k];
        for u in 0..rows {
            for j in 0..p {
                let v = f[u * p + j];
                if v != 0.0 {
                    for c in 0..k {
                        x[u * k + c] += v * w.row(j)[c] as f64;
                    }
                }
            }
        }
        x
    };
    let x = embed(&fu, &a, m, pu);
    let y = embed(&fi, &b, n, pi);
    let wt = params.weighting();
    let a0 = params.unobserved_weight() as f64;
    // E_ui = W (ŷ − T): d L / d ŷ_ui = 2 E_ui.
    let mut e = vec![0.0f64; m * n];
    let mut loss = 0.0;
    let mut all_sq = 0.0;
    for u in 0..m {
        let row = data.user_row(u);
        for i in 0..n {
            let yhat: f64 = (0..k).map(|c| x[u * k + c] * y[i * k + c]).sum();
            all_sq += yhat * yhat;
            let (w, t) = match row.indices.binary_search(&(i as u32)) {
                Ok(q) => {
                    let (c, p) = wt.weight(row.values[q]);
                    (c as f64, p as f64)
                }
                Err(_) => (a0, 0.0),
            };
            loss += w * (t - yhat) * (t - yhat);
            e[u * n + i] = w * (yhat - t);
        }
    }
    let lu = tr.column_lambdas(Tower::User);
    let li = tr.column_lambdas(Tower::Item);
    for j in 0..pu {
        loss += lu[j] as f64 * a.row(j).iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
    }
    for j in 0..pi {
        loss += li[j] as f64 * b.row(j).iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
    }
    // Gradients: dL/da_j = 2 Σ_u F_uj Σ_i E_ui y_i + 2 λ_j a_j.
    let mut gu = vec![0.0f64; pu * k];
    for u in 0..m {
        let mut ey = vec![0.0f64; k];
        for i in 0..n {
            for c in 0..k {
                ey[c] += e[u * n + i] * y[i * k + c];
            }
        }
        for j in 0..pu {
            let f = fu[u * pu + j];
            if f != 0.0 {
                for c in 0..k {
                    gu[j * k + c] += 2.0 * f * ey[c];
                }
            }
        }
    }
    for j in 0..pu {
        for c in 0..k {
            gu[j * k + c] += 2.0 * lu[j] as f64 * a.row(j)[c] as f64;
        }
    }
    let mut gi = vec![0.0f64; pi * k];
    for i in 0..n {
        let mut ex = vec![0.0f64; k];
        for u in 0..m {
            for c in 0..k {
                ex[c] += e[u * n + i] * x[u * k + c];
            }
        }
        for j in 0..pi {
            let f = fi[i * pi + j];
            if f != 0.0 {
                for c in 0..k {
                    gi[j * k + c] += 2.0 * f * ex[c];
                }
            }
        }
    }
    for j in 0..pi {
        for c in 0..k {
            gi[j * k + c] += 2.0 * li[j] as f64 * b.row(j)[c] as f64;
        }
    }
    Dense {
        loss,
        all_pairs_sq: all_sq,
        grad_user: gu,
        grad_item: gi,
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// A tiny seeded data set with features on both sides: some entities have
/// interactions but no features, some features but no interactions (cold).
fn tiny(seed: u64) -> (Interactions, Features, Features) {
    let data = SynthConfig::new(9, 11, 50, seed).interactions().unwrap();
    let mut uf = Features::builder("user");
    let mut itf = Features::builder("item");
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    for u in 0..8 {
        for j in 0..3 {
            if next() % 2 == 0 {
                let v = (next() % 7) as f32 / 3.0 - 1.0;
                uf.push(&u.to_string(), &format!("ua{j}"), v).unwrap();
            }
        }
    }
    uf.push("cold-user", "ua0", 1.0).unwrap();
    for i in 0..11 {
        for j in 0..4 {
            if next() % 3 == 0 {
                itf.push(&i.to_string(), &format!("ia{j}"), 1.0).unwrap();
            }
        }
    }
    itf.push("cold-item", "ia1", 1.0).unwrap();
    itf.push("cold-item", "only-cold", 2.0).unwrap();
    (data, uf.build(), itf.build())
}

fn tiny_params(seed: u64) -> Params {
    Params::builder()
        .factors(3)
        .iterations(3)
        .regularization(0.3)
        .alpha(2.0)
        .unobserved_weight(0.5)
        .reg_exponent(0.5)
        .seed(seed)
        .check()
        .unwrap()
}

#[test]
fn id_only_towers_reproduce_plain_ials() {
    for (seed, nu, a0, target) in [
        (11u64, 0.0f32, 1.0f32, Target::One),
        (12, 1.0, 0.1, Target::Reciprocal),
    ] {
        println!("seed {seed}, nu {nu}, alpha0 {a0}");
        // Every item gets an interaction: an item with none has no id feature
        // (its embedding starts at 0), whereas the plain fit starts it random.
        let mut t = SynthConfig::new(120, 80, 1500, seed).triplets();
        t.extend((0..80u32).map(|i| (i % 120, i, 1.0)));
        let data = Interactions::from_indexed(120, 80, t).unwrap();
        let params = Params::builder()
            .factors(6)
            .iterations(6)
            .regularization(0.05)
            .alpha(3.0)
            .unobserved_weight(a0)
            .reg_exponent(nu)
            .target(target)
            .solver(SolverKind::Cholesky)
            .seed(seed)
            .check()
            .unwrap();
        let plain = params.fit(&data).unwrap();
        let towers = TowerParams::default()
            .fit(&params, &data, None, None)
            .unwrap();
        for (p, t) in plain.loss_history().iter().zip(towers.loss_history()) {
            let (lp, lt) = (p.loss.unwrap().total(), t.loss.unwrap().total());
            println!("iter {}: plain {lp:.6} towers {lt:.6}", p.iteration);
            // The factors agree bit for bit (below); the towers sum the
            // regularization part in another order, so losses agree to
            // rounding.
            approx::assert_relative_eq!(lp, lt, max_relative = 1e-6);
            for (a, b) in [
                (p.loss_or_nan().observed, t.loss_or_nan().observed),
                (p.loss_or_nan().unobserved, t.loss_or_nan().unobserved),
                (
                    p.loss_or_nan().regularization,
                    t.loss_or_nan().regularization,
                ),
            ] {
                assert!((a - b).abs() <= 1e-6 * lp.abs(), "{a} vs {b}");
            }
        }
        assert_eq!(towers.loss_history().len(), params.iterations());
        let model = towers.to_model();
        for (name, a, b) in [
            ("user", plain.user_factors(), model.user_factors()),
            ("item", plain.item_factors(), model.item_factors()),
        ] {
            assert_eq!((a.rows(), a.k()), (b.rows(), b.k()));
            let scale = a.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            println!("{name} factors: max |diff| {diff:e}, max |value| {scale}");
            // Id rows are solved with the plain Cholesky row system.
            assert_eq!(a.as_slice(), b.as_slice(), "{name}: not bit for bit");
        }
    }
}

#[test]
fn one_row_update_zeroes_the_brute_force_gradient_of_that_row() {
    // k = 3: attribute rows mostly reach k or more rows (the dense k x k
    // system); k = 16: all of them fewer (the Woodbury path).
    for (seed, k) in [(1u64, 3usize), (2, 3), (3, 3), (4, 16), (5, 16)] {
        println!("seed {seed}, k {k}");
        let (data, uf, itf) = tiny(seed);
        let params = tiny_params(seed).to_builder().factors(k).check().unwrap();
        let tp = TowerParams::default();
        let mut tr = TowerTrainer::new(&params, &tp, &data, Some(&uf), Some(&itf)).unwrap();
        tr.step().unwrap();
        let k = params.factors();
        for t in [Tower::User, Tower::Item] {
            for col in 0..tr.n_columns(t) {
                if !tr.design(t).iter().any(|&(_, j, _)| j as usize == col) {
                    continue; // no training entity has this column
                }
                let before = dense(&params, &data, &tr);
                tr.update_column(t, col).unwrap();
                let after = dense(&params, &data, &tr);
                let (gb, ga) = match t {
                    Tower::User => (&before.grad_user, &after.grad_user),
                    Tower::Item => (&before.grad_item, &after.grad_item),
                };
                let (nb, na) = (
                    norm(&gb[col * k..(col + 1) * k]),
                    norm(&ga[col * k..(col + 1) * k]),
                );
                assert!(
                    na <= 1e-4 * (1.0 + nb) + 1e-5,
                    "{t:?} column {col}: gradient {nb:e} -> {na:e}"
                );
                // An exact block minimization never increases the objective.
                assert!(after.loss <= before.loss * (1.0 + 1e-6), "{t:?} {col}");
            }
        }
    }
}

#[test]
fn loss_parts_match_the_dense_objective() {
    let (data, uf, itf) = tiny(5);
    let params = tiny_params(5);
    let mut tr = TowerTrainer::new(
        &params,
        &TowerParams::default(),
        &data,
        Some(&uf),
        Some(&itf),
    )
    .unwrap();
    for _ in 0..2 {
        let report = tr.step().unwrap();
        let d = dense(&params, &data, &tr);
        let l = report.loss.unwrap().total();
        println!("loss {l} dense {}", d.loss);
        approx::assert_relative_eq!(l, d.loss, max_relative = 1e-4);
    }
}

#[test]
fn feature_gramian_form_equals_the_dense_all_pairs_sum() {
    for seed in [4u64, 8] {
        println!("seed {seed}");
        let (data, uf, itf) = tiny(seed);
        let params = tiny_params(seed);
        let mut tr = TowerTrainer::new(
            &params,
            &TowerParams::default(),
            &data,
            Some(&uf),
            Some(&itf),
        )
        .unwrap();
        tr.step().unwrap();
        let (m, n) = (data.n_users(), data.n_items());
        let phi_u = feature_gramian(&tr.design(Tower::User), m, tr.n_columns(Tower::User));
        let phi_i = feature_gramian(&tr.design(Tower::Item), n, tr.n_columns(Tower::Item));
        let hu = projected_gramian(&phi_u, &tr.weights(Tower::User));
        let gi = projected_gramian(&phi_i, &tr.weights(Tower::Item));
        let form: f64 = hu.iter().zip(&gi).map(|(a, b)| a * b).sum();
        let d = dense(&params, &data, &tr);
        println!("feature-Gramian form {form}, dense {}", d.all_pairs_sq);
        assert!((form - d.all_pairs_sq).abs() <= 1e-6 * d.all_pairs_sq.max(1.0));
        // And the loss's unobserved part is α0 (all pairs − observed pairs).
        let loss = tr.loss();
        let x = tr.user_factors();
        let y = tr.item_factors();
        let obs_sq: f64 = data
            .triplets()
            .map(|(u, i, _)| {
                let v: f64 = (0..params.factors())
                    .map(|c| x.row(u as usize)[c] as f64 * y.row(i as usize)[c] as f64)
                    .sum();
                v * v
            })
            .sum();
        let want = params.unobserved_weight() as f64 * (form - obs_sq);
        assert!((loss.unobserved - want).abs() <= 1e-4 * want.abs().max(1.0));
    }
}

/// Data and features big enough that a feature has more than one chunk of
/// entities (the parallel path).
fn medium(seed: u64) -> (Interactions, Features, Features) {
    let data = SynthConfig::new(400, 300, 6000, seed)
        .interactions()
        .unwrap();
    let mut uf = Features::builder("user");
    for u in 0..400 {
        uf.push(&u.to_string(), &format!("g{}", u % 3), 1.0)
            .unwrap();
        uf.push(&u.to_string(), "age", (u % 17) as f32 / 8.0 - 1.0)
            .unwrap();
    }
    let mut itf = Features::builder("item");
    for i in 0..330 {
        itf.push(&i.to_string(), &format!("t{}", i % 7), 1.0)
            .unwrap();
        itf.push(&i.to_string(), &format!("t{}", (i * 5) % 11 + 7), 1.0)
            .unwrap();
    }
    (data, uf.build(), itf.build())
}

#[test]
fn bit_identical_on_one_and_many_threads_and_loss_never_increases() {
    let seed = 21;
    println!("seed {seed}");
    let (data, uf, itf) = medium(seed);
    let fit = |threads: usize| {
        let params = Params::builder()
            .factors(8)
            .iterations(4)
            .regularization(0.1)
            .alpha(2.0)
            .seed(seed)
            .threads(threads)
            .check()
            .unwrap();
        TowerParams::builder()
            .item_feature_reg(0.5)
            .check()
            .unwrap()
            .fit(&params, &data, Some(&uf), Some(&itf))
            .unwrap()
    };
    let one = fit(1);
    let losses = |m: &ials::towers::TowerModel| -> Vec<_> {
        m.loss_history().iter().map(|r| r.loss.unwrap()).collect()
    };
    let m1 = one.to_model();
    for threads in [2, 3] {
        let other = fit(threads);
        let m = other.to_model();
        assert_eq!(m1.user_factors(), m.user_factors(), "{threads} threads");
        assert_eq!(m1.item_factors(), m.item_factors(), "{threads} threads");
        assert_eq!(losses(&one), losses(&other), "{threads} threads");
    }
    let l = losses(&one);
    for w in l.windows(2) {
        assert!(w[1].total() <= w[0].total() * (1.0 + 1e-6), "{l:?}");
    }
}

#[test]
fn colour_classes_share_no_entity_and_cover_every_used_attribute() {
    for seed in [21u64, 22] {
        println!("seed {seed}");
        let (data, uf, itf) = medium(seed);
        let params = Params::builder().factors(4).seed(seed).check().unwrap();
        let tp = TowerParams::default();
        let tr = TowerTrainer::new(&params, &tp, &data, Some(&uf), Some(&itf)).unwrap();
        for t in [Tower::User, Tower::Item] {
            let design = tr.design(t);
            let classes = tr.colour_classes(t);
            let p = tr.n_columns(t)
                - match t {
                    Tower::User => data.n_users(),
                    Tower::Item => data.n_items(),
                };
            let mut used: Vec<u32> = design
                .iter()
                .filter(|e| (e.1 as usize) < p)
                .map(|e| e.1)
                .collect();
            used.sort_unstable();
            used.dedup();
            let mut coloured: Vec<u32> = classes.iter().flatten().copied().collect();
            coloured.sort_unstable();
            assert_eq!(coloured, used, "{t:?}: every used attribute exactly once");
            for (c, class) in classes.iter().enumerate() {
                let mut entities: Vec<u32> = design
                    .iter()
                    .filter(|e| class.contains(&e.1))
                    .map(|e| e.0)
                    .collect();
                let n = entities.len();
                entities.sort_unstable();
                entities.dedup();
                assert_eq!(entities.len(), n, "{t:?} class {c} shares an entity");
            }
            println!(
                "{t:?}: {} attributes in {} classes",
                used.len(),
                classes.len()
            );
            assert!(classes.len() > 1);
        }
    }
}

#[test]
fn a_half_sweep_equals_single_updates_in_colour_order() {
    // The features of a class share no entity, so updating them together
    // is updating them one after another; the ids come last.
    let seed = 23;
    println!("seed {seed}");
    let (data, uf, itf) = medium(seed);
    let params = Params::builder()
        .factors(6)
        .regularization(0.2)
        .alpha(2.0)
        .seed(seed)
        .check()
        .unwrap();
    let tp = TowerParams::builder()
        .item_feature_reg(0.5)
        .check()
        .unwrap();
    let mut whole = TowerTrainer::new(&params, &tp, &data, Some(&uf), Some(&itf)).unwrap();
    let mut single = TowerTrainer::new(&params, &tp, &data, Some(&uf), Some(&itf)).unwrap();
    for t in [Tower::User, Tower::Item] {
        whole.half_sweep(t).unwrap();
        let classes = single.colour_classes(t).to_vec();
        for &j in classes.iter().flatten() {
            single.update_column(t, j as usize).unwrap();
        }
        let ids = match t {
            Tower::User => data.n_users(),
            Tower::Item => data.n_items(),
        };
        // Columns: the p attributes, then one id column per entity.
        let p = single.n_columns(t) - ids;
        for u in 0..ids {
            single.update_column(t, p + u).unwrap();
        }
        let (a, b) = (whole.weights(t), single.weights(t));
        let scale = a.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a
            .as_slice()
            .iter()
            .zip(b.as_slice())
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        println!("{t:?}: max |diff| {diff:e}, max |weight| {scale}");
        assert!(diff <= 1e-4 * scale, "{t:?}: {diff} vs {scale}");
    }
}

#[test]
fn cold_entities_get_tower_embeddings_in_the_plain_model() {
    let (data, uf, itf) = medium(3);
    let params = Params::builder()
        .factors(8)
        .iterations(3)
        .regularization(0.1)
        .seed(3)
        .check()
        .unwrap();
    let towers = TowerParams::default()
        .fit(&params, &data, Some(&uf), Some(&itf))
        .unwrap();
    // Items 300..330 appear only in the feature file: cold.
    assert_eq!(towers.n_train(Tower::Item), 300);
    assert_eq!(towers.n_cold(Tower::Item), 30);
    assert_eq!(towers.n_cold(Tower::User), 0);
    let model = towers.to_model();
    assert_eq!(model.n_items(), 330);
    assert_eq!(model.train().shape(), (400, 330));
    let i = model.items().get("310").unwrap() as usize;
    assert!(i >= 300);
    // y_i = Bᵀ g_i from the attributes alone (no id feature).
    let (want, unknown) = towers.embed(Tower::Item, &[("t2", 1.0), ("t17", 1.0), ("nope", 1.0)]);
    assert_eq!(unknown, 1);
    assert_eq!(310 % 7, 2);
    assert_eq!((310 * 5) % 11 + 7, 17);
    for (a, b) in model.item_factors().row(i).iter().zip(&want) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()));
    }
    assert!(want.iter().any(|v| *v != 0.0));
    assert!(towers.id_weight(Tower::Item, i).is_none());
    // The cold items can be recommended.
    let recs = model
        .recommend(0, 330, &ials::Filter::new().exclude_seen(true))
        .unwrap();
    assert!(recs.iter().any(|&(j, _)| j as usize >= 300));
    // Training entities keep their indices.
    for u in 0..data.n_users() {
        assert_eq!(model.users().id(u as u32), data.users().id(u as u32));
    }
}

#[test]
fn attributes_without_ids_fit_and_entities_without_features_are_counted() {
    let (data, uf, itf) = medium(4);
    let params = Params::builder()
        .factors(4)
        .iterations(2)
        .seed(4)
        .check()
        .unwrap();
    let tp = TowerParams::builder()
        .user_ids(false)
        .item_ids(false)
        .check()
        .unwrap();
    let towers = tp.fit(&params, &data, Some(&uf), Some(&itf)).unwrap();
    assert_eq!(towers.n_without_features(Tower::User), 0);
    assert!(towers.id_weight(Tower::User, 0).is_none());
    // Only some users have features, ids off: the rest have 0 embeddings.
    let mut few = Features::builder("user");
    few.push("0", "g", 1.0).unwrap();
    let towers = tp
        .fit(&params, &data, Some(&few.build()), Some(&itf))
        .unwrap();
    assert_eq!(towers.n_without_features(Tower::User), 399);
}

#[test]
fn bad_settings_and_inputs_are_typed_errors() {
    let (data, uf, _) = medium(5);
    let params = Params::builder().factors(4).iterations(1).check().unwrap();
    for (b, side) in [
        (TowerParams::builder().user_feature_reg(-1.0), "user"),
        (TowerParams::builder().item_feature_reg(f32::NAN), "item"),
    ] {
        let err = b.check().unwrap_err();
        assert!(
            matches!(err, Error::InvalidFeatureRegularization { side: s, .. } if s == side),
            "{err:?}"
        );
    }
    let no_item_ids = TowerParams::builder().item_ids(false).check().unwrap();
    let err = no_item_ids
        .fit(&params, &data, Some(&uf), None)
        .unwrap_err();
    assert!(matches!(err, Error::EmptyTower { side: "item" }), "{err:?}");
    let mut tr = TowerTrainer::new(&params, &TowerParams::default(), &data, None, None).unwrap();
    let err = tr.update_column(Tower::User, 10_000).unwrap_err();
    assert!(matches!(err, Error::IndexOutOfRange { .. }), "{err:?}");
    let err = Features::read_csv("/nonexistent/feat.csv", "item").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/feat.csv"));
    // Params cannot be invalid once built: zero factors fail at the check.
    let err = params.to_builder().factors(0).check().unwrap_err();
    assert!(matches!(err, Error::ZeroFactors), "{err:?}");
}

#[test]
fn feature_csv_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.csv");
    std::fs::write(
        &path,
        "item,feature,value\n1,rock,1\n2,jazz\nnew,rock,0.5\n",
    )
    .unwrap();
    let f = Features::read_csv(&path, "item").unwrap();
    assert_eq!(f.entities().ids(), ["1", "2", "new"]);
    assert_eq!(f.names().ids(), ["rock", "jazz"]);
    std::fs::write(&path, "1,rock\n2,jazz,x\n").unwrap();
    let err = Features::read_csv(&path, "item").unwrap_err();
    assert!(err.to_string().contains("items.csv: line 2"), "{err}");
}

#[test]
fn saved_attribute_tower_round_trips_and_embeds_like_the_model() {
    let (data, uf, itf) = medium(4);
    let params = Params::builder()
        .factors(8)
        .iterations(2)
        .seed(4)
        .check()
        .unwrap();
    let towers = TowerParams::default()
        .fit(&params, &data, Some(&uf), Some(&itf))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(ials::towers::AttributeTower::load(dir.path(), Tower::Item)
        .unwrap()
        .is_none());
    let saved = ials::towers::AttributeTower::of(&towers, Tower::Item);
    saved.save(dir.path(), Tower::Item).unwrap();
    let back = ials::towers::AttributeTower::load(dir.path(), Tower::Item)
        .unwrap()
        .unwrap();
    assert_eq!(back.names().ids(), saved.names().ids());
    assert_eq!(back.weights(), saved.weights());
    let names: Vec<&str> = back
        .names()
        .ids()
        .iter()
        .take(3)
        .map(String::as_str)
        .collect();
    let f: Vec<(&str, f32)> = vec![(names[0], 1.0), (names[2], 0.5), ("unknown", 2.0)];
    assert_eq!(back.embed(&f), towers.embed(Tower::Item, &f));
    // Half a tower, or a weight file that does not fit the names: named errors.
    std::fs::write(dir.path().join("item_tower_features.txt"), "a\nb\n").unwrap();
    match ials::towers::AttributeTower::load(dir.path(), Tower::Item) {
        Err(Error::ModelFormat { path, .. }) => {
            assert!(path.ends_with("item_tower_weights.npy"), "{path:?}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(dir.path().join("item_tower_weights.npy")).unwrap();
    assert!(matches!(
        ials::towers::AttributeTower::load(dir.path(), Tower::Item),
        Err(Error::ModelFormat { .. })
    ));
}
