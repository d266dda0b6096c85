//! Fit on a small generated data set, print the loss per iteration and a few
//! recommendations with their scores.
//!
//! `cargo run --release --example quickstart`

use std::ops::ControlFlow;

use ials::{Params, SolverKind, SynthConfig};

fn main() -> Result<(), ials::Error> {
    let data = SynthConfig::new(2_000, 500, 50_000, 1).interactions()?;
    println!(
        "{} users x {} items, {} interactions",
        data.n_users(),
        data.n_items(),
        data.nnz()
    );
    let params = Params::builder()
        .factors(32)
        .iterations(8)
        .regularization(0.05)
        .solver(SolverKind::Cholesky)
        .check()?;
    let model = params.fit_with(&data, |p| {
        println!("{}", p.report);
        ControlFlow::Continue(())
    })?;
    for (item, score) in model.recommend(0, 5, &ials::Filter::new().exclude_seen(true))? {
        println!(
            "user {} -> item {} ({score:.3})",
            data.users().id(0),
            data.items().id(item)
        );
    }
    Ok(())
}
