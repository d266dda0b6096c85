//! `ials fit`: read a CSV/TSV of interactions, fit, save the model.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use ials::data::read::{read_interactions, Columns, ReadOptions};
use ials::eval::EarlyStopping;
use ials::towers::TowerModel;
use ials::{Interactions, Model, Params, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::common;
use crate::towers_cli::{fit_towers, FeatureArgs};

#[derive(clap::Args, Debug)]
#[command(args_override_self = true)]
pub struct Args {
    #[command(flatten)]
    input: common::Input,
    /// Model directory to write (replaced atomically if it exists).
    #[arg(long)]
    output: PathBuf,
    /// 1-based column numbers `USER,ITEM[,VALUE]` (default 1,2,3; a missing
    /// value column means value 1).
    #[arg(long)]
    columns: Option<String>,
    #[command(flatten)]
    params: common::ParamArgs,
    /// Read a negative value as an observed negative (an impression not
    /// taken): target 0 with the confidence of |value|. Without this flag a
    /// negative value is an error naming the line.
    #[arg(long)]
    observed_negatives: bool,
    /// Write a JSON report (load time, sizes, params, loss per iteration).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress bar, no loss lines.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    valid: common::ValidationArgs,
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
    let params = a
        .params
        .check()?
        .to_builder()
        .observed_negatives(a.observed_negatives)
        .check()?;
    let opts = ReadOptions {
        observed_negatives: a.observed_negatives,
        columns: match &a.columns {
            Some(c) => parse_columns(c)?,
            None => Columns::default(),
        },
        value_optional: a.columns.is_none(),
        ..a.input.format.read_options()?
    };
    if let Some(r) = &a.report {
        common::check_output_parent(r)?;
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.params.threads)?;
    let t = Instant::now();
    let input = &a.input.input;
    let data = read_interactions(input, &opts)?;
    let load_seconds = t.elapsed().as_secs_f64();
    // Refuse, with the figures, a fit the machine cannot hold (before any
    // factor is allocated, towers included).
    ials::resources::check_fit(&params, data.n_users(), data.n_items(), data.nnz())?;
    if !a.quiet {
        eprintln!(
            "read {}: {} users x {} items, {} interactions in {load_seconds:.2}s",
            input.display(),
            data.n_users(),
            data.n_items(),
            data.nnz()
        );
    }
    let (model, towers, validation) = fit_model(&a, &params, &data, &opts)?;
    let t = Instant::now();
    save(&a, &model, towers.as_ref())?;
    let save_seconds = t.elapsed().as_secs_f64();
    if let Some(path) = &a.report {
        let times = (load_seconds, save_seconds);
        write_report(path, &a, &data, &model, times, validation)?;
    }
    if !a.quiet {
        eprintln!("saved {}", a.output.display());
    }
    Ok(())
}

/// A progress bar on a terminal (hidden with `--quiet` or when piped).
fn progress_bar(quiet: bool, iterations: usize) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(iterations as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} iterations  {elapsed_precise} (eta {eta})",
        )
        .expect("invariant: valid template"),
    );
    pb
}

/// The fit itself: towers, early stopping on a validation file, or plain.
/// Returns the model, the towers (if any) and the validation report.
fn fit_model(
    a: &Args,
    params: &Params,
    data: &Interactions,
    opts: &ReadOptions,
) -> Result<(Model, Option<TowerModel>, serde_json::Value)> {
    let pb = progress_bar(a.quiet, params.iterations());
    let quiet = a.quiet;
    let log = |p: &Progress<'_>| {
        let r = p.report;
        if !quiet {
            pb.suspend(|| eprintln!("{r}"));
        }
        pb.inc(1);
    };
    let out = if a.features.wanted() {
        if a.valid.validation.is_some() {
            bail!("--validation is not supported with feature towers (--item-features, --user-features, ...)");
        }
        let (model, fitted) = fit_towers(params, data, &a.features, |p| {
            log(p);
            ControlFlow::Continue(())
        })?;
        (model, Some(fitted), serde_json::Value::Null)
    } else if let Some(vpath) = &a.valid.validation {
        let (model, report) = fit_validated(a, params, data, opts, vpath, &pb, &log)?;
        (model, None, report)
    } else {
        let model = params.fit_with(data, |p| {
            log(p);
            ControlFlow::Continue(())
        })?;
        (model, None, serde_json::Value::Null)
    };
    pb.finish_and_clear();
    Ok(out)
}

/// Fit with early stopping on `vpath`; the best iteration's model and the
/// validation report.
fn fit_validated(
    a: &Args,
    params: &Params,
    data: &Interactions,
    opts: &ReadOptions,
    vpath: &std::path::Path,
    pb: &ProgressBar,
    log: &(dyn Fn(&Progress<'_>) + Sync),
) -> Result<(Model, serde_json::Value)> {
    let quiet = a.quiet;
    let valid = common::read_validation(vpath, opts, data, quiet)?;
    let metric = a.valid.metric;
    let mut stop = EarlyStopping::new(data, &valid, metric, a.valid.patience)?;
    let model = params.fit_with(data, |p| {
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
    let report = serde_json::json!({
        "file": vpath.display().to_string(),
        "metric": metric.to_string(),
        "patience": a.valid.patience,
        "best_iteration": stop.best_iteration(),
        "best_value": stop.best_value(),
        "history": stop.history().iter().map(|&(it, v)| serde_json::json!({"iteration": it, "value": v})).collect::<Vec<_>>(),
    });
    Ok((model, report))
}

/// Save the model and, with feature files, the attribute weights.
fn save(a: &Args, model: &Model, towers: Option<&TowerModel>) -> Result<()> {
    crate::towers_cli::save_model(
        &a.output,
        model,
        towers,
        a.features.user_features.as_deref(),
        a.features.item_features.as_deref(),
    )
}

/// The `--report` JSON: load/save times, sizes, params, loss per iteration.
fn write_report(
    path: &std::path::Path,
    a: &Args,
    data: &Interactions,
    model: &Model,
    (load_seconds, save_seconds): (f64, f64),
    validation: serde_json::Value,
) -> Result<()> {
    let iterations: Vec<serde_json::Value> = model
        .loss_history()
        .iter()
        .map(|r| {
            serde_json::json!({
                "iteration": r.iteration,
                "seconds": r.seconds,
                "loss_seconds": r.loss_seconds,
                "loss": r.loss_or_nan().total(),
                "loss_observed": r.loss_or_nan().observed,
                "loss_unobserved": r.loss_or_nan().unobserved,
                "loss_regularization": r.loss_or_nan().regularization,
            })
        })
        .collect();
    let report = serde_json::json!({
        "input": a.input.input.display().to_string(),
        "model": a.output.display().to_string(),
        "load_seconds": load_seconds,
        "save_seconds": save_seconds,
        "users": data.n_users(),
        "items": data.n_items(),
        "nnz": data.nnz(),
        "params": model.params(),
        "iterations": iterations,
        "validation": validation,
    });
    let text = serde_json::to_vec_pretty(&report)?;
    common::write_output(path, |w| {
        w.write_all(&text)?;
        w.write_all(b"\n")
    })?;
    Ok(())
}
