//! Streaming readers for delimited interaction files (CSV, TSV, ...).
//!
//! Fields are split on the delimiter and trimmed; one pair of surrounding
//! double quotes is removed (quoted fields may not contain the delimiter).
//! Lines are read one at a time (memory stays proportional to the matrix,
//! not the file). Every malformed line is a typed [`Error::Parse`] naming the
//! file and the 1-based line number.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::data::{IdMap, Interactions, InteractionsBuilder};
use crate::error::{Error, Result};

/// Which columns hold what (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    /// User id column.
    pub user: usize,
    /// Item id column.
    pub item: usize,
    /// Value column; `None`: every value is 1.
    pub value: Option<usize>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            user: 0,
            item: 1,
            value: Some(2),
        }
    }
}

/// How to read a delimited file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Field delimiter; `None`: detected from the first line (tab, comma,
    /// semicolon, `|`, else whitespace runs).
    pub delimiter: Option<u8>,
    /// Skip the first line.
    pub header: bool,
    /// Column positions.
    pub columns: Columns,
    /// When the value column is absent on a line (fewer fields), use 1
    /// instead of failing. With `columns.value = Some(2)` this lets
    /// `user,item` files read as binary data.
    pub value_optional: bool,
    /// Accept negative values (observed negatives: target 0, confidence of
    /// `|r|`); default false: a negative value is an error naming the line.
    pub observed_negatives: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            delimiter: None,
            header: false,
            columns: Columns::default(),
            value_optional: true,
            observed_negatives: false,
        }
    }
}

/// One parsed line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record<'a> {
    /// 1-based line number.
    pub line: u64,
    /// All fields of the line.
    pub fields: &'a [&'a str],
    /// The user id field.
    pub user: &'a str,
    /// The item id field.
    pub item: &'a str,
    /// The value (1 when there is no value column).
    pub value: f32,
}

/// Delimiter meaning "runs of spaces or tabs".
pub const WHITESPACE: u8 = b' ';

/// Open `path` for reading; `-` is standard input.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::with_capacity(1 << 20, io::stdin())));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
}

/// Guess the delimiter of a line: tab, comma, semicolon, `|`, else whitespace.
pub fn detect_delimiter(line: &str) -> u8 {
    for d in [b'\t', b',', b';', b'|'] {
        if line.as_bytes().contains(&d) {
            return d;
        }
    }
    WHITESPACE
}

fn split_fields<'a>(line: &'a str, delim: u8, out: &mut Vec<&'a str>) {
    out.clear();
    if delim == WHITESPACE {
        out.extend(line.split_ascii_whitespace());
    } else {
        out.extend(line.split(delim as char).map(|f| {
            let f = f.trim();
            f.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(f)
        }));
    }
}

/// Reuse a vector's allocation for borrows of another lifetime.
fn recycle<'a>(mut v: Vec<&str>) -> Vec<&'a str> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'a str { unreachable!() })
        .collect()
}

/// Parse a value field: finite and `>= 0`, else a message.
pub fn parse_value(field: &str) -> std::result::Result<f32, String> {
    parse_value_with(field, false)
}

/// [`parse_value`], accepting negative values when `observed_negatives`.
pub fn parse_value_with(field: &str, observed_negatives: bool) -> std::result::Result<f32, String> {
    let v: f32 = field
        .parse()
        .map_err(|_| format!("value {field:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("value {field:?} is not finite"));
    }
    if v < 0.0 && !observed_negatives {
        return Err(format!(
            "value {field:?} is negative; values must be >= 0 (or pass --observed-negatives)"
        ));
    }
    Ok(v)
}

/// Call `f` on every data line of `reader` (named `path` in errors). Blank
/// lines and lines starting with `#` are skipped. Returns the number of
/// records. An input with no records is [`Error::EmptyInput`].
pub fn for_each_record<R, F>(
    mut reader: R,
    path: &Path,
    opts: &ReadOptions,
    mut f: F,
) -> Result<u64>
where
    R: BufRead,
    F: FnMut(Record<'_>) -> Result<()>,
{
    let parse_err = |line: u64, message: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0u64;
    let mut records = 0u64;
    let mut delim = opts.delimiter;
    let mut store: Vec<&'static str> = Vec::with_capacity(8);
    let cols = opts.columns;
    let need = cols.user.max(cols.item) + 1;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.contains(&0) {
            return Err(parse_err(
                line_no,
                "binary data (NUL byte): not a text file".into(),
            ));
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| parse_err(line_no, "not valid UTF-8 text".into()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if line_no == 1 && opts.header {
            if delim.is_none() {
                delim = Some(detect_delimiter(text));
            }
            continue;
        }
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let d = *delim.get_or_insert_with(|| detect_delimiter(text));
        let mut fields = recycle(std::mem::take(&mut store));
        split_fields(text, d, &mut fields);
        if fields.len() < need {
            let which = if fields.len() <= cols.user {
                "user"
            } else {
                "item"
            };
            return Err(parse_err(
                line_no,
                format!(
                    "missing {which} field: expected at least {need} fields, found {}",
                    fields.len()
                ),
            ));
        }
        let user = fields[cols.user];
        let item = fields[cols.item];
        if user.is_empty() {
            return Err(parse_err(line_no, "empty user id".into()));
        }
        if item.is_empty() {
            return Err(parse_err(line_no, "empty item id".into()));
        }
        let value = match cols.value {
            None => 1.0,
            Some(c) if c >= fields.len() => {
                if opts.value_optional {
                    1.0
                } else {
                    return Err(parse_err(
                        line_no,
                        format!("missing value field (column {})", c + 1),
                    ));
                }
            }
            Some(c) => parse_value_with(fields[c], opts.observed_negatives)
                .map_err(|m| parse_err(line_no, m))?,
        };
        records += 1;
        f(Record {
            line: line_no,
            fields: &fields,
            user,
            item,
            value,
        })?;
        store = recycle(fields);
    }
    if records == 0 {
        return Err(Error::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

/// Read a whole interaction file into a builder (which may already hold ids).
pub fn read_into<R: BufRead>(
    reader: R,
    path: &Path,
    opts: &ReadOptions,
    builder: &mut InteractionsBuilder,
) -> Result<u64> {
    for_each_record(reader, path, opts, |r| {
        builder.push(r.user, r.item, r.value).map_err(|e| match e {
            Error::InvalidValue { .. } => Error::Parse {
                path: path.to_path_buf(),
                line: r.line,
                message: e.to_string(),
            },
            other => other,
        })
    })
}

/// Read an interaction file (`-`: standard input) into [`Interactions`].
pub fn read_interactions(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Interactions> {
    let path = path.as_ref();
    let mut b = InteractionsBuilder::new().observed_negatives(opts.observed_negatives);
    read_into(open(path)?, path, opts, &mut b)?;
    b.build()
}

/// Read from any reader (tests, in-memory data); `name` is used in errors.
pub fn read_interactions_from<R: Read>(
    reader: R,
    name: &str,
    opts: &ReadOptions,
) -> Result<Interactions> {
    let path = PathBuf::from(name);
    let mut b = InteractionsBuilder::new().observed_negatives(opts.observed_negatives);
    read_into(BufReader::new(reader), &path, opts, &mut b)?;
    b.build()
}

/// Read a file of item ids, one per line (blank lines and `#` comments
/// skipped), into item indices. An id the model does not know is an
/// [`Error::Parse`] naming the file and line; an empty file is
/// [`Error::EmptyInput`].
pub fn read_id_list(path: &Path, ids: &IdMap, kind: &'static str) -> Result<Vec<u32>> {
    let reader = open(path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, opts: &ReadOptions) -> Result<Interactions> {
        read_interactions_from(s.as_bytes(), "t.csv", opts)
    }

    #[test]
    fn reads_csv_tsv_and_sums_duplicates() {
        let d = read("a,x,2\nb,y,1\na,x,3\n", &ReadOptions::default()).unwrap();
        assert_eq!((d.n_users(), d.n_items(), d.nnz()), (2, 2, 2));
        assert_eq!(d.user_row(0).values, &[5.0]);
        let d = read("a\tx\nb\ty\n", &ReadOptions::default()).unwrap();
        assert_eq!(d.user_row(1).values, &[1.0]);
        let opts = ReadOptions {
            header: true,
            ..Default::default()
        };
        let d = read("user;item;v\nu1;i1;0.5\n", &opts).unwrap();
        assert_eq!(d.users().id(0), "u1");
    }

    #[test]
    fn errors_name_the_line() {
        let opts = ReadOptions::default();
        for (input, needle) in [
            ("a,x,1\nb\n", "line 2: missing item field"),
            ("a,x,1\nb,y,abc\n", "line 2: value \"abc\" is not a number"),
            ("a,x,NaN\n", "line 1: value \"NaN\" is not finite"),
            ("a,x,inf\n", "line 1: value \"inf\" is not finite"),
            ("a,x,-1\n", "line 1: value \"-1\" is negative"),
            ("a,x,1\n\u{0}\u{1}junk\n", "line 2: binary data"),
        ] {
            let e = read(input, &opts).unwrap_err().to_string();
            assert!(e.contains(needle), "{input:?}: {e}");
            assert!(e.starts_with("t.csv: "), "{e}");
        }
        assert!(matches!(read("", &opts), Err(Error::EmptyInput { .. })));
        assert!(matches!(
            read("# only a comment\n\n", &opts),
            Err(Error::EmptyInput { .. })
        ));
        let bad = [b'a', b',', b'x', b'\n', 0xff, 0xfe, b'\n'];
        let e = read_interactions_from(&bad[..], "t.csv", &opts).unwrap_err();
        assert!(e.to_string().contains("line 2: not valid UTF-8"), "{e}");
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let e = read_interactions("/nonexistent/file.csv", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/file.csv"));
    }
}
