//! Early stopping on a validation metric, as a fit callback.
//!
//! ```
//! use ials::eval::{fit_with_early_stopping, random_holdout, Metric};
//! use ials::{Params, SynthConfig};
//! let data = SynthConfig::new(200, 100, 4000, 3).interactions()?;
//! let (train, valid) = random_holdout(&data, 0.2, 3)?;
//! let params = Params::builder().factors(8).iterations(30).check()?;
//! let (model, stop) = fit_with_early_stopping(&params, &train, &valid, Metric::recall(20), 3)?;
//! assert_eq!(model.params().iterations(), stop.best_iteration());
//! # Ok::<(), ials::Error>(())
//! ```

use std::ops::ControlFlow;

use crate::data::Interactions;
use crate::error::Result;
use crate::eval::metrics::{Evaluator, Metric};
use crate::eval::scorer::FactorScorer;
use crate::factors::Factors;
use crate::model::Model;
use crate::params::Params;
use crate::train::Progress;

/// Evaluates `metric` on a validation set after each iteration (from the
/// [`Progress`] of [`Params::fit_with`]), keeps the best iteration's factors
/// and asks to stop after `patience` iterations without improvement.
pub struct EarlyStopping<'a> {
    evaluator: Evaluator<'a>,
    metric: Metric,
    rule: Patience,
    /// The best iteration's factors (its iteration and value: `rule`).
    best: Option<(Factors, Factors)>,
}

/// The rule of early stopping on a sequence of validation values: the best
/// so far, and stop after `patience` values without improvement. Used by
/// [`EarlyStopping`] and by the tune's tower trials (which judge a value
/// computed from more than the training factors).
#[derive(Clone, Debug)]
pub struct Patience {
    patience: usize,
    best: Option<(usize, f64)>,
    since_best: usize,
    history: Vec<(usize, f64)>,
}

impl Patience {
    /// Stop after `patience` (at least 1) values without improvement.
    pub fn new(patience: usize) -> Self {
        Patience {
            patience: patience.max(1),
            best: None,
            since_best: 0,
            history: Vec::new(),
        }
    }

    /// Record `value` of `iteration`; whether it improved on the best, and
    /// whether to stop.
    pub fn observe(&mut self, iteration: usize, value: f64) -> (bool, ControlFlow<()>) {
        self.history.push((iteration, value));
        let improved = self.best.is_none_or(|b| value > b.1);
        if improved {
            self.best = Some((iteration, value));
            self.since_best = 0;
            (true, ControlFlow::Continue(()))
        } else {
            self.since_best += 1;
            if self.since_best >= self.patience {
                (false, ControlFlow::Break(()))
            } else {
                (false, ControlFlow::Continue(()))
            }
        }
    }

    /// `(iteration, value)` of every value seen.
    pub fn history(&self) -> &[(usize, f64)] {
        &self.history
    }

    /// The best iteration (0 before any).
    pub fn best_iteration(&self) -> usize {
        self.best.map_or(0, |b| b.0)
    }

    /// The best value (`-inf` before any).
    pub fn best_value(&self) -> f64 {
        self.best.map_or(f64::NEG_INFINITY, |b| b.1)
    }
}

impl<'a> EarlyStopping<'a> {
    /// Validation of a model trained on `train` against held-out items of
    /// the same users (`validation`, same index space).
    pub fn new(
        train: &'a Interactions,
        validation: &'a Interactions,
        metric: Metric,
        patience: usize,
    ) -> Result<Self> {
        Ok(EarlyStopping {
            evaluator: Evaluator::new(train, validation)?.for_metric(metric),
            metric,
            rule: Patience::new(patience),
            best: None,
        })
    }

    /// The fit callback: evaluate, remember the best, break when patience
    /// runs out.
    pub fn observe(&mut self, p: &Progress<'_>) -> ControlFlow<()> {
        let scorer = FactorScorer::new(p.user_factors, p.item_factors);
        let value = self.metric.value(&self.evaluator.evaluate(&scorer));
        let it = p.report.iteration;
        let (improved, flow) = self.rule.observe(it, value);
        if improved {
            self.best = Some((p.user_factors.clone(), p.item_factors.clone()));
        }
        flow
    }

    /// `(iteration, metric)` of every iteration seen.
    pub fn history(&self) -> &[(usize, f64)] {
        self.rule.history()
    }

    /// The best iteration (0 before any).
    pub fn best_iteration(&self) -> usize {
        self.rule.best_iteration()
    }

    /// The best metric value (`-inf` before any).
    pub fn best_value(&self) -> f64 {
        self.rule.best_value()
    }

    /// Replace the model's factors by the best iteration's; its params get
    /// `iterations = best` and its history is cut there, so a refit with
    /// the returned params reproduces it.
    pub fn apply_best(&self, model: Model) -> Model {
        let Some((x, y)) = &self.best else {
            return model;
        };
        let it = self.rule.best_iteration();
        let params = model
            .params()
            .with_iterations(it)
            .expect("invariant: the best iteration is >= 1");
        let history = model.loss_history()[..it].to_vec();
        let (users, items, train) = (
            model.users().clone(),
            model.items().clone(),
            model.train().clone(),
        );
        Model::new(params, users, items, train, x.clone(), y.clone(), history)
    }
}

/// Fit `params` on `train` (at most `params.iterations` sweeps), stopping
/// when `metric` on `validation` has not improved for `patience`
/// iterations, and return the best iteration's model with the stopper (for
/// its history). This is what `ials fit --validation FILE --patience N
/// --metric recall@20` calls.
pub fn fit_with_early_stopping<'a>(
    params: &Params,
    train: &'a Interactions,
    validation: &'a Interactions,
    metric: Metric,
    patience: usize,
) -> Result<(Model, EarlyStopping<'a>)> {
    let mut stop = EarlyStopping::new(train, validation, metric, patience)?;
    let model = params.fit_with(train, |p| stop.observe(p))?;
    let model = stop.apply_best(model);
    Ok((model, stop))
}
