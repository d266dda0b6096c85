//! Item filters shared by every recommendation path (library, CLI, kernels).

use std::io::BufRead;
use std::path::Path;

use crate::data::IdMap;
use crate::error::{Error, Result};
use crate::linalg::dot;
use crate::model::{top_k, Model};

/// Which items may be recommended to a user.
///
/// An item is eligible when it is in `candidates` (if given), not in
/// `exclude`, and, with `exclude_seen`, not among the user's training items.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Leave out the user's training items.
    pub exclude_seen: bool,
    /// Items never recommended, sorted ascending, no duplicates.
    exclude: Vec<u32>,
    /// If set, only these items (sorted ascending, no duplicates).
    candidates: Option<Vec<u32>>,
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

impl Filter {
    /// Exclude seen items, nothing else (the default of `ials recommend`).
    pub fn new(exclude_seen: bool) -> Self {
        Filter {
            exclude_seen,
            ..Default::default()
        }
    }

    /// Items never to recommend (item indices).
    pub fn with_exclude(mut self, items: Vec<u32>) -> Self {
        self.exclude = sorted(items);
        self
    }

    /// Only recommend among these items (item indices).
    pub fn with_candidates(mut self, items: Vec<u32>) -> Self {
        self.candidates = Some(sorted(items));
        self
    }

    /// The excluded items, sorted.
    pub fn excluded(&self) -> &[u32] {
        &self.exclude
    }

    /// The candidate items, sorted, if restricted.
    pub fn candidates(&self) -> Option<&[u32]> {
        self.candidates.as_deref()
    }

    /// Whether item `i` may be recommended to a user whose training items
    /// are `seen` (sorted ascending).
    #[inline]
    pub fn allows(&self, i: u32, seen: &[u32]) -> bool {
        if let Some(c) = &self.candidates {
            if c.binary_search(&i).is_err() {
                return false;
            }
        }
        if self.exclude.binary_search(&i).is_ok() {
            return false;
        }
        !(self.exclude_seen && seen.binary_search(&i).is_ok())
    }
}

/// Read a file of item ids, one per line (blank lines and `#` comments
/// skipped), into item indices. An id the model does not know is an
/// [`Error::Parse`] naming the file and line; an empty file is
/// [`Error::EmptyInput`].
pub fn read_id_list(path: &Path, ids: &IdMap, kind: &'static str) -> Result<Vec<u32>> {
    let reader = crate::data::read::open(path)?;
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => Error::Parse {
                path: path.to_path_buf(),
                line: n as u64 + 1,
                message: "not valid UTF-8 text".into(),
            },
            _ => Error::io(path, e),
        })?;
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        if id.contains('\0') {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: n as u64 + 1,
                message: "binary data (NUL byte): not a text file".into(),
            });
        }
        match ids.get(id) {
            Some(i) => out.push(i),
            None => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: n as u64 + 1,
                    message: format!("unknown {kind} id {id:?}"),
                })
            }
        }
    }
    if out.is_empty() {
        return Err(Error::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

impl Model {
    /// The `k` best items for user `u` among those `filter` allows (ties:
    /// lower item index first). Brute force over all items.
    pub fn recommend_filtered(&self, u: usize, k: usize, filter: &Filter) -> Vec<(u32, f32)> {
        let xu = self.user_factors().row(u);
        let seen = self.user_history(u).indices;
        let y = self.item_factors();
        let scored: Vec<(u32, f32)> = match filter.candidates() {
            Some(c) => c
                .iter()
                .copied()
                .filter(|&i| filter.allows(i, seen))
                .map(|i| (i, dot(xu, y.row(i as usize))))
                .collect(),
            None => (0..self.n_items() as u32)
                .filter(|&i| filter.allows(i, seen))
                .map(|i| (i, dot(xu, y.row(i as usize))))
                .collect(),
        };
        top_k(scored, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_respects_all_three_rules() {
        let f = Filter::new(true)
            .with_exclude(vec![3, 1, 3])
            .with_candidates(vec![0, 1, 2, 4]);
        let seen = [2u32];
        let ok: Vec<u32> = (0..6).filter(|&i| f.allows(i, &seen)).collect();
        assert_eq!(ok, vec![0, 4]);
        let f = Filter::new(false);
        assert!((0..6).all(|i| f.allows(i, &seen)));
    }
}
