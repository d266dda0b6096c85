//! `ials twotower`: train neural two-tower models (id towers: matrix
//! factorization by SGD) with in-batch softmax, mixed negatives or the
//! Gramian-regularized squared loss, and save a standard model directory
//! (served by `recommend`, `similar`, `export`, `eval --model` unchanged).
//! Every default is the library's (`ials::neural::TwoTowerParams`).

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use ials::data::read::read_interactions;
use ials::io::model_dir::Extra;
use ials::neural::{LogQ, Loss, Optimizer, Pooling, TwoTowerParams};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::common;

#[derive(clap::Args, Debug)]
#[command(args_override_self = true)]
pub struct Args {
    #[command(flatten)]
    input: common::Input,
    /// Model directory to write (replaced atomically if it exists).
    #[arg(long)]
    output: PathBuf,
    /// softmax (in-batch negatives), mixed (plus --negatives uniform items)
    /// or mse-gramian (the iALS objective by SGD, Gramians estimated).
    #[arg(long)]
    loss: Option<Loss>,
    /// logQ correction of the softmax logits: none, exact or streaming.
    #[arg(long)]
    logq: Option<LogQ>,
    /// Uniform negatives a batch (loss mixed).
    #[arg(long)]
    negatives: Option<usize>,
    /// Training pairs a step (default 1024).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Temperature τ of the score ⟨u, v⟩ / τ (default 1).
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
    /// L2-normalize both tower outputs.
    #[arg(long)]
    normalize: bool,
    /// Hidden ReLU layer sizes, e.g. 256,128 (default none).
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Pooling of feature embeddings: mean or sum.
    #[arg(long)]
    pooling: Option<Pooling>,
    /// Output size k of each tower (default 64).
    #[arg(long)]
    factors: Option<usize>,
    /// Passes over the training pairs (default 20).
    #[arg(long)]
    epochs: Option<usize>,
    /// Optimizer step size (default 0.05).
    #[arg(long, allow_negative_numbers = true)]
    learning_rate: Option<f32>,
    /// adagrad or adam.
    #[arg(long)]
    optimizer: Option<Optimizer>,
    /// α0 of mse-gramian (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    unobserved_weight: Option<f32>,
    /// λ on the tower outputs (default 0).
    #[arg(long, allow_negative_numbers = true)]
    regularization: Option<f32>,
    /// Seed of the initialization, the shuffling and the negatives.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Write a JSON report (sizes, params, loss and seconds per epoch).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress bar, no loss lines.
    #[arg(long)]
    quiet: bool,
}

impl Args {
    /// The checked settings: the given ones over the library's defaults.
    fn params(&self) -> ials::Result<TwoTowerParams> {
        let mut b = TwoTowerParams::builder().normalize(self.normalize);
        macro_rules! given {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { b = b.$f(v); })* };
        }
        given!(
            loss,
            logq,
            negatives,
            batch_size,
            temperature,
            pooling,
            factors,
            epochs,
            learning_rate,
            optimizer,
            unobserved_weight,
            regularization,
            seed
        );
        if !self.hidden.is_empty() {
            b = b.hidden(self.hidden.clone());
        }
        if self.threads.is_some() {
            b = b.threads(self.threads);
        }
        b.check()
    }
}

pub fn run(a: Args) -> Result<()> {
    let params = a.params()?;
    let opts = a.input.format.read_options()?;
    if let Some(r) = &a.report {
        common::check_output_parent(r)?;
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;
    let t = Instant::now();
    let data = read_interactions(&a.input.input, &opts)?;
    let load_seconds = t.elapsed().as_secs_f64();
    if !a.quiet {
        eprintln!(
            "read {}: {} users x {} items, {} interactions in {load_seconds:.2}s",
            a.input.input.display(),
            data.n_users(),
            data.n_items(),
            data.nnz()
        );
    }
    let pb = if a.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(
            Some(params.epochs() as u64),
            ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} epochs  {elapsed_precise} (eta {eta})",
            )
            .expect("invariant: valid template"),
        );
        pb
    };
    let quiet = a.quiet;
    let fitted = params.fit_with(&data, None, None, |p| {
        let r = p.report;
        if !quiet {
            pb.suspend(|| {
                eprintln!(
                    "epoch {:>3}  loss {:.6e}  {:.2}s",
                    r.iteration,
                    r.loss_or_nan().total(),
                    r.seconds
                )
            });
        }
        pb.inc(1);
        ControlFlow::Continue(())
    })?;
    pb.finish_and_clear();
    let model = fitted.to_model(&data)?;
    let settings = serde_json::to_vec_pretty(&serde_json::json!({
        "twotower": fitted.params(),
        "epochs": fitted.history(),
    }))?;
    let t = Instant::now();
    model.save_with(&a.output, &[Extra::bytes("twotower.json", settings)])?;
    let save_seconds = t.elapsed().as_secs_f64();
    if let Some(path) = &a.report {
        let report = serde_json::to_vec_pretty(&serde_json::json!({
            "input": a.input.input.display().to_string(),
            "model": a.output.display().to_string(),
            "load_seconds": load_seconds,
            "save_seconds": save_seconds,
            "users": data.n_users(),
            "items": data.n_items(),
            "nnz": data.nnz(),
            "params": fitted.params(),
            "epochs": fitted.history(),
        }))?;
        common::write_output(path, |w| {
            w.write_all(&report)?;
            w.write_all(b"\n")
        })?;
    }
    if !a.quiet {
        eprintln!("saved {}", a.output.display());
    }
    Ok(())
}
