//! The user x item interaction matrix, kept user-major (CSR) and item-major
//! (its transpose, also CSR) side by side.

use sprs::CsMatI;

use super::IdMap;
use crate::error::{Error, Result};

/// Sparse matrix type used throughout: `f32` values, `u32` column indices.
pub type SparseMatrix = CsMatI<f32, u32, usize>;

/// One row of a sparse matrix: the column indices (ascending) and values.
#[derive(Clone, Copy, Debug)]
pub struct RowView<'a> {
    /// Column indices, strictly ascending.
    pub indices: &'a [u32],
    /// Values aligned with `indices`.
    pub values: &'a [f32],
}

impl RowView<'_> {
    /// Number of non-zeros in the row.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True for a row with no interactions.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Interactions between users and items with their raw values `r_ui >= 0`.
///
/// Built from `(user, item, value)` triplets with external string ids
/// ([`InteractionsBuilder`]) or dense indices ([`Interactions::from_indexed`]).
/// Duplicate pairs are summed. Both orientations are stored so that each
/// half-sweep of ALS reads its rows contiguously.
#[derive(Clone, Debug)]
pub struct Interactions {
    users: IdMap,
    items: IdMap,
    by_user: SparseMatrix,
    by_item: SparseMatrix,
}

/// Collects triplets with external ids, then builds [`Interactions`].
#[derive(Clone, Debug, Default)]
pub struct InteractionsBuilder {
    users: IdMap,
    items: IdMap,
    triplets: Vec<(u32, u32, f32)>,
    observed_negatives: bool,
}

pub(crate) fn check_value(value: f32) -> bool {
    value.is_finite() && value >= 0.0
}

/// A valid raw value: finite, and `>= 0` unless observed negatives are on
/// (then a negative value is a pair shown but not taken: target 0, confidence
/// of `|r|`).
pub(crate) fn check_value_with(value: f32, observed_negatives: bool) -> bool {
    value.is_finite() && (observed_negatives || value >= 0.0)
}

impl InteractionsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder whose id maps start with the given ids (so that indices of
    /// known users and items are kept, e.g. for incremental updates).
    pub fn with_id_maps(users: IdMap, items: IdMap) -> Self {
        InteractionsBuilder {
            users,
            items,
            triplets: Vec::new(),
            observed_negatives: false,
        }
    }

    /// Accept negative values as observed negatives (default: refused).
    /// A negative `r` is a pair that was shown but not taken: it enters the
    /// objective with target 0 and the confidence of `|r|`. Fit such data
    /// with [`ParamsBuilder::observed_negatives`](crate::ParamsBuilder).
    /// Duplicates are still summed, so keep a pair's positive and negative
    /// events apart upstream.
    pub fn observed_negatives(mut self, yes: bool) -> Self {
        self.observed_negatives = yes;
        self
    }

    /// Reserve room for `additional` triplets.
    pub fn reserve(&mut self, additional: usize) {
        self.triplets.reserve(additional);
    }

    /// Add one interaction. Values must be finite and `>= 0` (or `< 0` for an
    /// observed negative, when [`Self::observed_negatives`] is on).
    pub fn push(&mut self, user: &str, item: &str, value: f32) -> Result<()> {
        if !check_value_with(value, self.observed_negatives) {
            return Err(Error::InvalidValue {
                user: user.to_owned(),
                item: item.to_owned(),
                value,
            });
        }
        let u = self.users.get_or_insert(user, "user")?;
        let i = self.items.get_or_insert(item, "item")?;
        self.triplets.push((u, i, value));
        Ok(())
    }

    /// Register a user with no interactions (it gets a zero row).
    pub fn add_user(&mut self, user: &str) -> Result<u32> {
        self.users.get_or_insert(user, "user")
    }

    /// Register an item with no interactions (it gets a zero column).
    pub fn add_item(&mut self, item: &str) -> Result<u32> {
        self.items.get_or_insert(item, "item")
    }

    /// Number of triplets pushed so far (before duplicates are summed).
    pub fn len(&self) -> usize {
        self.triplets.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.triplets.is_empty()
    }

    /// Sum duplicates and build both orientations.
    pub fn build(self) -> Result<Interactions> {
        if self.triplets.is_empty() {
            return Err(Error::EmptyMatrix);
        }
        let (m, n) = (self.users.len(), self.items.len());
        let by_user = csr_from_triplets(m, n, self.triplets);
        // Duplicates are summed: finite values can add up past f32::MAX.
        if let Some(p) = by_user.data().iter().position(|v| !v.is_finite()) {
            let indptr = by_user.indptr();
            let row = indptr.raw_storage().partition_point(|&q| q <= p) - 1;
            return Err(Error::InvalidValue {
                user: self.users.id(row as u32).to_owned(),
                item: self.items.id(by_user.indices()[p]).to_owned(),
                value: by_user.data()[p],
            });
        }
        let by_item = transpose(&by_user);
        Ok(Interactions {
            users: self.users,
            items: self.items,
            by_user,
            by_item,
        })
    }
}

/// Counting sort by row, then sort each row by column and sum duplicates.
pub(crate) fn csr_from_triplets(
    m: usize,
    n: usize,
    triplets: Vec<(u32, u32, f32)>,
) -> SparseMatrix {
    let mut indptr = vec![0usize; m + 1];
    for &(u, _, _) in &triplets {
        indptr[u as usize + 1] += 1;
    }
    for r in 0..m {
        indptr[r + 1] += indptr[r];
    }
    let mut next = indptr.clone();
    let mut entries = vec![(0u32, 0f32); triplets.len()];
    for (u, i, v) in triplets {
        let slot = &mut next[u as usize];
        entries[*slot] = (i, v);
        *slot += 1;
    }
    // Sort each row, merge duplicates in place, compact.
    let mut indices = Vec::with_capacity(entries.len());
    let mut data = Vec::with_capacity(entries.len());
    let mut new_indptr = vec![0usize; m + 1];
    for r in 0..m {
        let row = &mut entries[indptr[r]..indptr[r + 1]];
        row.sort_by_key(|&(i, _)| i);
        let mut last = u32::MAX;
        for &(i, v) in row.iter() {
            if i == last {
                *data.last_mut().expect("invariant: a previous entry exists") += v;
            } else {
                indices.push(i);
                data.push(v);
                last = i;
            }
        }
        new_indptr[r + 1] = indices.len();
    }
    drop(entries);
    indices.shrink_to_fit();
    data.shrink_to_fit();
    CsMatI::new((m, n), new_indptr, indices, data)
}

/// The transpose of a CSR matrix, as CSR (columns come out sorted).
pub(crate) fn transpose(a: &SparseMatrix) -> SparseMatrix {
    let (m, n) = (a.rows(), a.cols());
    let indptr = a.indptr();
    let indptr = indptr.raw_storage();
    let mut t_indptr = vec![0usize; n + 1];
    for &i in a.indices() {
        t_indptr[i as usize + 1] += 1;
    }
    for c in 0..n {
        t_indptr[c + 1] += t_indptr[c];
    }
    let mut next = t_indptr.clone();
    let mut t_indices = vec![0u32; a.nnz()];
    let mut t_data = vec![0f32; a.nnz()];
    for r in 0..m {
        for p in indptr[r]..indptr[r + 1] {
            let c = a.indices()[p] as usize;
            let slot = next[c];
            t_indices[slot] = r as u32;
            t_data[slot] = a.data()[p];
            next[c] += 1;
        }
    }
    CsMatI::new((n, m), t_indptr, t_indices, t_data)
}

fn row_of(a: &SparseMatrix, r: usize) -> RowView<'_> {
    let indptr = a.indptr();
    let indptr = indptr.raw_storage();
    let (s, e) = (indptr[r], indptr[r + 1]);
    RowView {
        indices: &a.indices()[s..e],
        values: &a.data()[s..e],
    }
}

impl Interactions {
    /// Build from dense-indexed triplets on an `m x n` matrix; ids are the
    /// indices written as decimal strings. Duplicates are summed.
    pub fn from_indexed(
        m: usize,
        n: usize,
        triplets: impl IntoIterator<Item = (u32, u32, f32)>,
    ) -> Result<Self> {
        let triplets: Vec<_> = triplets.into_iter().collect();
        for &(u, i, v) in &triplets {
            if u as usize >= m {
                return Err(Error::IndexOutOfRange {
                    kind: "user",
                    index: u as usize,
                    len: m,
                });
            }
            if i as usize >= n {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i as usize,
                    len: n,
                });
            }
            if !check_value(v) {
                return Err(Error::InvalidValue {
                    user: u.to_string(),
                    item: i.to_string(),
                    value: v,
                });
            }
        }
        if triplets.is_empty() {
            return Err(Error::EmptyMatrix);
        }
        let by_user = csr_from_triplets(m, n, triplets);
        Self::from_csr(IdMap::identity(m), IdMap::identity(n), by_user)
    }

    /// Build from a user-major CSR matrix and its id maps.
    pub fn from_csr(users: IdMap, items: IdMap, by_user: SparseMatrix) -> Result<Self> {
        Self::from_csr_with(users, items, by_user, false)
    }

    /// [`Self::from_csr`], accepting negative values (observed negatives:
    /// target 0, confidence of `|r|`) when `observed_negatives` is true.
    pub fn from_csr_with(
        users: IdMap,
        items: IdMap,
        by_user: SparseMatrix,
        observed_negatives: bool,
    ) -> Result<Self> {
        if by_user.rows() != users.len() || by_user.cols() != items.len() {
            return Err(Error::Shape(format!(
                "matrix is {}x{} but there are {} users and {} items",
                by_user.rows(),
                by_user.cols(),
                users.len(),
                items.len()
            )));
        }
        if by_user.nnz() == 0 {
            return Err(Error::EmptyMatrix);
        }
        if let Some(&v) = by_user
            .data()
            .iter()
            .find(|v| !check_value_with(**v, observed_negatives))
        {
            return Err(Error::InvalidValue {
                user: String::from("?"),
                item: String::from("?"),
                value: v,
            });
        }
        let by_user = if by_user.is_csr() {
            by_user
        } else {
            by_user.to_other_storage()
        };
        let by_item = transpose(&by_user);
        Ok(Interactions {
            users,
            items,
            by_user,
            by_item,
        })
    }

    /// Users and items with no pair at all (the history of an evaluation
    /// over items no one has seen: cold items).
    pub(crate) fn without_pairs(users: IdMap, items: IdMap) -> Self {
        let by_user = csr_from_triplets(users.len(), items.len(), Vec::new());
        let by_item = transpose(&by_user);
        Interactions {
            users,
            items,
            by_user,
            by_item,
        }
    }

    /// Number of users (rows), including users with no interactions.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items (columns), including items no one touched.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// True when some value is negative (observed negatives).
    pub fn has_negatives(&self) -> bool {
        self.by_user.data().iter().any(|&v| v < 0.0)
    }

    /// Number of distinct observed pairs `|S|`.
    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }

    /// The user id map.
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// The item id map.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// The user-major matrix (`m x n`, CSR).
    pub fn by_user(&self) -> &SparseMatrix {
        &self.by_user
    }

    /// The item-major matrix (`n x m`, CSR of the transpose).
    pub fn by_item(&self) -> &SparseMatrix {
        &self.by_item
    }

    /// The items of user `u` and their values.
    #[track_caller]
    pub fn user_row(&self, u: usize) -> RowView<'_> {
        row_of(&self.by_user, u)
    }

    /// The users of item `i` and their values.
    #[track_caller]
    pub fn item_row(&self, i: usize) -> RowView<'_> {
        row_of(&self.by_item, i)
    }

    /// Iterate over all `(user, item, value)` triplets in user-major order.
    pub fn triplets(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.n_users()).flat_map(move |u| {
            let row = self.user_row(u);
            row.indices
                .iter()
                .zip(row.values)
                .map(move |(&i, &v)| (u as u32, i, v))
        })
    }

    /// Split into its parts (id maps and the user-major matrix).
    pub fn into_parts(self) -> (IdMap, IdMap, SparseMatrix) {
        (self.users, self.items, self.by_user)
    }
}

pub(crate) fn sparse_row(a: &SparseMatrix, r: usize) -> RowView<'_> {
    row_of(a, r)
}
