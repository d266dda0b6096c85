//! Neural two-tower training: every loss and layer against a brute-force
//! oracle or finite differences, the Gramian and frequency estimates against
//! the quantities they estimate, training on planted data, parameter errors,
//! determinism.

mod common;

use std::ops::ControlFlow;

use ials::eval::{evaluate_scorer, random_holdout};
use ials::neural::{
    mse_gramian, softmax, weighted_gramian, Batch, BatchSpec, Cache, FeatureRows, Grads,
    GramianEstimate, LogQ, Loss, MseContext, Optimizer, Pooling, SoGram, StreamingFrequency, Tower,
    TwoTowerParams,
};
use ials::{Error, Factors, Interactions, Params, SynthConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn randn(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

/// A random batch over `m` users and `n` items with repeats, its training
/// matrix (every pair of the batch plus random others) and negatives.
struct Case {
    train: Interactions,
    pairs: Vec<(u32, u32)>,
    weight: Vec<f32>,
    negatives: Vec<u32>,
    logq: Vec<f32>,
}

fn case(m: usize, n: usize, b: usize, negatives: usize, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pairs: Vec<(u32, u32)> = (0..b)
        .map(|_| (rng.random_range(0..m as u32), rng.random_range(0..n as u32)))
        .collect();
    let mut t: Vec<(u32, u32, f32)> = pairs.iter().map(|&(u, i)| (u, i, 1.0)).collect();
    for _ in 0..b {
        t.push((
            rng.random_range(0..m as u32),
            rng.random_range(0..n as u32),
            1.0,
        ));
    }
    let train = Interactions::from_indexed(m, n, t).unwrap();
    let weight = (0..b).map(|_| 0.5 + rng.random::<f32>()).collect();
    let negatives = (0..negatives)
        .map(|_| rng.random_range(0..n as u32))
        .collect();
    let logq = (0..n).map(|_| rng.random::<f32>() * 2.0 - 3.0).collect();
    Case {
        train,
        pairs,
        weight,
        negatives,
        logq,
    }
}

fn build(c: &Case, mask: bool, with_logq: bool) -> Batch {
    let spec = BatchSpec {
        weight: &c.weight,
        target: &[],
        negatives: &c.negatives,
        mask_from: mask.then(|| c.train.by_user()),
    };
    let mut us = vec![u32::MAX; c.train.n_users()];
    let mut is = vec![u32::MAX; c.train.n_items()];
    let b = Batch::build(
        &c.pairs,
        &spec,
        |i| if with_logq { c.logq[i as usize] } else { 0.0 },
        &mut us,
        &mut is,
    );
    assert!(us.iter().chain(&is).all(|&s| s == u32::MAX));
    b
}

/// The B x (B + B′) softmax written out, in f64, from slot embeddings.
#[allow(clippy::too_many_arguments)]
fn oracle(
    c: &Case,
    b: &Batch,
    x: &[f64],
    y: &[f64],
    k: usize,
    tau: f64,
    mask: bool,
    with_logq: bool,
) -> f64 {
    let uslot = |u: u32| b.users.iter().position(|&v| v == u).unwrap();
    let islot = |i: u32| b.items.iter().position(|&v| v == i).unwrap();
    let cols: Vec<u32> = c
        .pairs
        .iter()
        .map(|&(_, i)| i)
        .chain(c.negatives.iter().copied())
        .collect();
    let mut total = 0.0;
    for (r, &(u, i)) in c.pairs.iter().enumerate() {
        let xu = &x[uslot(u) * k..(uslot(u) + 1) * k];
        let logit = |j: u32| {
            let yj = &y[islot(j) * k..(islot(j) + 1) * k];
            let s: f64 = xu.iter().zip(yj).map(|(a, b)| a * b).sum::<f64>() / tau;
            s - if with_logq {
                c.logq[j as usize] as f64
            } else {
                0.0
            }
        };
        let train_row = c.train.user_row(u as usize).indices;
        let mut lse = Vec::new();
        for (jc, &j) in cols.iter().enumerate() {
            let masked = jc != r && (j == i || (mask && train_row.binary_search(&j).is_ok()));
            if !masked {
                lse.push(logit(j));
            }
        }
        let mx = lse.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = lse.iter().map(|v| (v - mx).exp()).sum::<f64>().ln() + mx;
        total -= c.weight[r] as f64 * (logit(i) - z);
    }
    total / c.pairs.len() as f64
}

fn fd_check(name: &str, analytic: &[f32], f: &mut dyn FnMut(usize, f64) -> f64) {
    let h = 1e-5;
    for (j, &a) in analytic.iter().enumerate() {
        let num = (f(j, h) - f(j, -h)) / (2.0 * h);
        let tol = 1e-4 + 2e-3 * num.abs().max(a.abs() as f64);
        assert!(
            (num - a as f64).abs() <= tol,
            "{name}[{j}]: analytic {a} vs finite difference {num}"
        );
    }
}

#[test]
fn softmax_matches_the_written_out_batch_and_its_gradient() {
    for (seed, negatives, mask, with_logq, tau) in [
        (1, 0, true, false, 1.0),
        (2, 0, true, true, 0.5),
        (3, 0, false, false, 1.0),
        (4, 0, false, true, 0.2),
        (5, 7, true, true, 0.7),
        (6, 7, false, true, 1.0),
        (7, 12, true, false, 1.0),
    ] {
        println!("seed {seed}");
        let c = case(5, 9, 14, negatives, seed);
        let b = build(&c, mask, with_logq);
        assert!(
            b.users.len() < 14 && b.items.len() < 14 + negatives,
            "repeats present"
        );
        let k = 3;
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let x = randn(&mut rng, b.users.len() * k, 1.0);
        let y = randn(&mut rng, b.items.len() * k, 1.0);
        let (loss, dx, dy) = softmax(&b, &x, &y, k, tau);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        let want = oracle(&c, &b, &x64, &y64, k, tau as f64, mask, with_logq);
        assert!(
            (loss - want).abs() < 1e-5 * want.abs().max(1.0),
            "seed {seed}: loss {loss} vs oracle {want}"
        );
        fd_check("dX", &dx, &mut |j, h| {
            let mut xp = x64.clone();
            xp[j] += h;
            oracle(&c, &b, &xp, &y64, k, tau as f64, mask, with_logq)
        });
        fd_check("dY", &dy, &mut |j, h| {
            let mut yp = y64.clone();
            yp[j] += h;
            oracle(&c, &b, &x64, &yp, k, tau as f64, mask, with_logq)
        });
    }
}

fn ials_params(k: usize, alpha: f32, a0: f32, lambda: f32) -> Params {
    Params::builder()
        .factors(k)
        .alpha(alpha)
        .unobserved_weight(a0)
        .regularization(lambda)
        .check()
        .unwrap()
}

/// Every user and item of `data` with at least one pair.
fn covered(m: usize, n: usize, seed: u64) -> Interactions {
    let mut t = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for u in 0..m {
        t.push((
            u as u32,
            (u % n) as u32,
            1.0 + rng.random_range(0..3) as f32,
        ));
    }
    for i in 0..n {
        t.push(((i % m) as u32, i as u32, 2.0));
    }
    for _ in 0..m * 2 {
        t.push((
            rng.random_range(0..m as u32),
            rng.random_range(0..n as u32),
            1.0,
        ));
    }
    Interactions::from_indexed(m, n, t).unwrap()
}

/// One batch holding every pair, with exact Gramians: `|S| ℓ` is the iALS
/// loss of the same factors and `|S| ∇ℓ` its gradient.
#[test]
fn mse_gramian_with_exact_gramians_is_the_ials_objective() {
    let (m, n, k) = (7, 6, 3);
    let data = covered(m, n, 3);
    let (alpha, a0, lambda) = (0.7, 0.3, 0.05);
    let params = ials_params(k, alpha, a0, lambda);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = Factors::from_vec(m, k, randn(&mut rng, m * k, 0.6)).unwrap();
    let y = Factors::from_vec(n, k, randn(&mut rng, n * k, 0.6)).unwrap();
    let pairs: Vec<(u32, u32)> = data.triplets().map(|(u, i, _)| (u, i)).collect();
    let w = params.weighting();
    let (weight, target): (Vec<f32>, Vec<f32>) =
        data.triplets().map(|(_, _, r)| w.weight(r)).unzip();
    let spec = BatchSpec {
        weight: &weight,
        target: &target,
        negatives: &[],
        mask_from: None,
    };
    let b = Batch::build(
        &pairs,
        &spec,
        |_| 0.0,
        &mut vec![u32::MAX; m],
        &mut vec![u32::MAX; n],
    );
    // Slot order is first-seen order: gather the factors that way.
    let xs = x.gather(&b.users);
    let ys = y.gather(&b.items);
    let gu = weighted_gramian(x.as_slice(), k, &vec![1.0; m]);
    let gv = weighted_gramian(y.as_slice(), k, &vec![1.0; n]);
    let uc: Vec<f32> = b
        .users
        .iter()
        .map(|&u| data.user_row(u as usize).len() as f32)
        .collect();
    let ic: Vec<f32> = b
        .items
        .iter()
        .map(|&i| data.item_row(i as usize).len() as f32)
        .collect();
    let ctx = MseContext {
        alpha0: a0,
        lambda,
        item_gram: &gv,
        user_gram: &gu,
        user_counts: &uc,
        item_counts: &ic,
    };
    let (loss, dx, dy) = mse_gramian(&b, xs.as_slice(), ys.as_slice(), k, &ctx);
    let nnz = data.nnz() as f64;
    let want = common::dense_loss(&params, &data, &x, &y);
    let ours = loss * nnz;
    assert!(
        (ours - want).abs() < 1e-4 * want,
        "mse-gramian {ours} vs iALS {want}"
    );
    let lib = ials::train::loss(&params, &data, &x, &y).total();
    assert!((lib - want).abs() < 1e-4 * want);
    for (s, &u) in b.users.iter().enumerate() {
        let g = common::user_gradient(&params, &data, x.row(u as usize), u as usize, &y);
        for a in 0..k {
            let got = dx[s * k + a] as f64 * nnz;
            assert!(
                (got - g[a]).abs() < 1e-3 * (1.0 + g[a].abs()),
                "user {u}: {got} vs {}",
                g[a]
            );
        }
    }
    for (s, &i) in b.items.iter().enumerate() {
        let g = common::item_gradient(&params, &data, &x, y.row(i as usize), i as usize);
        for a in 0..k {
            let got = dy[s * k + a] as f64 * nnz;
            assert!(
                (got - g[a]).abs() < 1e-3 * (1.0 + g[a].abs()),
                "item {i}: {got} vs {}",
                g[a]
            );
        }
    }
}

/// Tower outputs against finite differences of `Σ out ⊙ R` for every weight.
#[test]
fn tower_backward_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    // 5 entities over 7 features (id + attributes), varying weights.
    let mut indptr = vec![0];
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for e in 0..5u32 {
        let mut fs = vec![e];
        fs.push(5 + e % 2);
        if e % 3 == 0 {
            fs.push(6 - e % 2);
        }
        fs.sort_unstable();
        fs.dedup();
        for f in fs {
            indices.push(f);
            values.push(0.5 + rng.random::<f32>());
        }
        indptr.push(indices.len());
    }
    let feats = FeatureRows::from_csr(indptr, indices, values, 7);
    for (hidden, pooling, normalize) in [
        (vec![], Pooling::Mean, false),
        (vec![], Pooling::Sum, true),
        (vec![6], Pooling::Mean, false),
        (vec![6, 5], Pooling::Sum, true),
    ] {
        println!("hidden {hidden:?} {pooling} normalize {normalize}");
        let k = 4;
        let tower = Tower::new(7, k, &hidden, pooling, normalize, 0.5, 3);
        let ents = [3u32, 0, 4, 1];
        let r = randn(&mut rng, ents.len() * k, 1.0);
        let f = |t: &Tower| -> f64 {
            let mut c = Cache::default();
            t.forward(&feats, &ents, &mut c);
            c_out(&c)
                .iter()
                .zip(&r)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum()
        };
        let mut cache = Cache::default();
        tower.forward(&feats, &ents, &mut cache);
        let mut grads = Grads::default();
        tower.backward(&feats, &cache, &r, &mut grads);
        let h = 1e-3f32;
        let tol = |num: f64, a: f64| (num - a).abs() <= 2e-3 + 2e-2 * num.abs().max(a.abs());
        // Embedding rows: untouched rows have zero gradient.
        let emb_grad = |row: usize, c: usize| -> f64 {
            match grads_rows(&grads).iter().position(|&f| f as usize == row) {
                Some(s) => grads_emb(&grads)[s * k + c] as f64,
                None => 0.0,
            }
        };
        for row in 0..7 {
            for c in 0..k {
                let mut tp = tower.clone();
                let mut tm = tower.clone();
                emb_mut(&mut tp)[row * k + c] += h;
                emb_mut(&mut tm)[row * k + c] -= h;
                let num = (f(&tp) - f(&tm)) / (2.0 * h as f64);
                let a = emb_grad(row, c);
                assert!(tol(num, a), "emb[{row}][{c}]: {a} vs {num}");
            }
        }
        for l in 0..hidden.len() + usize::from(!hidden.is_empty()) {
            let (dw, db) = &grads_layers(&grads)[l];
            for (j, &g) in dw.iter().enumerate() {
                let mut tp = tower.clone();
                let mut tm = tower.clone();
                layer_w(&mut tp, l)[j] += h;
                layer_w(&mut tm, l)[j] -= h;
                let num = (f(&tp) - f(&tm)) / (2.0 * h as f64);
                assert!(tol(num, g as f64), "layer {l} w[{j}]: {g} vs {num}");
            }
            for (j, &g) in db.iter().enumerate() {
                let mut tp = tower.clone();
                let mut tm = tower.clone();
                layer_b(&mut tp, l)[j] += h;
                layer_b(&mut tm, l)[j] -= h;
                let num = (f(&tp) - f(&tm)) / (2.0 * h as f64);
                assert!(tol(num, g as f64), "layer {l} b[{j}]: {g} vs {num}");
            }
        }
    }
}

fn c_out(c: &Cache) -> &[f32] {
    c.output()
}
fn grads_rows(g: &Grads) -> &[u32] {
    g.rows()
}
fn grads_emb(g: &Grads) -> &[f32] {
    g.embedding()
}
fn grads_layers(g: &Grads) -> &[(Vec<f32>, Vec<f32>)] {
    g.layers()
}
fn emb_mut(t: &mut Tower) -> &mut [f32] {
    t.embedding_mut()
}
fn layer_w(t: &mut Tower, l: usize) -> &mut [f32] {
    t.layer_mut(l).0
}
fn layer_b(t: &mut Tower, l: usize) -> &mut [f32] {
    t.layer_mut(l).1
}

#[test]
fn sogram_converges_to_the_gramian_of_a_fixed_model() {
    let (n, k) = (50, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let v = randn(&mut rng, n * k, 1.0);
    // Popularity-skewed sampling, importance weights 1 / (B f).
    let pop: Vec<f32> = (0..n).map(|i| 1.0 / (1.0 + i as f32)).collect();
    let total: f32 = pop.iter().sum();
    let f: Vec<f32> = pop.iter().map(|p| p / total).collect();
    let truth = weighted_gramian(&v, k, &vec![1.0; n]);
    let mut est = SoGram::new(k, vec![0.0; k * k], 0.01);
    let bsz = 64;
    for _ in 0..3000 {
        let mut rows = Vec::new();
        let mut w = Vec::new();
        for _ in 0..bsz {
            let mut t = rng.random::<f32>();
            let mut i = 0;
            while i + 1 < n && t >= f[i] {
                t -= f[i];
                i += 1;
            }
            rows.extend_from_slice(&v[i * k..(i + 1) * k]);
            w.push(1.0 / (bsz as f32 * f[i]));
        }
        est.update(&rows, &w);
    }
    let err: f32 = est
        .get()
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f32>()
        .sqrt();
    let scale: f32 = truth.iter().map(|a| a * a).sum::<f32>().sqrt();
    println!("relative Frobenius error {}", err / scale);
    assert!(err / scale < 0.1, "SOGram error {} of {}", err, scale);
}

#[test]
fn streaming_frequency_converges_on_a_stationary_stream() {
    let n = 40u32;
    let bsz = 16;
    let pop: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64).powf(0.8)).collect();
    let total: f64 = pop.iter().sum();
    let f: Vec<f64> = pop.iter().map(|p| p / total).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut est = StreamingFrequency::new(1 << 12, 0.01, n as f32 / bsz as f32);
    for t in 1..=20_000u64 {
        let mut items = Vec::new();
        for _ in 0..bsz {
            let mut x = rng.random::<f64>();
            let mut i = 0;
            while i + 1 < n as usize && x >= f[i] {
                x -= f[i];
                i += 1;
            }
            items.push(i as u32);
        }
        items.sort_unstable();
        items.dedup();
        est.observe(t, &items);
    }
    for i in [0u32, 1, 3, 10] {
        let truth = 1.0 - (1.0 - f[i as usize]).powi(bsz);
        let got = est.probability(i) as f64;
        println!("item {i}: estimate {got:.4}, P(in batch) {truth:.4}");
        assert!(
            (got - truth).abs() < 0.15 * truth,
            "item {i}: {got} vs {truth}"
        );
    }
}

fn recall_vs_popularity(
    train: &Interactions,
    test: &Interactions,
    model: &ials::Model,
) -> (f64, f64) {
    let ours = evaluate_scorer(train, test, 20, |u, out| {
        for (i, o) in out.iter_mut().enumerate() {
            *o = model.score(u, i);
        }
    });
    let pop: Vec<f32> = (0..train.n_items())
        .map(|i| train.item_row(i).len() as f32)
        .collect();
    let base = evaluate_scorer(train, test, 20, |_, out| out.copy_from_slice(&pop));
    (ours.recall, base.recall)
}

#[test]
fn training_lowers_the_loss_and_beats_popularity_on_planted_data() {
    let seed = 13;
    println!("seed {seed}");
    let data = SynthConfig::new(1500, 400, 40_000, seed)
        .interactions()
        .unwrap();
    let (train, test) = random_holdout(&data, 0.2, seed).unwrap();
    for (loss, logq, normalize, tau, lr) in [
        (Loss::Softmax, LogQ::Exact, false, 1.0, 0.05),
        (Loss::Softmax, LogQ::Streaming, true, 0.2, 0.05),
        (Loss::Mixed, LogQ::Exact, false, 1.0, 0.05),
        (Loss::MseGramian, LogQ::None, false, 1.0, 0.05),
    ] {
        let mut b = TwoTowerParams::builder()
            .factors(24)
            .epochs(12)
            .batch_size(256)
            .learning_rate(lr)
            .loss(loss)
            .logq(logq)
            .normalize(normalize)
            .temperature(tau)
            .seed(seed);
        if loss == Loss::Mixed {
            b = b.negatives(128);
        }
        if loss == Loss::MseGramian {
            b = b.unobserved_weight(0.05).regularization(0.01);
        }
        let fitted = b.check().unwrap().fit(&train).unwrap();
        let h = fitted.history();
        assert!(
            h.last().unwrap().loss.unwrap().total() < h[0].loss.unwrap().total(),
            "{loss}: {h:?}"
        );
        let model = fitted.to_model(&train).unwrap();
        let (ours, pop) = recall_vs_popularity(&train, &test, &model);
        println!("{loss} {logq}: Recall@20 {ours:.4} vs popularity {pop:.4}");
        assert!(
            ours > 1.1 * pop,
            "{loss} {logq}: {ours} vs popularity {pop}"
        );
    }
}

#[test]
fn same_seed_same_weights_on_one_and_two_threads() {
    let data = SynthConfig::new(300, 120, 6000, 4).interactions().unwrap();
    for loss in [Loss::Softmax, Loss::Mixed, Loss::MseGramian] {
        let fit = |threads| {
            let mut b = TwoTowerParams::builder()
                .factors(8)
                .epochs(2)
                .batch_size(64)
                .loss(loss)
                .hidden(vec![12])
                .optimizer(Optimizer::Adam)
                .threads(Some(threads))
                .seed(2);
            if loss == Loss::Mixed {
                b = b.negatives(16).logq(LogQ::Streaming);
            }
            if loss == Loss::MseGramian {
                b = b.gramian(GramianEstimate::Sogram);
            }
            let m = b.check().unwrap().fit(&data).unwrap();
            (m.user_factors(), m.item_factors())
        };
        let one = fit(1);
        assert_eq!(one, fit(2), "{loss}");
        assert_eq!(one, fit(1), "{loss}");
    }
}

#[test]
fn a_callback_can_stop_training() {
    let data = SynthConfig::new(100, 50, 1000, 1).interactions().unwrap();
    let p = TwoTowerParams::builder()
        .factors(4)
        .epochs(10)
        .batch_size(32)
        .check()
        .unwrap();
    let mut seen = 0;
    let m = p
        .fit_with(&data, None, None, |p| {
            seen += 1;
            if p.report.iteration == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(m.history().len(), 3);
}

#[test]
fn every_bad_setting_is_a_typed_error() {
    let b = TwoTowerParams::builder;
    let name = |e: Error| match e {
        Error::InvalidSetting { name, .. } => name,
        Error::ZeroFactors => "factors",
        Error::ZeroThreads => "threads",
        other => panic!("unexpected {other}"),
    };
    let cases: Vec<(&str, ials::Result<TwoTowerParams>)> = vec![
        ("factors", b().factors(0).check()),
        ("epochs", b().epochs(0).check()),
        ("batch_size", b().batch_size(1).check()),
        ("learning_rate", b().learning_rate(0.0).check()),
        ("learning_rate", b().learning_rate(f32::NAN).check()),
        ("temperature", b().temperature(-1.0).check()),
        ("unobserved_weight", b().unobserved_weight(-0.1).check()),
        ("regularization", b().regularization(f32::INFINITY).check()),
        ("negatives", b().loss(Loss::Mixed).check()),
        ("negatives", b().negatives(5).check()),
        ("logq", b().loss(Loss::MseGramian).logq(LogQ::Exact).check()),
        (
            "normalize",
            b().loss(Loss::MseGramian).normalize(true).check(),
        ),
        ("hidden", b().hidden(vec![8, 0]).check()),
        ("gramian_rate", b().gramian_rate(0.0).check()),
        ("init_std", b().init_std(Some(0.0)).check()),
        ("threads", b().threads(Some(0)).check()),
    ];
    for (want, got) in cases {
        let e = got.expect_err(want);
        assert!(!e.to_string().is_empty());
        assert_eq!(name(e), want);
    }
    assert!(matches!(
        "softmaxx".parse::<Loss>(),
        Err(Error::UnknownName { what: "loss", .. })
    ));
}

/// Item features of `data`'s items (a "genre" shared by items of the same
/// planted group) plus two cold items with no interactions.
fn item_features(data: &Interactions) -> ials::towers::Features {
    let mut f = ials::towers::Features::builder("item");
    for i in 0..data.n_items() {
        let id = data.items().id(i as u32);
        f.push(id, &format!("g{}", i % 5), 1.0).unwrap();
    }
    f.push("cold-a", "g1", 1.0).unwrap();
    f.push("cold-b", "g1", 1.0).unwrap();
    f.push("cold-b", "g2", 1.0).unwrap();
    f.build()
}

#[test]
fn feature_towers_embed_and_serve_cold_items() {
    use ials::neural::SideRows;
    let data = SynthConfig::new(200, 60, 3000, 8).interactions().unwrap();
    let feats = item_features(&data);
    let items = SideRows::build(data.items(), Some(&feats), true, "item").unwrap();
    let users = SideRows::build(data.users(), None, true, "user").unwrap();
    assert_eq!((items.n_train, items.n_cold()), (60, 2));
    let p = TwoTowerParams::builder()
        .factors(6)
        .epochs(3)
        .batch_size(64)
        .seed(3)
        .check()
        .unwrap();
    let fitted = p
        .fit_with(&data, None, Some(items.rows.clone()), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    let model = fitted
        .to_model_with_ids(&data, &users.ids, &items.ids)
        .unwrap();
    assert_eq!(model.n_items(), 62);
    // A cold item's factors are the mean of its feature embeddings: cold-a
    // is g1's row of the embedding table, cold-b the mean of g1's and g2's.
    let table = &fitted.item_tower();
    let y = fitted.item_factors();
    let a = model.items().get("cold-a").unwrap() as usize;
    let b = model.items().get("cold-b").unwrap() as usize;
    let g = |j: usize| {
        table.embed_all(&FeatureRows::from_csr(
            vec![0, 1],
            vec![(60 + j) as u32],
            vec![1.0],
            60 + 5,
        ))
    };
    assert_eq!(y.row(a), &g(1)[..]);
    let mean: Vec<f32> = g(1).iter().zip(g(2)).map(|(p, q)| (p + q) / 2.0).collect();
    for (u, v) in y.row(b).iter().zip(&mean) {
        assert!((u - v).abs() < 1e-6);
    }
    assert!(y.row(a).iter().any(|&v| v != 0.0));
    assert_eq!(model.item_factors().row(a), y.row(a));
    // Served: recommend may return them, similar finds their neighbours.
    let all = model
        .recommend(0, 62, &ials::Filter::new().exclude_seen(false))
        .unwrap();
    assert!(all.iter().any(|&(i, _)| i as usize == a));
    // The ids must name the rows, training ids first.
    let wrong = ials::IdMap::from_ids(["x"], "item").unwrap();
    assert!(fitted.to_model_with_ids(&data, &users.ids, &wrong).is_err());
}

#[test]
fn early_stopping_keeps_the_best_epoch_and_a_refit_reproduces_it() {
    let data = SynthConfig::new(300, 80, 5000, 5).interactions().unwrap();
    let (train, valid) = random_holdout(&data, 0.2, 5).unwrap();
    let p = TwoTowerParams::builder()
        .factors(8)
        .epochs(30)
        .batch_size(128)
        // A large step: validation peaks early, then falls.
        .learning_rate(0.3)
        .seed(4)
        .check()
        .unwrap();
    for beta in [0.0, 0.5] {
        let mut epochs = 0;
        let (fitted, stop) = p
            .fit_validated(
                &train,
                None,
                None,
                &valid,
                ials::eval::Metric::recall(20),
                2,
                beta,
                |_, v| {
                    assert!(v.is_finite());
                    epochs += 1;
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
        let best = stop.best_iteration();
        assert!(best >= 1 && best <= epochs);
        assert!(epochs < 30, "patience 2 stops before 30 epochs");
        assert_eq!(fitted.params().epochs(), best);
        assert_eq!(fitted.history().len(), best);
        let refit = fitted.params().fit(&train).unwrap();
        assert_eq!(refit.user_factors(), fitted.user_factors(), "beta {beta}");
        assert_eq!(refit.item_factors(), fitted.item_factors(), "beta {beta}");
        // The kept value is the best of the curve.
        let max = stop
            .history()
            .iter()
            .map(|h| h.1)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(stop.best_value(), max);
    }
}

#[test]
fn tower_tune_stays_on_validation_and_refits_the_best() {
    use ials::neural::{tune_towers, TowerTuneConfig};
    let data = SynthConfig::new(200, 60, 3000, 6).interactions().unwrap();
    let base = TwoTowerParams::builder()
        .factors(6)
        .batch_size(64)
        .logq(LogQ::Exact)
        .check()
        .unwrap();
    let cfg = TowerTuneConfig {
        budget_seconds: 600.0,
        max_trials: Some(4),
        max_epochs: 6,
        patience: 2,
        priors: vec![0.0, 0.5],
        ..Default::default()
    };
    let mut seen = 0;
    let r = tune_towers(&data, &base, None, None, &cfg, |_| seen += 1).unwrap();
    assert_eq!((seen, r.trials.len()), (4, 4));
    let best = r
        .trials
        .iter()
        .max_by(|a, b| a.value.total_cmp(&b.value).then(b.id.cmp(&a.id)))
        .unwrap();
    assert_eq!(r.best, best.params);
    assert_eq!(r.best_prior, best.prior);
    assert_eq!(r.model.history().len(), r.best.epochs());
    // Deterministic with max_trials binding.
    let again = tune_towers(&data, &base, None, None, &cfg, |_| {}).unwrap();
    assert_eq!(again.model.item_factors(), r.model.item_factors());
    // A budget spent before the first epoch ends: the one trial is cut
    // after that epoch (patience and max_epochs would run it longer) and
    // still refitted.
    let spent = TowerTuneConfig {
        budget_seconds: 1e-9,
        patience: 6,
        ..cfg.clone()
    };
    let cut = tune_towers(&data, &base, None, None, &spent, |_| {}).unwrap();
    assert_eq!(cut.trials.len(), 1);
    assert_eq!(cut.trials[0].curve.len(), 1, "{:?}", cut.trials[0].curve);
    assert_eq!(cut.model.history().len(), 1);
    assert!(r.trials.iter().all(|t| t.curve.len() >= 2));
    let bad = TowerTuneConfig {
        priors: vec![f32::NAN],
        ..cfg
    };
    assert!(matches!(
        tune_towers(&data, &base, None, None, &bad, |_| {}),
        Err(Error::InvalidSetting { .. })
    ));
}
