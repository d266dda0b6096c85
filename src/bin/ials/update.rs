//! `ials update`: add new interactions (new users, new items, new pairs) to a
//! saved model by re-solving only the rows they touch, and save the result.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ials::data::read::{read_interactions, ReadOptions};

use crate::common;
use ials::serve::UpdateOptions;
use ials::Model;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory to update (left as it is).
    #[arg(long)]
    model: PathBuf,
    /// New interactions: user,item[,value] rows (`-`: standard input). A pair
    /// already in the model has the new value added to the old one.
    #[command(flatten)]
    input: common::Input,
    /// Directory of the updated model.
    #[arg(long)]
    output: PathBuf,
    /// Rounds of exact re-solves of the affected users, then affected items.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Full sweeps over all rows afterwards (0: rows without new data stay as they were).
    #[arg(long, default_value_t = 0)]
    sweeps: usize,
}

pub fn run(a: Args) -> Result<()> {
    let t = Instant::now();
    let mut model = Model::load(&a.model)
        .with_context(|| format!("cannot load the model in {}", a.model.display()))?;
    let opts = ReadOptions {
        observed_negatives: model.params().observed_negatives(),
        ..a.input.format.read_options()?
    };
    let new = read_interactions(&a.input.input, &opts)?;
    let (m0, n0) = (model.n_users(), model.n_items());
    let report = model.partial_fit_interactions(
        &new,
        &UpdateOptions {
            rounds: a.rounds,
            sweeps: a.sweeps,
        },
    )?;
    // Further files of the model (attribute towers) are kept.
    let extras = ials::io::model_dir::read_extras(&a.model)
        .with_context(|| format!("cannot read the model in {}", a.model.display()))?;
    model
        .save_with(&a.output, &extras)
        .with_context(|| format!("cannot save the model to {}", a.output.display()))?;
    println!(
        "{} triplets: {} new users ({} -> {}), {} new items ({} -> {}), {} new pairs; \
         re-solved {} users and {} items x {} rounds, {} full sweeps; saved to {}  [{:.2}s]",
        report.triplets,
        report.new_users,
        m0,
        model.n_users(),
        report.new_items,
        n0,
        model.n_items(),
        report.new_pairs,
        report.affected_users,
        report.affected_items,
        a.rounds,
        report.sweeps,
        a.output.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
