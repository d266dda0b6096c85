//! `ials tune`: search iALS settings on a validation split carved out of the
//! input (never any test data), refit the best on all of it, save it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ials::data::read::read_interactions;
use ials::eval::tune::{tune, TuneConfig};
use ials::eval::Metric;
use ials::Params;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training interactions (user,item[,value]).
    #[command(flatten)]
    input: crate::common::Input,
    /// Output model directory (written atomically, as `ials fit --output`),
    /// with trials.json and best_params.json beside the model files
    /// (`Model::load` ignores files its manifest does not list).
    #[arg(long)]
    output: PathBuf,
    /// Validation metric to maximise.
    #[arg(long, default_value = "recall@20")]
    metric: Metric,
    /// Random trials of the cheap small-k stage.
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Largest factor count of the second stage (64, 128, … up to this).
    #[arg(long, default_value_t = 128)]
    max_factors: usize,
    /// Maximum sweeps a trial (early stopping ends most trials sooner).
    #[arg(long, default_value_t = 20)]
    max_iterations: usize,
    /// Seed of the validation split and the search.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// No table of trials (the best params and the model are still written).
    #[arg(long)]
    quiet: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    let data = read_interactions(&a.input.input, &a.input.format.read_options()?)?;
    let mut base = Params::builder();
    if let Some(t) = a.threads {
        base = base.threads(t);
    }
    let cfg = TuneConfig {
        metric: a.metric,
        trials: a.trials,
        seed: a.seed,
        factors: ials::eval::tune::factor_ladder(a.max_factors),
        max_iterations: a.max_iterations,
        ..Default::default()
    };
    let quiet = a.quiet;
    if !quiet {
        print_header(&a);
    }
    let result = tune(&data, &base.check()?, &cfg, |t| {
        if !quiet {
            print_trial(t);
        }
    })?;
    // The model first (atomic: a directory rename), then the search record
    // inside it, each file written to a temporary and renamed.
    result
        .model
        .save(&a.output)
        .with_context(|| format!("saving the tuned model to {}", a.output.display()))?;
    let write_json = |name: &str, v: String| {
        ials::io::write_atomic(&a.output.join(name), |w| w.write_all(v.as_bytes()))
    };
    write_json("trials.json", serde_json::to_string_pretty(&result.trials)?)?;
    write_json(
        "best_params.json",
        serde_json::to_string_pretty(&result.best)?,
    )?;
    println!("best: {}", serde_json::to_string(&result.best)?);
    println!("saved to {}", a.output.display());
    Ok(())
}

/// The header of the trial table.
fn print_header(a: &Args) {
    println!(
        "{:>5} {:>5} {:>4} {:>8} {:>9} {:>7} {:>4} {:>10} {:>5} {:>9} {:>7}",
        "trial",
        "stage",
        "k",
        "conf",
        "alpha",
        "alpha0",
        "nu",
        "lambda",
        "iters",
        a.metric.to_string(),
        "seconds"
    );
}

/// One row of the trial table.
fn print_trial(t: &ials::eval::tune::Trial) {
    let p = &t.params;
    println!(
        "{:>5} {:>5} {:>4} {:>8} {:>9.3} {:>7.4} {:>4} {:>10.3e} {:>5} {:>9.4} {:>7.2}",
        t.id,
        t.stage,
        p.factors(),
        p.confidence().to_string(),
        p.alpha(),
        p.unobserved_weight(),
        p.reg_exponent(),
        p.regularization(),
        p.iterations(),
        t.value,
        t.seconds
    );
}
