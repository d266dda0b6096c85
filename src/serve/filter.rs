//! Which items a recommendation (or which rows a similarity query) may return.

use crate::error::{Error, Result};

/// Filters of a recommend or similar call.
///
/// - `exclude_seen`: leave out the user's training items (recommend only;
///   similar calls always leave out the query row itself).
/// - `exclude`: never return these.
/// - `candidates`: return only these (an allow list).
///
/// Lists are kept sorted and deduplicated; every index is checked against the
/// model when the filter is used ([`Error::IndexOutOfRange`]).
///
/// ```
/// use ials::serve::Filter;
/// let f = Filter::new().exclude_seen(true).exclude([7, 3, 7]).candidates([1, 3, 5]);
/// assert_eq!(f.excluded(), Some(&[3, 7][..]));
/// assert_eq!(f.allowed_targets(10, "item").unwrap(), Some(vec![1, 5]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    exclude_seen: bool,
    exclude: Option<Vec<u32>>,
    candidates: Option<Vec<u32>>,
}

fn sorted(ids: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = ids.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Filter {
    /// No filtering at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leave out the user's training items.
    pub fn exclude_seen(mut self, yes: bool) -> Self {
        self.exclude_seen = yes;
        self
    }

    /// Never return these indices (adds to any earlier list).
    pub fn exclude(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        let old = self.exclude.take().unwrap_or_default();
        self.exclude = Some(sorted(old.into_iter().chain(ids)));
        self
    }

    /// Return only these indices (replaces any earlier list).
    pub fn candidates(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        self.candidates = Some(sorted(ids));
        self
    }

    /// Whether training items are left out.
    pub fn excludes_seen(&self) -> bool {
        self.exclude_seen
    }

    /// The exclude list, sorted.
    pub fn excluded(&self) -> Option<&[u32]> {
        self.exclude.as_deref()
    }

    /// The candidate list, sorted.
    pub fn candidate_list(&self) -> Option<&[u32]> {
        self.candidates.as_deref()
    }

    /// Check every listed index against `n` rows (`kind`: "item" or "user").
    pub fn check(&self, n: usize, kind: &'static str) -> Result<()> {
        for list in [&self.exclude, &self.candidates].into_iter().flatten() {
            if let Some(&last) = list.last() {
                if last as usize >= n {
                    return Err(Error::IndexOutOfRange {
                        kind,
                        index: last as usize,
                        len: n,
                    });
                }
            }
        }
        Ok(())
    }

    /// The rows that may be returned out of `n`, increasing (`None`: all of
    /// them; `kind` names the side in errors), after the candidate and exclude lists; seen items are not
    /// applied here.
    pub fn allowed_targets(&self, n: usize, kind: &'static str) -> Result<Option<Vec<u32>>> {
        self.check(n, kind)?;
        let ex = self.exclude.as_deref().unwrap_or(&[]);
        Ok(match (&self.candidates, ex.is_empty()) {
            (None, true) => None,
            (None, false) => Some(
                (0..n as u32)
                    .filter(|i| ex.binary_search(i).is_err())
                    .collect(),
            ),
            (Some(c), _) => Some(
                c.iter()
                    .copied()
                    .filter(|i| ex.binary_search(i).is_err())
                    .collect(),
            ),
        })
    }

    /// True if `id` passes the exclude and candidate lists (seen items aside).
    pub fn allows(&self, id: u32) -> bool {
        self.exclude
            .as_ref()
            .is_none_or(|e| e.binary_search(&id).is_err())
            && self
                .candidates
                .as_ref()
                .is_none_or(|c| c.binary_search(&id).is_ok())
    }
}
