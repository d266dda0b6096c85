//! External string ids <-> dense `u32` indices.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A bijection between external ids (arbitrary strings) and dense indices
/// `0..len`, in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map from ids already in index order; duplicates are an error.
    pub fn from_ids<I, S>(ids: I, kind: &'static str) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut map = IdMap::new();
        for id in ids {
            let id = id.into();
            if map.index.contains_key(&id) {
                return Err(Error::DuplicateId { kind, id });
            }
            map.insert_new(id, kind)?;
        }
        Ok(map)
    }

    /// Ids `"0"`, `"1"`, ... `"len-1"`: for data that is already indexed.
    pub fn identity(len: usize) -> Self {
        let ids: Vec<String> = (0..len).map(|i| i.to_string()).collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        IdMap { ids, index }
    }

    fn insert_new(&mut self, id: String, kind: &'static str) -> Result<u32> {
        let next = u32::try_from(self.ids.len())
            .ok()
            .filter(|&n| n < u32::MAX)
            .ok_or(Error::TooManyIds(kind))?;
        self.index.insert(id.clone(), next);
        self.ids.push(id);
        Ok(next)
    }

    /// The index of `id`, inserting it at the end if new.
    pub fn get_or_insert(&mut self, id: &str, kind: &'static str) -> Result<u32> {
        match self.index.get(id) {
            Some(&i) => Ok(i),
            None => self.insert_new(id.to_owned(), kind),
        }
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The external id of index `i`. Panics if `i >= len()`.
    #[track_caller]
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}
