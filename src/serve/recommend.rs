//! Filtered recommendations and similar items/users on [`Model`], one query
//! or all of them (the blocked kernel of [`topk`](super::topk)).
//!
//! Scores and ties follow [`topk`](super::topk): `x_u · y_i` by
//! [`score`], highest first, ties to the lower index.
//! Similarity is the cosine: the same kernel on row-normalized factors (a zero
//! row has similarity 0 to everything).

use super::filter::Filter;
use super::topk::{score, top_k_all, top_k_one};
use crate::data::interactions::sparse_row;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::model::Model;

/// Rows scaled to unit norm (zero rows stay zero).
pub fn normalized(f: &Factors) -> Factors {
    let mut out = f.clone();
    let k = f.k().max(1);
    for row in out.as_mut_slice().chunks_exact_mut(k) {
        let n = score(row, row).sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
    out
}

fn check_index(index: usize, len: usize, kind: &'static str) -> Result<()> {
    if index >= len {
        return Err(Error::IndexOutOfRange { kind, index, len });
    }
    Ok(())
}

impl Model {
    /// The `k` best items for user `u` under `filter`.
    ///
    /// ```
    /// use ials::{Interactions, Params, SolverKind};
    /// use ials::serve::Filter;
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let model = Params::builder().factors(2).iterations(3).solver(SolverKind::Cholesky).check()?.fit(&data)?;
    /// let recs = model.recommend_filtered(0, 3, &Filter::new().exclude_seen(true).exclude([3]))?;
    /// assert_eq!(recs.len(), 1); // items 0 and 2 are seen, 3 is excluded
    /// assert_eq!(recs[0].0, 1);
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn recommend_filtered(
        &self,
        u: usize,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        check_index(u, self.n_users(), "user")?;
        let seen = sparse_row(&self.train, u).indices;
        self.recommend_vector(self.user_factors.row(u), seen, k, filter)
    }

    /// The `k` best items for a user given by its factors (e.g. from
    /// [`fold_in_user`](Model::fold_in_user)); `seen` (sorted) are its items,
    /// left out when `filter.excludes_seen()`.
    pub fn recommend_vector(
        &self,
        x: &[f32],
        seen: &[u32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        if x.len() != self.item_factors.k() {
            return Err(Error::Shape(format!(
                "user vector has {} factors, the model has {}",
                x.len(),
                self.item_factors.k()
            )));
        }
        let allowed = filter.allowed_targets(self.n_items(), "item")?;
        let ex_seen = filter.excludes_seen();
        Ok(top_k_one(
            x,
            &self.item_factors,
            allowed.as_deref(),
            k,
            |i| ex_seen && seen.binary_search(&i).is_ok(),
        ))
    }

    /// The `k` best items of every user, blocked and parallel (see
    /// [`topk`](super::topk)); `sink(user, list)` is called in user order and
    /// its first error stops the run.
    ///
    /// Cost `O(m n k)`, streaming: memory beyond the model is `O(n k)`.
    pub fn recommend_all<E, S>(
        &self,
        k: usize,
        filter: &Filter,
        sink: S,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
        S: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>,
    {
        let train = &self.train;
        self.recommend_rows(
            &self.user_factors,
            |u| sparse_row(train, u).indices,
            k,
            filter,
            sink,
        )
    }

    /// [`recommend_all`](Model::recommend_all) for any set of user vectors
    /// (one row each of `users`); `seen(row)` gives each row's sorted items.
    pub fn recommend_rows<'s, E, S, F>(
        &self,
        users: &Factors,
        seen: F,
        k: usize,
        filter: &Filter,
        sink: S,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
        S: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>,
        F: Fn(usize) -> &'s [u32] + Sync,
    {
        if users.k() != self.item_factors.k() {
            return Err(Error::Shape(format!(
                "user vectors have {} factors, the model has {}",
                users.k(),
                self.item_factors.k()
            ))
            .into());
        }
        let allowed = filter.allowed_targets(self.n_items(), "item")?;
        let ex_seen = filter.excludes_seen();
        top_k_all(
            users,
            &self.item_factors,
            allowed,
            k,
            |u, i| ex_seen && seen(u).binary_search(&i).is_ok(),
            sink,
        )
    }

    /// The `k` items most similar to item `i` by cosine (itself left out)
    /// under `filter` (`exclude_seen` does not apply).
    pub fn similar_items_filtered(
        &self,
        i: usize,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        similar_one(&self.item_factors, i, k, filter, "item")
    }

    /// The `k` users most similar to user `u` by cosine (itself left out)
    /// under `filter` (`exclude_seen` does not apply).
    pub fn similar_users_filtered(
        &self,
        u: usize,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        similar_one(&self.user_factors, u, k, filter, "user")
    }

    /// The `k` most similar items of every item, blocked and parallel, in
    /// item order (see [`recommend_all`](Model::recommend_all)).
    pub fn similar_items_all<E, S>(
        &self,
        k: usize,
        filter: &Filter,
        sink: S,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
        S: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>,
    {
        similar_all(&self.item_factors, k, filter, "item", sink)
    }

    /// The `k` most similar users of every user, blocked and parallel, in
    /// user order.
    pub fn similar_users_all<E, S>(
        &self,
        k: usize,
        filter: &Filter,
        sink: S,
    ) -> std::result::Result<(), E>
    where
        E: From<Error>,
        S: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>,
    {
        similar_all(&self.user_factors, k, filter, "user", sink)
    }
}

fn similar_one(
    f: &Factors,
    q: usize,
    k: usize,
    filter: &Filter,
    kind: &'static str,
) -> Result<Vec<(u32, f32)>> {
    check_index(q, f.rows(), kind)?;
    let allowed = filter.allowed_targets(f.rows(), kind)?;
    let nf = normalized(f);
    Ok(top_k_one(nf.row(q), &nf, allowed.as_deref(), k, |j| {
        j as usize == q
    }))
}

fn similar_all<E, S>(
    f: &Factors,
    k: usize,
    filter: &Filter,
    kind: &'static str,
    sink: S,
) -> std::result::Result<(), E>
where
    E: From<Error>,
    S: FnMut(usize, &[(u32, f32)]) -> std::result::Result<(), E>,
{
    let allowed = filter.allowed_targets(f.rows(), kind)?;
    let nf = normalized(f);
    top_k_all(&nf, &nf, allowed, k, |q, j| j as usize == q, sink)
}
