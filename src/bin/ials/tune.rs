//! `ials tune`: search iALS settings on a validation split carved out of the
//! input (never any test data), refit the best on all of it, save it. With
//! `--item-features`/`--user-features`, the same search over linear feature
//! towers (`ials::eval::tune::tune_with_features`), optionally judged on
//! held-out cold items (`--metric cold-recall@20`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ials::data::read::{read_interactions, ReadOptions};
use ials::eval::tune::{tune, tune_with_features, FeatureTune, TuneConfig};
use ials::eval::Metric;
use ials::Params;

use crate::towers_cli::{read_features, save_model};

/// A metric of `ials tune`: a warm one (`recall@20`, …) or, with item
/// features, the same over held-out cold items only (`cold-recall@20`).
#[derive(Clone, Copy, Debug)]
pub struct TuneMetric {
    metric: Metric,
    cold: bool,
}

impl std::str::FromStr for TuneMetric {
    type Err = ials::Error;

    fn from_str(s: &str) -> ials::Result<Self> {
        let (cold, rest) = match s.trim().strip_prefix("cold-") {
            Some(r) => (true, r),
            None => (false, s),
        };
        Ok(TuneMetric {
            metric: rest.parse()?,
            cold,
        })
    }
}

impl std::fmt::Display for TuneMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.cold {
            write!(f, "cold-")?;
        }
        write!(f, "{}", self.metric)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training interactions (user,item[,value]).
    #[arg(long)]
    input: PathBuf,
    /// Output model directory (written atomically, as `ials fit --output`),
    /// with trials.json, best_params.json and tune.json beside the model
    /// files (`Model::load` ignores files its manifest does not list).
    #[arg(long)]
    output: PathBuf,
    /// Validation metric to maximise: recall@K, ndcg@K, … ; with
    /// --item-features also cold-recall@K, cold-ndcg@K, … (rank only the
    /// held-out cold items, embedded from their features alone, for the
    /// users who have one).
    #[arg(long, default_value = "recall@20")]
    metric: TuneMetric,
    /// With feature files: the fraction of the input's items with features
    /// held out whole (all their interactions) for validation.
    #[arg(long, default_value_t = 0.2)]
    cold_fraction: f64,
    /// Wall-clock budget of the search and the refit: seconds, or a number
    /// with s, m or h (`90s`, `3m`, `1h`).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    budget: f64,
    /// Most random trials of the small-k stage (default: 20% of the budget
    /// decides).
    #[arg(long)]
    trials: Option<usize>,
    /// Most trials in all (default: the budget decides).
    #[arg(long)]
    max_trials: Option<usize>,
    /// Factors of the exploration stage.
    #[arg(long, default_value_t = 32)]
    small_factors: usize,
    /// Largest factor count (k doubles from 2 x small-factors while
    /// validation improves; the iALS++ block solver from k = 512 on).
    #[arg(long, default_value_t = 1024)]
    max_factors: usize,
    /// Maximum sweeps a trial (early stopping ends most trials sooner).
    #[arg(long, default_value_t = 25)]
    max_iterations: usize,
    /// Do not try binary values (every value replaced by 1), which is tried
    /// by default when the input has values other than 1.
    #[arg(long)]
    no_binary: bool,
    /// Only this start, uniform or normal (default: both are searched).
    #[arg(long)]
    init: Option<ials::Init>,
    /// Seed of the validation split and the search.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Skip the first line.
    #[arg(long)]
    header: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print only the best setting and where it was saved.
    #[arg(long)]
    quiet: bool,
    /// What to tune: ials, or twotower (neural towers, the --loss/--logq/...
    /// settings below fixed; see `ials::neural::tune_towers`).
    #[arg(long, default_value = "ials", value_parser = ["ials", "twotower"])]
    kind: String,
    #[command(flatten)]
    towers: crate::twotower::TuneArgs,
}

fn parse_duration(s: &str) -> std::result::Result<f64, String> {
    let (num, mult) = match s.trim().char_indices().last() {
        Some((i, 's')) => (&s[..i], 1.0),
        Some((i, 'm')) => (&s[..i], 60.0),
        Some((i, 'h')) => (&s[..i], 3600.0),
        _ => (s, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * mult),
        _ => Err(format!(
            "invalid budget {s:?}: expected seconds > 0, or a number with s, m or h (90s, 3m)"
        )),
    }
}

pub fn run(a: Args) -> Result<()> {
    let metric = a.metric.metric;
    if a.metric.cold && a.towers.item_features.is_none() {
        return Err(ials::Error::ColdMetricWithoutItemFeatures {
            metric: a.metric.to_string(),
        }
        .into());
    }
    // Before any search: a tune that cannot save is refused at once.
    crate::common::check_output_parent(&a.output)?;
    if a.kind == "twotower" {
        if a.metric.cold {
            bail!(
                "--metric {} is for --kind ials (linear towers); --kind twotower tunes warm metrics",
                a.metric
            );
        }
        let c = crate::twotower::TuneCommon {
            input: &a.input,
            output: &a.output,
            metric,
            budget: a.budget,
            max_trials: a.max_trials,
            seed: a.seed,
            header: a.header,
            threads: a.threads,
            quiet: a.quiet,
        };
        return crate::twotower::tune(c, &a.towers);
    }
    let opts = ReadOptions {
        header: a.header,
        ..Default::default()
    };
    let data = read_interactions(&a.input, &opts)?;
    let mut base = Params::builder();
    if let Some(t) = a.threads {
        base = base.threads(t);
    }
    let cfg = TuneConfig {
        metric,
        budget_seconds: a.budget,
        explore_trials: a.trials,
        max_trials: a.max_trials,
        seed: a.seed,
        small_factors: a.small_factors,
        max_factors: a.max_factors,
        max_iterations: a.max_iterations,
        search_binary: a.no_binary.then_some(false),
        init: a.init,
        ..Default::default()
    };
    if !a.quiet {
        println!(
            "{:>5} {:>5} {:>4} {:>8} {:>3} {:>7} {:>9} {:>7} {:>4} {:>10} {:>5} {:>9} {:>7}  curve",
            "trial",
            "stage",
            "k",
            "conf",
            "bin",
            "init",
            "alpha",
            "alpha0",
            "nu",
            "lambda",
            "iters",
            a.metric.to_string(),
            "seconds"
        );
    }
    let (uf_path, if_path) = (
        a.towers.user_features.as_deref(),
        a.towers.item_features.as_deref(),
    );
    let user_features = read_features(uf_path, "user")?;
    let item_features = read_features(if_path, "item")?;
    let with_features = user_features.is_some() || item_features.is_some();
    let quiet = a.quiet;
    let on_trial = |t: &ials::eval::tune::Trial| {
        if quiet {
            return;
        }
        let p = &t.params;
        let curve: Vec<String> = t.curve.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "{:>5} {:>5} {:>4} {:>8} {:>3} {:>7} {:>9.3} {:>7.4} {:>4} {:>10.3e} {:>5} {:>9.4} {:>7.2}  {}",
            t.id,
            t.stage,
            p.factors(),
            p.confidence().to_string(),
            if t.binary { "yes" } else { "no" },
            p.init().to_string(),
            p.alpha(),
            p.unobserved_weight(),
            p.reg_exponent(),
            p.regularization(),
            p.iterations(),
            t.value,
            t.seconds,
            curve.join(" ")
        );
        if let Some(f) = t.feature_reg {
            println!("{:>5} feature lambda {f:.3e}", "");
        }
    };
    let base = base.check()?;
    let result = if with_features {
        let ft = FeatureTune {
            cold_metric: a.metric.cold,
            cold_fraction: a.cold_fraction,
            ..FeatureTune::new(user_features.as_ref(), item_features.as_ref())
        };
        tune_with_features(&data, &base, &cfg, &ft, on_trial)?
    } else {
        tune(&data, &base, &cfg, on_trial)?
    };
    // The model first (atomic: a directory rename), then the search record
    // inside it, each file written to a temporary and renamed.
    // With features: the tower model directory of `ials fit --item-features`.
    save_model(
        &a.output,
        &result.model,
        result.towers.as_ref().map(|t| &t.1),
        uf_path,
        if_path,
    )
    .with_context(|| format!("saving the tuned model to {}", a.output.display()))?;
    let write_json = |name: &str, v: String| {
        ials::io::write_atomic(&a.output.join(name), |w| w.write_all(v.as_bytes()))
    };
    let by_k = result.best_by_factors();
    write_json("trials.json", serde_json::to_string_pretty(&result.trials)?)?;
    write_json(
        "best_params.json",
        serde_json::to_string_pretty(&result.best)?,
    )?;
    let summary = serde_json::json!({
        "best_params": &result.best,
        "binary_values": result.best_binary,
        "best_validation_by_factors": by_k.iter().map(|(k, v)| serde_json::json!({"factors": k, "value": v})).collect::<Vec<_>>(),
        "metric": a.metric.to_string(),
        "tower_params": result.towers.as_ref().map(|t| &t.0),
        "contenders": &result.contenders,
        "trials": result.trials.len(),
        "seconds": result.seconds,
        "budget_seconds": a.budget,
    });
    write_json("tune.json", serde_json::to_string_pretty(&summary)?)?;
    if !a.quiet {
        let line: Vec<String> = by_k.iter().map(|(k, v)| format!("k {k}: {v:.4}")).collect();
        println!("best {} by k: {}", a.metric, line.join(", "));
        if !result.contenders.is_empty() {
            let line: Vec<String> = result
                .contenders
                .iter()
                .map(|c| {
                    let v: Vec<String> = c.values.iter().map(|v| format!("{v:.4}")).collect();
                    format!(
                        "k {} (trial {}): {} -> {:.4}",
                        c.factors,
                        c.trial,
                        v.join(" "),
                        c.fresh_mean
                    )
                })
                .collect();
            println!(
                "fresh validation splits (own split first, then the mean of the fresh ones): {}",
                line.join("; ")
            );
        }
        println!(
            "{} trials in {:.1} s (budget {:.0} s)",
            result.trials.len(),
            result.seconds,
            a.budget
        );
    }
    println!("best: {}", serde_json::to_string(&result.best)?);
    if result.best_binary {
        println!(
            "binary values: every value was replaced by 1 (ials fit --columns 1,2 does the same)"
        );
    }
    println!("saved to {}", a.output.display());
    Ok(())
}
