//! `ials explain`: why an item scores what it does for a user (Hu et al.
//! 2008, §5): the score split over the items the user consumed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ials::Model;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory (written by `ials fit`).
    #[arg(long)]
    model: PathBuf,
    /// User id (as in the training file).
    #[arg(long)]
    user: String,
    /// Item id (as in the training file).
    #[arg(long)]
    item: String,
    /// Contributions to list (the rest are summed on one line).
    #[arg(long, default_value_t = 10)]
    top: usize,
}

pub fn run(a: Args) -> Result<()> {
    let model = Model::load(&a.model)
        .with_context(|| format!("cannot load the model in {}", a.model.display()))?;
    let u = crate::common::lookup(model.users(), &a.user, "user")?;
    let i = crate::common::lookup(model.items(), &a.item, "item")?;
    let e = model.explain(u, i)?;
    println!(
        "user {} item {}: score {:.6} (stored factors: {:.6}), from {} consumed items",
        a.user,
        a.item,
        e.score,
        e.model_score.unwrap_or(f32::NAN),
        e.contributions.len()
    );
    let (top, rest) = e.top(a.top);
    println!(
        "{:>5}  {:>14}  {:>7}  item",
        "rank", "contribution", "share"
    );
    let share = |c: f64| {
        if e.score != 0.0 {
            format!("{:>6.1}%", 100.0 * c / e.score)
        } else {
            format!("{:>7}", "-")
        }
    };
    for (r, &(j, c)) in top.iter().enumerate() {
        println!(
            "{:>5}  {:>14.6}  {}  {}",
            r + 1,
            c,
            share(c),
            model.items().id(j)
        );
    }
    let others = e.contributions.len() - top.len();
    if others > 0 {
        println!(
            "{:>5}  {:>14.6}  {}  ({others} other items)",
            "",
            rest,
            share(rest)
        );
    }
    Ok(())
}
