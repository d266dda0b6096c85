//! The durable model directory (format `ials-model`, version 1).
//!
//! ```text
//! MODEL_DIR/
//!   manifest.json      format, version, params, sizes, loss history, and for
//!                      every other file its byte length and CRC-32
//!   user_factors.npy   float32, C order, users x factors (numpy.load-able)
//!   item_factors.npy   float32, C order, items x factors
//!   users.txt          one external user id per line, in row order
//!   items.txt          one external item id per line, in row order
//!   train.csr          the user-major training matrix (see below)
//! ```
//!
//! Files the manifest does not list are ignored by [`Model::load`], so
//! tools may keep their own records inside a model directory (`ials tune`
//! writes `trials.json` and `best_params.json` there). Saving over an
//! existing model replaces the whole directory, such files included.
//!
//! Ids may not contain `\n` or `\r` (saving such a model is an error), so
//! `users.txt`/`items.txt` are exactly one id per line, UTF-8, `\n`-ended.
//!
//! `train.csr` is little-endian: the 8 bytes `IALSCSR1`, then `u64` rows,
//! cols, nnz, then `rows + 1` `u64` row pointers, `nnz` `u32` column indices
//! (ascending within a row), `nnz` `f32` raw values.
//!
//! Saving writes a temporary sibling directory, syncs every file, then
//! renames it into place (an existing model is first renamed aside and
//! deleted only after the new one is in), so a job killed mid-save leaves
//! the previous model loadable. Loading checks every length and checksum
//! first and names the file at fault ([`Error::ModelFormat`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{IdMap, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::io::npy;
use crate::model::Model;
use crate::params::Params;
use crate::train::IterationReport;

/// The format name written in `manifest.json`.
pub const FORMAT: &str = "ials-model";
/// The format version this build writes and the newest it reads.
pub const VERSION: u32 = 1;
/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";
const CSR_MAGIC: &[u8; 8] = b"IALSCSR1";

/// Length and checksum of one file of the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Byte length.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file.
    pub crc32: u32,
}

/// The contents of `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`] when written by this build).
    pub version: u32,
    /// The crate version that wrote it.
    pub written_by: String,
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Latent factors.
    pub factors: usize,
    /// Training non-zeros.
    pub nnz: usize,
    /// Fit params.
    pub params: Params,
    /// Loss history, one report per iteration.
    pub history: Vec<IterationReport>,
    /// Every other file: name -> length and checksum.
    pub files: BTreeMap<String, FileEntry>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::ModelFormat {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A writer that counts bytes and computes the CRC-32 of what passes through.
struct Tally<W> {
    inner: W,
    bytes: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_file<F>(
    dir: &Path,
    name: &str,
    files: &mut BTreeMap<String, FileEntry>,
    f: F,
) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let path = dir.join(name);
    let result = (|| {
        let file = fs::File::create(&path)?;
        let mut t = Tally {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            crc: crc32fast::Hasher::new(),
        };
        f(&mut t)?;
        t.flush()?;
        let file = t.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok::<_, std::io::Error>((t.bytes, t.crc.finalize()))
    })();
    let (bytes, crc32) = result.map_err(|e| Error::io(&path, e))?;
    files.insert(name.to_owned(), FileEntry { bytes, crc32 });
    Ok(())
}

fn write_ids(w: &mut dyn Write, ids: &IdMap) -> std::io::Result<()> {
    for id in ids.ids() {
        w.write_all(id.as_bytes())?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

fn check_ids(ids: &IdMap, kind: &'static str) -> Result<()> {
    match ids.ids().iter().find(|s| s.contains(['\n', '\r'])) {
        Some(id) => Err(Error::Shape(format!(
            "{kind} id {id:?} contains a line break; model files store one id per line"
        ))),
        None => Ok(()),
    }
}

fn write_csr(w: &mut dyn Write, m: &SparseMatrix) -> std::io::Result<()> {
    w.write_all(CSR_MAGIC)?;
    for v in [m.rows() as u64, m.cols() as u64, m.nnz() as u64] {
        w.write_all(&v.to_le_bytes())?;
    }
    let indptr = m.indptr();
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in indptr.raw_storage().chunks(4096) {
        buf.clear();
        for &p in chunk {
            buf.extend_from_slice(&(p as u64).to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    for chunk in m.indices().chunks(8192) {
        buf.clear();
        for &i in chunk {
            buf.extend_from_slice(&i.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    for chunk in m.data().chunks(8192) {
        buf.clear();
        for &v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Directory fsync is not supported everywhere (e.g. Windows); best effort.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let s = format!(".{name}.{tag}-{}", std::process::id());
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(s),
        _ => PathBuf::from(s),
    }
}

/// Write the model files into the (existing, empty) directory `dir`.
fn write_into(model: &Model, dir: &Path) -> Result<()> {
    let mut files = BTreeMap::new();
    let x = model.user_factors();
    let y = model.item_factors();
    write_file(dir, "user_factors.npy", &mut files, |w| {
        npy::write_f32(w, x.rows(), x.k(), x.as_slice())
    })?;
    write_file(dir, "item_factors.npy", &mut files, |w| {
        npy::write_f32(w, y.rows(), y.k(), y.as_slice())
    })?;
    write_file(dir, "users.txt", &mut files, |w| {
        write_ids(w, model.users())
    })?;
    write_file(dir, "items.txt", &mut files, |w| {
        write_ids(w, model.items())
    })?;
    write_file(dir, "train.csr", &mut files, |w| {
        write_csr(w, model.train())
    })?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        written_by: format!("ials {}", env!("CARGO_PKG_VERSION")),
        users: model.n_users(),
        items: model.n_items(),
        factors: x.k(),
        nnz: model.train().nnz(),
        params: model.params().clone(),
        history: model.loss_history().to_vec(),
        files,
    };
    let path = dir.join(MANIFEST);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| bad(&path, e.to_string()))?;
    let mut unused = BTreeMap::new();
    write_file(dir, MANIFEST, &mut unused, |w| {
        w.write_all(&json)?;
        w.write_all(b"\n")
    })?;
    sync_dir(dir);
    Ok(())
}

impl Model {
    /// Save into directory `dir` atomically (see [`crate::io::model_dir`]).
    /// An existing model at `dir` is replaced only once the new one is
    /// completely written.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        check_ids(self.users(), "user")?;
        check_ids(self.items(), "item")?;
        let tmp = sibling(dir, "tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| Error::io(dir, e))?;
        if let Err(e) = write_into(self, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let old = sibling(dir, "old");
        let had_old = match fs::symlink_metadata(dir) {
            Ok(_) => {
                if !dir.join(MANIFEST).is_file() && !is_empty_dir(dir) {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(Error::io(
                        dir,
                        std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "exists and is not an ials model directory; refusing to replace it",
                        ),
                    ));
                }
                if let Err(e) = fs::rename(dir, &old) {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(Error::io(dir, e));
                }
                true
            }
            Err(_) => false,
        };
        if let Err(e) = fs::rename(&tmp, dir) {
            if had_old {
                let _ = fs::rename(&old, dir);
            }
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io(dir, e));
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent);
        }
        if had_old {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }

    /// Load a model saved by [`Model::save`]. Every file's length and
    /// checksum is verified; a missing, truncated, corrupted or
    /// future-version file is an [`Error::ModelFormat`] naming it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        let dir = dir.as_ref();
        let manifest = read_manifest(dir)?;
        let bytes = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            let entry = manifest
                .files
                .get(name)
                .ok_or_else(|| bad(&dir.join(MANIFEST), format!("does not list {name}")))?;
            let data = fs::read(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => bad(&path, "missing"),
                _ => Error::io(&path, e),
            })?;
            if data.len() as u64 != entry.bytes {
                return Err(bad(
                    &path,
                    format!(
                        "truncated or resized: {} bytes, the manifest says {}",
                        data.len(),
                        entry.bytes
                    ),
                ));
            }
            if crc32fast::hash(&data) != entry.crc32 {
                return Err(bad(&path, "corrupted: checksum mismatch"));
            }
            Ok(data)
        };
        let factors = |name: &str, rows: usize| -> Result<Factors> {
            let path = dir.join(name);
            let (r, c, data) = npy::read_f32(&bytes(name)?[..], &path)?;
            if r != rows || c != manifest.factors {
                return Err(bad(
                    &path,
                    format!("shape {r} x {c}, expected {rows} x {}", manifest.factors),
                ));
            }
            Factors::from_vec(r, c, data).ok_or_else(|| bad(&path, "bad shape"))
        };
        let ids = |name: &str, kind: &'static str, len: usize| -> Result<IdMap> {
            let path = dir.join(name);
            let data = bytes(name)?;
            let text = String::from_utf8(data).map_err(|_| bad(&path, "not UTF-8"))?;
            let lines: Vec<&str> = if text.is_empty() {
                Vec::new()
            } else {
                text.strip_suffix('\n')
                    .ok_or_else(|| bad(&path, "does not end with a newline"))?
                    .split('\n')
                    .collect()
            };
            if lines.len() != len {
                return Err(bad(&path, format!("{} ids, expected {len}", lines.len())));
            }
            IdMap::from_ids(lines, kind).map_err(|e| bad(&path, e.to_string()))
        };
        let x = factors("user_factors.npy", manifest.users)?;
        let y = factors("item_factors.npy", manifest.items)?;
        let users = ids("users.txt", "user", manifest.users)?;
        let items = ids("items.txt", "item", manifest.items)?;
        let train_path = dir.join("train.csr");
        let train = read_csr(
            &bytes("train.csr")?,
            &train_path,
            manifest.params.observed_negatives,
        )?;
        if train.rows() != manifest.users
            || train.cols() != manifest.items
            || train.nnz() != manifest.nnz
        {
            return Err(bad(
                &train_path,
                format!(
                    "{} x {} with {} non-zeros, the manifest says {} x {} with {}",
                    train.rows(),
                    train.cols(),
                    train.nnz(),
                    manifest.users,
                    manifest.items,
                    manifest.nnz
                ),
            ));
        }
        Ok(Model::new(
            manifest.params,
            users,
            items,
            train,
            x,
            y,
            manifest.history,
        ))
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Read and check `dir/manifest.json` (format name and version, params).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !dir.exists() => Error::io(dir, e),
        std::io::ErrorKind::NotFound => bad(&path, "missing: not an ials model directory"),
        _ => Error::io(&path, e),
    })?;
    let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        bad(
            &path,
            format!("not valid JSON (truncated or corrupted?): {e}"),
        )
    })?;
    let format = value.get("format").and_then(|v| v.as_str());
    if format != Some(FORMAT) {
        return Err(bad(
            &path,
            format!("format is {format:?}, expected {FORMAT:?}"),
        ));
    }
    let version = value.get("version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v as u32 == VERSION && v <= u32::MAX as u64 => {}
        Some(v) if v > VERSION as u64 => {
            return Err(bad(
                &path,
                format!(
                    "format version {v} is newer than this build of ials reads ({VERSION}); upgrade ials"
                ),
            ))
        }
        other => return Err(bad(&path, format!("unsupported format version {other:?}"))),
    }
    let m: Manifest =
        serde_json::from_value(value).map_err(|e| bad(&path, format!("bad manifest: {e}")))?;
    m.params
        .validate()
        .map_err(|e| bad(&path, format!("invalid params: {e}")))?;
    if m.params.factors != m.factors {
        return Err(bad(&path, "params.factors differs from factors"));
    }
    Ok(m)
}

fn read_csr(data: &[u8], path: &Path, observed_negatives: bool) -> Result<SparseMatrix> {
    let short = || bad(path, "truncated");
    if data.len() < 32 || &data[..8] != CSR_MAGIC {
        return Err(bad(path, "not an ials CSR file (bad magic)"));
    }
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().expect("8 bytes"));
    let (rows, cols, nnz) = (u64_at(8) as usize, u64_at(16) as usize, u64_at(24) as usize);
    let need = (rows.checked_add(1))
        .and_then(|r| r.checked_mul(8))
        .and_then(|a| nnz.checked_mul(8).and_then(|b| a.checked_add(b)))
        .and_then(|s| s.checked_add(32))
        .ok_or_else(short)?;
    if data.len() != need {
        return Err(bad(
            path,
            format!(
                "{} bytes, expected {need} for {rows} x {cols} with {nnz} non-zeros",
                data.len()
            ),
        ));
    }
    let mut o = 32;
    let mut indptr = Vec::with_capacity(rows + 1);
    for _ in 0..=rows {
        indptr.push(u64_at(o) as usize);
        o += 8;
    }
    let indices: Vec<u32> = data[o..o + 4 * nnz]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    o += 4 * nnz;
    let values: Vec<f32> = data[o..o + 4 * nnz]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    if values
        .iter()
        .any(|v| !(v.is_finite() && (observed_negatives || *v >= 0.0)))
    {
        return Err(bad(path, "a value is negative or not finite"));
    }
    SparseMatrix::try_new((rows, cols), indptr, indices, values)
        .map_err(|(_, _, _, e)| bad(path, format!("invalid CSR structure: {e}")))
}
