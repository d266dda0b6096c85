//! Last.fm 360K (Celma 2010) `usersha1-artmbid-artname-plays.tsv`:
//! `user-sha1 \t artist-mbid \t artist-name \t plays`, no header.
//!
//! The artist is identified by its MusicBrainz id; about a third of the
//! artists have none (the README: 186,642 with, 107,373 without), and those
//! are identified by their name, as the item id `name:<artist-name>`.
//!
//! The file is known to hold malformed lines. Ben Frederickson, the author of
//! the `implicit` library, documents them in
//! `benfred/bens-blog-code/distance-metrics/musicdata.py` (`clean_dataset`,
//! cited from `implicit/datasets/lastfm.py`): lines without exactly four
//! tab-separated fields, lines whose play count is not an integer, and
//! carriage returns inside lines. With [`Malformed::Skip`] (the default) the
//! first two kinds are skipped and counted in the [`Lastfm360kReport`], and
//! carriage returns are removed; with [`Malformed::Error`] any of them is an
//! [`Error::Parse`] naming the line. Every other defect (invalid UTF-8, an
//! empty user, an artist with neither id nor name) is always an error.

use std::io::BufRead;
use std::path::Path;

use crate::data::read::open;
use crate::data::{Interactions, InteractionsBuilder};
use crate::error::{Error, Result};

/// What to do with the documented malformed lines of the Last.fm 360K file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Malformed {
    /// Skip them and count them in the report.
    #[default]
    Skip,
    /// Fail with the line number.
    Error,
}

/// Line numbers kept in [`Lastfm360kReport::skipped_lines`].
pub const SKIPPED_LINES_KEPT: usize = 20;

/// What [`load_lastfm_360k`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lastfm360kReport {
    /// Lines read (including skipped ones).
    pub lines: u64,
    /// Well-formed records (kept or below the threshold).
    pub records: u64,
    /// Records dropped by the `min_value` threshold.
    pub below_threshold: u64,
    /// Kept records whose artist has no MusicBrainz id (keyed by name).
    pub by_name: u64,
    /// Lines skipped for not having exactly 4 tab-separated fields.
    pub skipped_field_count: u64,
    /// Lines skipped for a play count that is not a non-negative integer.
    pub skipped_plays: u64,
    /// Lines from which stray carriage returns were removed.
    pub carriage_returns: u64,
    /// The first [`SKIPPED_LINES_KEPT`] skipped line numbers (1-based).
    pub skipped_lines: Vec<u64>,
}

impl Lastfm360kReport {
    /// Lines skipped in all.
    pub fn skipped(&self) -> u64 {
        self.skipped_field_count + self.skipped_plays
    }
}

/// Load the Last.fm 360K plays file at `path` (`-`: standard input). With
/// `min_value`, only records with `plays >= min_value` are kept and their
/// value becomes 1; otherwise the value is the play count (duplicates of a
/// user-artist pair, e.g. one artist under two names sharing an id, are
/// summed).
pub fn load_lastfm_360k(
    path: impl AsRef<Path>,
    min_value: Option<f32>,
    malformed: Malformed,
) -> Result<(Interactions, Lastfm360kReport)> {
    let path = path.as_ref();
    read_lastfm_360k(open(path)?, path, min_value, malformed)
}

/// [`load_lastfm_360k`] from any reader; `path` names it in errors.
pub fn read_lastfm_360k<R: BufRead>(
    mut reader: R,
    path: &Path,
    min_value: Option<f32>,
    malformed: Malformed,
) -> Result<(Interactions, Lastfm360kReport)> {
    let err = |line: u64, message: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut report = Lastfm360kReport::default();
    let mut b = InteractionsBuilder::new();
    let mut buf = Vec::with_capacity(256);
    let mut key = String::new();
    while next_line(&mut reader, &mut buf, path)? {
        report.lines += 1;
        let line_no = report.lines;
        if buf.contains(&b'\r') {
            if malformed == Malformed::Error {
                return Err(err(line_no, "carriage return inside the line".into()));
            }
            buf.retain(|&c| c != b'\r');
            report.carriage_returns += 1;
        }
        if buf.contains(&0) {
            return Err(err(
                line_no,
                "binary data (NUL byte): not a text file".into(),
            ));
        }
        let text =
            std::str::from_utf8(&buf).map_err(|_| err(line_no, "not valid UTF-8 text".into()))?;
        let mut fields = text.split('\t');
        let (Some(user), Some(mbid), Some(name), Some(plays), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            let found = text.split('\t').count();
            let e = err(line_no, format!("expected 4 tab-separated fields (user, artist mbid, artist name, plays), found {found}"));
            tolerate(malformed, e, &mut report.skipped_field_count)?;
            skip(&mut report, line_no);
            continue;
        };
        let (user, mbid, name, plays) = (user.trim(), mbid.trim(), name.trim(), plays.trim());
        let plays: u64 = match plays.bytes().all(|c| c.is_ascii_digit()) {
            true if !plays.is_empty() => plays
                .parse()
                .map_err(|_| err(line_no, format!("play count {plays:?} is too large")))?,
            _ => {
                let e = err(
                    line_no,
                    format!("play count {plays:?} is not a non-negative integer"),
                );
                tolerate(malformed, e, &mut report.skipped_plays)?;
                skip(&mut report, line_no);
                continue;
            }
        };
        if user.is_empty() {
            return Err(err(line_no, "empty user id".into()));
        }
        let item = if !mbid.is_empty() {
            mbid
        } else if !name.is_empty() {
            key.clear();
            key.push_str("name:");
            key.push_str(name);
            key.as_str()
        } else {
            return Err(err(
                line_no,
                "the artist has neither a MusicBrainz id nor a name".into(),
            ));
        };
        report.records += 1;
        let value = match min_value {
            Some(t) if (plays as f32) < t => {
                report.below_threshold += 1;
                continue;
            }
            Some(_) => 1.0,
            None => plays as f32,
        };
        if mbid.is_empty() {
            report.by_name += 1;
        }
        b.push(user, item, value)?;
    }
    if report.records == 0 {
        return Err(Error::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    Ok((b.build()?, report))
}

/// Read the next line into `buf` without its line ending (LF or CRLF);
/// false at the end of the input.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, path: &Path) -> Result<bool> {
    buf.clear();
    if reader
        .read_until(b'\n', buf)
        .map_err(|e| Error::io(path, e))?
        == 0
    {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop(); // CRLF line ending
    }
    Ok(true)
}

/// A malformed line: the error under [`Malformed::Error`], else counted.
fn tolerate(malformed: Malformed, e: Error, count: &mut u64) -> Result<()> {
    if malformed == Malformed::Error {
        return Err(e);
    }
    *count += 1;
    Ok(())
}

fn skip(report: &mut Lastfm360kReport, line: u64) {
    if report.skipped_lines.len() < SKIPPED_LINES_KEPT {
        report.skipped_lines.push(line);
    }
}
