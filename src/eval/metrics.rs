//! Ranking metrics as papers compute them (Liang et al. 2018 normalisation).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::model::top_k;

/// Recall@K = hits in the top K / min(K, |test|). `test` must be sorted.
pub fn recall_at_k(ranked: &[u32], test: &[u32], k: usize) -> f64 {
    if test.is_empty() || k == 0 {
        return 0.0;
    }
    let hits = ranked
        .iter()
        .take(k)
        .filter(|i| test.binary_search(i).is_ok())
        .count();
    hits as f64 / k.min(test.len()) as f64
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

/// Mean Recall@K and NDCG@K over the users that have test items.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// K.
    pub k: usize,
    /// Mean Recall@K.
    pub recall: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// Users evaluated (those with at least one test item).
    pub users: usize,
}

/// Evaluate any scorer: `score(u, out)` fills `out[i]` with the score of
/// item `i` for user `u`. Train items are excluded from the ranking; ties go
/// to the lower item index. Runs in parallel over users; the mean is summed
/// in user order.
pub fn evaluate_scorer<F>(
    train: &Interactions,
    test: &Interactions,
    k: usize,
    score: F,
) -> RankingMetrics
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let n = train.n_items();
    let per_user: Vec<Option<(f64, f64)>> = (0..test.n_users())
        .into_par_iter()
        .map_init(
            || vec![0.0f32; n],
            |buf, u| {
                let t = test.user_row(u).indices;
                if t.is_empty() {
                    return None;
                }
                score(u, buf);
                let seen = if u < train.n_users() {
                    train.user_row(u).indices
                } else {
                    &[]
                };
                let scored: Vec<(u32, f32)> = (0..n as u32)
                    .filter(|i| seen.binary_search(i).is_err())
                    .map(|i| (i, buf[i as usize]))
                    .collect();
                let ranked: Vec<u32> = top_k(scored, k).into_iter().map(|(i, _)| i).collect();
                Some((recall_at_k(&ranked, t, k), ndcg_at_k(&ranked, t, k)))
            },
        )
        .collect();
    let mut users = 0;
    let (mut recall, mut ndcg) = (0.0, 0.0);
    for (r, d) in per_user.into_iter().flatten() {
        users += 1;
        recall += r;
        ndcg += d;
    }
    let users_f = users.max(1) as f64;
    RankingMetrics {
        k,
        recall: recall / users_f,
        ndcg: ndcg / users_f,
        users,
    }
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
}
