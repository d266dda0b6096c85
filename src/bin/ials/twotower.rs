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
use ials::eval::io::{assemble, read_aligned};
use ials::eval::Metric;
use ials::io::model_dir::Extra;
use ials::neural::{LogQ, Loss, Optimizer, Pooling, SideRows, TwoTowerParams};
use ials::towers::Features;
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
    /// Item features, CSV `item,feature[,value]` (the format of `ials fit
    /// --item-features`): the item tower is an embedding bag over the item's
    /// id and its features. Items listed only here are cold: embedded from
    /// their features and served like the others.
    #[arg(long, value_name = "FILE")]
    item_features: Option<PathBuf>,
    /// User features, CSV `user,feature[,value]` (as --item-features).
    #[arg(long, value_name = "FILE")]
    user_features: Option<PathBuf>,
    /// No id feature for items (a features-only item tower).
    #[arg(long, requires = "item_features")]
    no_item_ids: bool,
    /// No id feature for users (a features-only user tower).
    #[arg(long, requires = "user_features")]
    no_user_ids: bool,
    /// Validation pairs (same format as --input, users and items of the
    /// input): evaluate --metric after each epoch, stop after --patience
    /// epochs without improvement, keep the best epoch's towers.
    #[arg(long, value_name = "FILE")]
    validation: Option<PathBuf>,
    /// Epochs without improvement before early stopping.
    #[arg(long, default_value_t = 3, requires = "validation")]
    patience: usize,
    /// Validation metric: recall@K, ndcg@K, precision@K, map@K, mrr@K, hr@K, auc.
    #[arg(long, default_value = "recall@20", requires = "validation")]
    metric: Metric,
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
    let read = |path: &Option<PathBuf>, side: &'static str, ids: bool| -> Result<SideRows> {
        let train = if side == "user" {
            data.users()
        } else {
            data.items()
        };
        let f = path
            .as_ref()
            .map(|p| Features::read_csv(p, side))
            .transpose()?;
        let rows = SideRows::build(train, f.as_ref(), ids, side)?;
        if let (Some(p), false) = (path, quiet) {
            eprintln!(
                "{side} tower: {} features{}, {} cold {side}s (no interactions) served from {}",
                rows.n_attributes,
                if ids { " + ids" } else { "" },
                rows.n_cold(),
                p.display()
            );
        }
        Ok(rows)
    };
    let users = read(&a.user_features, "user", !a.no_user_ids)?;
    let items = read(&a.item_features, "item", !a.no_item_ids)?;
    let log = |r: &ials::IterationReport, valid: Option<f64>| {
        if !quiet {
            let v = valid.map_or(String::new(), |v| {
                format!("  validation {} {v:.5}", a.metric)
            });
            pb.suspend(|| {
                eprintln!(
                    "epoch {:>3}  loss {:.6e}  {:.2}s{v}",
                    r.iteration,
                    r.loss.total(),
                    r.seconds
                )
            });
        }
        pb.inc(1);
    };
    let (user_rows, item_rows) = (Some(users.rows.clone()), Some(items.rows.clone()));
    let fit_start = Instant::now();
    let (fitted, validation) = match &a.validation {
        Some(vpath) => {
            let mut vusers = data.users().clone();
            let (triplets, dropped) = read_aligned(vpath, &opts, &mut vusers, data.items(), false)?;
            if dropped > 0 && !quiet {
                eprintln!(
                    "note: {}: {dropped} lines name users or items not in the input and are ignored",
                    vpath.display()
                );
            }
            let valid = assemble(data.users(), data.items(), triplets).map_err(|e| match e {
                ials::Error::EmptyMatrix => anyhow::anyhow!(
                    "{}: no validation pair names a user and an item of the input",
                    vpath.display()
                ),
                e => e.into(),
            })?;
            let (fitted, stop) = params.fit_validated(
                &data,
                user_rows,
                item_rows,
                &valid,
                a.metric,
                a.patience,
                |p, v| {
                    log(p.report, Some(v));
                    ControlFlow::Continue(())
                },
            )?;
            if !quiet {
                pb.suspend(|| {
                    eprintln!(
                        "best epoch {} ({} {:.5}); the model keeps its towers",
                        stop.best_iteration(),
                        a.metric,
                        stop.best_value()
                    )
                });
            }
            let report = serde_json::json!({
                "file": vpath.display().to_string(),
                "metric": a.metric.to_string(),
                "patience": a.patience,
                "best_iteration": stop.best_iteration(),
                "best_value": stop.best_value(),
                "history": stop.history().iter().map(|&(it, v)| serde_json::json!({"iteration": it, "value": v})).collect::<Vec<_>>(),
            });
            (fitted, report)
        }
        None => {
            let fitted = params.fit_with(&data, user_rows, item_rows, |p| {
                log(p.report, None);
                ControlFlow::Continue(())
            })?;
            (fitted, serde_json::Value::Null)
        }
    };
    pb.finish_and_clear();
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    let model = fitted.to_model_with_ids(&data, &users.ids, &items.ids)?;
    let settings = serde_json::to_vec_pretty(&serde_json::json!({
        "twotower": fitted.params(),
        "epochs": fitted.history(),
        "user_features": a.user_features.as_ref().map(|p| p.display().to_string()),
        "item_features": a.item_features.as_ref().map(|p| p.display().to_string()),
        "user_ids": !a.no_user_ids,
        "item_ids": !a.no_item_ids,
        "cold_users": users.n_cold(),
        "cold_items": items.n_cold(),
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
            "cold_users": users.n_cold(),
            "cold_items": items.n_cold(),
            "validation": validation,
            "fit_seconds": fit_seconds,
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
