//! Interaction data: id maps, the sparse matrix (CSR and its transpose), readers.

mod idmap;
pub(crate) mod interactions;
pub mod read;

pub use idmap::IdMap;
pub use interactions::{Interactions, InteractionsBuilder, RowView, SparseMatrix};
