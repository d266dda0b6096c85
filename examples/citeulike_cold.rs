//! Cold-start and warm-start quality of the feature towers on CiteULike-a
//! with its tags (`item-tag.dat`).
//!
//! Cold start: 20% of the tagged articles are held out entirely (no
//! interactions in training); for each user the cold articles are ranked by
//! the tower model (`y_i = Bᵀ g_i` from the tags alone), by a TF-IDF content
//! baseline (user profile = sum of the tf-idf tag vectors of the user's
//! training articles, cosine) and at random; Recall@20 over the users that
//! have a cold article. Warm start: a 20% per-user holdout over all articles,
//! plain iALS against the towers (ids + tags), Recall@20 over all items.
//!
//! ```text
//! cargo run --release --example citeulike_cold -- [--factors 256] [--iterations 6]
//!     [--reg 100] [--feature-reg 3] [--alpha 5] [--alpha0 1] [--nu 0] [--seed 1]
//!     [--feature-values l2|one|idf|tfidf] [--no-item-ids] [--skip-warm]
//! ```
//! Tag features have value `1/√(number of tags of the article)` by default
//! (`l2`). `--reg` is the λ of the id features, `--feature-reg` that of the
//! tag weights.
//! The data are read from `../shared/datasets/citeulike-a` (relative to the
//! crate), or from the directory given with `--data DIR`.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use ials::eval::{evaluate_scorer, random_holdout, recall_at_k};
use ials::internals::linalg::dot;
use ials::towers::{Features, Tower, TowerParams};
use ials::{ConfidenceKind, Interactions, InteractionsBuilder, Model, Params, SolverKind};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

struct Opts {
    data: PathBuf,
    factors: usize,
    iterations: usize,
    reg: f32,
    feature_reg: f32,
    alpha: f32,
    alpha0: f32,
    seed: u64,
    skip_warm: bool,
    item_ids: bool,
    nu: f32,
    feature_values: String,
    skip_cold: bool,
    plain_regs: Vec<f32>,
}

fn opts() -> Opts {
    let mut o = Opts {
        data: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/datasets/citeulike-a"
        )),
        factors: 256,
        iterations: 6,
        reg: 100.0,
        feature_reg: 3.0,
        alpha: 5.0,
        alpha0: 1.0,
        seed: 1,
        skip_warm: false,
        item_ids: true,
        nu: 0.0,
        feature_values: String::from("l2"),
        skip_cold: false,
        plain_regs: vec![0.1, 1.0, 10.0, 100.0],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = || args.get(i + 1).expect("missing value after flag").clone();
        match args[i].as_str() {
            "--data" => o.data = PathBuf::from(v()),
            "--factors" => o.factors = v().parse().expect("--factors"),
            "--iterations" => o.iterations = v().parse().expect("--iterations"),
            "--reg" => o.reg = v().parse().expect("--reg"),
            "--feature-reg" => o.feature_reg = v().parse().expect("--feature-reg"),
            "--alpha" => o.alpha = v().parse().expect("--alpha"),
            "--alpha0" => o.alpha0 = v().parse().expect("--alpha0"),
            "--seed" => o.seed = v().parse().expect("--seed"),
            "--nu" => o.nu = v().parse().expect("--nu"),
            "--feature-values" => o.feature_values = v(),
            "--plain-regs" => {
                o.plain_regs = v()
                    .split(',')
                    .map(|x| x.parse().expect("--plain-regs"))
                    .collect()
            }
            "--skip-cold" => {
                o.skip_cold = true;
                i += 1;
                continue;
            }
            "--skip-warm" => {
                o.skip_warm = true;
                i += 1;
                continue;
            }
            "--no-item-ids" => {
                o.item_ids = false;
                i += 1;
                continue;
            }
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    o
}

/// Lines `n a_1 … a_n` of a CiteULike `.dat` file.
fn read_lists(path: &PathBuf) -> Vec<Vec<u32>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(ln, line)| {
            let mut it = line.split_whitespace().map(|t| {
                t.parse::<u32>().unwrap_or_else(|_| {
                    panic!("{}: line {}: bad number {t:?}", path.display(), ln + 1)
                })
            });
            let n = it.next().unwrap_or(0) as usize;
            let v: Vec<u32> = it.collect();
            assert_eq!(
                v.len(),
                n,
                "{}: line {}: count mismatch",
                path.display(),
                ln + 1
            );
            v
        })
        .collect()
}

fn params(o: &Opts) -> Params {
    Params::builder()
        .factors(o.factors)
        .iterations(o.iterations)
        .regularization(o.reg)
        .confidence(ConfidenceKind::Linear)
        .alpha(o.alpha)
        .unobserved_weight(o.alpha0)
        .reg_exponent(o.nu)
        .solver(SolverKind::Cholesky)
        .seed(o.seed)
        .check()
        .expect("valid params")
}

fn print_loss(p: &ials::Progress<'_>) -> ControlFlow<()> {
    println!("  {}", p.report);
    ControlFlow::Continue(())
}

/// Number of articles carrying each tag.
fn doc_freq(tags: &[Vec<u32>]) -> HashMap<u32, usize> {
    let mut df: HashMap<u32, usize> = HashMap::new();
    for t in tags {
        for &g in t {
            *df.entry(g).or_default() += 1;
        }
    }
    df
}

/// Idf-weighted, L2-normalised tag vectors of every item (sparse, sorted).
fn tfidf(tags: &[Vec<u32>]) -> Vec<Vec<(u32, f32)>> {
    let df = doc_freq(tags);
    let n = tags.len() as f32;
    tags.iter()
        .map(|t| {
            let mut v: Vec<(u32, f32)> = t.iter().map(|&g| (g, (n / df[&g] as f32).ln())).collect();
            v.sort_by_key(|e| e.0);
            v.dedup_by_key(|e| e.0);
            let norm = v.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|e| e.1 /= norm);
            }
            v
        })
        .collect()
}

/// Mean Recall@k over users with test items; `score(u, c)` scores candidate
/// `c` (an index into `candidates`) for user `u`.
fn recall_over_candidates<F>(
    tests: &[Vec<u32>],
    candidates: &[u32],
    k: usize,
    score: F,
) -> (f64, usize)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let per: Vec<Option<f64>> = (0..tests.len())
        .into_par_iter()
        .map_init(
            || vec![0.0f32; candidates.len()],
            |buf, u| {
                if tests[u].is_empty() {
                    return None;
                }
                score(u, buf);
                let mut order: Vec<usize> = (0..candidates.len()).collect();
                order.sort_by(|&a, &b| buf[b].partial_cmp(&buf[a]).unwrap().then(a.cmp(&b)));
                let ranked: Vec<u32> = order.iter().take(k).map(|&c| candidates[c]).collect();
                Some(recall_at_k(&ranked, &tests[u], k))
            },
        )
        .collect();
    let users = per.iter().flatten().count();
    (
        per.iter().flatten().sum::<f64>() / users.max(1) as f64,
        users,
    )
}

fn main() {
    let o = opts();
    let users_path = o.data.join("users.dat");
    if !users_path.exists() {
        println!("CiteULike-a not found at {}: skipping", o.data.display());
        return;
    }
    let t0 = Instant::now();
    let libraries = read_lists(&users_path);
    let tags = read_lists(&o.data.join("item-tag.dat"));
    let n_items = tags.len();
    let m = libraries.len();
    let nnz: usize = libraries.iter().map(Vec::len).sum();
    println!(
        "CiteULike-a: {m} users, {n_items} articles, {nnz} pairs, {} tag assignments ({} articles tagged)",
        tags.iter().map(Vec::len).sum::<usize>(),
        tags.iter().filter(|t| !t.is_empty()).count()
    );
    let p = params(&o);
    let tp = TowerParams::builder()
        .item_ids(o.item_ids)
        .item_feature_reg(o.feature_reg)
        .check()
        .expect("valid tower params");
    println!(
        "params: k={} iterations={} lambda(ids)={} lambda(tags)={} confidence=1+{}r alpha0={} nu={} item ids {} seed={}",
        p.factors(), p.iterations(), p.regularization(), o.feature_reg, p.alpha(), p.unobserved_weight(), p.reg_exponent(),
        if o.item_ids { "on" } else { "off" }, o.seed
    );

    // ---- Cold start: hold out 20% of the tagged articles entirely.
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut tagged: Vec<u32> = (0..n_items as u32)
        .filter(|&i| !tags[i as usize].is_empty())
        .collect();
    tagged.shuffle(&mut rng);
    let n_cold = tagged.len() / 5;
    let mut is_cold = vec![false; n_items];
    for &i in &tagged[..n_cold] {
        is_cold[i as usize] = true;
    }
    let mut b = InteractionsBuilder::new();
    let mut cold_test: Vec<Vec<u32>> = vec![Vec::new(); m];
    for (u, lib) in libraries.iter().enumerate() {
        b.add_user(&u.to_string()).expect("ids");
        for &i in lib {
            if is_cold[i as usize] {
                cold_test[u].push(i);
            } else {
                b.push(&u.to_string(), &i.to_string(), 1.0).expect("valid");
            }
        }
        cold_test[u].sort_unstable();
    }
    let train = b.build().expect("non-empty");
    let tfv = tfidf(&tags);
    let df = doc_freq(&tags);
    let mut fb = Features::builder("item");
    for (i, t) in tags.iter().enumerate() {
        let scale = match o.feature_values.as_str() {
            "l2" => 1.0 / (t.len().max(1) as f32).sqrt(),
            _ => 1.0,
        };
        if o.feature_values == "idf" {
            for &g in t {
                let w = (n_items as f32 / df[&g] as f32).ln();
                fb.push(&i.to_string(), &format!("tag{g}"), w)
                    .expect("finite");
            }
        } else if o.feature_values == "tfidf" {
            for &(g, w) in &tfv[i] {
                fb.push(&i.to_string(), &format!("tag{g}"), w)
                    .expect("finite");
            }
        } else {
            for g in t {
                fb.push(&i.to_string(), &format!("tag{g}"), scale)
                    .expect("finite");
            }
        }
    }
    let item_features = fb.build();
    println!(
        "cold split (seed {}): {} cold articles, {} train pairs, {} cold test pairs over {} users  [{:.1}s]",
        o.seed,
        n_cold,
        train.nnz(),
        cold_test.iter().map(Vec::len).sum::<usize>(),
        cold_test.iter().filter(|t| !t.is_empty()).count(),
        t0.elapsed().as_secs_f64()
    );
    let k = 20;
    if !o.skip_cold {
        cold_start(
            &o,
            &p,
            &tp,
            &train,
            &item_features,
            &tagged[..n_cold],
            &cold_test,
            &libraries,
            &is_cold,
            &tfv,
        );
    }

    if o.skip_warm {
        return;
    }
    warm_start(&o, &p, &libraries, &item_features, k);
}

#[allow(clippy::too_many_arguments)]
fn cold_start(
    o: &Opts,
    p: &Params,
    tp: &TowerParams,
    train: &Interactions,
    item_features: &Features,
    cold: &[u32],
    cold_test: &[Vec<u32>],
    libraries: &[Vec<u32>],
    is_cold: &[bool],
    tfv: &[Vec<(u32, f32)>],
) {
    let m = libraries.len();
    let n_cold = cold.len();
    let t = Instant::now();
    println!("fitting towers (user ids; item ids + tags):");
    let towers = tp
        .fit_with(p, train, None, Some(item_features), print_loss)
        .expect("fit");
    let model = towers.to_model();
    println!(
        "  {} cold items served from tags  [{:.1}s]",
        towers.n_cold(Tower::Item),
        t.elapsed().as_secs_f64()
    );
    // Candidates: the cold articles, as original article numbers; their rows in the model.
    let candidates: Vec<u32> = cold.to_vec();
    let rows: Vec<usize> = candidates
        .iter()
        .map(|i| {
            model
                .items()
                .get(&i.to_string())
                .expect("cold item in model") as usize
        })
        .collect();
    let user_rows: Vec<usize> = (0..m)
        .map(|u| model.users().get(&u.to_string()).expect("user") as usize)
        .collect();
    let k = 20;
    let (towers_recall, users) = recall_over_candidates(cold_test, &candidates, k, |u, out| {
        let x = model.user_factors().row(user_rows[u]);
        for (o, &r) in out.iter_mut().zip(&rows) {
            *o = dot(x, model.item_factors().row(r));
        }
    });
    let profiles: Vec<HashMap<u32, f32>> = (0..m)
        .map(|u| {
            let mut prof: HashMap<u32, f32> = HashMap::new();
            for &i in &libraries[u] {
                if !is_cold[i as usize] {
                    for &(g, w) in &tfv[i as usize] {
                        *prof.entry(g).or_default() += w;
                    }
                }
            }
            prof
        })
        .collect();
    let (tfidf_recall, _) = recall_over_candidates(cold_test, &candidates, k, |u, out| {
        for (o, &c) in out.iter_mut().zip(&candidates) {
            // Cosine up to the user's norm (constant per user).
            *o = tfv[c as usize]
                .iter()
                .map(|(g, w)| profiles[u].get(g).copied().unwrap_or(0.0) * w)
                .sum();
        }
    });
    let (random_recall, _) = recall_over_candidates(cold_test, &candidates, k, |u, out| {
        let mut r = ChaCha8Rng::seed_from_u64(o.seed ^ (u as u64).wrapping_mul(0x9E37_79B9));
        out.iter_mut().for_each(|v| *v = r.random());
    });
    println!(
        "COLD Recall@{k} over {users} users, ranking the {n_cold} cold articles: towers {towers_recall:.4}  tf-idf {tfidf_recall:.4}  random {random_recall:.4}"
    );
}

fn warm_start(o: &Opts, p: &Params, libraries: &[Vec<u32>], item_features: &Features, k: usize) {
    // ---- Warm start: per-user 20% holdout over all articles.
    let mut b = InteractionsBuilder::new();
    for (u, lib) in libraries.iter().enumerate() {
        for &i in lib {
            b.push(&u.to_string(), &i.to_string(), 1.0).expect("valid");
        }
    }
    let all = b.build().expect("non-empty");
    let (wtrain, wtest) = random_holdout(&all, 0.2, o.seed).expect("split");
    println!(
        "warm split (seed {}): {} train pairs, {} test pairs",
        o.seed,
        wtrain.nnz(),
        wtest.nnz()
    );
    let mut plain = Vec::new();
    for &reg in &o.plain_regs {
        let t = Instant::now();
        println!("fitting plain iALS (Cholesky), lambda={reg}:");
        let pp = p.to_builder().regularization(reg).check().expect("valid");
        let model = pp.fit_with(&wtrain, print_loss).expect("fit");
        println!("  [{:.1}s]", t.elapsed().as_secs_f64());
        plain.push((reg, warm_recall(&model, &wtrain, &wtest, k)));
    }
    let t = Instant::now();
    println!("fitting towers (user ids; item ids + tags):");
    let wt = TowerParams::builder()
        .item_feature_reg(o.feature_reg)
        .check()
        .expect("valid");
    let wtowers = wt
        .fit_with(p, &wtrain, None, Some(item_features), print_loss)
        .expect("fit")
        .to_model();
    println!("  [{:.1}s]", t.elapsed().as_secs_f64());
    let towers_r = warm_recall(&wtowers, &wtrain, &wtest, k);
    for (reg, r) in plain {
        println!(
            "WARM Recall@{k} (20% per-user holdout, all articles): plain iALS lambda={reg} {r:.4}"
        );
    }
    println!(
        "WARM Recall@{k} (20% per-user holdout, all articles): towers (ids + tags) {towers_r:.4}"
    );
}

/// Recall@k of a model over the items of `train` (a tower model may list
/// extra, cold items after them; they are not candidates here).
fn warm_recall(model: &Model, train: &Interactions, test: &Interactions, k: usize) -> f64 {
    let urow: Vec<usize> = train
        .users()
        .ids()
        .iter()
        .map(|u| model.users().get(u).expect("user") as usize)
        .collect();
    let irow: Vec<usize> = train
        .items()
        .ids()
        .iter()
        .map(|i| model.items().get(i).expect("item") as usize)
        .collect();
    evaluate_scorer(train, test, k, |u, out| {
        let x = model.user_factors().row(urow[u]);
        for (o, &r) in out.iter_mut().zip(&irow) {
            *o = dot(x, model.item_factors().row(r));
        }
    })
    .recall
}
