//! Seeded train/test splits.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::interactions::csr_from_triplets;
use crate::data::Interactions;
use crate::error::Result;

/// Random per-user holdout: for each user with at least two interactions,
/// `round(fraction * |S_u|)` of its items (at least one, and never all) go to
/// the test set. Both sides keep the id maps of `data`, so indices agree.
/// The user rows are shuffled with a ChaCha8 generator seeded by `seed`
/// (reproducible; independent of threads).
pub fn random_holdout(
    data: &Interactions,
    fraction: f64,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(data.nnz());
    let mut test = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for u in 0..data.n_users() {
        let row = data.user_row(u);
        let n = row.len();
        let take = if n >= 2 {
            ((fraction * n as f64).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        order.clear();
        order.extend(0..n);
        order.shuffle(&mut rng);
        for (rank, &j) in order.iter().enumerate() {
            let t = (u as u32, row.indices[j], row.values[j]);
            if rank < take {
                test.push(t);
            } else {
                train.push(t);
            }
        }
    }
    let (m, n) = (data.n_users(), data.n_items());
    let users = data.users().clone();
    let items = data.items().clone();
    let train =
        Interactions::from_csr(users.clone(), items.clone(), csr_from_triplets(m, n, train))?;
    let test = Interactions::from_csr(users, items, csr_from_triplets(m, n, test))?;
    Ok((train, test))
}
