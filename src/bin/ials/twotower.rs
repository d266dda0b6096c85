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
    /// Do not mask the user's other training items among a batch's negatives
    /// (only repeats of the positive item stay masked; what a plain PyTorch
    /// in-batch softmax does).
    #[arg(long)]
    no_mask_user_items: bool,
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
    #[command(flatten)]
    valid: common::ValidationArgs,
    /// Validate with the serving prior: rank by `score + β log P(i)` (as
    /// `ials recommend/eval --popularity-prior β` will), 0: off.
    #[arg(
        long,
        value_name = "BETA",
        default_value_t = 0.0,
        allow_negative_numbers = true,
        requires = "validation"
    )]
    popularity_prior: f32,
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
        let mut b = TwoTowerParams::builder()
            .normalize(self.normalize)
            .mask_user_items(!self.no_mask_user_items);
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
                format!("  validation {} {v:.5}", a.valid.metric)
            });
            pb.suspend(|| {
                eprintln!(
                    "epoch {:>3}  loss {:.6e}  {:.2}s{v}",
                    r.iteration,
                    r.loss_or_nan().total(),
                    r.seconds
                )
            });
        }
        pb.inc(1);
    };
    let (user_rows, item_rows) = (Some(users.rows.clone()), Some(items.rows.clone()));
    let fit_start = Instant::now();
    let (fitted, validation) = match &a.valid.validation {
        Some(vpath) => {
            let valid = common::read_validation(vpath, &opts, &data, quiet)?;
            let (fitted, stop) = params.fit_validated(
                &data,
                user_rows,
                item_rows,
                &valid,
                a.valid.metric,
                a.valid.patience,
                a.popularity_prior,
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
                        a.valid.metric,
                        stop.best_value()
                    )
                });
            }
            let report = serde_json::json!({
                "file": vpath.display().to_string(),
                "metric": a.valid.metric.to_string(),
                "patience": a.valid.patience,
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

/// `ials tune --kind twotower`: the fixed settings of the searched towers.
#[derive(clap::Args, Debug, Default)]
pub struct TuneArgs {
    /// twotower: the loss (softmax, mixed, mse-gramian).
    #[arg(long)]
    loss: Option<Loss>,
    /// twotower: logQ correction (none, exact, streaming).
    #[arg(long)]
    logq: Option<LogQ>,
    /// twotower: uniform negatives a batch (loss mixed).
    #[arg(long)]
    negatives: Option<usize>,
    /// twotower: pairs a step (default 1024).
    #[arg(long)]
    batch_size: Option<usize>,
    /// twotower: output size k (default 64).
    #[arg(long)]
    factors: Option<usize>,
    /// twotower: hidden ReLU layer sizes.
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// twotower: adagrad or adam.
    #[arg(long)]
    optimizer: Option<Optimizer>,
    /// twotower: most epochs a trial (early stopping ends most sooner).
    #[arg(long, default_value_t = 40)]
    max_epochs: usize,
    /// twotower: early-stopping patience in epochs.
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// twotower: also search the serving prior β (rank by score + β log P(i))
    /// over these values, e.g. 0.25,0.5,0.75,1.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    priors: Vec<f32>,
    /// Item features, CSV `item,feature[,value]`: with --kind ials, linear
    /// feature towers (id and feature regularization searched, cold items
    /// held out for validation, the model directory of `ials fit
    /// --item-features`); with twotower as `ials twotower --item-features`.
    #[arg(long, value_name = "FILE")]
    pub item_features: Option<PathBuf>,
    /// User features, CSV `user,feature[,value]` (as --item-features).
    #[arg(long, value_name = "FILE")]
    pub user_features: Option<PathBuf>,
}

/// The settings `ials tune` shares with `--kind twotower`.
pub struct TuneCommon<'a> {
    pub input: &'a std::path::Path,
    pub output: &'a std::path::Path,
    pub metric: Metric,
    pub budget: f64,
    pub max_trials: Option<usize>,
    pub seed: u64,
    pub header: bool,
    pub threads: Option<usize>,
    pub quiet: bool,
}

/// `ials tune --kind twotower`: search on a validation part of the input,
/// refit the best, save the model with twotower.json and tune.json.
pub fn tune(c: TuneCommon<'_>, a: &TuneArgs) -> Result<()> {
    let mut b = TwoTowerParams::builder();
    macro_rules! given {
        ($($f:ident),*) => { $(if let Some(v) = a.$f { b = b.$f(v); })* };
    }
    given!(loss, logq, negatives, batch_size, factors, optimizer);
    if !a.hidden.is_empty() {
        b = b.hidden(a.hidden.clone());
    }
    if c.threads.is_some() {
        b = b.threads(c.threads);
    }
    let base = b.check()?;
    common::check_output_parent(c.output)?;
    let opts = ials::data::read::ReadOptions {
        header: c.header,
        ..Default::default()
    };
    let data = read_interactions(c.input, &opts)?;
    let side = |path: &Option<PathBuf>, name: &'static str| -> Result<Option<SideRows>> {
        let Some(p) = path else { return Ok(None) };
        let train = if name == "user" {
            data.users()
        } else {
            data.items()
        };
        let f = Features::read_csv(p, name)?;
        Ok(Some(SideRows::build(train, Some(&f), true, name)?))
    };
    let users = side(&a.user_features, "user")?;
    let items = side(&a.item_features, "item")?;
    let cfg = ials::neural::TowerTuneConfig {
        metric: c.metric,
        budget_seconds: c.budget,
        max_trials: c.max_trials,
        seed: c.seed,
        max_epochs: a.max_epochs,
        patience: a.patience,
        priors: if a.priors.is_empty() {
            vec![0.0]
        } else {
            a.priors.clone()
        },
        ..Default::default()
    };
    let quiet = c.quiet;
    if !quiet {
        println!(
            "{:>5} {:>9} {:>6} {:>8} {:>9} {:>6} {:>6} {:>9} {:>7}  curve",
            "trial",
            "lr",
            "tau",
            "alpha0",
            "lambda",
            "prior",
            "epochs",
            c.metric.to_string(),
            "seconds"
        );
    }
    let result =
        ials::neural::tune_towers(&data, &base, users.as_ref(), items.as_ref(), &cfg, |t| {
            if quiet {
                return;
            }
            let p = &t.params;
            let curve: Vec<String> = t.curve.iter().map(|v| format!("{v:.3}")).collect();
            println!(
                "{:>5} {:>9.4} {:>6} {:>8.4} {:>9.2e} {:>6.2} {:>6} {:>9.4} {:>7.2}  {}",
                t.id,
                p.learning_rate(),
                if p.normalize() {
                    format!("{:.3}", p.temperature())
                } else {
                    "-".into()
                },
                p.unobserved_weight(),
                p.regularization(),
                t.prior,
                p.epochs(),
                t.value,
                t.seconds,
                curve.join(" ")
            );
        })?;
    let ids = |s: &Option<SideRows>, train: &ials::IdMap| {
        s.as_ref().map_or_else(|| train.clone(), |s| s.ids.clone())
    };
    let model = result.model.to_model_with_ids(
        &data,
        &ids(&users, data.users()),
        &ids(&items, data.items()),
    )?;
    let settings = serde_json::to_vec_pretty(&serde_json::json!({
        "twotower": result.best,
        "epochs": result.model.history(),
        "popularity_prior": result.best_prior,
    }))?;
    model.save_with(c.output, &[Extra::bytes("twotower.json", settings)])?;
    let write_json = |name: &str, v: String| {
        ials::io::write_atomic(&c.output.join(name), |w| w.write_all(v.as_bytes()))
    };
    write_json("trials.json", serde_json::to_string_pretty(&result.trials)?)?;
    let summary = serde_json::json!({
        "kind": "twotower",
        "best_params": &result.best,
        "popularity_prior": result.best_prior,
        "best_value": result.trials.iter().map(|t| t.value).fold(f64::NEG_INFINITY, f64::max),
        "metric": c.metric.to_string(),
        "trials": result.trials.len(),
        "seconds": result.seconds,
        "budget_seconds": c.budget,
    });
    write_json("tune.json", serde_json::to_string_pretty(&summary)?)?;
    if !quiet {
        println!(
            "{} trials in {:.1} s (budget {:.0} s)",
            result.trials.len(),
            result.seconds,
            c.budget
        );
    }
    println!(
        "best: {} (serve with --popularity-prior {})",
        serde_json::to_string(&result.best)?,
        result.best_prior
    );
    println!("saved to {}", c.output.display());
    Ok(())
}
