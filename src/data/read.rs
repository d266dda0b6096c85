//! Streaming readers for delimited interaction files (CSV, TSV, ...).
//!
//! Fields are split on the delimiter and trimmed; a field starting with a
//! double quote is an RFC 4180 quoted field (it may hold the delimiter, `""`
//! is a quote) that must close on its line ([`split_line`]). Every data line
//! of a file has the same number of fields. A UTF-8 byte order mark at the
//! start of a file is dropped. Values are summed over repeated (user, item)
//! pairs; a sum past `f32::MAX` is an error naming the line. Long fields are
//! cut in error messages ([`shown`]).
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

/// The longest field echoed whole in an error message (bytes); longer ones
/// are cut and their length given.
pub const SHOWN_MAX: usize = 64;

/// `s` quoted for an error message, cut after [`SHOWN_MAX`] bytes (at a
/// character boundary) with its full length given.
pub fn shown(s: &str) -> String {
    if s.len() <= SHOWN_MAX {
        return format!("{s:?}");
    }
    let mut end = SHOWN_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &s[..end], s.len())
}

/// Strip a UTF-8 byte order mark from the start of `s`.
pub fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{feff}').unwrap_or(s)
}

/// Split one line (without its line ending) into fields, RFC 4180 style:
/// a field that starts with `"` is quoted, may hold the delimiter, writes an
/// inner quote as `""`, and must be closed on the same line (fields may not
/// span lines) and followed by the delimiter or the end of the line. A `"`
/// inside an unquoted field is kept literally. Unquoted fields are trimmed
/// of spaces and tabs around them; with [`WHITESPACE`] runs of spaces and
/// tabs separate fields. The unescaped fields are appended to `buf`, their
/// byte ranges in `buf` to `ranges` (both cleared first). An error is a
/// message without the line number.
pub fn split_line(
    line: &str,
    delim: u8,
    buf: &mut String,
    ranges: &mut Vec<(usize, usize)>,
) -> std::result::Result<(), String> {
    buf.clear();
    ranges.clear();
    let b = line.as_bytes();
    let ws_mode = delim == WHITESPACE;
    let is_space = |c: u8| (c == b' ' || c == b'\t') && (ws_mode || c != delim);
    let skip = |i: &mut usize| {
        while *i < b.len() && is_space(b[*i]) {
            *i += 1;
        }
    };
    let mut i = 0;
    skip(&mut i);
    if ws_mode && i == b.len() {
        return Ok(());
    }
    loop {
        let start = buf.len();
        if i < b.len() && b[i] == b'"' {
            let column = ranges.len() + 1;
            i += 1;
            loop {
                match line[i..].find('"') {
                    None => {
                        return Err(format!(
                            "unbalanced quote in field {column}: a quoted field must be closed on its line"
                        ))
                    }
                    Some(j) => {
                        buf.push_str(&line[i..i + j]);
                        i += j + 1;
                        if b.get(i) == Some(&b'"') {
                            buf.push('"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            ranges.push((start, buf.len()));
            let before = i;
            skip(&mut i);
            if i == b.len() {
                return Ok(());
            }
            if ws_mode && i > before {
                continue;
            }
            if ws_mode || b[i] != delim {
                return Err(format!(
                    "text after the closing quote of field {column}; a quote inside a quoted field is written \"\""
                ));
            }
            i += 1;
            skip(&mut i);
        } else {
            let end = if ws_mode {
                b[i..]
                    .iter()
                    .position(|&c| c == b' ' || c == b'\t')
                    .map_or(b.len(), |p| i + p)
            } else {
                b[i..]
                    .iter()
                    .position(|&c| c == delim)
                    .map_or(b.len(), |p| i + p)
            };
            buf.push_str(line[i..end].trim_end_matches([' ', '\t']));
            ranges.push((start, buf.len()));
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
            skip(&mut i);
            if ws_mode && i == b.len() {
                return Ok(());
            }
        }
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
        .map_err(|_| format!("value {} is not a number", shown(field)))?;
    if !v.is_finite() {
        return Err(format!("value {} is not finite", shown(field)));
    }
    if v < 0.0 && !observed_negatives {
        return Err(format!(
            "value {} is negative; values must be >= 0 (or pass --observed-negatives)",
            shown(field)
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
    let mut unquoted = String::with_capacity(256);
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(8);
    // (field count, line) of the first data line: every line must match it.
    let mut width: Option<(usize, u64)> = None;
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
        let text = if line_no == 1 { strip_bom(text) } else { text };
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
        split_line(text, d, &mut unquoted, &mut ranges).map_err(|m| parse_err(line_no, m))?;
        if let Some(bad) = ranges
            .iter()
            .map(|&(a, b)| &unquoted[a..b])
            .find(|f| f.contains(['\n', '\r']))
        {
            return Err(parse_err(
                line_no,
                format!("field {} holds a line break", shown(bad)),
            ));
        }
        let mut fields = recycle(std::mem::take(&mut store));
        fields.extend(ranges.iter().map(|&(a, b)| &unquoted[a..b]));
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
        match width {
            None => width = Some((ranges.len(), line_no)),
            Some((w, first)) if w != ranges.len() => {
                return Err(parse_err(
                    line_no,
                    format!(
                        "{} fields, but line {first} has {w}: every line of a file must have the same number of fields",
                        ranges.len()
                    ),
                ))
            }
            Some(_) => {}
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
    match b.build() {
        Err(Error::InvalidValue { user, item, value }) if path != Path::new("-") => Err(
            overflow_line(path, opts, &user, &item).unwrap_or(Error::InvalidValue {
                user,
                item,
                value,
            }),
        ),
        other => other,
    }
}

/// The line at which the values of (`user`, `item`), summed over the lines
/// that repeat the pair, pass `f32::MAX` (read again from `path`).
fn overflow_line(path: &Path, opts: &ReadOptions, user: &str, item: &str) -> Option<Error> {
    let mut sum = 0f32;
    let mut at = None;
    for_each_record(open(path).ok()?, path, opts, |r| {
        if at.is_none() && r.user == user && r.item == item {
            sum += r.value;
            if !sum.is_finite() {
                at = Some(r.line);
            }
        }
        Ok(())
    })
    .ok()?;
    Some(Error::Parse {
        path: path.to_path_buf(),
        line: at?,
        message: format!(
            "the values of user {} and item {} on this and earlier lines sum past the largest float ({:e}); duplicates are summed",
            shown(user),
            shown(item),
            f32::MAX
        ),
    })
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

/// Read a file of item ids, one per line, into item indices. A UTF-8 byte
/// order mark at the start is dropped; `\n` and `\r\n` line ends are
/// accepted; each line is trimmed of surrounding whitespace; blank lines and
/// `#` comments are skipped. A NUL byte, or a carriage return inside an id,
/// is an [`Error::Parse`] naming the line. An id the model does not know is an
/// [`Error::Parse`] naming the file and line; an empty file is
/// [`Error::EmptyInput`].
pub fn read_id_list(path: &Path, ids: &IdMap, kind: &'static str) -> Result<Vec<u32>> {
    read_id_list_from(open(path)?, path, ids, kind)
}

/// [`read_id_list`] from any reader; `path` names it in errors.
pub fn read_id_list_from<R: BufRead>(
    reader: R,
    path: &Path,
    ids: &IdMap,
    kind: &'static str,
) -> Result<Vec<u32>> {
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
        let line = if n == 0 { strip_bom(&line) } else { &line };
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
        if id.contains('\r') {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: n as u64 + 1,
                message: format!(
                    "id {} holds a carriage return (only at a line end is one allowed)",
                    shown(id)
                ),
            });
        }
        match ids.get(id) {
            Some(i) => out.push(i),
            None => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: n as u64 + 1,
                    message: format!("unknown {kind} id {}", shown(id)),
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
            ("b\n", "line 1: missing item field"),
            ("a,x,1\nb\n", "line 2: missing item field"),
            ("a,x,1\nc,z\n", "line 2: 2 fields, but line 1 has 3"),
            ("a,x,1\n\"b,y,1\n", "line 2: unbalanced quote in field 1"),
            (
                "a,x,1\n\"b\"c,y,1\n",
                "line 2: text after the closing quote",
            ),
            (
                "a,x,1\nb,y,1\rz\n",
                "line 2: field \"1\\rz\" holds a line break",
            ),
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
    fn rfc4180_quotes_bom_and_whitespace() {
        let mut buf = String::new();
        let mut r = Vec::new();
        let mut split = |line: &str, d: u8| -> std::result::Result<Vec<String>, String> {
            split_line(line, d, &mut buf, &mut r)?;
            Ok(r.iter().map(|&(a, b)| buf[a..b].to_owned()).collect())
        };
        assert_eq!(split("\"a,b\",1,1", b',').unwrap(), ["a,b", "1", "1"]);
        assert_eq!(split(" \"a\"\"q\" , x ,", b',').unwrap(), ["a\"q", "x", ""]);
        assert_eq!(split("a\"b,c", b',').unwrap(), ["a\"b", "c"]);
        assert_eq!(
            split("  u  \"i j\"\t2 ", WHITESPACE).unwrap(),
            ["u", "i j", "2"]
        );
        assert!(split("\"u\"x y", WHITESPACE).is_err());
        assert!(split("\"a,b", b',').unwrap_err().contains("unbalanced"));
        assert_eq!(split("", WHITESPACE).unwrap(), Vec::<String>::new());

        let d = read("\u{feff}a,x,1\n\"b,c\",\"y\",2\n", &ReadOptions::default()).unwrap();
        assert_eq!(d.users().ids(), ["a", "b,c"]);
        assert_eq!(d.items().ids(), ["x", "y"]);
        assert_eq!(d.user_row(1).values, &[2.0]);
    }

    #[test]
    fn long_values_are_cut_and_overflowing_sums_named_by_line() {
        let long = "9".repeat(100) + "x";
        let e = read(&format!("a,x,{long}\n"), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("... (101 bytes)") && e.len() < 200, "{e}");

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "a,x,3e38\nb,x,1\na,x,3e38\na,x,1\n").unwrap();
        let e = read_interactions(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3: the values of user \"a\" and item \"x\""),
            "{e}"
        );
        let e = read("a,x,3e38\na,x,3e38\n", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    }

    #[test]
    fn id_lists_bom_crlf_blank_and_cr() {
        let dir = tempfile::tempdir().unwrap();
        let ids = IdMap::from_ids(["a", "b"], "item").unwrap();
        let p = dir.path().join("ids.txt");
        std::fs::write(&p, "\u{feff}a\r\n\r\n b \n").unwrap();
        assert_eq!(read_id_list(&p, &ids, "item").unwrap(), [0, 1]);
        std::fs::write(&p, "a\nb\rc\n").unwrap();
        let e = read_id_list(&p, &ids, "item").unwrap_err().to_string();
        assert!(
            e.contains("line 2: id \"b\\rc\" holds a carriage return"),
            "{e}"
        );
        std::fs::write(&p, "a\n\0\n").unwrap();
        let e = read_id_list(&p, &ids, "item").unwrap_err().to_string();
        assert!(e.contains("line 2: binary data"), "{e}");
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let e = read_interactions("/nonexistent/file.csv", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/file.csv"));
    }
}
