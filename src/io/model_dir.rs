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
//! The manifest may list further files saved in the same step (the
//! attribute towers' `user_tower_features.txt`, `user_tower_weights.npy`,
//! and the `item_` ones: see [`crate::towers::AttributeTower`]); they are
//! checksummed like the rest, verified by [`verify_all`], and carried over
//! by `ials update` ([`read_extras`]). Files the manifest does not list are
//! ignored by [`Model::load`], so tools may keep their own records inside a
//! model directory (`ials tune` writes `trials.json` and `best_params.json`
//! there). Saving over an existing model replaces the whole directory, such
//! files included.
//!
//! Ids may not contain `\n` or `\r` (saving such a model is an error), so
//! `users.txt`/`items.txt` are exactly one id per line, UTF-8, `\n`-ended.
//!
//! `train.csr` is little-endian: the 8 bytes `IALSCSR1`, then `u64` rows,
//! cols, nnz, then `rows + 1` `u64` row pointers, `nnz` `u32` column indices
//! (ascending within a row), `nnz` `f32` raw values.
//!
//! Saving writes a temporary sibling directory `.NAME.tmp-PID`, syncs every
//! file (the manifest last), then puts it in place so that the path always
//! names a complete model:
//! - on Linux, an existing model is swapped with the new one in one atomic
//!   `renameat2(RENAME_EXCHANGE)`, then the old one (now at the temporary
//!   name) is deleted;
//! - where the exchange is not available, the old model is renamed aside to
//!   `.NAME.old-PID` and the new one renamed into place; a job killed
//!   between the two renames leaves no `NAME`, and the next open or save of
//!   `NAME` renames the complete `.NAME.old-PID` back ([`recover`]).
//!
//! Leftovers of killed jobs (`.NAME.tmp-PID`, `.NAME.old-PID` whose process
//! is gone) are removed on the next open or save; an interrupted CLI removes
//! its own (see [`crate::io::cleanup`]). Loading checks every length and
//! checksum first, and that every factor is finite, and names the file at
//! fault ([`Error::ModelFormat`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{IdMap, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::io::{cleanup, npy};
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

/// Writes the contents of an [`Extra`] file.
type WriteFn<'a> = Box<dyn Fn(&mut dyn Write) -> std::io::Result<()> + 'a>;

/// A further file saved in the model directory with the model (listed and
/// checksummed in the manifest, written in the same atomic step).
pub struct Extra<'a> {
    name: String,
    write: WriteFn<'a>,
}

impl<'a> Extra<'a> {
    /// A file `name` (a plain file name) whose contents `write` produces.
    pub fn new(
        name: impl Into<String>,
        write: impl Fn(&mut dyn Write) -> std::io::Result<()> + 'a,
    ) -> Self {
        Extra {
            name: name.into(),
            write: Box::new(write),
        }
    }

    /// A file `name` holding `bytes`.
    pub fn bytes(name: impl Into<String>, bytes: Vec<u8>) -> Extra<'static> {
        Extra::new(name, move |w: &mut dyn Write| w.write_all(&bytes))
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The files every model has (besides the manifest).
pub const CORE_FILES: [&str; 5] = [
    "user_factors.npy",
    "item_factors.npy",
    "users.txt",
    "items.txt",
    "train.csr",
];

/// Write the model files into the (existing, empty) directory `dir`.
fn write_into(model: &Model, extras: &[Extra<'_>], dir: &Path) -> Result<()> {
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
    for e in extras {
        let plain = !e.name.is_empty()
            && !e.name.starts_with('.')
            && !e.name.contains(['/', '\\', '\0'])
            && e.name != MANIFEST;
        if !plain || files.contains_key(&e.name) {
            return Err(bad(
                &dir.join(&e.name),
                "an extra model file must have a plain, new name",
            ));
        }
        write_file(dir, &e.name, &mut files, |w| (e.write)(w))?;
    }
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

/// Atomically swap two paths (Linux `renameat2(RENAME_EXCHANGE)`). `Ok(false)`
/// when the kernel or file system does not offer it.
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    if std::env::var_os("IALS_TEST_NO_EXCHANGE").is_some() {
        return Ok(false);
    }
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes())?;
        let cb = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: two valid NUL-terminated paths; the syscall only reads them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(false),
            _ => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// Repair what a killed save of `dir` left: when `dir` is missing and a
/// complete previous model was moved aside (`.NAME.old-PID` of a process
/// that is gone), move it back; then remove the other leftovers of dead
/// processes (`.NAME.tmp-PID`, `.NAME.old-PID`). Best effort: errors (a
/// read-only directory) are ignored. Called by [`Model::save`] and
/// [`Model::load`].
pub fn recover(dir: &Path) {
    let leftovers = cleanup::stale(dir, &["old", "tmp"]);
    if leftovers.is_empty() {
        return;
    }
    if fs::symlink_metadata(dir).is_err() {
        // The previous model first (the save that moved it did not finish),
        // else a new one that was completely written (manifest present).
        for want in ["old", "tmp"] {
            let found = leftovers
                .iter()
                .find(|(tag, p)| tag == want && p.join(MANIFEST).is_file());
            if let Some((_, p)) = found {
                if fs::rename(p, dir).is_ok() {
                    break;
                }
            }
        }
    }
    for (_, p) in &leftovers {
        if fs::symlink_metadata(p).is_ok() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

impl Model {
    /// Save into directory `dir` atomically (see [`crate::io::model_dir`]).
    /// An existing model at `dir` is replaced only once the new one is
    /// completely written, and `dir` names a complete model at every moment.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.save_with(dir, &[])
    }

    /// [`Model::save`] with further files (e.g. attribute towers) listed in
    /// the manifest and written in the same atomic step.
    pub fn save_with(&self, dir: impl AsRef<Path>, extras: &[Extra<'_>]) -> Result<()> {
        let given = dir.as_ref();
        check_ids(self.users(), "user")?;
        check_ids(self.items(), "item")?;
        // A symbolic link to a model stays a link: its target is replaced.
        let dir_buf = match fs::symlink_metadata(given) {
            Ok(m) if m.file_type().is_symlink() => {
                fs::canonicalize(given).map_err(|e| Error::io(given, e))?
            }
            _ => given.to_path_buf(),
        };
        let dir = dir_buf.as_path();
        recover(dir);
        let tmp = cleanup::sibling(dir, "tmp");
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let _tmp_guard = cleanup::remove_on_signal(&tmp);
        fs::create_dir(&tmp).map_err(|e| Error::io(given, e))?;
        if let Err(e) = write_into(self, extras, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let sync_parent = || {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent);
            }
        };
        let fail = |e: std::io::Error| {
            let _ = fs::remove_dir_all(&tmp);
            Error::io(given, e)
        };
        if fs::symlink_metadata(dir).is_err() {
            cleanup::fault_point("rename");
            fs::rename(&tmp, dir).map_err(fail)?;
            cleanup::fault_point("rename");
            sync_parent();
            return Ok(());
        }
        if !dir.join(MANIFEST).is_file() && !is_empty_dir(dir) {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not an ials model directory; refusing to replace it",
            )));
        }
        cleanup::fault_point("rename");
        if exchange(&tmp, dir).map_err(fail)? {
            // `tmp` now holds the previous model.
            cleanup::fault_point("rename");
            sync_parent();
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
            return Ok(());
        }
        // No exchange: move the old model aside, then the new one in.
        let old = cleanup::sibling(dir, "old");
        if fs::symlink_metadata(&old).is_ok() {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        let _old_guard = cleanup::restore_on_signal(&old, dir);
        fs::rename(dir, &old).map_err(fail)?;
        cleanup::fault_point("rename");
        if let Err(e) = fs::rename(&tmp, dir) {
            let _ = fs::rename(&old, dir);
            return Err(fail(e));
        }
        cleanup::fault_point("rename");
        sync_parent();
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        Ok(())
    }

    /// Load a model saved by [`Model::save`]. Every file's length and
    /// checksum is verified, and every factor must be finite; a missing,
    /// truncated, corrupted or future-version file is an
    /// [`Error::ModelFormat`] naming it. Leftovers of a killed save are
    /// repaired first ([`recover`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        let dir = dir.as_ref();
        let manifest = read_manifest(dir)?;
        load_parts(dir, manifest, &|name| read_file(dir, name))
    }
}

fn read_file(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad(&path, "missing"),
        _ => Error::io(&path, e),
    })
}

/// The bytes of the manifest-listed file `name`, checked against its length
/// and checksum.
fn checked(
    dir: &Path,
    manifest: &Manifest,
    name: &str,
    read: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let entry = manifest
        .files
        .get(name)
        .ok_or_else(|| bad(&dir.join(MANIFEST), format!("does not list {name}")))?;
    let data = read(name)?;
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
}

/// The bytes of a further file the manifest of `dir` lists (e.g. a tower
/// file), verified; `None` when the manifest does not list it.
pub fn read_listed(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let manifest = read_manifest(dir)?;
    if !manifest.files.contains_key(name) {
        return Ok(None);
    }
    checked(dir, &manifest, name, &|n| read_file(dir, n)).map(Some)
}

/// Every further (non-core) file the manifest of `dir` lists, verified, as
/// [`Extra`]s to save with a new version of the model (`ials update`).
pub fn read_extras(dir: &Path) -> Result<Vec<Extra<'static>>> {
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for name in manifest.files.keys() {
        if !CORE_FILES.contains(&name.as_str()) {
            let data = checked(dir, &manifest, name, &|n| read_file(dir, n))?;
            out.push(Extra::bytes(name.clone(), data));
        }
    }
    Ok(out)
}

/// Load the model in `dir` and also verify every further file its manifest
/// lists (`ials info --verify`).
pub fn verify_all(dir: &Path) -> Result<Model> {
    let model = Model::load(dir)?;
    read_extras(dir)?;
    Ok(model)
}

/// [`Model::load`] of a model held in memory: `files` maps each file name
/// (`manifest.json` included) to its bytes. For fuzzing and tests.
#[doc(hidden)]
pub fn load_from_memory(files: &BTreeMap<String, Vec<u8>>) -> Result<Model> {
    let dir = Path::new("<memory>");
    let read = |name: &str| -> Result<Vec<u8>> {
        files
            .get(name)
            .cloned()
            .ok_or_else(|| bad(&dir.join(name), "missing"))
    };
    let manifest = parse_manifest(&read(MANIFEST)?, &dir.join(MANIFEST))?;
    load_parts(dir, manifest, &read)
}

fn load_parts(
    dir: &Path,
    manifest: Manifest,
    read: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<Model> {
    let bytes = |name: &str| checked(dir, &manifest, name, read);
    let factors = |name: &str, rows: usize| -> Result<Factors> {
        let path = dir.join(name);
        let (r, c, data) =
            npy::read_f32_expect(&bytes(name)?[..], &path, Some((rows, manifest.factors)))?;
        npy::check_finite(&path, c, &data)?;
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
        manifest.params.observed_negatives(),
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

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Read and check `dir/manifest.json` (format name and version, params),
/// after repairing what a killed save left ([`recover`]).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    recover(dir);
    let path = dir.join(MANIFEST);
    let text = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !dir.exists() => Error::io(dir, e),
        std::io::ErrorKind::NotFound => bad(&path, "missing: not an ials model directory"),
        _ => Error::io(&path, e),
    })?;
    parse_manifest(&text, &path)
}

fn parse_manifest(text: &[u8], path: &Path) -> Result<Manifest> {
    let path = path.to_path_buf();
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
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
    if m.params.factors() != m.factors {
        return Err(bad(&path, "params.factors() differs from factors"));
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
