//! Hyper-parameter search for two-tower models within a wall-clock budget,
//! on the validation protocol of the iALS tune ([`crate::eval::tune`]): the
//! validation part is carved out of the input by the same per-user holdout
//! ([`random_holdout`], 20 %, `seed`), every trial stops early on the
//! validation metric ([`TwoTowerParams::fit_validated`]), and the best
//! setting is refitted on all of the input for its best number of epochs.
//!
//! The loss, logQ correction, negatives, batch size, `k` and layers come from
//! the base params; the search covers the learning rate, the output
//! normalization with its temperature `τ` (unnormalized outputs keep
//! `τ = 1`), `α0` and `λ` for mse-gramian, and, when asked, the serving
//! prior `β` (each trial validates with its `β`, so the number of epochs
//! is chosen for the model as it will be served; the other values of the
//! grid are then evaluated on the same towers, which costs no training). The first trials are
//! fixed settings that do well on the usual data; then random settings
//! (log scales) until the budget is spent. A trial is started only when the
//! last trial's time plus the refit fit in what is left, and a trial still
//! running when only the refit's reserve is left (the best trial's time, or
//! this trial's own so far should it win) is cut there, keeping its best
//! epoch; with `max_trials` binding first the search is deterministic.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::SideRows;
use super::params::{Loss, TwoTowerParams};
use super::TwoTowerModel;
use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::eval::metrics::{Evaluator, Metric};
use crate::eval::scorer::FactorScorer;
use crate::eval::split::random_holdout;
use crate::serve::prior::{item_counts, log_popularity, with_prior_column};

/// Settings of [`tune_towers`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TowerTuneConfig {
    /// Metric to maximise on the validation part.
    pub metric: Metric,
    /// Wall-clock budget in seconds for the search and the refit.
    pub budget_seconds: f64,
    /// Upper bound on the number of trials (`None`: the budget decides).
    pub max_trials: Option<usize>,
    /// Seed of the validation split and the search.
    pub seed: u64,
    /// Fraction of each user's items carved out for validation.
    pub validation_fraction: f64,
    /// Most epochs a trial.
    pub max_epochs: usize,
    /// Early-stopping patience (epochs without improvement).
    pub patience: usize,
    /// The serving prior values `β` to search (`[0.0]`: no prior).
    pub priors: Vec<f32>,
}

impl Default for TowerTuneConfig {
    fn default() -> Self {
        TowerTuneConfig {
            metric: Metric::recall(20),
            budget_seconds: 180.0,
            max_trials: None,
            seed: 42,
            validation_fraction: 0.2,
            max_epochs: 40,
            patience: 3,
            priors: vec![0.0],
        }
    }
}

/// One trial.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TowerTrial {
    /// 0-based trial number.
    pub id: usize,
    /// The params (with `epochs` = the best epoch).
    pub params: TwoTowerParams,
    /// The serving prior `β` of its best validation value (the epochs were
    /// chosen at the trial's own `β`; the other values of the grid are then
    /// evaluated on the same towers).
    pub prior: f32,
    /// Best validation value.
    pub value: f64,
    /// Validation value after each epoch.
    pub curve: Vec<f64>,
    /// Seconds.
    pub seconds: f64,
}

/// What [`tune_towers`] found.
#[derive(Clone, Debug)]
pub struct TowerTuneResult {
    /// Every trial, in order.
    pub trials: Vec<TowerTrial>,
    /// The best params (epochs = its best epoch).
    pub best: TwoTowerParams,
    /// The best serving prior `β` (0: none).
    pub best_prior: f32,
    /// The best params refitted on all of the input.
    pub model: TwoTowerModel,
    /// Wall-clock seconds of the search and the refit.
    pub seconds: f64,
}

/// One setting of the search.
#[derive(Clone, Copy, Debug)]
struct Cand {
    lr: f32,
    tau: Option<f32>,
    alpha0: f32,
    lambda: f32,
    beta: f32,
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f32 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp() as f32
}

/// The fixed first settings, then random ones.
fn candidates(base: &TwoTowerParams, priors: &[f32], rng: &mut ChaCha8Rng, n: usize) -> Vec<Cand> {
    let mse = base.loss() == Loss::MseGramian;
    let mut out = Vec::new();
    let fixed: &[(f32, Option<f32>, f32, f32)] = if mse {
        &[
            (0.05, None, 0.1, 0.0),
            (0.02, None, 0.03, 0.0),
            (0.05, None, 0.3, 0.0),
        ]
    } else {
        &[
            (0.02, None, 0.0, 0.0),
            (0.05, Some(0.1), 0.0, 0.0),
            (0.05, None, 0.0, 0.0),
        ]
    };
    // The fixed settings at the middle prior first, then the others.
    let mid = priors[priors.len() / 2];
    for &(lr, tau, alpha0, lambda) in fixed {
        out.push(Cand {
            lr,
            tau,
            alpha0,
            lambda,
            beta: mid,
        });
    }
    while out.len() < n {
        let tau = (!mse && rng.random::<f64>() < 0.5).then(|| log_uniform(rng, 0.03, 0.5));
        out.push(Cand {
            lr: log_uniform(rng, 0.005, 0.3),
            tau,
            alpha0: if mse {
                log_uniform(rng, 0.01, 1.0)
            } else {
                0.0
            },
            lambda: if mse && rng.random::<f64>() < 0.5 {
                log_uniform(rng, 1e-4, 0.1)
            } else {
                0.0
            },
            beta: priors[rng.random_range(0..priors.len())],
        });
    }
    out
}

/// The best trial (the first of equals).
fn best_of(trials: &[TowerTrial]) -> Option<&TowerTrial> {
    trials
        .iter()
        .max_by(|a, b| a.value.total_cmp(&b.value).then(b.id.cmp(&a.id)))
}

fn params_of(base: &TwoTowerParams, c: &Cand, epochs: usize) -> Result<TwoTowerParams> {
    let mut b = base
        .to_builder()
        .learning_rate(c.lr)
        .epochs(epochs)
        .normalize(c.tau.is_some())
        .temperature(c.tau.unwrap_or(1.0));
    if base.loss() == Loss::MseGramian {
        b = b.unobserved_weight(c.alpha0).regularization(c.lambda);
    }
    b.check()
}

/// Search two-tower settings on a validation part of `data` within the
/// budget, then refit the best on all of `data` (see the module doc).
/// `users` and `items` are the feature rows of `data`'s entities (`None`:
/// id-only), cold rows included; `on_trial` sees each finished trial.
pub fn tune_towers(
    data: &Interactions,
    base: &TwoTowerParams,
    users: Option<&SideRows>,
    items: Option<&SideRows>,
    cfg: &TowerTuneConfig,
    mut on_trial: impl FnMut(&TowerTrial),
) -> Result<TowerTuneResult> {
    let start = Instant::now();
    if cfg.priors.is_empty() || !cfg.budget_seconds.is_finite() || cfg.budget_seconds <= 0.0 {
        return Err(Error::InvalidSetting {
            name: "tune",
            requirement: "a positive budget and at least one prior value",
            value: format!("{} s, {:?}", cfg.budget_seconds, cfg.priors),
        });
    }
    for &b in &cfg.priors {
        crate::serve::prior::check_beta(b)?;
    }
    let (train, valid) = random_holdout(data, cfg.validation_fraction, cfg.seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7475_6E65);
    let max = cfg.max_trials.unwrap_or(10_000).max(1);
    let cands = candidates(base, &cfg.priors, &mut rng, max.min(10_000));
    let rows = |s: Option<&SideRows>| s.map(|s| s.rows.clone());
    let mut trials: Vec<TowerTrial> = Vec::new();
    let mut last = 0.0f64;
    for (id, c) in cands.iter().enumerate().take(max) {
        let left = cfg.budget_seconds - start.elapsed().as_secs_f64();
        // The refit costs about a trial (more data, fewer epochs).
        if id > 0 && 2.0 * last > left {
            break;
        }
        // The best trial so far's refit is reserved.
        let best_seconds = best_of(&trials).map_or(0.0, |b| b.seconds);
        let t = Instant::now();
        let p = params_of(base, c, cfg.max_epochs)?;
        let (fitted, stop) = p.fit_validated(
            &train,
            rows(users),
            rows(items),
            &valid,
            cfg.metric,
            cfg.patience,
            c.beta,
            |_, _| {
                let reserve = best_seconds.max(t.elapsed().as_secs_f64());
                if start.elapsed().as_secs_f64() + reserve >= cfg.budget_seconds {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            },
        )?;
        // The other prior values on the same towers: evaluation only, so
        // every trial also searches β (its epochs were chosen at its own β).
        let (mut value, mut prior) = (stop.best_value(), c.beta);
        if cfg.priors.len() > 1 {
            let model = fitted.to_model(&train)?;
            let ev = Evaluator::new(&train, &valid)?.for_metric(cfg.metric);
            let lp = log_popularity(&item_counts(train.by_user()));
            for &b in &cfg.priors {
                if b == c.beta {
                    continue;
                }
                let (x, y) = with_prior_column(model.user_factors(), model.item_factors(), &lp, b);
                let v = cfg.metric.value(&ev.evaluate(&FactorScorer::new(&x, &y)));
                if v > value {
                    (value, prior) = (v, b);
                }
            }
        }
        last = t.elapsed().as_secs_f64();
        let trial = TowerTrial {
            id,
            params: fitted.params().clone(),
            prior,
            value,
            curve: stop.history().iter().map(|h| h.1).collect(),
            seconds: last,
        };
        on_trial(&trial);
        trials.push(trial);
    }
    let best = best_of(&trials).expect("invariant: at least one trial runs");
    let (best_params, best_prior) = (best.params.clone(), best.prior);
    let model = best_params.fit_with(data, rows(users), rows(items), |_| {
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(TowerTuneResult {
        trials,
        best: best_params,
        best_prior,
        model,
        seconds: start.elapsed().as_secs_f64(),
    })
}
