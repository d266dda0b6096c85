//! Filtered recommendations and similar items/users on [`Model`], one query
//! or all of them (the blocked kernel of [`topk`](super::topk)).
//!
//! Scores and ties follow [`topk`](super::topk): `x_u · y_i` by
//! [`score`](super::topk::score), highest first, ties to the lower index.
//! Similarity is the cosine: the same kernel on the unit-norm rows the model
//! caches ([`Model::unit_factors`]; a zero row has similarity 0 to
//! everything).

use super::filter::Filter;
use super::topk::{top_k_all, top_k_one, Sink};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::model::{Model, Side};

fn check_index(index: usize, len: usize, kind: &'static str) -> Result<()> {
    if index >= len {
        return Err(Error::IndexOutOfRange { kind, index, len });
    }
    Ok(())
}

/// A clear error when query vectors do not have the model's `k`.
fn check_k(got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!(
            "{what} {got} factors, the model has {want}"
        )));
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
    /// let recs = model.recommend(0, 3, &Filter::new().exclude_seen(true).exclude([3]))?;
    /// assert_eq!(recs.len(), 1); // items 0 and 2 are seen, 3 is excluded
    /// assert_eq!(recs[0].0, 1);
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn recommend(&self, u: usize, k: usize, filter: &Filter) -> Result<Vec<(u32, f32)>> {
        check_index(u, self.n_users(), "user")?;
        let seen = self.user_history(u).indices;
        self.recommend_vector(self.user_factors().row(u), seen, k, filter)
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
        let items = self.item_factors();
        check_k(x.len(), items.k(), "user vector has")?;
        let allowed = filter.allowed_targets(self.n_items(), "item")?;
        let ex_seen = filter.excludes_seen();
        Ok(top_k_one(x, items, allowed.as_deref(), k, |i| {
            ex_seen && seen.binary_search(&i).is_ok()
        }))
    }

    /// The `k` best items of every user, blocked and parallel (see
    /// [`topk`](super::topk)); `sink(user, list)` is called in user order and
    /// its first error stops the run.
    ///
    /// Cost `O(m n k)`, streaming: memory beyond the model is `O(n k)`.
    pub fn recommend_all<E: From<Error>>(
        &self,
        k: usize,
        filter: &Filter,
        sink: impl Sink<E>,
    ) -> std::result::Result<(), E> {
        let seen = |u| self.user_history(u).indices;
        self.recommend_rows(self.user_factors(), seen, k, filter, sink)
    }

    /// [`recommend_all`](Model::recommend_all) for any set of user vectors
    /// (one row each of `users`); `seen(row)` gives each row's sorted items.
    pub fn recommend_rows<'s, E: From<Error>>(
        &self,
        users: &Factors,
        seen: impl Fn(usize) -> &'s [u32] + Sync,
        k: usize,
        filter: &Filter,
        sink: impl Sink<E>,
    ) -> std::result::Result<(), E> {
        let items = self.item_factors();
        check_k(users.k(), items.k(), "user vectors have")?;
        let allowed = filter.allowed_targets(self.n_items(), "item")?;
        let ex_seen = filter.excludes_seen();
        top_k_all(
            users,
            items,
            allowed,
            k,
            |u, i| ex_seen && seen(u).binary_search(&i).is_ok(),
            sink,
        )
    }

    /// The `k` entities of `side` most similar to entity `q` of that side by
    /// cosine (itself left out) under `filter` (`exclude_seen` does not
    /// apply).
    ///
    /// ```
    /// use ials::{Interactions, Params, Side};
    /// use ials::serve::Filter;
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let model = Params::builder().factors(2).iterations(3).check()?.fit(&data)?;
    /// let similar = model.similar(Side::Item, 0, 2, &Filter::new())?;
    /// assert!(similar.iter().all(|&(j, _)| j != 0));
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn similar(
        &self,
        side: Side,
        q: usize,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(u32, f32)>> {
        let unit = self.unit_factors(side);
        check_index(q, unit.rows(), side.name())?;
        let allowed = filter.allowed_targets(unit.rows(), side.name())?;
        Ok(top_k_one(unit.row(q), unit, allowed.as_deref(), k, |j| {
            j as usize == q
        }))
    }

    /// The `k` most similar entities of every entity of `side`, blocked and
    /// parallel, in index order (see [`recommend_all`](Model::recommend_all)).
    pub fn similar_all<E: From<Error>>(
        &self,
        side: Side,
        k: usize,
        filter: &Filter,
        sink: impl Sink<E>,
    ) -> std::result::Result<(), E> {
        let unit = self.unit_factors(side);
        let allowed = filter.allowed_targets(unit.rows(), side.name())?;
        top_k_all(unit, unit, allowed, k, |q, j| j as usize == q, sink)
    }
}
