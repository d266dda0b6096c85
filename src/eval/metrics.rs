//! Ranking metrics as papers compute them (binary relevance; the Recall
//! normalisation of Liang et al. 2018), and the [`Evaluator`] that runs any
//! [`Scorer`] over every test user.
//!
//! For a user with test items `T` (items also in the user's history are
//! dropped from `T`: they cannot be ranked) and a ranking `r_1, r_2, …` of
//! the items *not* in the history (ties: lower item index first):
//!
//! | metric | definition |
//! |---|---|
//! | Recall@K | `hits@K / min(K, |T|)` |
//! | Precision@K | `hits@K / K` |
//! | NDCG@K | `Σ_{j≤K, r_j∈T} 1/log2(j+1)` over the same sum for the first `min(K, |T|)` positions |
//! | MAP@K | mean over users of `Σ_{j≤K, r_j∈T} (hits@j / j) / min(K, |T|)` |
//! | MRR@K | `1 / j` of the first hit within the top K (0 if none) |
//! | HR@K | 1 if any test item is in the top K |
//! | AUC | fraction of (test item, other candidate) pairs ranked in the right order, ties count ½ |
//!
//! Means are over users with at least one test item (AUC: over users with at
//! least one candidate that is not a test item). Coverage is the fraction of
//! the catalogue that appears in at least one top-K list; mean popularity is
//! the mean number of training interactions of the recommended items.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Interactions, RowView};
use crate::error::{Error, Result};
use crate::eval::scorer::{FactorScorer, ScoreScratch, Scorer};
use crate::serve::topk::{top_k, top_k_all};

/// Recall@K = hits in the top K / min(K, |test|). `test` must be sorted.
pub fn recall_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if test.is_empty() || k == 0 {
        return 0.0;
    }
    hits(ranked, test, k) as f64 / k.min(test.len()) as f64
}

/// Precision@K = hits in the top K / K. `test` must be sorted.
pub fn precision_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if test.is_empty() || k == 0 {
        return 0.0;
    }
    hits(ranked, test, k) as f64 / k as f64
}

/// HR@K: 1 when at least one test item is in the top K. `test` must be sorted.
pub fn hit_rate_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if hits(ranked, test, k) > 0 {
        1.0
    } else {
        0.0
    }
}

/// NDCG@K with binary relevance, IDCG over min(K, |test|) positions.
/// `test` must be sorted.
pub fn ndcg_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if test.is_empty() || k == 0 {
        return 0.0;
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, i)| test.binary_search(i).is_ok())
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let idcg: f64 = (0..k.min(test.len()))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    dcg / idcg
}

/// AP@K = `Σ_{j≤K, r_j∈T} precision@j / min(K, |T|)`. `test` must be sorted.
pub fn average_precision_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if test.is_empty() || k == 0 {
        return 0.0;
    }
    let mut found = 0usize;
    let mut sum = 0.0;
    for (j, i) in ranked.iter().take(k).enumerate() {
        if test.binary_search(i).is_ok() {
            found += 1;
            sum += found as f64 / (j + 1) as f64;
        }
    }
    sum / k.min(test.len()) as f64
}

/// RR@K = `1 / j` for the first hit at 1-based rank `j ≤ K`, else 0.
/// `test` must be sorted.
pub fn reciprocal_rank_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|i| test.binary_search(i).is_ok())
        .map_or(0.0, |j| 1.0 / (j + 1) as f64)
}

/// AUC of one user from `(score, is_test_item)` of every candidate: the
/// fraction of (test, non-test) pairs where the test item scores higher, ties
/// counting ½. `None` when either side is empty. Sorts `candidates`.
pub fn auc(candidates: &mut [(f32, bool)]) -> Option<f64> {
    candidates.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    let (mut pos, mut neg) = (0u64, 0u64);
    let mut below = 0u64; // negatives with a strictly lower score
    let mut sum = 0.0f64;
    let mut g = 0;
    while g < candidates.len() {
        let s = candidates[g].0;
        let (mut gp, mut gn) = (0u64, 0u64);
        let mut e = g;
        while e < candidates.len() && candidates[e].0.partial_cmp(&s) == Some(Ordering::Equal) {
            if candidates[e].1 {
                gp += 1;
            } else {
                gn += 1;
            }
            e += 1;
        }
        if e == g {
            // NaN: its own group.
            if candidates[g].1 {
                gp = 1;
            } else {
                gn = 1;
            }
            e = g + 1;
        }
        sum += gp as f64 * (below as f64 + 0.5 * gn as f64);
        below += gn;
        pos += gp;
        neg += gn;
        g = e;
    }
    if pos == 0 || neg == 0 {
        return None;
    }
    Some(sum / (pos as f64 * neg as f64))
}

fn hits(ranked: &[u32], test: &[u32], k: usize) -> usize {
    ranked
        .iter()
        .take(k)
        .filter(|i| test.binary_search(i).is_ok())
        .count()
}

/// Mean metrics over the evaluated users.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// K.
    pub k: usize,
    /// Mean Recall@K.
    pub recall: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// Mean Precision@K.
    pub precision: f64,
    /// MAP@K.
    pub map: f64,
    /// MRR@K.
    pub mrr: f64,
    /// HR@K.
    pub hit_rate: f64,
    /// Mean AUC (`None` when not computed or no user qualifies).
    pub auc: Option<f64>,
    /// Fraction of the catalogue in at least one top-K list.
    pub coverage: f64,
    /// Mean training popularity (interactions) of the recommended items.
    pub mean_popularity: f64,
    /// Users evaluated (those with at least one test item).
    pub users: usize,
}

/// A metric to optimise or report: `recall@20`, `ndcg@10`, `precision@5`,
/// `map@20`, `mrr@20`, `hr@10`, `auc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Which metric.
    pub kind: MetricKind,
    /// Its cut-off K (ignored by AUC except for coverage/popularity).
    pub k: usize,
}

/// The metrics [`Metric`] can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Recall@K.
    Recall,
    /// NDCG@K.
    Ndcg,
    /// Precision@K.
    Precision,
    /// MAP@K.
    Map,
    /// MRR@K.
    Mrr,
    /// HR@K.
    Hr,
    /// AUC.
    Auc,
}

impl Metric {
    /// Recall@K.
    pub fn recall(k: usize) -> Self {
        Metric {
            kind: MetricKind::Recall,
            k,
        }
    }

    /// Read this metric's value out of a report computed with the same K.
    pub fn value(&self, m: &RankingMetrics) -> f64 {
        match self.kind {
            MetricKind::Recall => m.recall,
            MetricKind::Ndcg => m.ndcg,
            MetricKind::Precision => m.precision,
            MetricKind::Map => m.map,
            MetricKind::Mrr => m.mrr,
            MetricKind::Hr => m.hit_rate,
            MetricKind::Auc => m.auc.unwrap_or(0.0),
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::UnknownName {
            what: "metric",
            got: s.to_owned(),
            expected: "recall@K, ndcg@K, precision@K, map@K, mrr@K, hr@K, auc",
        };
        let lower = s.trim().to_ascii_lowercase();
        let (name, k) = match lower.split_once('@') {
            Some((n, k)) => (n.to_owned(), k.parse::<usize>().map_err(|_| bad())?),
            None => (lower.clone(), 20),
        };
        if k == 0 {
            return Err(bad());
        }
        let kind = match name.as_str() {
            "recall" => MetricKind::Recall,
            "ndcg" => MetricKind::Ndcg,
            "precision" => MetricKind::Precision,
            "map" => MetricKind::Map,
            "mrr" => MetricKind::Mrr,
            "hr" | "hit" | "hitrate" => MetricKind::Hr,
            "auc" => MetricKind::Auc,
            _ => return Err(bad()),
        };
        Ok(Metric { kind, k })
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            MetricKind::Recall => "recall",
            MetricKind::Ndcg => "ndcg",
            MetricKind::Precision => "precision",
            MetricKind::Map => "map",
            MetricKind::Mrr => "mrr",
            MetricKind::Hr => "hr",
            MetricKind::Auc => return f.write_str("auc"),
        };
        write!(f, "{name}@{}", self.k)
    }
}

/// Per-user results, summed in user order.
#[derive(Clone, Copy, Default)]
struct UserResult {
    recall: f64,
    ndcg: f64,
    precision: f64,
    ap: f64,
    rr: f64,
    hit: f64,
    auc: Option<f64>,
}

/// Runs a [`Scorer`] over every user with test items.
///
/// `history` holds what each user is known to have (the training matrix for
/// a per-user holdout; the fold-in part for strong generalization): those
/// items are excluded from the ranking and given to the scorer. `test` holds
/// the relevant items. Both must share the user and item index spaces.
///
/// ## Parallelisation
/// Users are scored in parallel (one score buffer and [`ScoreScratch`] per
/// worker); the means are summed in user order, so results do not depend on
/// the thread count.
pub struct Evaluator<'a> {
    history: &'a Interactions,
    test: &'a Interactions,
    popularity: Vec<f32>,
    k: usize,
    auc: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluator at K = 20 without AUC; item popularity counted from
    /// `history`. Fails when the shapes differ.
    pub fn new(history: &'a Interactions, test: &'a Interactions) -> Result<Self> {
        if history.n_users() != test.n_users() || history.n_items() != test.n_items() {
            return Err(Error::Shape(format!(
                "history is {}x{} but test is {}x{}; read the test file against the training id maps",
                history.n_users(),
                history.n_items(),
                test.n_users(),
                test.n_items()
            )));
        }
        Ok(Evaluator {
            history,
            test,
            popularity: item_counts(history),
            k: 20,
            auc: false,
        })
    }

    /// Cut-off K of the top-K metrics.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Also compute AUC (sorts every user's full candidate list).
    pub fn with_auc(mut self, auc: bool) -> Self {
        self.auc = auc;
        self
    }

    /// Settings for one metric: its K, and AUC only if it is AUC.
    pub fn for_metric(self, metric: Metric) -> Self {
        self.k(metric.k).with_auc(metric.kind == MetricKind::Auc)
    }

    /// Count item popularity on `train` instead of the history (strong
    /// generalization: the history is the fold-in part).
    pub fn popularity_from(mut self, train: &Interactions) -> Result<Self> {
        if train.n_items() != self.history.n_items() {
            return Err(Error::Shape(format!(
                "train has {} items, history {}",
                train.n_items(),
                self.history.n_items()
            )));
        }
        self.popularity = item_counts(train);
        Ok(self)
    }

    /// The history matrix.
    pub fn history(&self) -> &Interactions {
        self.history
    }

    /// The test matrix.
    pub fn test(&self) -> &Interactions {
        self.test
    }

    /// Evaluate a scorer.
    ///
    /// A [`FactorScorer`] (plain `x_u · y_i`) is ranked for all users at once
    /// by the blocked top-k kernel unless AUC is asked for (AUC needs every
    /// score); anything else is scored user by user. Both rank the same way
    /// (score descending, ties to the lower item index); the blocked kernel
    /// never returns `-inf` scores (missing items), so such a list may be
    /// shorter than K.
    pub fn evaluate<S: Scorer + ?Sized>(&self, scorer: &S) -> RankingMetrics {
        let n = self.history.n_items();
        let k = self.k;
        let results = match scorer.factor_scorer() {
            Some(f)
                if !self.auc
                    && f.users().rows() >= self.test.n_users()
                    && f.items().rows() >= n
                    && f.users().k() == f.items().k() =>
            {
                self.ranked_blocked(f)
            }
            _ => self.ranked_per_user(scorer),
        };
        let mut sum = UserResult::default();
        let (mut users, mut auc_users) = (0usize, 0usize);
        let mut auc_sum = 0.0;
        let mut covered = vec![false; n];
        let (mut pop_sum, mut pop_count) = (0.0f64, 0usize);
        for (r, ranked) in results.into_iter().flatten() {
            users += 1;
            sum.recall += r.recall;
            sum.ndcg += r.ndcg;
            sum.precision += r.precision;
            sum.ap += r.ap;
            sum.rr += r.rr;
            sum.hit += r.hit;
            if let Some(a) = r.auc {
                auc_sum += a;
                auc_users += 1;
            }
            for &i in &ranked {
                covered[i as usize] = true;
                pop_sum += self.popularity[i as usize] as f64;
            }
            pop_count += ranked.len();
        }
        let uf = users.max(1) as f64;
        RankingMetrics {
            k,
            recall: sum.recall / uf,
            ndcg: sum.ndcg / uf,
            precision: sum.precision / uf,
            map: sum.ap / uf,
            mrr: sum.rr / uf,
            hit_rate: sum.hit / uf,
            auc: (self.auc && auc_users > 0).then(|| auc_sum / auc_users as f64),
            coverage: covered.iter().filter(|&&c| c).count() as f64 / n.max(1) as f64,
            mean_popularity: pop_sum / pop_count.max(1) as f64,
            users,
        }
    }

    /// The items of `u`'s test row not in its history (sorted).
    fn relevant_into(&self, u: usize, out: &mut Vec<u32>) {
        let hist = self.history.user_row(u).indices;
        out.clear();
        out.extend(
            self.test
                .user_row(u)
                .indices
                .iter()
                .filter(|i| hist.binary_search(i).is_err()),
        );
    }

    /// Per-user results by filling every item's score and selecting the top K.
    fn ranked_per_user<S: Scorer + ?Sized>(
        &self,
        scorer: &S,
    ) -> Vec<Option<(UserResult, Vec<u32>)>> {
        let n = self.history.n_items();
        let k = self.k;
        (0..self.test.n_users())
            .into_par_iter()
            .map_init(
                || (vec![0.0f32; n], ScoreScratch::default(), Vec::new()),
                |(buf, scratch, relevant), u| {
                    self.relevant_into(u, relevant);
                    if relevant.is_empty() {
                        return None;
                    }
                    let hist = self.history.user_row(u);
                    scorer.score(u, hist, buf, scratch);
                    Some(self.one_user(hist, relevant, buf, k))
                },
            )
            .collect()
    }

    /// Per-user results from the blocked top-k kernel over the users with
    /// test items (history items excluded, missing items never ranked).
    fn ranked_blocked(&self, f: &FactorScorer<'_>) -> Vec<Option<(UserResult, Vec<u32>)>> {
        let mut relevant = Vec::new();
        let users: Vec<u32> = (0..self.test.n_users())
            .filter(|&u| {
                self.relevant_into(u, &mut relevant);
                !relevant.is_empty()
            })
            .map(|u| u as u32)
            .collect();
        let mut out: Vec<Option<(UserResult, Vec<u32>)>> = vec![None; self.test.n_users()];
        if users.is_empty() {
            return out;
        }
        let queries = f.users().gather(&users);
        let items = f.items();
        let n = self.history.n_items();
        let allowed = f.missing_items().map(|m| {
            (0..n as u32)
                .filter(|&i| !m.get(i as usize).copied().unwrap_or(false))
                .collect::<Vec<u32>>()
        });
        let (allowed, targets) = match allowed {
            Some(a) => (Some(a), items),
            None if items.rows() > n => ((Some((0..n as u32).collect())), items),
            None => (None, items),
        };
        let k = self.k;
        let excluded = |q: usize, t: u32| {
            self.history
                .user_row(users[q] as usize)
                .indices
                .binary_search(&t)
                .is_ok()
        };
        let done: std::result::Result<(), std::convert::Infallible> =
            top_k_all(&queries, targets, allowed, k, excluded, |q, list| {
                let u = users[q] as usize;
                self.relevant_into(u, &mut relevant);
                let ranked: Vec<u32> = list.iter().map(|&(i, _)| i).collect();
                out[u] = Some((user_result(&ranked, &relevant, k, None), ranked));
                Ok(())
            });
        let Ok(()) = done;
        out
    }

    /// Evaluate a closure `score(u, out)` that ignores the history.
    pub fn evaluate_fn<F>(&self, score: F) -> RankingMetrics
    where
        F: Fn(usize, &mut [f32]) + Sync,
    {
        self.evaluate(&FnScorer(score))
    }

    fn one_user(
        &self,
        hist: RowView<'_>,
        relevant: &[u32],
        buf: &[f32],
        k: usize,
    ) -> (UserResult, Vec<u32>) {
        let n = buf.len() as u32;
        let candidates = (0..n).filter(|i| hist.indices.binary_search(i).is_err());
        let scored: Vec<(u32, f32)> = candidates.clone().map(|i| (i, buf[i as usize])).collect();
        let auc_value = if self.auc {
            let mut c: Vec<(f32, bool)> = scored
                .iter()
                .map(|&(i, s)| (s, relevant.binary_search(&i).is_ok()))
                .collect();
            auc(&mut c)
        } else {
            None
        };
        let ranked: Vec<u32> = top_k(scored, k).into_iter().map(|(i, _)| i).collect();
        (user_result(&ranked, relevant, k, auc_value), ranked)
    }
}

/// The metrics of one user from its ranked list and sorted relevant items.
fn user_result(ranked: &[u32], relevant: &[u32], k: usize, auc: Option<f64>) -> UserResult {
    UserResult {
        recall: recall_at_k(ranked, relevant, k),
        ndcg: ndcg_at_k(ranked, relevant, k),
        precision: precision_at_k(ranked, relevant, k),
        ap: average_precision_at_k(ranked, relevant, k),
        rr: reciprocal_rank_at_k(ranked, relevant, k),
        hit: hit_rate_at_k(ranked, relevant, k),
        auc,
    }
}

struct FnScorer<F>(F);

impl<F: Fn(usize, &mut [f32]) + Sync> Scorer for FnScorer<F> {
    fn score(&self, u: usize, _: RowView<'_>, out: &mut [f32], _: &mut ScoreScratch) {
        (self.0)(u, out)
    }
}

/// Interactions per item (the length of each item column).
pub fn item_counts(data: &Interactions) -> Vec<f32> {
    (0..data.n_items())
        .map(|i| data.item_row(i).len() as f32)
        .collect()
}

/// Evaluate any scorer: `score(u, out)` fills `out[i]` with the score of
/// item `i` for user `u`. Train items are excluded from the ranking; ties go
/// to the lower item index. Shorthand for [`Evaluator`] at `k` without AUC.
///
/// Panics when `train` and `test` have different shapes (use
/// [`Evaluator::new`] for a typed error).
#[track_caller]
pub fn evaluate_scorer<F>(
    train: &Interactions,
    test: &Interactions,
    k: usize,
    score: F,
) -> RankingMetrics
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    Evaluator::new(train, test)
        .expect("train and test must have the same shape")
        .k(k)
        .evaluate_fn(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_normalises_by_min_k_and_test_size() {
        // 2 hits among top 3, 5 test items: 2 / min(3, 5).
        assert_eq!(recall_at_k(&[1, 2, 3, 4], &[2, 3, 7, 8, 9], 3), 2.0 / 3.0);
        // 1 hit, 1 test item, K = 20: 1 / 1.
        assert_eq!(recall_at_k(&[5, 6], &[6], 20), 1.0);
        assert_eq!(recall_at_k(&[5, 6], &[], 20), 0.0);
    }

    #[test]
    fn ndcg_hand_computed() {
        // Hit at rank 2 only; one test item: (1/log2(3)) / 1.
        let got = ndcg_at_k(&[9, 4, 1], &[4], 3);
        assert!((got - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&[4, 9], &[4, 9], 2), 1.0);
    }

    #[test]
    fn ap_rr_precision_hand_computed() {
        // Hits at ranks 1 and 3 of 4; |T| = 3, K = 4:
        // AP = (1/1 + 2/3) / min(4, 3) = 5/9.
        let ranked = [7, 1, 8, 2];
        let test = [7, 8, 9];
        assert!((average_precision_at_k(&ranked, &test, 4) - 5.0 / 9.0).abs() < 1e-12);
        assert_eq!(reciprocal_rank_at_k(&[1, 2, 8], &test, 3), 1.0 / 3.0);
        assert_eq!(reciprocal_rank_at_k(&[1, 2, 8], &test, 2), 0.0);
        assert_eq!(precision_at_k(&ranked, &test, 4), 0.5);
        assert_eq!(hit_rate_at_k(&ranked, &test, 1), 1.0);
        assert_eq!(hit_rate_at_k(&[1, 2], &test, 2), 0.0);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Positive 0.5 beats negative 0.1 and ties with negative 0.5: (1 + 0.5) / 2.
        let mut c = vec![(0.5, true), (0.1, false), (0.5, false)];
        assert_eq!(auc(&mut c), Some(0.75));
        let mut c = vec![(0.5, true)];
        assert_eq!(auc(&mut c), None);
        let mut c = vec![(0.9, true), (0.8, true), (0.1, false)];
        assert_eq!(auc(&mut c), Some(1.0));
    }

    #[test]
    fn metric_names_parse_and_print() {
        for s in [
            "recall@20",
            "ndcg@10",
            "precision@5",
            "map@20",
            "mrr@3",
            "hr@1",
            "auc",
        ] {
            let m: Metric = s.parse().unwrap();
            assert_eq!(m.to_string(), s);
        }
        assert!("recall@0".parse::<Metric>().is_err());
        assert!("foo@3".parse::<Metric>().is_err());
        assert_eq!("Recall".parse::<Metric>().unwrap(), Metric::recall(20));
    }
}
