//! Seeded train/test splits. Every split keeps the id maps of its input, so
//! all the parts share one index space, and draws its randomness from a
//! ChaCha8 generator seeded by `seed` (reproducible on any machine and
//! thread count).
//!
//! - [`random_holdout`]: a fraction of each user's items.
//! - [`leave_k_out`]: `k` items per user, the latest ones when timestamps
//!   are given.
//! - [`strong_generalization`]: held-out users, each split into a fold-in
//!   part and an evaluation part (Liang et al. 2018; Rendle et al. 2022).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::interactions::csr_from_triplets;
use crate::data::{Interactions, RowView};
use crate::error::{Error, Result};

type Triplet = (u32, u32, f32);

fn assemble(data: &Interactions, triplets: Vec<Triplet>) -> Result<Interactions> {
    let (m, n) = (data.n_users(), data.n_items());
    let csr = csr_from_triplets(m, n, triplets);
    Interactions::from_csr(data.users().clone(), data.items().clone(), csr)
}

/// `round(fraction * n)` clamped to `[1, n − 1]` (0 when `n < 2`).
fn holdout_count(fraction: f64, n: usize) -> usize {
    if n < 2 {
        0
    } else {
        ((fraction * n as f64).round() as usize).clamp(1, n - 1)
    }
}

fn check_fraction(fraction: f64) -> Result<()> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
        return Err(Error::Shape(format!(
            "the holdout fraction must be in (0, 1), got {fraction}"
        )));
    }
    Ok(())
}

/// The interactions of user `u` at positions `order[..take]` of its row to
/// `test`, the others to `rest`.
fn deal(
    u: usize,
    row: RowView<'_>,
    order: &[usize],
    take: usize,
    rest: &mut Vec<Triplet>,
    test: &mut Vec<Triplet>,
) {
    for (rank, &j) in order.iter().enumerate() {
        let t = (u as u32, row.indices[j], row.values[j]);
        if rank < take {
            test.push(t);
        } else {
            rest.push(t);
        }
    }
}

/// Split every user's interactions: its positions are shuffled (one seeded
/// stream, users in order), `plan(u, order)` may reorder them and returns
/// how many go to test (the first ones).
fn split_users(
    data: &Interactions,
    seed: u64,
    mut plan: impl FnMut(usize, &mut Vec<usize>) -> usize,
) -> Result<(Interactions, Interactions)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(data.nnz());
    let mut test = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for u in 0..data.n_users() {
        let row = data.user_row(u);
        order.clear();
        order.extend(0..row.len());
        order.shuffle(&mut rng);
        let take = plan(u, &mut order);
        deal(u, row, &order, take, &mut train, &mut test);
    }
    Ok((assemble(data, train)?, assemble(data, test)?))
}

/// Random per-user holdout: for each user with at least two interactions,
/// `round(fraction * |S_u|)` of its items (at least one, and never all) go to
/// the test set. Both sides keep the id maps of `data`, so indices agree.
pub fn random_holdout(
    data: &Interactions,
    fraction: f64,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    check_fraction(fraction)?;
    split_users(data, seed, |_, order| holdout_count(fraction, order.len()))
}

#[allow(clippy::needless_range_loop)]
/// Leave-k-out: `k` items of every user with more than `k` interactions go
/// to the test set (users with `k` or fewer stay whole in train). With
/// `timestamps` (aligned with the user-major non-zeros of `data`, see
/// [`crate::datasets::Timestamps`]) the `k` latest go, ties broken at random;
/// without, `k` random ones.
pub fn leave_k_out(
    data: &Interactions,
    k: usize,
    timestamps: Option<&[i64]>,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    if k == 0 {
        return Err(Error::Shape("leave-k-out needs k >= 1".into()));
    }
    if let Some(ts) = timestamps {
        if ts.len() != data.nnz() {
            return Err(Error::Shape(format!(
                "{} timestamps for {} interactions",
                ts.len(),
                data.nnz()
            )));
        }
    }
    let indptr = data.by_user().indptr();
    let indptr = indptr.raw_storage();
    split_users(data, seed, |u, order| {
        if let Some(ts) = timestamps {
            let base = indptr[u];
            // Latest first; the shuffle breaks ties (stable sort).
            order.sort_by_key(|&j| std::cmp::Reverse(ts[base + j]));
        }
        let n = order.len();
        if n > k {
            k
        } else {
            0
        }
    })
}

/// One group of held-out users: the items given to the model (fold-in) and
/// the items to predict. Both share the index space of the input.
#[derive(Clone, Debug)]
pub struct HeldOut {
    /// The fold-in part (about 80% of each held-out user's items).
    pub fold_in: Interactions,
    /// The evaluation part.
    pub test: Interactions,
    /// The held-out user indices, ascending.
    pub users: Vec<u32>,
}

/// A strong-generalization split: training users, and held-out users for
/// validation (possibly none) and for test.
#[derive(Clone, Debug)]
pub struct StrongSplit {
    /// Every interaction of the training users (held-out rows are empty).
    pub train: Interactions,
    /// Validation users (`None` when 0 were asked for).
    pub validation: Option<HeldOut>,
    /// Test users.
    pub test: HeldOut,
}

/// Settings of [`strong_generalization`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrongConfig {
    /// Held-out test users.
    pub test_users: usize,
    /// Held-out validation users.
    pub validation_users: usize,
    /// Fraction of each held-out user's items to predict (0.2 in Liang 2018).
    pub test_fraction: f64,
    /// Seed.
    pub seed: u64,
}

/// Strong generalization: `test_users` (and `validation_users`) users, drawn
/// at random among users with at least two interactions, are removed from
/// training; each one's items are split into fold-in and evaluation parts
/// (`test_fraction` to evaluate, at least one, never all).
pub fn strong_generalization(data: &Interactions, cfg: &StrongConfig) -> Result<StrongSplit> {
    check_fraction(cfg.test_fraction)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut eligible: Vec<u32> = (0..data.n_users() as u32)
        .filter(|&u| data.user_row(u as usize).len() >= 2)
        .collect();
    let need = cfg.test_users + cfg.validation_users;
    if need == 0 || need >= eligible.len() {
        return Err(Error::Shape(format!(
            "strong generalization asks for {} test + {} validation users, but {} users have 2 or more interactions (need more than that, and at least 1 test user)",
            cfg.test_users,
            cfg.validation_users,
            eligible.len()
        )));
    }
    if cfg.test_users == 0 {
        return Err(Error::Shape(
            "strong generalization needs test_users >= 1".into(),
        ));
    }
    eligible.shuffle(&mut rng);
    // 0: train, 1: test, 2: validation.
    let mut group = vec![0u8; data.n_users()];
    for (r, &u) in eligible.iter().take(need).enumerate() {
        group[u as usize] = if r < cfg.test_users { 1 } else { 2 };
    }
    let mut train = Vec::new();
    let mut parts: [(Vec<Triplet>, Vec<Triplet>); 2] = Default::default();
    let mut order: Vec<usize> = Vec::new();
    for u in 0..data.n_users() {
        let row = data.user_row(u);
        if group[u] == 0 {
            train.extend(
                row.indices
                    .iter()
                    .zip(row.values)
                    .map(|(&i, &v)| (u as u32, i, v)),
            );
            continue;
        }
        let (fold, test) = &mut parts[group[u] as usize - 1];
        let take = holdout_count(cfg.test_fraction, row.len());
        order.clear();
        order.extend(0..row.len());
        order.shuffle(&mut rng);
        deal(u, row, &order, take, fold, test);
    }
    let users_of = |g: u8| -> Vec<u32> {
        (0..data.n_users() as u32)
            .filter(|&u| group[u as usize] == g)
            .collect()
    };
    let [(tf, tt), (vf, vt)] = parts;
    let test = HeldOut {
        fold_in: assemble(data, tf)?,
        test: assemble(data, tt)?,
        users: users_of(1),
    };
    let validation = if cfg.validation_users > 0 {
        Some(HeldOut {
            fold_in: assemble(data, vf)?,
            test: assemble(data, vt)?,
            users: users_of(2),
        })
    } else {
        None
    };
    Ok(StrongSplit {
        train: assemble(data, train)?,
        validation,
        test,
    })
}

/// A validation split that holds out whole items: see [`cold_item_split`].
#[derive(Clone, Debug)]
pub struct ColdSplit {
    /// The input without the cold items (they leave its item index space;
    /// every user stays, with no interaction if all of theirs were cold).
    pub rest: Interactions,
    /// The cold items' pairs: the users of `rest` (same indices) against the
    /// cold items, in their own index space (ids as in the input).
    pub cold: Interactions,
    /// `cold`'s users and items with no pair: the history of an evaluation
    /// that ranks only the cold items ([`crate::eval::Evaluator`]).
    pub cold_history: Interactions,
}

/// Hold out `round(fraction · n)` (at least 1) of the `n` items of `data`
/// for which `has_features` is true, chosen at random (seeded), with all
/// their interactions: they become cold items, to be embedded from their
/// features alone. Errors when no item of `data` has features.
pub fn cold_item_split(
    data: &Interactions,
    has_features: impl Fn(&str) -> bool,
    fraction: f64,
    seed: u64,
) -> Result<ColdSplit> {
    check_fraction(fraction)?;
    let by_item = data.by_item();
    let mut candidates: Vec<u32> = (0..data.n_items() as u32)
        .filter(|&i| {
            !crate::data::interactions::sparse_row(by_item, i as usize)
                .indices
                .is_empty()
                && has_features(data.items().id(i))
        })
        .collect();
    if candidates.is_empty() {
        return Err(Error::InvalidSetting {
            name: "item-features",
            requirement: "features of some items of the input (to hold out cold items)",
            value: String::from("no input item has features"),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636f_6c64);
    candidates.shuffle(&mut rng);
    let n_cold = ((fraction * candidates.len() as f64).round() as usize).clamp(1, candidates.len());
    let mut cold_index = vec![u32::MAX; data.n_items()];
    let mut cold_ids: Vec<u32> = candidates[..n_cold].to_vec();
    cold_ids.sort_unstable();
    for (c, &i) in cold_ids.iter().enumerate() {
        cold_index[i as usize] = c as u32;
    }
    let mut rest_index = vec![u32::MAX; data.n_items()];
    let mut rest_names = Vec::new();
    for i in 0..data.n_items() {
        if cold_index[i] == u32::MAX {
            rest_index[i] = rest_names.len() as u32;
            rest_names.push(data.items().id(i as u32));
        }
    }
    let (mut rest_t, mut cold_t) = (Vec::new(), Vec::new());
    for u in 0..data.n_users() {
        let row = crate::data::interactions::sparse_row(data.by_user(), u);
        for (&i, &v) in row.indices.iter().zip(row.values) {
            match cold_index[i as usize] {
                u32::MAX => rest_t.push((u as u32, rest_index[i as usize], v)),
                c => cold_t.push((u as u32, c, v)),
            }
        }
    }
    let negatives = data.has_negatives();
    let rest_items = crate::data::IdMap::from_ids(rest_names, "item")?;
    let cold_items =
        crate::data::IdMap::from_ids(cold_ids.iter().map(|&i| data.items().id(i)), "item")?;
    let (m, users) = (data.n_users(), data.users().clone());
    let rest = Interactions::from_csr_with(
        users.clone(),
        rest_items.clone(),
        csr_from_triplets(m, rest_items.len(), rest_t),
        negatives,
    )?;
    let cold = Interactions::from_csr_with(
        users.clone(),
        cold_items.clone(),
        csr_from_triplets(m, cold_items.len(), cold_t),
        negatives,
    )?;
    Ok(ColdSplit {
        rest,
        cold,
        cold_history: Interactions::without_pairs(users, cold_items),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SynthConfig;

    #[test]
    fn cold_items_leave_the_rest_with_all_their_pairs() {
        let seed = 4;
        println!("seed {seed}");
        let data = SynthConfig::new(50, 40, 600, seed).interactions().unwrap();
        // Items with an even id have features.
        let has = |id: &str| id.parse::<u32>().is_ok_and(|i| i % 2 == 0);
        let s = cold_item_split(&data, has, 0.25, seed).unwrap();
        let cold: Vec<&String> = s.cold.items().ids().iter().collect();
        assert!(!cold.is_empty());
        for id in &cold {
            assert!(has(id));
            assert!(s.rest.items().get(id).is_none());
        }
        assert_eq!(s.rest.nnz() + s.cold.nnz(), data.nnz());
        assert_eq!(s.rest.n_items() + s.cold.n_items(), data.n_items());
        assert_eq!(s.cold_history.nnz(), 0);
        assert_eq!(s.cold.users().ids(), data.users().ids());
        let again = cold_item_split(&data, has, 0.25, seed).unwrap();
        assert_eq!(again.cold.items().ids(), s.cold.items().ids());
        assert!(matches!(
            cold_item_split(&data, |_| false, 0.25, seed),
            Err(Error::InvalidSetting { .. })
        ));
    }
}
