//! Hyper-parameter search for iALS within a wall-clock budget.
//!
//! Only the input is seen: the validation part is carved out of it. Three
//! stages:
//!
//! 1. **Explore** at a small `k` (`small_factors`): fixed settings that do
//!    well on the usual data first (Rendle et al. 2022: small `α0`, `ν = 1`;
//!    on count data binary values and log confidence first), then a compass
//!    search around the best so far (`λ` ×/÷ 4 and 2, `α0` ×/÷ 3 with the
//!    effective `λ` kept, `α` ×/÷ 3, `ν ∈ {0, ½, 1}`, the start, binary
//!    values, the confidence kind), a random setting (log scales) whenever
//!    the neighbours of the best are used up, until `explore_share` of the
//!    budget is spent.
//! 2. **Grow k**: `k` doubles (`2 small_factors`, … up to `max_factors`; the
//!    iALS++ block solver from `block_from` on). At each `k` the best `top`
//!    settings so far are refitted, then `λ` of the best is walked in steps
//!    of 4× over a wide log range (down first, then up), then `α0`
//!    (3× each way), unless the carried setting beat the previous `k` by more
//!    than `k_jump` (then only `λ / 4` is tried, walked on down while it
//!    gains, and the best `λ` is carried to the next `k`). `k`
//!    keeps doubling while the best validation value improves (one `k`
//!    without improvement is allowed; more while the next `k` fits in the
//!    first half of the budget).
//! 3. **Refine** around the best trial: its compass neighbours, finer steps
//!    (`λ` ×/÷ √2, `α0` ×/÷ √3), `k` one step up or down; when none
//!    improves, up to `perturbations` random perturbations (`λ`, `α0`, `α`
//!    each within ×/÷ 1.6); any improvement restarts the stage around the
//!    new best.
//! 4. **Confirm** while budget is left: the best setting of each `k`
//!    within `confirm_within` of the best value is refitted on up to
//!    `confirm_folds` fresh validation splits (other seeds of the same
//!    holdout); with two or more, the best mean over them wins (one split
//!    cannot tell settings within its noise apart, and the best of hundreds
//!    of trials on it reads high). Not for feature towers.
//!
//! Validation is cheap: [`Evaluator`](crate::eval::Evaluator) ranks all
//! users at once with the blocked top-k kernel (about half of a trial on
//! CiteULike-a, where a 32-factor trial went from 57 s to 3.6 s).
//!
//! A trial is started only when its cost plus the final refit (at the
//! larger of its `k` and the best's) fit in what is left of the budget; a
//! started trial whose curve runs longer than priced is cut when only that
//! refit's reserve is left, keeping its best sweep so far. Its cost is a
//! sweep's cost at that `k` (the last trial's there, or the nearest smaller
//! `k`'s scaled by `(k/k')²`) times the sweeps the best trial so far ran
//! (see `CostModel`). The best setting is then refitted on all of the input.
//! Every trial records its validation curve (the metric after each sweep;
//! early stopping with `patience`, never before `min_iterations`; from then
//! on a trial below `screen` times the best value so far is stopped). With
//! limits that bind before the budget (`max_trials`, `explore_trials`) the
//! search is deterministic; with a binding wall-clock budget, where it stops
//! depends on the machine.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::confidence::ConfidenceKind;
use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::eval::early_stopping::{EarlyStopping, Patience};
use crate::eval::metrics::{Evaluator, Metric};
use crate::eval::scorer::FactorScorer;
use crate::eval::split::{cold_item_split, random_holdout, ColdSplit};
use crate::factors::Init;
use crate::model::Model;
use crate::params::{Params, SolverKind};
use crate::towers::{Features, Tower, TowerModel, TowerParams, TowerTrainer};

/// Settings of [`tune`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TuneConfig {
    /// Metric to maximise on the validation part.
    pub metric: Metric,
    /// Wall-clock budget in seconds for the whole search and the refit.
    pub budget_seconds: f64,
    /// Upper bound on the number of trials (`None`: the budget decides).
    pub max_trials: Option<usize>,
    /// Most random trials of stage 1 (`None`: the budget share decides).
    pub explore_trials: Option<usize>,
    /// Share of the budget for stage 1.
    pub explore_share: f64,
    /// Fewest stage-1 trials, whatever the budget.
    pub min_explore_trials: usize,
    /// Seed of the validation split and the search.
    pub seed: u64,
    /// Fraction of each user's items carved out for validation.
    pub validation_fraction: f64,
    /// Maximum sweeps a trial.
    pub max_iterations: usize,
    /// Early-stopping patience (sweeps without improvement).
    pub patience: usize,
    /// Sweeps before early stopping may end a trial.
    pub min_iterations: usize,
    /// Screening: after `min_iterations` sweeps, a trial whose best value
    /// is below `screen` times the best trial's so far is stopped (0: never).
    pub screen: f64,
    /// Factors of stage 1.
    pub small_factors: usize,
    /// Largest `k` of stage 2 (doubling from `2 small_factors`).
    pub max_factors: usize,
    /// From this `k` on, trials use the iALS++ block solver (blocks of 64)
    /// instead of the base params' solver.
    pub block_from: usize,
    /// Settings carried to each new `k`.
    pub top: usize,
    /// Stage 2 skips the `λ` and `α0` searches at a `k` whose carried best
    /// beats the previous `k`'s by more than this (relative); 0: never skip.
    pub k_jump: f64,
    /// Stage 3: random perturbations of the best setting tried after its
    /// neighbours, before giving up (counted since the last improvement).
    pub perturbations: usize,
    /// Also try binary values (every value 1). `None`: only when the input
    /// has values other than 1.
    pub search_binary: Option<bool>,
    /// Only this start (`None`: normal and uniform are both searched).
    pub init: Option<Init>,
    /// Stage 4: most fresh validation splits on which the close contenders
    /// are refitted when budget is left (0: never).
    pub confirm_folds: usize,
    /// Stage 4: the best setting of each `k` within this fraction of the
    /// best value is a contender.
    pub confirm_within: f64,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            metric: Metric::recall(20),
            budget_seconds: 180.0,
            max_trials: None,
            explore_trials: None,
            explore_share: 0.2,
            min_explore_trials: 6,
            seed: 42,
            validation_fraction: 0.2,
            max_iterations: 25,
            patience: 2,
            min_iterations: 5,
            screen: 0.9,
            small_factors: 32,
            max_factors: 1024,
            block_from: 512,
            top: 1,
            k_jump: 0.05,
            perturbations: 12,
            search_binary: None,
            init: None,
            confirm_folds: 4,
            confirm_within: 0.03,
        }
    }
}

/// One trial.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trial {
    /// 0-based trial number.
    pub id: usize,
    /// 1: small-k exploration; 2: growing k; 3: refining the best.
    pub stage: u8,
    /// Fitted on binary values (every value replaced by 1).
    pub binary: bool,
    /// The params (with `iterations` = the best iteration).
    pub params: Params,
    /// Feature towers: `λ_F` of the attribute features (every side with
    /// features), searched with the id `λ` (`params.regularization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_reg: Option<f32>,
    /// Best validation value.
    pub value: f64,
    /// Stage 4: the fresh validation split this trial was judged on (0: the
    /// search's own split).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fold: u32,
    /// Validation value after each sweep (the validation curve).
    pub curve: Vec<f64>,
    /// Seconds.
    pub seconds: f64,
}

fn is_zero(f: &u32) -> bool {
    *f == 0
}

/// Stage 4: one contender's validation values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Contender {
    /// The contender's trial on the search's own split.
    pub trial: usize,
    /// Its `k`.
    pub factors: usize,
    /// Its value on the search's split, then on each fresh split.
    pub values: Vec<f64>,
    /// Mean over the fresh splits (the search's own value is left out: it
    /// won a selection among many trials and reads high).
    pub fresh_mean: f64,
    /// Its best sweep on each split, the search's first.
    pub iterations: Vec<usize>,
}

/// What [`tune`] found.
pub struct TuneResult {
    /// Every trial in order.
    pub trials: Vec<Trial>,
    /// Stage 4 (empty when it did not run): the contenders, each refitted
    /// on the same fresh validation splits; the best fresh mean won.
    pub contenders: Vec<Contender>,
    /// The best params (iterations = its best iteration).
    pub best: Params,
    /// Whether the best setting uses binary values (the refit then saw every
    /// value as 1: `ials fit --columns 1,2` does the same).
    pub best_binary: bool,
    /// The best params refitted on all of the input (with feature towers:
    /// the towers' plain model, cold entities after the training ones).
    pub model: Model,
    /// Feature towers: the best tower settings and the refitted towers.
    pub towers: Option<(TowerParams, TowerModel)>,
    /// Seconds of the whole search and refit.
    pub seconds: f64,
}

impl TuneResult {
    /// Best validation value at each `k` tried, in increasing `k`: the curve
    /// that decided how far `k` grew.
    pub fn best_by_factors(&self) -> Vec<(usize, f64)> {
        best_per_k(&self.trials)
            .into_iter()
            .map(|t| (t.params.factors(), t.value))
            .collect()
    }
}

/// The best trial of each `k` on the search's own split (the first of
/// equals), in increasing `k`.
fn best_per_k(trials: &[Trial]) -> Vec<&Trial> {
    let mut per_k: Vec<&Trial> = Vec::new();
    for t in trials.iter().filter(|t| t.fold == 0) {
        match per_k
            .iter_mut()
            .find(|b| b.params.factors() == t.params.factors())
        {
            Some(b) if t.value > b.value => *b = t,
            Some(_) => {}
            None => per_k.push(t),
        }
    }
    per_k.sort_by_key(|t| t.params.factors());
    per_k
}

/// Stage-2 factor counts: `2 small`, `4 small`, … up to `max` (just `[max]`
/// when that is not above `small`).
pub fn factor_ladder(small: usize, max: usize) -> Vec<usize> {
    if max <= small {
        return vec![max.max(1)];
    }
    std::iter::successors(Some(small.max(1) * 2), |k| Some(k * 2))
        .take_while(|&k| k <= max)
        .collect()
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// The input with every value replaced by 1.
fn binarized(data: &Interactions) -> Result<Interactions> {
    let (users, items, mut m) = data.clone().into_parts();
    m.data_mut().iter_mut().for_each(|v| *v = 1.0);
    Interactions::from_csr(users, items, m)
}

/// A candidate: params plus the binary flag.
#[derive(Clone, Debug)]
struct Cand {
    p: Params,
    binary: bool,
    /// Feature towers: `λ_F` (`None`: plain iALS).
    freg: Option<f32>,
}

fn same_setting(a: &Cand, b: &Cand) -> bool {
    let (p, q) = (&a.p, &b.p);
    a.binary == b.binary
        && a.freg == b.freg
        && p.factors() == q.factors()
        && p.confidence() == q.confidence()
        && p.alpha() == q.alpha()
        && p.unobserved_weight() == q.unobserved_weight()
        && p.reg_exponent() == q.reg_exponent()
        && p.regularization() == q.regularization()
        && p.init() == q.init()
}

/// Feature towers for [`tune_with_features`] (`ials tune --item-features
/// F`): trials fit linear towers ([`crate::towers`]) instead of plain iALS,
/// and the feature regularization `λ_F` (one value for every side with
/// features) is searched with the id `λ`.
#[derive(Clone, Copy, Debug)]
pub struct FeatureTune<'a> {
    /// User features.
    pub user_features: Option<&'a Features>,
    /// Item features.
    pub item_features: Option<&'a Features>,
    /// Judge trials by the metric over the held-out cold items only
    /// (`cold-recall@20`): for each user with a cold validation item, rank
    /// the cold items, embedded from their features alone. Needs item
    /// features. Otherwise the metric is the warm one (the usual per-user
    /// holdout over the other items).
    pub cold_metric: bool,
    /// Fraction of the input's items with features (and interactions) held
    /// out whole for validation, all their interactions with them.
    pub cold_fraction: f64,
}

impl<'a> FeatureTune<'a> {
    /// Towers with these features, a warm metric, 20% cold items.
    pub fn new(user_features: Option<&'a Features>, item_features: Option<&'a Features>) -> Self {
        FeatureTune {
            user_features,
            item_features,
            cold_metric: false,
            cold_fraction: 0.2,
        }
    }

    fn tower_params(&self, freg: Option<f32>) -> Result<TowerParams> {
        let mut b = TowerParams::builder();
        if let Some(f) = freg {
            if self.user_features.is_some() {
                b = b.user_feature_reg(f);
            }
            if self.item_features.is_some() {
                b = b.item_feature_reg(f);
            }
        }
        b.check()
    }
}

/// The cold-item metric of a tower trial: the users' embeddings against the
/// held-out cold items' (from their features alone), ranking only the cold
/// items (a user's training items are all warm, so none is masked).
pub(crate) struct ColdEval<'a> {
    /// Rows of the cold items among the trainer's item entities.
    rows: Vec<u32>,
    evaluator: Evaluator<'a>,
    metric: Metric,
}

impl<'a> ColdEval<'a> {
    pub(crate) fn new(tr: &TowerTrainer<'_>, cs: &'a ColdSplit, metric: Metric) -> Result<Self> {
        let ids = tr.ids(Tower::Item);
        let rows = cs
            .cold
            .items()
            .ids()
            .iter()
            .map(|i| {
                ids.get(i).ok_or_else(|| Error::UnknownId {
                    kind: "item (no features for a cold item)",
                    id: i.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(ColdEval {
            rows,
            evaluator: Evaluator::new(&cs.cold_history, &cs.cold)?.for_metric(metric),
            metric,
        })
    }

    pub(crate) fn value(&self, tr: &TowerTrainer<'_>) -> f64 {
        let y = tr.entity_factors(Tower::Item).gather(&self.rows);
        let m = self
            .evaluator
            .evaluate(&FactorScorer::new(&tr.user_factors(), &y));
        self.metric.value(&m)
    }
}

/// The towers' part of a search.
struct TowerSearch<'a> {
    ft: FeatureTune<'a>,
    /// The cold items (with item features).
    cold: Option<ColdSplit>,
}

/// What a sweep costs at each `k`, learned from the trials: the last
/// trial's seconds over its sweeps (its setup included), the nearest smaller
/// `k`'s scaled by `(k/k')²` where none ran yet. A sweep's solves cost
/// `O(k²)` a row with CG and more with the block solver the larger `k`s
/// switch to: on CiteULike-a a sweep (validation included) took 1.3 s at
/// k 256 and 6.3 s at k 512, where the old `(k/k')^1.7` scaling of a whole
/// trial predicted 26 s for a trial that ran 146 s.
#[derive(Clone, Debug, Default)]
struct CostModel {
    /// (k, seconds a sweep) of the last trial at each k.
    per_sweep: Vec<(usize, f64)>,
}

impl CostModel {
    fn record(&mut self, k: usize, seconds: f64, sweeps: usize) {
        self.per_sweep.retain(|c| c.0 != k);
        self.per_sweep.push((k, seconds / sweeps.max(1) as f64));
    }

    /// Seconds a sweep at `k` (0 before any trial).
    fn per_sweep(&self, k: usize) -> f64 {
        if let Some(&(_, s)) = self.per_sweep.iter().find(|c| c.0 == k) {
            return s;
        }
        match self
            .per_sweep
            .iter()
            .filter(|c| c.0 < k)
            .max_by_key(|c| c.0)
        {
            Some(&(k0, s)) => s * (k as f64 / k0 as f64).powi(2),
            None => 0.0,
        }
    }
}

struct Search<'a> {
    cfg: &'a TuneConfig,
    towers: Option<TowerSearch<'a>>,
    start: Instant,
    fit: Interactions,
    valid: Interactions,
    fit_bin: Option<Interactions>,
    trials: Vec<Trial>,
    /// Seconds a sweep costs, by k.
    cost: CostModel,
    /// Stage 4: the fresh split `fit` and `valid` are (0: the search's own).
    fold: u32,
    /// Sees each trial as it finishes.
    on_trial: &'a mut dyn FnMut(&Trial),
}

impl Search<'_> {
    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// A trial at `k`: as many sweeps as the best trial so far ran (the
    /// carried settings are its neighbours; on CiteULike-a the last trial at
    /// k 256 stopped after 5 sweeps, the k 512 trial after it ran 23).
    fn estimate(&self, k: usize) -> f64 {
        let sweeps = self.best().map_or(1, |t| t.curve.len().max(1));
        self.cost.per_sweep(k) * sweeps as f64
    }

    fn refit_estimate(&self) -> f64 {
        self.best()
            .map_or(0.0, |t| self.refit_estimate_at(t.params.factors()))
    }

    /// A refit at `k`: 25 % more data than a trial but no validation
    /// (about half of a trial on CiteULike-a).
    fn refit_estimate_at(&self, k: usize) -> f64 {
        self.estimate(k) * 0.75
    }

    fn trials_left(&self) -> bool {
        self.cfg.max_trials.is_none_or(|m| self.trials.len() < m)
    }

    /// The search's clock reading by which a trial at `k` must end: the
    /// budget less the refit reserved for it (the best's, or this trial's
    /// own should it win).
    fn deadline(&self, k: usize) -> f64 {
        let refit = self.refit_estimate().max(self.refit_estimate_at(k));
        self.cfg.budget_seconds - refit
    }

    /// Whether a trial at `k` fits in the budget with the refit reserved.
    fn affordable(&self, k: usize) -> bool {
        self.trials_left() && self.elapsed() + self.estimate(k) <= self.deadline(k)
    }

    /// Whether a trial that ends by `deadline` has to stop now: a trial
    /// runs longer than priced when its curve does (a new k can climb for
    /// more sweeps than the best so far), and is then cut at the deadline,
    /// keeping its best sweep so far.
    fn past(start: Instant, deadline: f64) -> bool {
        start.elapsed().as_secs_f64() >= deadline
    }

    /// The best trial on the search's own split.
    fn best(&self) -> Option<&Trial> {
        self.trials
            .iter()
            .filter(|t| t.fold == 0)
            .max_by(|a, b| a.value.total_cmp(&b.value).then(b.id.cmp(&a.id)))
    }

    /// Screening bar of a trial: `screen` times the best value so far; none
    /// on a fresh split (stage 4 compares contenders there, not trials).
    fn screen_bar(&self) -> f64 {
        match self.best() {
            Some(t) if self.fold == 0 => t.value * self.cfg.screen,
            _ => f64::NEG_INFINITY,
        }
    }

    fn run(&mut self, c: &Cand, stage: u8) -> Result<f64> {
        if self.towers.is_some() {
            return self.run_towers(c, stage);
        }
        let t0 = Instant::now();
        let p = self.trial_params(c)?;
        let fit = match (&self.fit_bin, c.binary) {
            (Some(b), true) => b,
            _ => &self.fit,
        };
        let mut stop = EarlyStopping::new(fit, &self.valid, self.cfg.metric, self.cfg.patience)?;
        let min_it = self.cfg.min_iterations;
        // Screening: a trial still below `screen` times the best value so
        // far after `min_iterations` sweeps is stopped there.
        let bar = self.screen_bar();
        let (start, deadline) = (self.start, self.deadline(p.factors()));
        let model = p.fit_with(fit, |pr| {
            let r = stop.observe(pr);
            // The first sweeps of a curve can dip before it rises: no
            // early stop before `min_iterations`.
            if Self::past(start, deadline) {
                std::ops::ControlFlow::Break(())
            } else if pr.report.iteration < min_it {
                std::ops::ControlFlow::Continue(())
            } else if stop.best_value() < bar {
                std::ops::ControlFlow::Break(())
            } else {
                r
            }
        })?;
        let model = stop.apply_best(model);
        let seconds = t0.elapsed().as_secs_f64();
        let t = Trial {
            id: self.trials.len(),
            stage,
            binary: c.binary,
            // The setting, as a fit of it (and the refit) runs: with its loss.
            params: model.params().to_builder().track_loss(true).check()?,
            feature_reg: None,
            value: stop.best_value(),
            fold: self.fold,
            curve: stop.history().iter().map(|h| h.1).collect(),
            seconds,
        };
        Ok(self.record(t))
    }

    /// A trial's params: the candidate's with the search's sweep limit and
    /// start. Trials are judged on validation, not the loss: its pass is
    /// skipped.
    fn trial_params(&self, c: &Cand) -> Result<Params> {
        let mut b =
            c.p.to_builder()
                .iterations(self.cfg.max_iterations)
                .track_loss(false);
        if let Some(init) = self.cfg.init {
            b = b.init(init);
        }
        b.check()
    }

    fn record(&mut self, t: Trial) -> f64 {
        (self.on_trial)(&t);
        self.cost
            .record(t.params.factors(), t.seconds, t.curve.len());
        let v = t.value;
        self.trials.push(t);
        v
    }

    /// A trial of feature towers: the same sweeps, early stopping and
    /// screening as [`Search::run`], judged on the cold items or the warm
    /// validation part.
    fn run_towers(&mut self, c: &Cand, stage: u8) -> Result<f64> {
        let t0 = Instant::now();
        let p = self.trial_params(c)?;
        let ts = self.towers.as_ref().expect("invariant: a tower search");
        let tp = ts.ft.tower_params(c.freg)?;
        let fit = match (&self.fit_bin, c.binary) {
            (Some(b), true) => b,
            _ => &self.fit,
        };
        let bar = self.screen_bar();
        let (start, deadline) = (self.start, self.deadline(p.factors()));
        let (cfg, valid, ft) = (self.cfg, &self.valid, ts.ft);
        let cold = ts.cold.as_ref().filter(|_| ft.cold_metric);
        let rule = crate::train::with_threads(p.threads(), || -> Result<Patience> {
            let mut tr = TowerTrainer::new(&p, &tp, fit, ft.user_features, ft.item_features)?;
            // Judged on the cold items or on the warm validation part.
            let judge: Box<dyn Fn(&TowerTrainer<'_>) -> f64> = match cold {
                Some(cs) => {
                    let ce = ColdEval::new(&tr, cs, cfg.metric)?;
                    Box::new(move |tr| ce.value(tr))
                }
                None => {
                    let warm = Evaluator::new(fit, valid)?.for_metric(cfg.metric);
                    Box::new(move |tr| {
                        let (x, y) = (tr.user_factors(), tr.item_factors());
                        cfg.metric.value(&warm.evaluate(&FactorScorer::new(&x, &y)))
                    })
                }
            };
            let mut rule = Patience::new(cfg.patience);
            for it in 1..=p.iterations() {
                tr.step()?;
                let value = judge(&tr);
                let (_, flow) = rule.observe(it, value);
                // As `run`: no stop before `min_iterations`, then screening
                // and patience.
                if Self::past(start, deadline)
                    || (it >= cfg.min_iterations && (rule.best_value() < bar || flow.is_break()))
                {
                    break;
                }
            }
            Ok(rule)
        })?;
        let t = Trial {
            id: self.trials.len(),
            stage,
            binary: c.binary,
            params: p
                .to_builder()
                .iterations(rule.best_iteration().max(1))
                .track_loss(true)
                .check()?,
            feature_reg: c.freg,
            value: rule.best_value(),
            fold: self.fold,
            curve: rule.history().iter().map(|h| h.1).collect(),
            seconds: t0.elapsed().as_secs_f64(),
        };
        Ok(self.record(t))
    }
}

/// Search within `cfg.budget_seconds`, then refit the best setting on all of
/// `input`. `base` supplies what is not searched (solver, CG steps,
/// threads, seed of the start…). `on_trial` sees each trial as it finishes.
pub fn tune(
    input: &Interactions,
    base: &Params,
    cfg: &TuneConfig,
    on_trial: impl FnMut(&Trial),
) -> Result<TuneResult> {
    search(input, base, cfg, None, on_trial)
}

/// [`tune`] for linear feature towers: the same stages, budget, early
/// stopping and refit, with the feature regularization `λ_F` searched too
/// (one more compass direction, and a `λ_F` walk after the `λ` walk at each
/// `k`). With item features the validation split first holds out
/// `cold_fraction` of the input's items with features, whole (all their
/// interactions), then a per-user holdout of the rest as in [`tune`]; the
/// metric is taken over the cold items ([`FeatureTune::cold_metric`]) or the
/// warm part. Stage 1 adds one fixed setting with strong id and weak
/// feature regularization (k 256 on CiteULike-a in
/// `examples/citeulike_cold.rs`: `λ` 100, `λ_F` 3, `α` 5, `α0` 1, `ν` 0).
/// The refit is [`TowerParams::fit`] on all of `input` with both feature
/// sets ([`TuneResult::towers`]).
pub fn tune_with_features(
    input: &Interactions,
    base: &Params,
    cfg: &TuneConfig,
    features: &FeatureTune<'_>,
    on_trial: impl FnMut(&Trial),
) -> Result<TuneResult> {
    if features.cold_metric && features.item_features.is_none() {
        return Err(Error::ColdMetricWithoutItemFeatures {
            metric: format!("cold-{}", cfg.metric),
        });
    }
    if features.user_features.is_none() && features.item_features.is_none() {
        return Err(Error::InvalidSetting {
            name: "item-features",
            requirement: "given (or user-features) for a tower tune",
            value: String::from("none"),
        });
    }
    search(input, base, cfg, Some(features), on_trial)
}

fn search(
    input: &Interactions,
    base: &Params,
    cfg: &TuneConfig,
    features: Option<&FeatureTune<'_>>,
    mut on_trial: impl FnMut(&Trial),
) -> Result<TuneResult> {
    let start = Instant::now();
    let (fit, valid, towers) = match features {
        None => {
            let (fit, valid) = random_holdout(input, cfg.validation_fraction, cfg.seed)?;
            (fit, valid, None)
        }
        Some(ft) => {
            let cold = match ft.item_features {
                Some(f) => {
                    let described = f.described();
                    Some(cold_item_split(
                        input,
                        |id| described.contains(id),
                        ft.cold_fraction,
                        cfg.seed,
                    )?)
                }
                None => None,
            };
            let rest = cold.as_ref().map_or(input, |c| &c.rest);
            let (fit, valid) = random_holdout(rest, cfg.validation_fraction, cfg.seed)?;
            (fit, valid, Some(TowerSearch { ft: *ft, cold }))
        }
    };
    let is_towers = towers.is_some();
    let has_values = fit.by_user().data().iter().any(|&v| v != 1.0);
    let search_binary = cfg.search_binary.unwrap_or(has_values);
    let fit_bin = if search_binary {
        Some(binarized(&fit)?)
    } else {
        None
    };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7475_6e65);
    let n = input.n_items() as f64;
    let mean_len = input.nnz() as f64 / input.n_users().max(1) as f64;
    let mut s = Search {
        cfg,
        towers,
        start,
        fit,
        valid,
        fit_bin,
        trials: Vec::new(),
        cost: CostModel::default(),
        fold: 0,
        on_trial: &mut on_trial,
    };
    let small = cfg.small_factors.max(1);
    let at_k = |p: Params, k: usize| -> Result<Params> {
        let mut b = p.to_builder().factors(k);
        if k >= cfg.block_from {
            b = b.solver(SolverKind::Block).block_size(64.min(k));
        } else {
            b = b.solver(base.solver_kind());
            if let crate::solver::Solver::Block { size } = base.solver() {
                b = b.block_size(size.min(k));
            }
        }
        b.check()
    };
    let b0 = base.to_builder().factors(small).seed(base.seed());

    // Stage 1. Fixed settings first: Rendle et al. 2022's binary objective
    // shape (small α0, ν = 1, λ of effective strength 10), on raw and
    // binary values, normal and uniform start; and λ 10 with ν = 0.
    let rendle = |a0: f64, init: Init| {
        b0.clone()
            .confidence(ConfidenceKind::Linear)
            .alpha(1.0)
            .unobserved_weight(a0 as f32)
            .reg_exponent(1.0)
            .regularization((10.0 / (mean_len + a0 * n)) as f32)
            .init(init)
            .check()
    };
    let mut fixed = vec![
        Cand {
            p: rendle(0.1, Init::Normal)?,
            binary: false,
            freg: None,
        },
        Cand {
            p: rendle(0.03, Init::Uniform)?,
            binary: false,
            freg: None,
        },
        Cand {
            p: b0
                .clone()
                .confidence(ConfidenceKind::Linear)
                .alpha(1.0)
                .unobserved_weight(0.1)
                .reg_exponent(0.0)
                .regularization(10.0)
                .check()?,
            binary: false,
            freg: None,
        },
    ];
    if search_binary {
        // Values other than 1 (counts): linear confidence on raw counts is
        // hopeless on heavy counts, so binary values and log confidence go
        // first.
        fixed.insert(
            0,
            Cand {
                p: rendle(0.1, Init::Normal)?,
                binary: true,
                freg: None,
            },
        );
        fixed.insert(
            1,
            Cand {
                p: b0
                    .clone()
                    .confidence(ConfidenceKind::Log)
                    .alpha(3.0)
                    .unobserved_weight(0.1)
                    .reg_exponent(1.0)
                    .regularization((10.0 / (mean_len + 0.1 * n)) as f32)
                    .check()?,
                binary: false,
                freg: None,
            },
        );
        fixed.insert(
            2,
            Cand {
                p: rendle(0.03, Init::Uniform)?,
                binary: true,
                freg: None,
            },
        );
        fixed.truncate(3);
    }
    if is_towers {
        // λ_F starts equal to λ (the default of an untuned tower fit); and
        // one setting with strong id and weak feature regularization.
        for c in fixed.iter_mut() {
            c.freg = Some(c.p.regularization());
        }
        fixed.insert(
            1.min(fixed.len()),
            Cand {
                p: b0
                    .clone()
                    .confidence(ConfidenceKind::Linear)
                    .alpha(5.0)
                    .unobserved_weight(1.0)
                    .reg_exponent(0.0)
                    .regularization(100.0)
                    .check()?,
                binary: false,
                freg: Some(3.0),
            },
        );
    }
    let explore_budget = cfg.explore_share * cfg.budget_seconds;
    let mut explored = 0usize;
    // After the fixed settings: a compass search around the best so far
    // (λ ×/÷ 4, α0 ×/÷ 3 with the effective λ kept, α ×/÷ 3, ν switched,
    // the start, binary values, the confidence kind), a random setting
    // whenever the neighbours of the best are used up.
    let mut queue: Vec<Cand> = Vec::new();
    let mut queued_for: Option<usize> = None;
    let mut tried: Vec<Cand> = Vec::new();
    loop {
        // At least one trial; the minimum only while the budget lasts.
        let forced = explored == 0
            || (explored < cfg.min_explore_trials && s.elapsed() < cfg.budget_seconds);
        if cfg.explore_trials.is_some_and(|m| explored >= m)
            || !s.trials_left()
            || (!forced && s.elapsed() + s.estimate(small) > explore_budget)
        {
            break;
        }
        let c = if explored < fixed.len() {
            fixed[explored].clone()
        } else {
            let best_id = s.best().map(|t| t.id);
            if best_id != queued_for {
                let t = s.best().expect("invariant: fixed trials ran");
                let c = Cand {
                    p: t.params.clone(),
                    binary: t.binary,
                    freg: t.feature_reg,
                };
                queue = neighbours(&c, mean_len, n, search_binary)?;
                queue.reverse();
                queued_for = best_id;
            }
            let mut next = None;
            while let Some(c) = queue.pop() {
                if !tried.iter().any(|d| same_setting(d, &c)) {
                    next = Some(c);
                    break;
                }
            }
            match next {
                Some(c) => c,
                None => {
                    let mut c = random_cand(&mut rng, &b0, mean_len, n, search_binary)?;
                    if is_towers {
                        // Feature λ at 1% to 100% of the id λ.
                        c.freg =
                            Some(c.p.regularization() * log_uniform(&mut rng, 0.01, 1.0) as f32);
                    }
                    c
                }
            }
        };
        tried.push(c.clone());
        s.run(&c, 1)?;
        explored += 1;
    }

    // Stage 2: grow k while validation improves and the budget lasts.
    let mut prev_best = s.best().map_or(f64::NEG_INFINITY, |t| t.value);
    let mut misses = 0;
    let ladder = factor_ladder(small, cfg.max_factors);
    for &k in &ladder {
        if !s.affordable(k) {
            break;
        }
        // The best distinct settings so far (any k), carried with their λ.
        let mut order: Vec<&Trial> = s.trials.iter().collect();
        order.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.id.cmp(&b.id)));
        let mut carry: Vec<Cand> = Vec::new();
        for t in order {
            let c = Cand {
                p: at_k(t.params.clone(), k)?,
                binary: t.binary,
                freg: t.feature_reg,
            };
            if !carry.iter().any(|d| same_setting(d, &c)) {
                carry.push(c);
            }
            if carry.len() >= cfg.top.max(1) {
                break;
            }
        }
        let mut best_here: Option<(f64, Cand)> = None;
        let mut tried: Vec<Cand> = Vec::new();
        let mut try_cand = |s: &mut Search<'_>,
                            c: Cand,
                            best_here: &mut Option<(f64, Cand)>|
         -> Result<Option<f64>> {
            if tried.iter().any(|d| same_setting(d, &c)) || !s.affordable(k) {
                return Ok(None);
            }
            tried.push(c.clone());
            let v = s.run(&c, 2)?;
            if best_here.as_ref().is_none_or(|b| v > b.0) {
                *best_here = Some((v, c));
            }
            Ok(Some(v))
        };
        for c in carry {
            try_cand(&mut s, c, &mut best_here)?;
        }
        // λ carried across k: while doubling k gains more than `k_jump`
        // (relative), the λ and α0 searches are left to the largest k (on
        // CiteULike-a, k 64 -> 128 gained 16 % where the λ walk at k 64
        // gained 1.9 %).
        // The carried λ is still probed one 4× step down (and walked on down
        // while that gains): with ν = 1 the best λ fell with k on CiteULike-a
        // (5.2e-2 at k 32, 1.3e-2 at k 256, where the carried λ read 0.236
        // and λ / 4 read 0.271).
        let last_k = ladder.last() == Some(&k);
        let carried = !last_k
            && prev_best > 0.0
            && best_here
                .as_ref()
                .is_some_and(|(v, _)| *v > prev_best * (1.0 + cfg.k_jump));
        // λ over a wide log range: steps of 4× in the direction that
        // improves (down tried first, then up).
        let with_lambda = |c: &Cand, l: f32| -> Result<Cand> {
            Ok(Cand {
                p: c.p.to_builder().regularization(l).check()?,
                binary: c.binary,
                freg: c.freg,
            })
        };
        let with_a0 = |c: &Cand, a0: f32| -> Result<Cand> {
            // Keep the effective strength of λ when ν > 0.
            let (p, m) = (&c.p, mean_len);
            let ratio = ((m + p.unobserved_weight() as f64 * n) / (m + a0 as f64 * n))
                .powf(p.reg_exponent() as f64);
            Ok(Cand {
                p: p.to_builder()
                    .unobserved_weight(a0)
                    .regularization((p.regularization() as f64 * ratio) as f32)
                    .check()?,
                binary: c.binary,
                freg: c.freg,
            })
        };
        // Down first: at large k a trial costs most of a minute, and the
        // best λ moved down with k more often than up.
        let dirs: &[f32] = if carried { &[0.25] } else { &[0.25, 4.0] };
        walk(
            &mut best_here,
            dirs,
            |c, d| with_lambda(c, c.p.regularization() * d),
            |c, bh| try_cand(&mut s, c, bh),
        )?;
        if carried {
            prev_best = best_here.as_ref().map_or(prev_best, |b| b.0);
            misses = 0;
            continue;
        }
        // Towers: λ_F walked the same way (up first).
        if best_here.as_ref().is_some_and(|b| b.1.freg.is_some()) {
            walk(
                &mut best_here,
                &[4.0, 0.25],
                |c, d| {
                    Ok(Cand {
                        freg: c.freg.map(|f| f * d),
                        ..c.clone()
                    })
                },
                |c, bh| try_cand(&mut s, c, bh),
            )?;
        }
        if let Some((bv, bc)) = best_here.clone() {
            for f in [3.0f32, 1.0 / 3.0] {
                let c = with_a0(&bc, bc.p.unobserved_weight() * f)?;
                if matches!(try_cand(&mut s, c, &mut best_here)?, Some(v) if v > bv) {
                    break;
                }
            }
        }
        let Some((v, _)) = best_here else { break };
        // Grow k while validation improves, allowing one k that does not
        // (the λ search at a new k is noisy).
        if v > prev_best {
            prev_best = v;
            misses = 0;
        } else {
            misses += 1;
            // Two k's without a gain end the growth, unless the next k's
            // stage (about six trials) fits in the first half of the
            // budget: one validation split cannot tell k apart within its
            // noise (ml-100k, split seed 1: 0.351 / 0.350 / 0.350 at k 32 /
            // 64 / 128; on test k 512 read 0.395 where k 32 read 0.377), and
            // stage 4 compares the k's on fresh splits.
            let roomy = ladder
                .iter()
                .find(|&&k2| k2 > k)
                .is_some_and(|&k2| s.elapsed() + 6.0 * s.estimate(k2) <= 0.5 * cfg.budget_seconds);
            if misses >= 2 && !roomy {
                break;
            }
        }
    }

    // What is left of the budget: compass search around the best trial at
    // its own k.
    let mut done: Vec<Cand> = s
        .trials
        .iter()
        .map(|t| Cand {
            p: t.params.clone(),
            binary: t.binary,
            freg: t.feature_reg,
        })
        .collect();
    'refine: loop {
        let t = s.best().expect("invariant: at least one trial").clone();
        let c = Cand {
            p: t.params
                .to_builder()
                .iterations(cfg.max_iterations)
                .check()?,
            binary: t.binary,
            freg: t.feature_reg,
        };
        let k = t.params.factors();
        let mut nbs = neighbours(&c, mean_len, n, search_binary)?;
        nbs.extend(fine_neighbours(&c, mean_len, n)?);
        // k one step either way, λ kept (stage 2 may have stopped early on
        // a noisy λ search).
        for k2 in [k * 2, k / 2] {
            if k2 >= small.min(k) && k2 <= cfg.max_factors.max(k) && k2 != k {
                nbs.push(Cand {
                    p: at_k(c.p.clone(), k2)?,
                    binary: c.binary,
                    freg: c.freg,
                });
            }
        }
        for nb in nbs {
            if done.iter().any(|d| same_setting(d, &nb)) {
                continue;
            }
            if !s.affordable(nb.p.factors()) {
                continue;
            }
            done.push(nb.clone());
            if s.run(&nb, 3)? > t.value {
                continue 'refine;
            }
        }
        // Every neighbour tried: random perturbations of the best at its k
        // until one improves, `cfg.perturbations` in a row did not, or the
        // budget is spent.
        for _ in 0..cfg.perturbations {
            if !s.affordable(k) {
                break 'refine;
            }
            let nb = perturbed(&c, &mut rng, mean_len, n)?;
            if done.iter().any(|d| same_setting(d, &nb)) {
                continue;
            }
            done.push(nb.clone());
            if s.run(&nb, 3)? > t.value {
                continue 'refine;
            }
        }
        break;
    }

    // Stage 4: with budget left, the close contenders on fresh splits.
    let (contenders, winner) = if s.towers.is_none() && cfg.confirm_folds > 0 {
        confirm(&mut s, input, search_binary)?
    } else {
        (Vec::new(), None)
    };
    let best_t = match winner {
        Some(t) => t,
        None => s.best().expect("invariant: at least one trial").clone(),
    };
    let trials = std::mem::take(&mut s.trials);
    drop(s);
    let refit_data = if best_t.binary {
        binarized(input)?
    } else {
        input.clone()
    };
    let best = best_t.params.clone();
    let (model, towers) = match features {
        None => (best.fit(&refit_data)?, None),
        Some(ft) => {
            let tp = ft.tower_params(best_t.feature_reg)?;
            let tm = tp.fit(&best, &refit_data, ft.user_features, ft.item_features)?;
            (tm.to_model(), Some((tp, tm)))
        }
    };
    Ok(TuneResult {
        trials,
        contenders,
        best,
        best_binary: best_t.binary,
        model,
        towers,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Stage 4. The best trial of each `k` within `confirm_within` of the best
/// value (at most four, best first) is refitted on fresh validation splits
/// of `input` (other seeds of the same holdout; no screening there), fold
/// after fold while a whole fold and the refit fit in the budget, up to
/// `confirm_folds`. With two fresh folds or more, the contender with the best
/// mean over the fresh folds wins, refitted with the median of its best
/// sweeps; the search's own value is left out of the mean, as the best of
/// many trials on that split reads high (ml-100k: 700 trials at k 32 against
/// 5 at k 128). Returns the contenders and the winner (`None`: the search's
/// best stands).
fn confirm(
    s: &mut Search<'_>,
    input: &Interactions,
    search_binary: bool,
) -> Result<(Vec<Contender>, Option<Trial>)> {
    let cfg = s.cfg;
    let Some(best) = s.best().cloned() else {
        return Ok((Vec::new(), None));
    };
    let mut per_k = best_per_k(&s.trials);
    per_k.retain(|t| t.value >= best.value * (1.0 - cfg.confirm_within));
    per_k.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.id.cmp(&b.id)));
    per_k.truncate(4);
    if per_k.len() < 2 {
        return Ok((Vec::new(), None));
    }
    let own: Vec<Trial> = per_k.into_iter().cloned().collect();
    let cands: Vec<Cand> = own
        .iter()
        .map(|t| Cand {
            p: t.params.clone(),
            binary: t.binary,
            freg: None,
        })
        .collect();
    let mut contenders: Vec<Contender> = own
        .iter()
        .map(|t| Contender {
            trial: t.id,
            factors: t.params.factors(),
            values: vec![t.value],
            fresh_mean: f64::NAN,
            iterations: vec![t.params.iterations()],
        })
        .collect();
    let refit = own
        .iter()
        .map(|t| s.refit_estimate_at(t.params.factors()))
        .fold(0.0, f64::max);
    let mut folds = 0usize;
    for f in 1..=cfg.confirm_folds as u32 {
        let cost: f64 = own.iter().map(|t| s.estimate(t.params.factors())).sum();
        let trials_ok = cfg
            .max_trials
            .is_none_or(|m| s.trials.len() + own.len() <= m);
        if !trials_ok || s.elapsed() + cost + refit > cfg.budget_seconds {
            break;
        }
        let seed = cfg
            .seed
            .wrapping_add(u64::from(f).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (fit, valid) = random_holdout(input, cfg.validation_fraction, seed)?;
        let fit_bin = if search_binary {
            Some(binarized(&fit)?)
        } else {
            None
        };
        let saved = (
            std::mem::replace(&mut s.fit, fit),
            std::mem::replace(&mut s.valid, valid),
            std::mem::replace(&mut s.fit_bin, fit_bin),
        );
        s.fold = f;
        let mut run = || -> Result<()> {
            for (c, ct) in cands.iter().zip(contenders.iter_mut()) {
                let v = s.run(c, 4)?;
                let it = s.trials.last().map_or(1, |t| t.params.iterations());
                ct.values.push(v);
                ct.iterations.push(it);
            }
            Ok(())
        };
        let r = run();
        (s.fit, s.valid, s.fit_bin) = saved;
        s.fold = 0;
        r?;
        folds += 1;
    }
    for ct in contenders.iter_mut() {
        let fresh = &ct.values[1..];
        if !fresh.is_empty() {
            ct.fresh_mean = fresh.iter().sum::<f64>() / fresh.len() as f64;
        }
    }
    if folds < 2 {
        return Ok((contenders, None));
    }
    // Best fresh mean; ties to the better value on the search's split.
    let (w, ct) = contenders
        .iter()
        .enumerate()
        .max_by(|a, b| {
            a.1.fresh_mean
                .total_cmp(&b.1.fresh_mean)
                .then(b.0.cmp(&a.0))
        })
        .expect("invariant: two contenders or more");
    let mut its = ct.iterations.clone();
    its.sort_unstable();
    let mut t = own[w].clone();
    t.params = t
        .params
        .to_builder()
        .iterations(its[its.len() / 2])
        .check()?;
    Ok((contenders, Some(t)))
}

/// `λ` rescaled so that the effective strength `λ (|S_u| + α0 n)^ν` of a
/// typical row stays the same when `α0` or `ν` change.
fn keep_strength(p: &Params, a0: f32, nu: f32, mean_len: f64, n: f64) -> f32 {
    let eff = |a0: f32, nu: f32| (mean_len + a0 as f64 * n).powf(nu as f64);
    (p.regularization() as f64 * eff(p.unobserved_weight(), p.reg_exponent()) / eff(a0, nu)) as f32
}

/// Walk from the best setting of a `k` (`best_here`) in steps of `step(c,
/// dir)`: the directions `dirs` in turn (the next only when the first never
/// moved), up to 4 moves each while every move gains more than noise
/// (0.2 %): flat curves stop after one step.
fn walk(
    best_here: &mut Option<(f64, Cand)>,
    dirs: &[f32],
    step: impl Fn(&Cand, f32) -> Result<Cand>,
    mut try_cand: impl FnMut(Cand, &mut Option<(f64, Cand)>) -> Result<Option<f64>>,
) -> Result<()> {
    let Some((mut bv, mut bc)) = best_here.clone() else {
        return Ok(());
    };
    for &dir in dirs {
        let mut moved = false;
        for _ in 0..4 {
            let c = step(&bc, dir)?;
            match try_cand(c.clone(), best_here)? {
                Some(v) if v > bv * 1.002 => (bv, bc, moved) = (v, c, true),
                _ => break,
            }
        }
        if moved {
            break;
        }
    }
    Ok(())
}

/// `λ_F` of `c` rescaled as its `λ` went from `c.p.regularization()` to
/// `new_l` (a move of `α0` or `ν` that keeps the effective strength: the
/// feature `λ_F` is scaled by the same frequency power).
fn freg_like(c: &Cand, new_l: f32) -> Option<f32> {
    c.freg.map(|f| {
        let old = c.p.regularization();
        if old > 0.0 {
            f * new_l / old
        } else {
            f
        }
    })
}

/// Feature-λ neighbours of `c` (towers only): `λ_F` times each factor.
fn freg_steps(c: &Cand, factors: &[f32]) -> Vec<Cand> {
    let Some(f) = c.freg else {
        return Vec::new();
    };
    factors
        .iter()
        .map(|&x| Cand {
            p: c.p.clone(),
            binary: c.binary,
            freg: Some(f * x),
        })
        .collect()
}

/// Finer steps around `c`: `λ` ×/÷ √2, `α0` ×/÷ √3 (effective `λ` kept),
/// and with towers `λ_F` ×/÷ √2.
fn fine_neighbours(c: &Cand, mean_len: f64, n: f64) -> Result<Vec<Cand>> {
    let p = &c.p;
    let mut out = freg_steps(
        c,
        &[std::f32::consts::SQRT_2, std::f32::consts::FRAC_1_SQRT_2],
    );
    for f in [std::f32::consts::SQRT_2, std::f32::consts::FRAC_1_SQRT_2] {
        out.push(Cand {
            p: p.to_builder()
                .regularization(p.regularization() * f)
                .check()?,
            binary: c.binary,
            freg: c.freg,
        });
    }
    for f in [3f32.sqrt(), 1.0 / 3f32.sqrt()] {
        let a0 = (p.unobserved_weight() * f).min(10.0);
        let l = keep_strength(p, a0, p.reg_exponent(), mean_len, n);
        out.push(Cand {
            p: p.to_builder()
                .unobserved_weight(a0)
                .regularization(l)
                .check()?,
            binary: c.binary,
            freg: freg_like(c, l),
        });
    }
    Ok(out)
}

/// `c` with `λ`, `α0` (effective `λ` kept) and `α` (and with towers `λ_F`)
/// each multiplied by a random factor in `[1/1.6, 1.6]` (log-uniform).
fn perturbed(c: &Cand, rng: &mut ChaCha8Rng, mean_len: f64, n: f64) -> Result<Cand> {
    let p = &c.p;
    let mut f = || log_uniform(rng, 1.0 / 1.6, 1.6) as f32;
    let (fl, fa0, fa) = (f(), f(), f());
    // The towers' extra draw comes last, so plain searches draw as before.
    let ff = if c.freg.is_some() { f() } else { 1.0 };
    let a0 = (p.unobserved_weight() * fa0).min(10.0);
    let l0 = keep_strength(p, a0, p.reg_exponent(), mean_len, n);
    let l = l0 * fl;
    Ok(Cand {
        p: p.to_builder()
            .unobserved_weight(a0)
            .regularization(l)
            .alpha(p.alpha() * fa)
            .check()?,
        binary: c.binary,
        freg: freg_like(c, l0).map(|v| v * ff),
    })
}

/// The compass neighbours of `c`, most promising first.
fn neighbours(c: &Cand, mean_len: f64, n: f64, search_binary: bool) -> Result<Vec<Cand>> {
    let p = &c.p;
    let mut out = Vec::new();
    // Moves of λ alone keep λ_F; moves of α0 or ν rescale both alike.
    let mut push = |b: crate::params::ParamsBuilder, binary: bool| -> Result<()> {
        let q = b.check()?;
        let freg = if q.regularization() == p.regularization()
            || q.unobserved_weight() != p.unobserved_weight()
            || q.reg_exponent() != p.reg_exponent()
        {
            freg_like(c, q.regularization())
        } else {
            c.freg
        };
        out.push(Cand { p: q, binary, freg });
        Ok(())
    };
    for f in [4.0f32, 0.25] {
        push(
            p.to_builder().regularization(p.regularization() * f),
            c.binary,
        )?;
    }
    for f in [3.0f32, 1.0 / 3.0] {
        let a0 = (p.unobserved_weight() * f).min(10.0);
        let l = keep_strength(p, a0, p.reg_exponent(), mean_len, n);
        push(
            p.to_builder().unobserved_weight(a0).regularization(l),
            c.binary,
        )?;
    }
    for f in [3.0f32, 1.0 / 3.0] {
        push(p.to_builder().alpha(p.alpha() * f), c.binary)?;
    }
    for nu in [0.0f32, 0.5, 1.0] {
        if nu != p.reg_exponent() {
            let l = keep_strength(p, p.unobserved_weight(), nu, mean_len, n);
            push(p.to_builder().reg_exponent(nu).regularization(l), c.binary)?;
        }
    }
    let other = match p.init() {
        Init::Normal => Init::Uniform,
        Init::Uniform => Init::Normal,
    };
    push(p.to_builder().init(other), c.binary)?;
    for f in [2.0f32, 0.5] {
        push(
            p.to_builder().regularization(p.regularization() * f),
            c.binary,
        )?;
    }
    if search_binary {
        let conf = if c.binary {
            p.confidence()
        } else {
            ConfidenceKind::Linear
        };
        push(p.to_builder().confidence(conf), !c.binary)?;
    }
    if !c.binary && search_binary {
        let conf = match p.confidence() {
            ConfidenceKind::Log => ConfidenceKind::Linear,
            _ => ConfidenceKind::Log,
        };
        push(p.to_builder().confidence(conf), false)?;
    }
    // With towers: λ_F ×/÷ 4 (after λ and α0), ×/÷ 2 last.
    out.splice(4..4, freg_steps(c, &[4.0, 0.25]));
    out.extend(freg_steps(c, &[2.0, 0.5]));
    Ok(out)
}

/// A random setting: log scales of the effective `λ`, `α`, `α0`; `ν`, the
/// confidence kind, binary values and the start at random.
fn random_cand(
    rng: &mut ChaCha8Rng,
    b0: &crate::params::ParamsBuilder,
    mean_len: f64,
    n: f64,
    search_binary: bool,
) -> Result<Cand> {
    let binary = search_binary && rng.random::<f64>() < 0.4;
    // Raw values other than 1 get the log confidence (linear confidence on
    // heavy counts is ill-conditioned and slow; the compass still tries it).
    let conf = if binary || !search_binary {
        ConfidenceKind::Linear
    } else {
        ConfidenceKind::Log
    };
    let a0 = log_uniform(rng, 0.003, 1.0);
    let nu = [0.0, 0.5, 1.0, 1.0][rng.random_range(0..4)];
    let lambda_eff = log_uniform(rng, 0.1, 300.0);
    let lambda = lambda_eff / (mean_len + a0 * n).powf(nu);
    let init = if rng.random::<bool>() {
        Init::Normal
    } else {
        Init::Uniform
    };
    Ok(Cand {
        p: b0
            .clone()
            .confidence(conf)
            .alpha(log_uniform(rng, 0.1, 30.0) as f32)
            .unobserved_weight(a0 as f32)
            .reg_exponent(nu as f32)
            .regularization(lambda as f32)
            .init(init)
            .check()?,
        binary,
        freg: None,
    })
}

#[cfg(test)]
mod cost_tests {
    use super::CostModel;

    #[test]
    fn trial_cost_is_a_sweep_cost_times_sweeps_scaled_by_k_squared() {
        let mut c = CostModel::default();
        assert_eq!(c.per_sweep(64), 0.0);
        c.record(32, 3.0, 6);
        c.record(256, 7.9, 5);
        c.record(128, 14.4, 24);
        assert_eq!(c.per_sweep(32), 0.5);
        // The nearest smaller k's sweep, scaled by (k/k')²: 256's, not 128's.
        assert!((c.per_sweep(512) - 1.58 * 4.0).abs() < 1e-12);
        assert!((c.per_sweep(64) - 0.5 * 4.0).abs() < 1e-12);
        // A trial at k replaces the estimate there; zero sweeps count as one.
        c.record(256, 9.0, 0);
        assert_eq!(c.per_sweep(256), 9.0);
        assert!((c.per_sweep(1024) - 9.0 * 16.0).abs() < 1e-12);
    }
}

#[cfg(test)]
mod tower_tests {
    use super::*;
    use crate::towers::Features;
    use crate::InteractionsBuilder;

    /// Planted: users and items in two groups; each item has its group's tag
    /// and one of five noise tags; 10 items exist only in the features.
    fn planted(seed: u64) -> (Interactions, Features) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut b = InteractionsBuilder::new();
        for u in 0..60u32 {
            for _ in 0..12 {
                let i = 2 * rng.random_range(0..40u32) + u % 2;
                b.push(&format!("u{u}"), &format!("i{i}"), 1.0).unwrap();
            }
        }
        let mut f = Features::builder("item");
        for i in 0..80u32 {
            f.push(&format!("i{i}"), &format!("g{}", i % 2), 1.0)
                .unwrap();
            let noise = rng.random_range(0..5u32);
            f.push(&format!("i{i}"), &format!("n{noise}"), 0.5).unwrap();
        }
        for j in 0..10u32 {
            f.push(&format!("new{j}"), &format!("g{}", j % 2), 1.0)
                .unwrap();
        }
        (b.build().unwrap(), f.build())
    }

    fn cfg(seed: u64) -> TuneConfig {
        TuneConfig {
            budget_seconds: 1e6,
            max_trials: Some(5),
            explore_trials: Some(3),
            small_factors: 4,
            max_factors: 8,
            max_iterations: 4,
            min_iterations: 2,
            seed,
            ..TuneConfig::default()
        }
    }

    #[test]
    fn a_trial_past_the_budget_is_cut_after_its_sweep() {
        // A budget spent before the first sweep ends: the one forced trial
        // stops after that sweep (not at `min_iterations`, nor at
        // `max_iterations`), and the tune still refits it.
        let (data, itf) = planted(2);
        let base = Params::builder().threads(1).check().unwrap();
        let c = TuneConfig {
            budget_seconds: 1e-9,
            max_iterations: 6,
            min_iterations: 4,
            ..cfg(2)
        };
        let plain = tune(&data, &base, &c, |_| {}).unwrap();
        assert_eq!(plain.trials.len(), 1);
        assert_eq!(plain.trials[0].curve.len(), 1);
        assert_eq!(plain.model.n_users(), data.n_users());
        let ft = FeatureTune::new(None, Some(&itf));
        let towers = tune_with_features(&data, &base, &c, &ft, |_| {}).unwrap();
        assert_eq!(towers.trials.len(), 1);
        assert_eq!(towers.trials[0].curve.len(), 1);
        // With the budget unbound the same trial runs past `min_iterations`.
        let roomy = tune(
            &data,
            &base,
            &TuneConfig {
                budget_seconds: 1e6,
                ..c
            },
            |_| {},
        )
        .unwrap();
        assert!(
            roomy.trials[0].curve.len() >= 4,
            "{:?}",
            roomy.trials[0].curve
        );
    }

    #[test]
    fn cold_metric_without_item_features_is_a_typed_error() {
        let (data, itf) = planted(1);
        let base = Params::builder().threads(1).check().unwrap();
        let ft = FeatureTune {
            cold_metric: true,
            ..FeatureTune::new(Some(&itf), None)
        };
        let err = tune_with_features(&data, &base, &cfg(1), &ft, |_| {}).err();
        assert!(
            matches!(err, Some(Error::ColdMetricWithoutItemFeatures { ref metric }) if metric == "cold-recall@20"),
            "{err:?}"
        );
        let none = FeatureTune::new(None, None);
        let err = tune_with_features(&data, &base, &cfg(1), &none, |_| {}).err();
        assert!(matches!(err, Some(Error::InvalidSetting { .. })), "{err:?}");
    }

    #[test]
    fn cold_metric_ranks_only_the_cold_items() {
        let seed = 3;
        println!("seed {seed}");
        let (data, itf) = planted(seed);
        let described = itf.described();
        let cs = cold_item_split(&data, |id| described.contains(id), 0.25, seed).unwrap();
        let (fit, _) = random_holdout(&cs.rest, 0.2, seed).unwrap();
        let params = Params::builder()
            .factors(4)
            .regularization(0.5)
            .seed(seed)
            .check()
            .unwrap();
        let tp = TowerParams::default();
        let mut tr = TowerTrainer::new(&params, &tp, &fit, None, Some(&itf)).unwrap();
        for _ in 0..3 {
            tr.step().unwrap();
        }
        let k = 3;
        let ce = ColdEval::new(&tr, &cs, Metric::recall(k)).unwrap();
        let got = ce.value(&tr);
        // Brute force: each user with a cold item ranks the cold items only.
        let x = tr.user_factors();
        let all = tr.entity_factors(Tower::Item);
        let ids = tr.ids(Tower::Item);
        let cold_rows: Vec<usize> = cs
            .cold
            .items()
            .ids()
            .iter()
            .map(|i| ids.get(i).unwrap() as usize)
            .collect();
        assert!(
            cold_rows.iter().all(|&r| r >= fit.n_items()),
            "cold items are not training items"
        );
        let (mut sum, mut users) = (0.0, 0);
        for u in 0..cs.cold.n_users() {
            let test = crate::data::interactions::sparse_row(cs.cold.by_user(), u).indices;
            if test.is_empty() {
                continue;
            }
            let score = |c: usize| crate::linalg::dot(x.row(u), all.row(cold_rows[c]));
            let mut order: Vec<usize> = (0..cold_rows.len()).collect();
            order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
            let hits = order[..k]
                .iter()
                .filter(|&&c| test.contains(&(c as u32)))
                .count();
            sum += hits as f64 / k.min(test.len()) as f64;
            users += 1;
        }
        let want = sum / users as f64;
        println!("cold recall@{k}: {got} (brute force {want}, {users} users)");
        assert!(users > 0 && (got - want).abs() < 1e-9, "{got} vs {want}");
    }

    #[test]
    fn tower_tune_fits_on_its_input_only_and_is_deterministic() {
        let seed = 5;
        println!("seed {seed}");
        let (data, itf) = planted(seed);
        let base = Params::builder().threads(2).check().unwrap();
        let ft = FeatureTune {
            cold_metric: true,
            ..FeatureTune::new(None, Some(&itf))
        };
        let run = |threads: usize| {
            let base = base.to_builder().threads(threads).check().unwrap();
            tune_with_features(&data, &base, &cfg(seed), &ft, |_| {}).unwrap()
        };
        let a = run(1);
        let b = run(2);
        assert_eq!(a.trials.len(), b.trials.len());
        for (s, t) in a.trials.iter().zip(&b.trials) {
            assert_eq!(
                (s.value, &s.curve, s.feature_reg),
                (t.value, &t.curve, t.feature_reg)
            );
            assert!(s.feature_reg.is_some());
        }
        assert_eq!(a.model.user_factors(), b.model.user_factors());
        assert_eq!(a.model.item_factors(), b.model.item_factors());
        // The refit trains on exactly the input; items known only from the
        // features are served cold.
        let (tp, towers) = a.towers.as_ref().unwrap();
        assert_eq!(
            tp.item_feature_reg,
            a.trials
                .iter()
                .max_by(|s, t| s.value.total_cmp(&t.value).then(t.id.cmp(&s.id)))
                .unwrap()
                .feature_reg
        );
        assert_eq!(towers.n_train(Tower::Item), data.n_items());
        assert_eq!(towers.n_cold(Tower::Item), 10);
        assert_eq!(a.model.train().nnz(), data.nnz());
        assert!(a.model.items().get("new0").is_some());
    }
}
