//! Loaders for public recommender data sets in their published formats.
//! The data are never shipped with the crate (licences): see `datasets/`.

use std::path::Path;

mod lastfm360k;
mod liang;

pub use lastfm360k::{
    load_lastfm_360k, read_lastfm_360k, Lastfm360kReport, Malformed, SKIPPED_LINES_KEPT,
};
pub use liang::{liang2018, LiangConfig, LIANG_MIN_SPLIT_ITEMS};

use crate::data::interactions::csr_from_triplets;
use crate::data::read::{for_each_record, open, Columns, ReadOptions};
use crate::data::{IdMap, Interactions, InteractionsBuilder};
use crate::error::{Error, Result};

/// A published file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// MovieLens 100K `u.data`: `user \t item \t rating \t timestamp`.
    Ml100k,
    /// MovieLens 1M `ratings.dat`: `user::item::rating::timestamp`.
    Ml1m,
    /// MovieLens `ratings.csv` (ml-latest-small, ML-20M) with a header:
    /// `userId,movieId,rating,timestamp`.
    MovieLensCsv,
    /// Last.fm HetRec 2011 `user_artists.dat`: header, `userID \t artistID \t weight`.
    LastfmHetrec,
    /// Million Song Dataset taste profile `train_triplets.txt`: `user \t song \t count`.
    MsdTaste,
    /// CiteULike `users.dat`: line `u` (0-based) is `n item_1 … item_n`.
    Citeulike,
    /// Last.fm 360K `usersha1-artmbid-artname-plays.tsv`:
    /// `user \t artist-mbid \t artist-name \t plays`; artists without an
    /// mbid are keyed `name:<artist-name>`. Through [`load`] the documented
    /// malformed lines are skipped silently; [`load_lastfm_360k`] counts
    /// them or fails on them.
    Lastfm360k,
}

/// Load `path` in `format`. With `min_value`, only interactions whose value
/// is `>= min_value` are kept and every kept value becomes 1 (ratings to
/// positives, e.g. `Some(4.0)` for "ratings ≥ 4"; Liang 2018 uses 3.5 on
/// ML-20M).
pub fn load(
    format: Format,
    path: impl AsRef<Path>,
    min_value: Option<f32>,
) -> Result<Interactions> {
    let path = path.as_ref();
    if format == Format::Citeulike {
        return load_citeulike(path);
    }
    if format == Format::Lastfm360k {
        return load_lastfm_360k(path, min_value, Malformed::Skip).map(|(d, _)| d);
    }
    let opts = delimited_options(format).expect("invariant: the other formats are delimited");
    let mut b = InteractionsBuilder::new();
    for_each_record(open(path)?, path, &opts, |r| {
        let v = match min_value {
            Some(t) if r.value < t => return Ok(()),
            Some(_) => 1.0,
            None => r.value,
        };
        b.push(r.user, r.item, v)
    })?;
    b.build()
}

/// How a delimited format is read (`None`: not a delimited format).
fn delimited_options(format: Format) -> Option<ReadOptions> {
    let (delimiter, header, columns) = match format {
        Format::Ml100k => (Some(b'\t'), false, Columns::default()),
        Format::Ml1m => (
            Some(b':'),
            false,
            Columns {
                user: 0,
                item: 2,
                value: Some(4),
            },
        ),
        Format::MovieLensCsv => (Some(b','), true, Columns::default()),
        Format::LastfmHetrec => (Some(b'\t'), true, Columns::default()),
        Format::MsdTaste => (Some(b'\t'), false, Columns::default()),
        Format::Citeulike | Format::Lastfm360k => return None,
    };
    Some(ReadOptions {
        delimiter,
        header,
        columns,
        value_optional: false,
        observed_negatives: false,
    })
}

/// Unix timestamps aligned with the user-major non-zeros of an
/// [`Interactions`]: entry `k` belongs to the `k`-th triplet of
/// [`Interactions::triplets`] (the latest, for a pair given several times).
/// This is what [`crate::eval::leave_k_out`] takes.
pub type Timestamps = Vec<i64>;

/// [`load`] for the MovieLens formats (`Ml100k`, `Ml1m`, `MovieLensCsv`),
/// with each interaction's [`Timestamps`]. Other formats have none and are
/// an [`Error::Shape`].
pub fn load_with_timestamps(
    format: Format,
    path: impl AsRef<Path>,
    min_value: Option<f32>,
) -> Result<(Interactions, Timestamps)> {
    let path = path.as_ref();
    let column = match format {
        Format::Ml100k | Format::MovieLensCsv => 3,
        Format::Ml1m => 6, // `::` splits into empty fields in between
        other => {
            return Err(Error::Shape(format!(
                "the {other:?} format has no timestamps"
            )))
        }
    };
    let opts = delimited_options(format).expect("invariant: MovieLens formats are delimited");
    // The builder's first-appearance indexing, kept here to know each
    // record's (user, item) indices.
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let mut triplets: Vec<(u32, u32, f32)> = Vec::new();
    let mut stamped: Vec<(u32, u32, i64)> = Vec::new();
    for_each_record(open(path)?, path, &opts, |r| {
        let v = match min_value {
            Some(t) if r.value < t => return Ok(()),
            Some(_) => 1.0,
            None => r.value,
        };
        let field = r.fields.get(column).copied().unwrap_or("");
        let ts: i64 = field.parse().map_err(|_| Error::Parse {
            path: path.to_path_buf(),
            line: r.line,
            message: format!("timestamp {field:?} is not an integer"),
        })?;
        let u = users.get_or_insert(r.user, "user")?;
        let i = items.get_or_insert(r.item, "item")?;
        triplets.push((u, i, v));
        stamped.push((u, i, ts));
        Ok(())
    })?;
    let csr = csr_from_triplets(users.len(), items.len(), triplets);
    let data = Interactions::from_csr(users, items, csr)?;
    // User-major, item-ascending, one entry per pair (the latest).
    stamped.sort_unstable();
    let mut ts: Timestamps = Vec::with_capacity(data.nnz());
    for (k, &(u, i, t)) in stamped.iter().enumerate() {
        match stamped.get(k + 1) {
            Some(&(u2, i2, _)) if (u2, i2) == (u, i) => {}
            _ => ts.push(t),
        }
    }
    debug_assert_eq!(ts.len(), data.nnz());
    Ok((data, ts))
}

fn load_citeulike(path: &Path) -> Result<Interactions> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut b = InteractionsBuilder::new();
    for (l, line) in text.lines().enumerate() {
        let parse_err = |message: String| Error::Parse {
            path: path.to_path_buf(),
            line: l as u64 + 1,
            message,
        };
        let user = l.to_string();
        b.add_user(&user)?;
        let mut fields = line.split_ascii_whitespace();
        let Some(count) = fields.next() else { continue };
        let count: usize = count
            .parse()
            .map_err(|_| parse_err(format!("count {count:?} is not a number")))?;
        let items: Vec<&str> = fields.collect();
        if items.len() != count {
            return Err(parse_err(format!(
                "the line announces {count} items but lists {}",
                items.len()
            )));
        }
        for item in items {
            item.parse::<u32>()
                .map_err(|_| parse_err(format!("item {item:?} is not an index")))?;
            b.push(&user, item, 1.0)?;
        }
    }
    if b.is_empty() {
        return Err(Error::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    b.build()
}

/// Keep users with at least `min_items` interactions (Liang 2018: 5), in
/// the same index space (dropped users get empty rows).
pub fn filter_users(data: &Interactions, min_items: usize) -> Result<Interactions> {
    let t: Vec<(u32, u32, f32)> = data
        .triplets()
        .filter(|&(u, _, _)| data.user_row(u as usize).len() >= min_items)
        .collect();
    let csr = crate::data::interactions::csr_from_triplets(data.n_users(), data.n_items(), t);
    Interactions::from_csr(data.users().clone(), data.items().clone(), csr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citeulike_counts_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.dat");
        std::fs::write(&p, "2 0 5\n1 3").unwrap();
        let d = load(Format::Citeulike, &p, None).unwrap();
        assert_eq!((d.n_users(), d.nnz()), (2, 3));
        std::fs::write(&p, "2 0 5\n3 3").unwrap();
        let e = load(Format::Citeulike, &p, None).unwrap_err().to_string();
        assert!(
            e.contains("line 2: the line announces 3 items but lists 1"),
            "{e}"
        );
    }

    #[test]
    fn ml1m_double_colon_and_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ratings.dat");
        std::fs::write(
            &p,
            "1::10::5::978300760\n1::11::3::978300761\n2::10::4::1\n",
        )
        .unwrap();
        let d = load(Format::Ml1m, &p, Some(4.0)).unwrap();
        assert_eq!(d.nnz(), 2);
        assert!(d.triplets().all(|t| t.2 == 1.0));
    }
}
