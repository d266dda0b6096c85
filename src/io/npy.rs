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

/// Read a 2-d `.npy` matrix as row-major `f32`: `(rows, cols, data)`.
/// A 1-d array reads as one column.
pub fn read_f32<R: Read>(mut r: R, path: &Path) -> Result<(usize, usize, Vec<f32>)> {
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
        .map_err(|_| bad(path, format!("bad shape ({shape})")))?;
    let (rows, cols) = match dims.as_slice() {
        [r] => (*r, 1),
        [r, c] => (*r, *c),
        _ => {
            return Err(bad(
                path,
                format!("expected a 2-d array, shape is ({shape})"),
            ))
        }
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| bad(path, "shape too large"))?;
    let width = match descr {
        "<f4" | "=f4" | "f4" => 4,
        "<f8" | "=f8" | "f8" => 8,
        other => {
            return Err(bad(
                path,
                format!("unsupported dtype {other:?}; expected float32 or float64"),
            ))
        }
    };
    let mut raw = vec![0u8; count * width];
    r.read_exact(&mut raw)
        .map_err(|_| bad(path, format!("truncated: expected {rows} x {cols} values")))?;
    let mut data: Vec<f32> = if width == 4 {
        raw.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        raw.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("invariant: 8 bytes")) as f32)
            .collect()
    };
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
