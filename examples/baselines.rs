//! Results table: popularity, item-kNN, EASE and iALS on a seeded 20%
//! per-user holdout, Recall@20 and NDCG@20.
//!
//! ```text
//! cargo run --release --example baselines -- ../shared/datasets
//! ```
//!
//! Hyper-parameters (EASE λ, iALS grid) are chosen on a validation holdout
//! carved out of the training part only; the test part is touched once.

use ials::datasets::{load, Format};
use ials::eval::*;
use ials::{ConfidenceKind, Interactions, Params};

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
    let only = std::env::args().nth(2);
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
        match Ease::fit(&fit, 100.0, 5000) {
            Err(e) => println!("| {name} | EASE | – | – | refused: {e} |"),
            Ok(_) => {
                let mut best = (0.0, f64::MIN);
                for l in [50.0, 100.0, 200.0, 500.0, 1000.0] {
                    let r = vev.evaluate(&Ease::fit(&fit, l, 5000)?).recall;
                    if r > best.1 {
                        best = (l, r);
                    }
                }
                row(
                    "EASE",
                    ev.evaluate(&Ease::fit(&train, best.0, 5000)?),
                    format!("λ {}", best.0),
                );
            }
        }
        let p = Params::default();
        let m = p.fit(&train)?;
        row(
            "iALS defaults",
            ev.evaluate(&FactorScorer::new(m.user_factors(), m.item_factors())),
            "Params::default()".into(),
        );
        let (p, note) = grid(&fit, &valid)?;
        let m = p.fit(&train)?;
        row(
            "iALS tuned (grid)",
            ev.evaluate(&FactorScorer::new(m.user_factors(), m.item_factors())),
            note,
        );
    }
    Ok(())
}

/// A small grid over λ, α0 and confidence at k = 64 with early stopping.
fn grid(fit: &Interactions, valid: &Interactions) -> Result<(Params, String), ials::Error> {
    let mut best: Option<(f64, Params)> = None;
    for conf in [ConfidenceKind::Linear, ConfidenceKind::Log] {
        for alpha in [1.0f32, 10.0] {
            for a0 in [0.1f32, 1.0] {
                for reg in [0.1f32, 1.0, 10.0] {
                    let p = Params::builder()
                        .factors(64)
                        .iterations(20)
                        .confidence(conf)
                        .alpha(alpha)
                        .unobserved_weight(a0)
                        .regularization(reg)
                        .seed(1)
                        .check()?;
                    let (m, s) = fit_with_early_stopping(&p, fit, valid, Metric::recall(20), 2)?;
                    if best.as_ref().is_none_or(|b| s.best_value() > b.0) {
                        best = Some((s.best_value(), m.params().clone()));
                    }
                }
            }
        }
    }
    let p = best.expect("grid is not empty").1;
    let note = format!(
        "k 64, {} α {} α0 {} λ {} iters {}",
        p.confidence, p.alpha, p.unobserved_weight, p.regularization, p.iterations
    );
    Ok((p, note))
}
