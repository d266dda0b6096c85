//! `ials fit`: read a CSV/TSV of interactions, fit, save the model.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use ials::data::read::{read_interactions, Columns, ReadOptions};
use ials::eval::io::{assemble, read_aligned};
use ials::eval::{EarlyStopping, Metric};
use ials::{ConfidenceKind, Model, Params, Progress, SolverKind, Target};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::common;
use crate::towers_cli::{fit_towers, FeatureArgs};
use ials::towers::{AttributeTower, Tower};

#[derive(clap::Args, Debug)]
#[command(args_override_self = true)]
pub struct Args {
    /// Interactions: CSV or TSV with columns user,item[,value] (`-`: stdin).
    #[arg(long)]
    input: PathBuf,
    /// Model directory to write (replaced atomically if it exists).
    #[arg(long)]
    output: PathBuf,
    /// Field delimiter: one character, or `tab` / `space` (default: detected).
    #[arg(long)]
    delimiter: Option<String>,
    /// Skip the first line.
    #[arg(long)]
    header: bool,
    /// 1-based column numbers `USER,ITEM[,VALUE]` (default 1,2,3; a missing
    /// value column means value 1).
    #[arg(long)]
    columns: Option<String>,
    /// Latent factors.
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// Full sweeps.
    #[arg(long, default_value_t = 15)]
    iterations: usize,
    /// Regularization λ.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    regularization: f32,
    /// Confidence scale α.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    alpha: f32,
    /// Confidence: linear (1 + αr), log (1 + α ln(1 + r/ε)), as-given (αr).
    #[arg(long, default_value = "linear")]
    confidence: ConfidenceKind,
    /// ε of the log confidence.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    epsilon: f32,
    /// Target of observed pairs: one or reciprocal (1/c).
    #[arg(long, default_value = "one")]
    target: Target,
    /// Weight α0 of each unobserved pair.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    unobserved_weight: f32,
    /// Frequency exponent ν of the regularization.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    reg_exponent: f32,
    /// Count only observed pairs in the frequency of λ_u (Spark's ALS-WR).
    #[arg(long)]
    no_reg_unobserved: bool,
    /// Row solver: cholesky, cg or block.
    #[arg(long, default_value = "cg")]
    solver: SolverKind,
    /// Conjugate-gradient steps.
    #[arg(long, default_value_t = 3)]
    cg_steps: usize,
    /// iALS++ block size (default min(factors, 32)).
    #[arg(long)]
    block_size: Option<usize>,
    /// Start: uniform ([0, s), benfred/implicit's start) or normal (N(0, s²)).
    #[arg(long, default_value = "uniform")]
    init: ials::Init,
    /// Scale s of the start: the standard deviation of normal (default
    /// 0.1/√factors), the upper end of uniform (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    init_std: Option<f32>,
    /// Seed of the initialization.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Write a JSON report (load time, sizes, params, loss per iteration).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress bar, no loss lines.
    #[arg(long)]
    quiet: bool,
    /// Validation pairs (same format as --input, users and items of the
    /// input): evaluate --metric after each iteration, stop after --patience
    /// iterations without improvement, keep the best iteration.
    #[arg(long, value_name = "FILE")]
    validation: Option<PathBuf>,
    /// Iterations without improvement before early stopping.
    #[arg(long, default_value_t = 3, requires = "validation")]
    patience: usize,
    /// Validation metric: recall@K, ndcg@K, precision@K, map@K, mrr@K, hr@K, auc.
    #[arg(long, default_value = "recall@20", requires = "validation")]
    metric: Metric,
    #[command(flatten)]
    features: FeatureArgs,
}

fn parse_columns(s: &str) -> Result<Columns> {
    let nums: Vec<usize> = s
        .split(',')
        .map(|f| {
            f.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .map(|n| n - 1)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "invalid --columns {s:?}: expected USER,ITEM[,VALUE] as 1-based column numbers"
            )
        })?;
    match nums.as_slice() {
        [u, i] if u != i => Ok(Columns {
            user: *u,
            item: *i,
            value: None,
        }),
        [u, i, v] if u != i && u != v && i != v => Ok(Columns {
            user: *u,
            item: *i,
            value: Some(*v),
        }),
        _ => {
            bail!("invalid --columns {s:?}: expected two or three distinct 1-based column numbers")
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let mut b = Params::builder()
        .factors(a.factors)
        .iterations(a.iterations)
        .regularization(a.regularization)
        .alpha(a.alpha)
        .confidence(a.confidence)
        .epsilon(a.epsilon)
        .target(a.target)
        .unobserved_weight(a.unobserved_weight)
        .reg_exponent(a.reg_exponent)
        .reg_include_unobserved(!a.no_reg_unobserved)
        .solver(a.solver)
        .cg_steps(a.cg_steps)
        .init(a.init)
        .seed(a.seed);
    if let Some(bs) = a.block_size {
        b = b.block_size(bs);
    }
    if let Some(s) = a.init_std {
        b = b.init_std(s);
    }
    if let Some(t) = a.threads {
        b = b.threads(t);
    }
    let params = b.check()?;
    let opts = ReadOptions {
        delimiter: common::parse_delimiter(a.delimiter.as_deref())?,
        header: a.header,
        columns: match &a.columns {
            Some(c) => parse_columns(c)?,
            None => Columns::default(),
        },
        value_optional: a.columns.is_none(),
    };
    if let Some(r) = &a.report {
        common::check_output_parent(r)?;
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;

    let t = Instant::now();
    let data = read_interactions(&a.input, &opts)?;
    let load_seconds = t.elapsed().as_secs_f64();
    if !a.quiet {
        eprintln!(
            "read {}: {} users x {} items, {} interactions in {load_seconds:.2}s",
            a.input.display(),
            data.n_users(),
            data.n_items(),
            data.nnz()
        );
    }
    let pb = if a.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(
            Some(params.iterations as u64),
            ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} iterations  {elapsed_precise} (eta {eta})",
            )
            .expect("invariant: valid template"),
        );
        pb
    };
    let quiet = a.quiet;
    let log = |p: &Progress<'_>| {
        let r = p.report;
        if !quiet {
            pb.suspend(|| eprintln!("{r}"));
        }
        pb.inc(1);
    };
    let mut validation_report = serde_json::Value::Null;
    let mut towers = None;
    let model: Model = if a.features.wanted() {
        if a.validation.is_some() {
            bail!("--validation is not supported with feature towers (--item-features, --user-features, ...)");
        }
        let (model, fitted) = fit_towers(&params, &data, &a.features, |p| {
            log(p);
            ControlFlow::Continue(())
        })?;
        towers = Some(fitted);
        model
    } else if let Some(vpath) = &a.validation {
        let mut users = data.users().clone();
        let (triplets, dropped) = read_aligned(vpath, &opts, &mut users, data.items(), false)?;
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
        let metric = a.metric;
        let mut stop = EarlyStopping::new(&data, &valid, metric, a.patience)?;
        let model = params.fit_with(&data, |p| {
            log(p);
            let flow = stop.observe(p);
            if !quiet {
                let &(it, v) = stop.history().last().expect("invariant: observed");
                pb.suspend(|| eprintln!("iteration {it:>3}  validation {metric} {v:.5}"));
            }
            flow
        })?;
        let model = stop.apply_best(model);
        if !quiet {
            eprintln!(
                "best iteration {} ({metric} {:.5}); the model keeps its factors",
                stop.best_iteration(),
                stop.best_value()
            );
        }
        validation_report = serde_json::json!({
            "file": vpath.display().to_string(),
            "metric": metric.to_string(),
            "patience": a.patience,
            "best_iteration": stop.best_iteration(),
            "best_value": stop.best_value(),
            "history": stop.history().iter().map(|&(it, v)| serde_json::json!({"iteration": it, "value": v})).collect::<Vec<_>>(),
        });
        model
    } else {
        params.fit_with(&data, |p| {
            log(p);
            ControlFlow::Continue(())
        })?
    };
    pb.finish_and_clear();
    let t = Instant::now();
    model.save(&a.output)?;
    if let Some(t) = &towers {
        // The attribute weights, so that `ials recommend --user-features`
        // can embed users first described after the fit.
        for (side, file) in [
            (Tower::User, &a.features.user_features),
            (Tower::Item, &a.features.item_features),
        ] {
            if file.is_some() {
                AttributeTower::of(t, side).save(&a.output, side)?;
            }
        }
    }
    let save_seconds = t.elapsed().as_secs_f64();
    if let Some(path) = &a.report {
        let iterations: Vec<serde_json::Value> = model
            .loss_history()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "iteration": r.iteration,
                    "seconds": r.seconds,
                    "loss_seconds": r.loss_seconds,
                    "loss": r.loss.total(),
                    "loss_observed": r.loss.observed,
                    "loss_unobserved": r.loss.unobserved,
                    "loss_regularization": r.loss.regularization,
                })
            })
            .collect();
        let report = serde_json::json!({
            "input": a.input.display().to_string(),
            "model": a.output.display().to_string(),
            "load_seconds": load_seconds,
            "save_seconds": save_seconds,
            "users": data.n_users(),
            "items": data.n_items(),
            "nnz": data.nnz(),
            "params": model.params(),
            "iterations": iterations,
            "validation": validation_report,
        });
        let text = serde_json::to_vec_pretty(&report)?;
        common::write_output(path, |w| {
            w.write_all(&text)?;
            w.write_all(b"\n")
        })?;
    }
    if !a.quiet {
        eprintln!("saved {}", a.output.display());
    }
    Ok(())
}
