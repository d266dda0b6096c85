//! The preprocessing and strong-generalization split of Liang et al. 2018
//! ("Variational Autoencoders for Collaborative Filtering", the `vae_cf`
//! code), reused by Rendle et al. 2022 ("Revisiting the Performance of iALS
//! on Item Recommendation Benchmarks"):
//!
//! 1. keep interactions whose value is strictly greater than `min_value`
//!    (ML-20M: ratings > 3.5), as binary clicks;
//! 2. keep items with at least `min_item_users` users (MSD: 200), then
//!    users with at least `min_user_items` items (ML-20M: 5, MSD: 20),
//!    counted after the item filter (one pass, not iterated to a fixpoint);
//! 3. shuffle the users; the last `2 H` form the held-out groups, `H`
//!    validation then `H` test users (ML-20M: H = 10,000, MSD: 50,000);
//! 4. the item set is the items of the training users; a held-out user's
//!    other items are dropped;
//! 5. each held-out user with at least 5 (remaining) items has
//!    `floor(test_fraction · n)` of them, drawn at random, held out for
//!    evaluation (`test_fraction` = 0.2) and the rest given as fold-in
//!    history; a user with fewer than 5 keeps them all as fold-in.
//!
//! The randomness is a ChaCha8 stream seeded by `seed`, so a split is
//! reproducible on any machine, but the users drawn are not those of the
//! `vae_cf` numpy seed (98765). [`crate::eval::strong_generalization`] is a
//! different protocol (held-out users drawn among users with 2 or more
//! items, `round` instead of `floor`, no restriction to training items), so
//! it is not reused; the result has its [`StrongSplit`] type.
//!
//! Every part shares one compact index space: the users that pass the
//! filters and the items of the training users, both in their input order.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::interactions::csr_from_triplets;
use crate::data::{IdMap, Interactions};
use crate::error::{Error, Result};
use crate::eval::split::{HeldOut, StrongSplit};

type Triplet = (u32, u32, f32);

/// A held-out user with fewer remaining items keeps them all as fold-in
/// (the constant of `split_train_test_proportion` in `vae_cf`).
pub const LIANG_MIN_SPLIT_ITEMS: usize = 5;

/// Settings of [`liang2018`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiangConfig {
    /// Keep interactions with a value strictly greater than this (ML-20M:
    /// 3.5); `None` keeps all.
    pub min_value: Option<f32>,
    /// Turn every kept value into 1 (Liang 2018 works on binary clicks).
    pub binarize: bool,
    /// Users need at least this many items (after the item filter).
    pub min_user_items: usize,
    /// Items need at least this many users (0: no item filter).
    pub min_item_users: usize,
    /// Held-out users in each of the validation and the test groups.
    pub heldout_users: usize,
    /// Fraction of a held-out user's items to evaluate on (floored).
    pub test_fraction: f64,
    /// Seed of the user shuffle and of the per-user draws.
    pub seed: u64,
}

impl LiangConfig {
    /// MovieLens 20M as in Liang 2018 / Rendle 2022: ratings > 3.5, users
    /// with >= 5 movies, 10,000 validation and 10,000 test users.
    pub fn ml20m(seed: u64) -> Self {
        LiangConfig {
            min_value: Some(3.5),
            binarize: true,
            min_user_items: 5,
            min_item_users: 0,
            heldout_users: 10_000,
            test_fraction: 0.2,
            seed,
        }
    }

    /// Million Song Dataset taste profile as in Liang 2018 / Rendle 2022:
    /// every play, songs with >= 200 users, users with >= 20 songs, 50,000
    /// validation and 50,000 test users.
    pub fn msd(seed: u64) -> Self {
        LiangConfig {
            min_value: None,
            binarize: true,
            min_user_items: 20,
            min_item_users: 200,
            heldout_users: 50_000,
            test_fraction: 0.2,
            seed,
        }
    }

    /// A preset by name: `ml-20m` or `msd`.
    pub fn preset(name: &str, seed: u64) -> Result<Self> {
        match name {
            "ml-20m" => Ok(Self::ml20m(seed)),
            "msd" => Ok(Self::msd(seed)),
            other => Err(Error::UnknownName {
                what: "Liang 2018 preset",
                got: other.to_owned(),
                expected: "ml-20m, msd",
            }),
        }
    }
}

/// Apply the Liang 2018 preprocessing and split to `data` (see the module
/// documentation). The result's `validation` is always `Some`.
pub fn liang2018(data: &Interactions, cfg: &LiangConfig) -> Result<StrongSplit> {
    if !(cfg.test_fraction.is_finite() && cfg.test_fraction > 0.0 && cfg.test_fraction < 1.0) {
        return Err(Error::Shape(format!(
            "the evaluation fraction must be in (0, 1), got {}",
            cfg.test_fraction
        )));
    }
    if cfg.heldout_users == 0 {
        return Err(Error::Shape(
            "Liang 2018 needs at least 1 held-out user per group".into(),
        ));
    }
    let (m, n) = (data.n_users(), data.n_items());
    let keep_value = |v: f32| cfg.min_value.is_none_or(|t| v > t);
    // 2a. Items with enough users (after the value threshold).
    let mut item_users = vec![0usize; n];
    for (_, i, v) in data.triplets() {
        if keep_value(v) {
            item_users[i as usize] += 1;
        }
    }
    let item_ok: Vec<bool> = item_users
        .iter()
        .map(|&c| c > 0 && c >= cfg.min_item_users)
        .collect();
    // 2b. Users with enough of those items.
    let kept_row = |u: usize| {
        let row = data.user_row(u);
        row.indices
            .iter()
            .zip(row.values)
            .filter(|&(&i, &v)| keep_value(v) && item_ok[i as usize])
            .map(|(&i, &v)| (i, if cfg.binarize { 1.0 } else { v }))
    };
    let users: Vec<u32> = (0..m)
        .filter(|&u| {
            let c = kept_row(u).count();
            c > 0 && c >= cfg.min_user_items
        })
        .map(|u| u as u32)
        .collect();
    let need = 2 * cfg.heldout_users;
    if users.len() <= need {
        return Err(Error::Shape(format!(
            "Liang 2018 asks for 2 x {} held-out users, but only {} users pass the filters (need more than {need})",
            cfg.heldout_users,
            users.len()
        )));
    }
    // 3. Shuffle; the last 2H are held out: validation, then test.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order = users.clone();
    order.shuffle(&mut rng);
    // 0: train, 1: validation, 2: test (indexed by input user).
    let mut group = vec![u8::MAX; m];
    let n_train = order.len() - need;
    for (r, &u) in order.iter().enumerate() {
        group[u as usize] = if r < n_train {
            0
        } else if r < n_train + cfg.heldout_users {
            1
        } else {
            2
        };
    }
    // 4. The item set: items of the training users, in input order.
    let mut in_train = vec![false; n];
    for &u in &users {
        if group[u as usize] == 0 {
            for (i, _) in kept_row(u as usize) {
                in_train[i as usize] = true;
            }
        }
    }
    let mut item_index = vec![u32::MAX; n];
    let mut item_ids = Vec::new();
    for i in 0..n {
        if in_train[i] {
            item_index[i] = item_ids.len() as u32;
            item_ids.push(data.items().id(i as u32).to_owned());
        }
    }
    let user_ids = users.iter().map(|&u| data.users().id(u).to_owned());
    let user_map = IdMap::from_ids(user_ids, "user")?;
    let item_map = IdMap::from_ids(item_ids, "item")?;
    // 5. Per-user parts, users in input order.
    let mut train = Vec::new();
    let mut parts: [(Vec<Triplet>, Vec<Triplet>); 2] = Default::default();
    let mut heldout_users: [Vec<u32>; 2] = Default::default();
    let mut row: Vec<(u32, f32)> = Vec::new();
    let mut pick: Vec<usize> = Vec::new();
    let mut chosen: Vec<bool> = Vec::new();
    for (new_u, &u) in users.iter().enumerate() {
        let new_u = new_u as u32;
        row.clear();
        row.extend(
            kept_row(u as usize)
                .filter(|&(i, _)| in_train[i as usize])
                .map(|(i, v)| (item_index[i as usize], v)),
        );
        let g = group[u as usize];
        if g == 0 {
            train.extend(row.iter().map(|&(i, v)| (new_u, i, v)));
            continue;
        }
        let (fold, eval) = &mut parts[g as usize - 1];
        heldout_users[g as usize - 1].push(new_u);
        let take = if row.len() >= LIANG_MIN_SPLIT_ITEMS {
            (cfg.test_fraction * row.len() as f64).floor() as usize
        } else {
            0
        };
        pick.clear();
        pick.extend(0..row.len());
        pick.shuffle(&mut rng);
        chosen.clear();
        chosen.resize(row.len(), false);
        for &j in &pick[..take] {
            chosen[j] = true;
        }
        for (j, &(i, v)) in row.iter().enumerate() {
            if chosen[j] {
                eval.push((new_u, i, v));
            } else {
                fold.push((new_u, i, v));
            }
        }
    }
    let build = |t: Vec<Triplet>, what: &str| -> Result<Interactions> {
        if t.is_empty() {
            return Err(Error::Shape(format!(
                "Liang 2018: the {what} part is empty (too few items per held-out user?)"
            )));
        }
        let csr = csr_from_triplets(user_map.len(), item_map.len(), t);
        Interactions::from_csr(user_map.clone(), item_map.clone(), csr)
    };
    let [(vf, ve), (tf, te)] = parts;
    let [vu, tu] = heldout_users;
    Ok(StrongSplit {
        train: build(train, "training")?,
        validation: Some(HeldOut {
            fold_in: build(vf, "validation fold-in")?,
            test: build(ve, "validation evaluation")?,
            users: vu,
        }),
        test: HeldOut {
            fold_in: build(tf, "test fold-in")?,
            test: build(te, "test evaluation")?,
            users: tu,
        },
    })
}
