//! `ials demo`: the whole pipeline on generated data, in seconds.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Result;
use ials::eval::{evaluate_scorer, random_holdout};
use ials::{Params, SolverKind, SynthConfig};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Users in the generated set.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Items in the generated set.
    #[arg(long, default_value_t = 5_000)]
    items: usize,
    /// Draws (interactions before duplicates are merged).
    #[arg(long, default_value_t = 1_000_000)]
    draws: usize,
    /// Latent factors.
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// Iterations.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Row solver: cholesky, cg or block.
    #[arg(long, default_value = "cg")]
    solver: SolverKind,
    /// Seed of the data, the split and the initialization.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(a: Args) -> Result<()> {
    let t = Instant::now();
    let data = SynthConfig::new(a.users, a.items, a.draws, a.seed).interactions()?;
    let (train, test) = random_holdout(&data, 0.2, a.seed)?;
    println!(
        "generated {} users x {} items, {} interactions (seed {}), 20% per-user holdout: {} train, {} test  [{:.2}s]",
        data.n_users(),
        data.n_items(),
        data.nnz(),
        a.seed,
        train.nnz(),
        test.nnz(),
        t.elapsed().as_secs_f64()
    );
    let params = Params::builder()
        .factors(a.factors)
        .iterations(a.iterations)
        .regularization(0.1)
        .confidence(ials::ConfidenceKind::Log)
        .alpha(2.0)
        .solver(a.solver)
        .seed(a.seed)
        .check()?;
    println!(
        "fit: k={} solver={} confidence=log alpha={} lambda={} alpha0={}",
        params.factors(),
        params.solver(),
        params.alpha(),
        params.regularization(),
        params.unobserved_weight()
    );
    crate::common::print_loss_header();
    let model = params.fit_with(&train, |p| {
        crate::common::print_loss_row(p.report);
        ControlFlow::Continue(())
    })?;
    let k = 20;
    let ours = evaluate_scorer(&train, &test, k, |u, out| {
        let xu = model.user_factors().row(u);
        for (i, o) in out.iter_mut().enumerate() {
            *o = ials::internals::linalg::dot(xu, model.item_factors().row(i));
        }
    });
    let popularity: Vec<f32> = (0..train.n_items())
        .map(|i| train.item_row(i).len() as f32)
        .collect();
    let pop = evaluate_scorer(&train, &test, k, |_, out| out.copy_from_slice(&popularity));
    println!(
        "Recall@{k}: ials {:.4}  popularity {:.4}   NDCG@{k}: ials {:.4}  popularity {:.4}   ({} test users)",
        ours.recall, pop.recall, ours.ndcg, pop.ndcg, ours.users
    );
    println!("total {:.2}s", t.elapsed().as_secs_f64());
    Ok(())
}
