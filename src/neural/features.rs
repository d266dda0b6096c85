//! The feature rows of one side of a two-tower fit built from a feature file
//! ([`Features`], the format of `ials fit --item-features`): the training
//! entities first (in the order of the interactions), each with its own id
//! feature and its attributes, then the cold entities (attributes only, no
//! interactions), which are embedded and served after the fit.

use crate::data::IdMap;
use crate::error::Result;
use crate::towers::Features;

use super::tower::FeatureRows;

/// The rows of one tower and the ids of every entity they cover.
#[derive(Clone, Debug)]
pub struct SideRows {
    /// One row per entity: the training ones, then the cold ones.
    pub rows: FeatureRows,
    /// The ids of the rows (the training ids first, in their order).
    pub ids: IdMap,
    /// Number of training entities (the cold ones follow).
    pub n_train: usize,
    /// Number of attribute features (the id features come first in the
    /// embedding table when `ids` was set).
    pub n_attributes: usize,
}

impl SideRows {
    /// Rows for the training entities `train` with the attributes of
    /// `features` (entities of `features` not in `train` become cold rows).
    /// With `ids`, every training entity also has its own id feature
    /// (embedding rows `0..train.len()`; the attributes follow); without,
    /// the tower reads attributes only. Duplicate `(entity, feature)` values
    /// are summed. `side` names the side in errors.
    pub fn build(
        train: &IdMap,
        features: Option<&Features>,
        ids: bool,
        side: &'static str,
    ) -> Result<SideRows> {
        let n_train = train.len();
        let mut all = train.clone();
        let mut per: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_train];
        let id_offset = if ids { n_train as u32 } else { 0 };
        if ids {
            for (e, row) in per.iter_mut().enumerate() {
                row.push((e as u32, 1.0));
            }
        }
        let n_attributes = features.map_or(0, |f| f.names().len());
        if let Some(f) = features {
            // Entity index of the feature file -> row.
            let mut row_of = Vec::with_capacity(f.entities().len());
            for id in f.entities().ids() {
                let r = all.get_or_insert(id, side)? as usize;
                if r >= per.len() {
                    per.push(Vec::new());
                }
                row_of.push(r);
            }
            for &(e, j, v) in f.triplets() {
                per[row_of[e as usize]].push((id_offset + j, v));
            }
        }
        let mut indptr = Vec::with_capacity(per.len() + 1);
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        indptr.push(0);
        for mut row in per {
            row.sort_by_key(|&(f, _)| f);
            for (f, v) in row {
                if indices.len() > *indptr.last().expect("non-empty")
                    && *indices.last().expect("non-empty") == f
                {
                    *values.last_mut().expect("non-empty") += v;
                } else {
                    indices.push(f);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        let n_features = id_offset as usize + n_attributes;
        Ok(SideRows {
            rows: FeatureRows::from_csr(indptr, indices, values, n_features),
            ids: all,
            n_train,
            n_attributes,
        })
    }

    /// Number of cold entities (rows after the training ones).
    pub fn n_cold(&self) -> usize {
        self.ids.len() - self.n_train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_rows_first_then_cold_with_ids_and_sums() {
        let train = IdMap::from_ids(["a", "b"], "item").unwrap();
        let mut fb = Features::builder("item");
        fb.push("b", "red", 1.0).unwrap();
        fb.push("new", "red", 2.0).unwrap();
        fb.push("b", "red", 0.5).unwrap();
        fb.push("new", "blue", 1.0).unwrap();
        let f = fb.build();
        let s = SideRows::build(&train, Some(&f), true, "item").unwrap();
        assert_eq!(s.ids.ids(), &["a", "b", "new"]);
        assert_eq!((s.n_train, s.n_cold(), s.n_attributes), (2, 1, 2));
        assert_eq!(s.rows.n_features(), 4);
        assert_eq!(s.rows.row(0), (&[0u32][..], &[1.0f32][..]));
        assert_eq!(s.rows.row(1), (&[1u32, 2][..], &[1.0f32, 1.5][..]));
        assert_eq!(s.rows.row(2), (&[2u32, 3][..], &[2.0f32, 1.0][..]));
        let s = SideRows::build(&train, Some(&f), false, "item").unwrap();
        assert_eq!(s.rows.n_features(), 2);
        assert!(s.rows.row(0).0.is_empty());
        assert_eq!(s.rows.row(1), (&[0u32][..], &[1.5f32][..]));
        let s = SideRows::build(&train, None, true, "item").unwrap();
        assert_eq!(s.rows, FeatureRows::identity(2));
    }
}
