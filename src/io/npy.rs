//! NumPy `.npy` files of 2-d `float32` matrices (C order), loadable by
//! `numpy.load`. Reading also accepts `float64` and Fortran order.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Write a row-major `rows x cols` `f32` matrix as `.npy` (version 1.0).
pub fn write_f32<W: Write + ?Sized>(
    w: &mut W,
    rows: usize,
    cols: usize,
    data: &[f32],
) -> std::io::Result<()> {
    assert_eq!(
        data.len(),
        rows * cols,
        "npy::write_f32: data is not rows x cols"
    );
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Pad so that magic + version + len + header + '\n' is a multiple of 64.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    w.write_all(MAGIC)?;
    w.write_all(&[1, 0])?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    let mut buf = Vec::with_capacity(8192);
    for chunk in data.chunks(2048) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Write `path` atomically (temporary file, then rename).
pub fn save_f32(path: &Path, rows: usize, cols: usize, data: &[f32]) -> Result<()> {
    super::write_atomic(path, |w| write_f32(w, rows, cols, data))
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::ModelFormat {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(r) = rest.strip_prefix('(') {
        return Some(&r[..r.find(')')?]);
    }
    if let Some(r) = rest.strip_prefix('\'') {
        return Some(&r[..r.find('\'')?]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The largest header this reader accepts (bytes). NumPy writes a few
/// dozen bytes for a 2-d float array; a longer one is not one of ours.
pub const MAX_HEADER: usize = 1 << 16;

/// Read a 2-d `.npy` matrix as row-major `f32`: `(rows, cols, data)`.
/// A 1-d array reads as one column.
///
/// Nothing is allocated on the header's word: the header is at most
/// [`MAX_HEADER`] bytes, and the data is read as it arrives, so a header
/// claiming more values than the input holds is a typed "truncated" error
/// whatever the shape says.
pub fn read_f32<R: Read>(r: R, path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    read_f32_expect(r, path, None)
}

/// [`read_f32`] that also checks the header's shape against `expect`
/// (`rows, cols`) before reading any data.
pub fn read_f32_expect<R: Read>(
    mut r: R,
    path: &Path,
    expect: Option<(usize, usize)>,
) -> Result<(usize, usize, Vec<f32>)> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| bad(path, "too short to be a .npy file"))?;
    if &pre[..6] != MAGIC {
        return Err(bad(path, "not a .npy file (bad magic)"));
    }
    let header_len = match pre[6] {
        1 => {
            let mut l = [0u8; 2];
            r.read_exact(&mut l)
                .map_err(|_| bad(path, "truncated header"))?;
            u16::from_le_bytes(l) as usize
        }
        2 | 3 => {
            let mut l = [0u8; 4];
            r.read_exact(&mut l)
                .map_err(|_| bad(path, "truncated header"))?;
            u32::from_le_bytes(l) as usize
        }
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    if header_len > MAX_HEADER {
        return Err(bad(
            path,
            format!("header of {header_len} bytes (at most {MAX_HEADER} accepted)"),
        ));
    }
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header)
        .map_err(|_| bad(path, "truncated header"))?;
    let header = String::from_utf8(header).map_err(|_| bad(path, "header is not text"))?;
    let descr = header_value(&header, "descr").ok_or_else(|| bad(path, "header has no descr"))?;
    let fortran = header_value(&header, "fortran_order") == Some("True");
    let shape = header_value(&header, "shape").ok_or_else(|| bad(path, "header has no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(path, format!("bad shape ({})", cut(shape))))?;
    let (rows, cols) = match dims.as_slice() {
        [r] => (*r, 1),
        [r, c] => (*r, *c),
        _ => {
            return Err(bad(
                path,
                format!("expected a 2-d array, shape is ({})", cut(shape)),
            ))
        }
    };
    if let Some((er, ec)) = expect {
        if (rows, cols) != (er, ec) {
            return Err(bad(
                path,
                format!("shape {rows} x {cols}, expected {er} x {ec}"),
            ));
        }
    }
    let width = match descr {
        "<f4" | "=f4" | "f4" => 4,
        "<f8" | "=f8" | "f8" => 8,
        other => {
            return Err(bad(
                path,
                format!(
                    "unsupported dtype {}; expected float32 or float64",
                    cut(other)
                ),
            ))
        }
    };
    let count = rows.checked_mul(cols);
    let nbytes = count
        .and_then(|c| c.checked_mul(width))
        .filter(|&b| u64::try_from(b).is_ok())
        .ok_or_else(|| bad(path, format!("shape {rows} x {cols} is too large")))?;
    let count = count.expect("invariant: checked above");
    // Read what is there, up to the declared size: memory follows the input.
    let mut raw = Vec::new();
    r.take(nbytes as u64)
        .read_to_end(&mut raw)
        .map_err(|e| bad(path, format!("read failed: {e}")))?;
    if raw.len() != nbytes {
        return Err(bad(
            path,
            format!(
                "truncated: the header declares {rows} x {cols} values ({nbytes} bytes), the file holds {} bytes of data",
                raw.len()
            ),
        ));
    }
    let mut data: Vec<f32> = if width == 4 {
        raw.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        raw.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("invariant: 8 bytes")) as f32)
            .collect()
    };
    drop(raw);
    if fortran && cols > 1 {
        let mut c = vec![0f32; count];
        for j in 0..cols {
            for i in 0..rows {
                c[i * cols + j] = data[j * rows + i];
            }
        }
        data = c;
    }
    Ok((rows, cols, data))
}

fn cut(s: &str) -> String {
    let t = crate::data::read::shown(s);
    t[1..t.len() - 1].to_owned()
}

/// An error naming the first value of `data` (`rows x cols`, row-major)
/// that is NaN or infinite, if any.
pub fn check_finite(path: &Path, cols: usize, data: &[f32]) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(p) => Err(bad(
            path,
            format!(
                "value {} at row {}, column {} is not finite (NaN or infinite factors cannot be scored)",
                data[p],
                p / cols.max(1),
                p % cols.max(1)
            ),
        )),
    }
}

/// Read `path` (see [`read_f32`]).
pub fn load_f32(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_f32(std::io::BufReader::new(f), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let mut buf = Vec::new();
        write_f32(&mut buf, 3, 4, &data).unwrap();
        let header_len = u16::from_le_bytes([buf[8], buf[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let (r, c, back) = read_f32(&buf[..], Path::new("x.npy")).unwrap();
        assert_eq!((r, c), (3, 4));
        assert_eq!(back, data);
    }

    #[test]
    fn huge_shapes_and_headers_are_typed_errors_without_allocating() {
        // A header claiming (10^12, 4) over 16 bytes of data.
        let with_shape = |shape: &str| {
            let header =
                format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n");
            let mut v = MAGIC.to_vec();
            v.extend_from_slice(&[1, 0]);
            v.extend_from_slice(&(header.len() as u16).to_le_bytes());
            v.extend_from_slice(header.as_bytes());
            v.extend_from_slice(&[0u8; 16]);
            v
        };
        let crafted = with_shape("(1000000000000, 4)");
        let e = read_f32(&crafted[..], Path::new("u.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("truncated") && e.contains("1000000000000 x 4"),
            "{e}"
        );
        let e = read_f32_expect(&crafted[..], Path::new("u.npy"), Some((2, 4)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 2 x 4"), "{e}");
        // (2^62, 8) overflows the byte count.
        let big = with_shape("(4611686018427387904, 8)");
        let e = read_f32(&big[..], Path::new("u.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large"), "{e}");
        // A version-2 header declaring 4 GiB.
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = read_f32(&v2[..], Path::new("u.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 65536"), "{e}");
    }

    #[test]
    fn non_finite_values_are_named() {
        let e = check_finite(Path::new("x.npy"), 3, &[0.0, 1.0, 2.0, 3.0, f32::NAN, 5.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 1 is not finite"), "{e}");
        assert!(check_finite(Path::new("x.npy"), 3, &[0.0; 6]).is_ok());
    }

    #[test]
    fn truncated_is_a_typed_error() {
        let mut buf = Vec::new();
        write_f32(&mut buf, 2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        buf.truncate(buf.len() - 3);
        let e = read_f32(&buf[..], Path::new("u.npy")).unwrap_err();
        assert!(
            e.to_string().contains("u.npy") && e.to_string().contains("truncated"),
            "{e}"
        );
    }
}
