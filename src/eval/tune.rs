//! Hyper-parameter search for iALS: random search over log scales with
//! early stopping, cheap small-k trials first, then the best settings at
//! larger k. Only the input is seen: the validation part is carved out of it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::confidence::ConfidenceKind;
use crate::data::Interactions;
use crate::error::Result;
use crate::eval::early_stopping::fit_with_early_stopping;
use crate::eval::metrics::Metric;
use crate::eval::split::random_holdout;
use crate::model::Model;
use crate::params::Params;

/// Settings of [`tune`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TuneConfig {
    /// Metric to maximise on the validation part.
    pub metric: Metric,
    /// Random trials at `small_factors`.
    pub trials: usize,
    /// Seed of the validation split and the search.
    pub seed: u64,
    /// Fraction of each user's items carved out for validation.
    pub validation_fraction: f64,
    /// Maximum sweeps a trial.
    pub max_iterations: usize,
    /// Early-stopping patience.
    pub patience: usize,
    /// Factors of the cheap first stage.
    pub small_factors: usize,
    /// Factors tried for the best `top` settings in the second stage.
    pub factors: Vec<usize>,
    /// Settings carried to the second stage; at each k, λ of the best of
    /// them is then doubled (or halved) while that improves, and the result
    /// is carried to the next k as well.
    pub top: usize,
    /// Most λ doublings (or halvings) at each k of the second stage.
    pub lambda_steps: usize,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            metric: Metric::recall(20),
            trials: 20,
            seed: 42,
            validation_fraction: 0.2,
            max_iterations: 20,
            patience: 2,
            small_factors: 32,
            factors: vec![64, 128],
            top: 3,
            lambda_steps: 3,
        }
    }
}

/// One trial.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trial {
    /// 0-based trial number.
    pub id: usize,
    /// 1: small-k random search; 2: best settings at larger k.
    pub stage: u8,
    /// The params (with `iterations` = the best iteration).
    pub params: Params,
    /// Best validation value.
    pub value: f64,
    /// Seconds.
    pub seconds: f64,
}

/// What [`tune`] found.
pub struct TuneResult {
    /// Every trial in order.
    pub trials: Vec<Trial>,
    /// The best params (iterations = its best iteration).
    pub best: Params,
    /// The best params refitted on the whole input.
    pub model: Model,
}

/// Second-stage factor counts: 64, 128, 256, … up to `max` (just `[max]`
/// when `max < 64`).
pub fn factor_ladder(max: usize) -> Vec<usize> {
    if max < 64 {
        return vec![max.max(1)];
    }
    std::iter::successors(Some(64usize), |k| Some(k * 2))
        .take_while(|&k| k <= max)
        .collect()
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Search, then refit the best setting on all of `input`. `on_trial` sees
/// each trial as it finishes (progress tables).
pub fn tune(
    input: &Interactions,
    base: &Params,
    cfg: &TuneConfig,
    mut on_trial: impl FnMut(&Trial),
) -> Result<TuneResult> {
    let (fit, valid) = random_holdout(input, cfg.validation_fraction, cfg.seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7475_6e65);
    let n = input.n_items() as f64;
    let mean_len = input.nnz() as f64 / input.n_users().max(1) as f64;
    let mut trials: Vec<Trial> = Vec::new();
    let mut run = |p: Params, stage: u8, trials: &mut Vec<Trial>| -> Result<()> {
        let start = std::time::Instant::now();
        let (m, stop) = fit_with_early_stopping(&p, &fit, &valid, cfg.metric, cfg.patience)?;
        let t = Trial {
            id: trials.len(),
            stage,
            params: m.params().clone(),
            value: stop.best_value(),
            seconds: start.elapsed().as_secs_f64(),
        };
        on_trial(&t);
        trials.push(t);
        Ok(())
    };
    for t in 0..cfg.trials.max(1) {
        let b = base
            .to_builder()
            .factors(cfg.small_factors)
            .iterations(cfg.max_iterations)
            .seed(cfg.seed);
        let p = if t <= 1 {
            // Settings that do well on MovieLens-like data: λ 10 with no
            // frequency scaling, and the same strength with ν = 1 (Rendle et
            // al. 2022: λ scaled by |S_u| + α0 n).
            let (nu, lambda) = if t == 0 {
                (0.0, 10.0)
            } else {
                (1.0, 10.0 / (mean_len + 0.1 * n))
            };
            b.alpha(1.0)
                .unobserved_weight(0.1)
                .regularization(lambda as f32)
                .reg_exponent(nu as f32)
                .confidence(ConfidenceKind::Linear)
        } else {
            let conf = if rng.random::<bool>() {
                ConfidenceKind::Linear
            } else {
                ConfidenceKind::Log
            };
            let a0 = log_uniform(&mut rng, 0.01, 1.0);
            let nu = [0.0, 0.5, 1.0][rng.random_range(0..3)];
            let lambda_eff = log_uniform(&mut rng, 0.1, 100.0);
            let lambda = lambda_eff / (mean_len + a0 * n).powf(nu);
            b.confidence(conf)
                .alpha(log_uniform(&mut rng, 0.3, 30.0) as f32)
                .unobserved_weight(a0 as f32)
                .reg_exponent(nu as f32)
                .regularization(lambda as f32)
        };
        run(p.check()?, 1, &mut trials)?;
    }
    let mut order: Vec<usize> = (0..trials.len()).collect();
    order.sort_by(|&a, &b| trials[b].value.total_cmp(&trials[a].value).then(a.cmp(&b)));
    let top: Vec<Params> = order
        .iter()
        .take(cfg.top)
        .map(|&i| trials[i].params.clone())
        .collect();
    let same_setting = |a: &Params, b: &Params| {
        a.confidence() == b.confidence()
            && a.alpha() == b.alpha()
            && a.unobserved_weight() == b.unobserved_weight()
            && a.reg_exponent() == b.reg_exponent()
            && a.regularization() == b.regularization()
    };
    let mut carry = top;
    for &k in &cfg.factors {
        let first = trials.len();
        for p in &carry {
            let p = p
                .to_builder()
                .factors(k)
                .iterations(cfg.max_iterations)
                .check()?;
            run(p, 2, &mut trials)?;
        }
        // More factors want a retuned λ: from the best setting at this k,
        // walk λ up by factors of 2 while that improves (at most
        // `lambda_steps` steps), else down.
        let (mut best_v, mut best_p) = trials[first..]
            .iter()
            .max_by(|a, b| a.value.total_cmp(&b.value).then(b.id.cmp(&a.id)))
            .map(|t| (t.value, t.params.clone()))
            .expect("invariant: carry is not empty");
        for scale in [2.0f32, 0.5] {
            let mut moved = false;
            for _ in 0..cfg.lambda_steps {
                let q = best_p
                    .to_builder()
                    .regularization(best_p.regularization() * scale)
                    .iterations(cfg.max_iterations)
                    .check()?;
                run(q, 2, &mut trials)?;
                let t = trials.last().expect("invariant: just pushed");
                if t.value > best_v {
                    (best_v, best_p, moved) = (t.value, t.params.clone(), true);
                } else {
                    break;
                }
            }
            if moved {
                break;
            }
        }
        // The retuned λ goes on to the next k too.
        if !carry.iter().any(|c| same_setting(c, &best_p)) {
            carry.push(best_p);
        }
    }
    let best = trials
        .iter()
        .max_by(|a, b| a.value.total_cmp(&b.value).then(b.id.cmp(&a.id)))
        .expect("invariant: at least one trial")
        .params
        .clone();
    let model = best.fit(input)?;
    Ok(TuneResult {
        trials,
        best,
        model,
    })
}
