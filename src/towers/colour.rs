//! Colour classes of a tower's attribute features: features that share no
//! training entity can be updated at the same time (their iCD updates read
//! and write disjoint embeddings and predictions), so each class is solved in
//! parallel. Computed once when the tower is built.

use crate::data::interactions::sparse_row;
use crate::data::SparseMatrix;

/// Greedy colouring of the features (rows of `by_feature`, `p x n_train`) by
/// conflicts: two features conflict when some training entity has both
/// (`by_entity`, `n_all x p`, gives each entity's features). Features are
/// taken in index order and each gets the smallest colour none of its
/// conflicting features has; features without a training entity are left
/// out (their weight stays 0). Returns the classes in colour order, each in
/// increasing feature order. Cost `O(Σ_u nnz(f_u)²)`.
pub(crate) fn colour_classes(by_feature: &SparseMatrix, by_entity: &SparseMatrix) -> Vec<Vec<u32>> {
    let p = by_feature.rows();
    let mut colour = vec![u32::MAX; p];
    // taken[c] == j + 1: colour c is used by a feature conflicting with j.
    let mut taken: Vec<usize> = Vec::new();
    let mut classes: Vec<Vec<u32>> = Vec::new();
    for j in 0..p {
        let row = sparse_row(by_feature, j);
        if row.is_empty() {
            continue;
        }
        for &u in row.indices {
            for &other in sparse_row(by_entity, u as usize).indices {
                let c = colour[other as usize];
                if c != u32::MAX {
                    taken[c as usize] = j + 1;
                }
            }
        }
        let c = (0..taken.len())
            .find(|&c| taken[c] != j + 1)
            .unwrap_or(taken.len());
        if c == taken.len() {
            taken.push(0);
            classes.push(Vec::new());
        }
        colour[j] = c as u32;
        classes[c].push(j as u32);
    }
    classes
}

/// Whether no two features of a class share an entity of `by_feature`
/// (`p x n_train`), and no feature is in two classes: the invariant the
/// parallel attribute updates rely on.
pub(crate) fn classes_are_valid(classes: &[Vec<u32>], by_feature: &SparseMatrix) -> bool {
    let mut owner = vec![usize::MAX; by_feature.cols()];
    let mut seen = vec![false; by_feature.rows()];
    for (c, class) in classes.iter().enumerate() {
        for &j in class {
            if std::mem::replace(&mut seen[j as usize], true) {
                return false;
            }
            for &u in sparse_row(by_feature, j as usize).indices {
                if owner[u as usize] == c {
                    return false;
                }
                owner[u as usize] = c;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::interactions::csr_from_triplets;

    #[test]
    fn classes_cover_every_used_feature_and_never_share_an_entity() {
        // 6 features over 5 entities; feature 5 has no entity.
        let t: Vec<(u32, u32, f32)> = vec![
            (0, 0, 1.0),
            (0, 1, 1.0),
            (1, 1, 1.0),
            (1, 2, 1.0),
            (2, 0, 1.0),
            (2, 3, 1.0),
            (3, 4, 1.0),
            (4, 2, 1.0),
            (4, 3, 1.0),
        ];
        let by_entity = csr_from_triplets(5, 6, t.clone());
        let by_feature = csr_from_triplets(6, 5, t.iter().map(|&(e, j, v)| (j, e, v)).collect());
        let classes = colour_classes(&by_feature, &by_entity);
        assert!(classes_are_valid(&classes, &by_feature));
        let mut all: Vec<u32> = classes.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        // Conflicts 0-1, 1-2, 0-3, 2-3; greedy in index order.
        assert_eq!(classes, vec![vec![0, 2, 4], vec![1, 3]]);
        assert!(!classes_are_valid(&[vec![0, 1, 2, 3, 4]], &by_feature));
        assert!(!classes_are_valid(&[vec![0], vec![0]], &by_feature));
    }
}
