//! Results table: popularity, item-kNN, EASE and iALS on a seeded 20%
//! per-user holdout, Recall@20 and NDCG@20.
//!
//! ```text
//! cargo run --release --example baselines -- ../shared/datasets [PREFIX|all] [BUDGET_SECONDS] [MAX_FACTORS]
//! ```
//!
//! Hyper-parameters (item-kNN neighbours, EASE λ, the iALS search of
//! `ials tune`) are chosen on a validation holdout carved out of the
//! training part only; the test part is touched once.

use ials::datasets::{load, Format};
use ials::eval::tune::{tune, TuneConfig};
use ials::eval::*;
use ials::Params;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/datasets".into());
    let sets: [(&str, Format, &str, Option<f32>); 4] = [
        ("ml-100k (>=4)", Format::Ml100k, "ml-100k/u.data", Some(4.0)),
        (
            "ml-latest-small (>=4)",
            Format::MovieLensCsv,
            "ml-latest-small/ratings.csv",
            Some(4.0),
        ),
        (
            "lastfm-hetrec",
            Format::LastfmHetrec,
            "hetrec2011-lastfm-2k/user_artists.dat",
            None,
        ),
        (
            "citeulike-a",
            Format::Citeulike,
            "citeulike-a/users.dat",
            None,
        ),
    ];
    let only = std::env::args().nth(2).filter(|o| o != "all");
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .map_or(d, |s| s.parse().expect("a number"))
    };
    let (budget, max_factors) = (arg(3, 180), arg(4, 1024));
    println!("| data | model | Recall@20 | NDCG@20 | setting |");
    println!("|---|---|---|---|---|");
    for (name, fmt, file, thr) in sets {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let path = format!("{root}/{file}");
        if !std::path::Path::new(&path).exists() {
            eprintln!("skipping {name}: {path} not found");
            continue;
        }
        let data = load(fmt, &path, thr)?;
        let (train, test) = random_holdout(&data, 0.2, 42)?;
        let (fit, valid) = random_holdout(&train, 0.2, 43)?;
        let ev = Evaluator::new(&train, &test)?.k(20);
        let vev = Evaluator::new(&fit, &valid)?.k(20);
        let row = |model: &str, m: RankingMetrics, s: String| {
            println!(
                "| {name} | {model} | {:.4} | {:.4} | {s} |",
                m.recall, m.ndcg
            )
        };
        row(
            "popularity",
            ev.evaluate(&Popularity::fit(&train)),
            String::new(),
        );
        let best_nn = [20usize, 50, 100, 200]
            .into_iter()
            .max_by(|&a, &b| {
                let r = |n| vev.evaluate(&ItemKnn::fit(&fit, n)).recall;
                r(a).total_cmp(&r(b))
            })
            .unwrap();
        row(
            "item-kNN",
            ev.evaluate(&ItemKnn::fit(&train, best_nn)),
            format!("neighbours {best_nn}"),
        );
        if data.n_items() > EASE_MAX_ITEMS {
            println!(
                "| {name} | EASE | – | – | refused: {} |",
                Ease::fit(&train, 100.0, EASE_MAX_ITEMS).unwrap_err()
            );
        } else {
            let mut best = (0.0, f64::MIN);
            for l in ease_grid(fit.n_items()) {
                let start = std::time::Instant::now();
                let r = vev.evaluate(&Ease::fit(&fit, l, EASE_MAX_ITEMS)?).recall;
                eprintln!(
                    "{name}: EASE λ {l} validation recall {r:.4} ({:.1} s, {} items)",
                    start.elapsed().as_secs_f64(),
                    fit.n_items()
                );
                if r > best.1 {
                    best = (l, r);
                }
            }
            let start = std::time::Instant::now();
            let ease = Ease::fit(&train, best.0, EASE_MAX_ITEMS)?;
            let secs = start.elapsed().as_secs_f64();
            row(
                "EASE",
                ev.evaluate(&ease),
                format!("λ {}, fit {secs:.1} s", best.0),
            );
        }
        let p = Params::default();
        let m = p.fit(&train)?;
        row(
            "iALS defaults",
            ev.evaluate(&FactorScorer::new(m.user_factors(), m.item_factors())),
            "Params::default()".into(),
        );
        // `ials tune --max-factors MAX --budget BUDGET`: it carves its own
        // validation part out of `train` (seed 42) and refits on all of it.
        let start = std::time::Instant::now();
        let cfg = TuneConfig {
            budget_seconds: budget as f64,
            max_factors,
            ..Default::default()
        };
        let t = tune(&train, &Params::default(), &cfg, |t| {
            eprintln!(
                "{name}: trial {} k {} {} α {:.3} α0 {:.4} ν {} λ {:.3e} it {} -> {:.4} ({:.1} s)",
                t.id,
                t.params.factors(),
                t.params.confidence(),
                t.params.alpha(),
                t.params.unobserved_weight(),
                t.params.reg_exponent(),
                t.params.regularization(),
                t.params.iterations(),
                t.value,
                t.seconds
            )
        })?;
        let p = &t.best;
        row(
            "iALS `ials tune`",
            ev.evaluate(&FactorScorer::new(
                t.model.user_factors(),
                t.model.item_factors(),
            )),
            format!(
                "k {}, {} α {:.3} α0 {:.4} ν {} λ {:.3e}, {} it.; {} trials, {:.0} s",
                p.factors(),
                p.confidence(),
                p.alpha(),
                p.unobserved_weight(),
                p.reg_exponent(),
                p.regularization(),
                p.iterations(),
                t.trials.len(),
                start.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(())
}

/// EASE λ candidates: Steck's range; on the large, sparse item sets
/// (Last.fm, CiteULike), where each fit is an `O(n³)` solve, three values
/// around the best of a first {100, 300, 1000} validation run.
fn ease_grid(n: usize) -> Vec<f64> {
    if n > 10_000 {
        vec![30.0, 100.0, 300.0]
    } else {
        vec![50.0, 100.0, 200.0, 500.0, 1000.0]
    }
}
