//! Reading evaluation files against a training index space.

use std::path::Path;

use crate::data::interactions::csr_from_triplets;
use crate::data::read::{for_each_record, open, ReadOptions};
use crate::data::{IdMap, Interactions};
use crate::error::Result;

/// `(user, item, value)` by index.
pub type Triplets = Vec<(u32, u32, f32)>;

/// Read `path` into the index space of `users` x `items`. Lines whose user
/// or item is unknown are dropped unless `add_users`, in which case new
/// users are appended to `users` (fold-in files of held-out users). Returns
/// the triplets and the number of dropped lines.
pub fn read_aligned(
    path: &Path,
    opts: &ReadOptions,
    users: &mut IdMap,
    items: &IdMap,
    add_users: bool,
) -> Result<(Triplets, usize)> {
    let mut out = Vec::new();
    let mut dropped = 0;
    for_each_record(open(path)?, path, opts, |r| {
        let u = match users.get(r.user) {
            Some(u) => Some(u),
            None if add_users => Some(users.get_or_insert(r.user, "user")?),
            None => None,
        };
        match (u, items.get(r.item)) {
            (Some(u), Some(i)) => out.push((u, i, r.value)),
            _ => dropped += 1,
        }
        Ok(())
    })?;
    Ok((out, dropped))
}

/// Build interactions over `users` x `items` from indexed triplets (empty
/// rows allowed; an empty matrix is an error).
pub fn assemble(users: &IdMap, items: &IdMap, t: Vec<(u32, u32, f32)>) -> Result<Interactions> {
    let csr = csr_from_triplets(users.len(), items.len(), t);
    Interactions::from_csr(users.clone(), items.clone(), csr)
}
