//! `ials tune`: search iALS settings on a validation split carved out of the
//! input (never any test data), refit the best on all of it, save it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ials::data::read::{read_interactions, ReadOptions};
use ials::eval::tune::{tune, TuneConfig};
use ials::eval::Metric;
use ials::{Model, Params};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training interactions (user,item[,value]).
    #[arg(long)]
    input: PathBuf,
    /// Output directory: the model, trials.json, best_params.json.
    #[arg(long)]
    output: PathBuf,
    /// Validation metric to maximise.
    #[arg(long, default_value = "recall@20")]
    metric: Metric,
    /// Random trials of the cheap small-k stage.
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Seed of the validation split and the search.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Skip the first line.
    #[arg(long)]
    header: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Save the tuned model. After the merge this is `model.save(dir)`
/// (src/io/model_dir.rs); until then it exports the factors as .npy with
/// their id lists, the format `ials eval --user-factors` reads.
fn save_model(model: &Model, dir: &Path) -> Result<()> {
    let (x, y) = (model.user_factors(), model.item_factors());
    ials::io::npy::save_f32(&dir.join("user_factors.npy"), x.rows(), x.k(), x.as_slice())?;
    ials::io::npy::save_f32(&dir.join("item_factors.npy"), y.rows(), y.k(), y.as_slice())?;
    for (name, ids) in [
        ("users.txt", model.users().ids()),
        ("items.txt", model.items().ids()),
    ] {
        ials::io::write_atomic(&dir.join(name), |w| {
            for id in ids {
                writeln!(w, "{id}")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    let opts = ReadOptions {
        header: a.header,
        ..Default::default()
    };
    let data = read_interactions(&a.input, &opts)?;
    std::fs::create_dir_all(&a.output)?;
    let mut base = Params::builder();
    if let Some(t) = a.threads {
        base = base.threads(t);
    }
    let cfg = TuneConfig {
        metric: a.metric,
        trials: a.trials,
        seed: a.seed,
        ..Default::default()
    };
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
    let result = tune(&data, &base.check()?, &cfg, |t| {
        let p = &t.params;
        println!(
            "{:>5} {:>5} {:>4} {:>8} {:>9.3} {:>7.4} {:>4} {:>10.3e} {:>5} {:>9.4} {:>7.2}",
            t.id,
            t.stage,
            p.factors,
            p.confidence.to_string(),
            p.alpha,
            p.unobserved_weight,
            p.reg_exponent,
            p.regularization,
            p.iterations,
            t.value,
            t.seconds
        );
    })?;
    let write_json = |name: &str, v: String| {
        ials::io::write_atomic(&a.output.join(name), |w| w.write_all(v.as_bytes()))
    };
    write_json("trials.json", serde_json::to_string_pretty(&result.trials)?)?;
    write_json(
        "best_params.json",
        serde_json::to_string_pretty(&result.best)?,
    )?;
    save_model(&result.model, &a.output)?;
    println!("best: {}", serde_json::to_string(&result.best)?);
    println!("saved to {}", a.output.display());
    Ok(())
}
