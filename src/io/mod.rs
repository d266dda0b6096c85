//! File formats: `.npy` matrices, the model directory, and the one output
//! writer ([`write_output`]).

pub mod cleanup;
pub mod model_dir;
pub mod npy;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A sibling path for a temporary file: `dir/.name.tmp-<pid>`.
pub fn temp_path(path: &Path) -> PathBuf {
    cleanup::sibling(path, "tmp")
}

/// Where [`write_output`] sends the bytes of an output path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// This process's standard output (`-`, `/dev/stdout`, `/dev/fd/1`,
    /// `/proc/self/fd/1`).
    Stdout,
    /// Not a regular file (FIFO, character device, socket, another open
    /// descriptor): opened and written in place.
    Stream(PathBuf),
    /// A regular file, or a path that does not exist yet (after following
    /// symbolic links, so a link stays a link): written to a temporary
    /// sibling, then renamed over it.
    Replace(PathBuf),
}

/// `Some(fd)` when `p` is an entry of `/proc/<self>/fd` (or `/dev/fd`).
fn fd_entry(p: &Path) -> Option<u32> {
    let parent = p.parent()?.canonicalize().ok()?;
    let mut c = parent
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let (_, proc_, pid, fd) = (c.next()?, c.next()?, c.next()?, c.next()?);
    if c.next().is_some() || proc_ != "proc" || fd != "fd" {
        return None;
    }
    if pid != "self" && pid != std::process::id().to_string() && pid != "thread-self" {
        return None;
    }
    p.file_name()?.to_str()?.parse().ok()
}

/// Decide how `path` is written (see [`OutputTarget`]). Symbolic links are
/// followed (at most 40); a directory is an error.
pub fn output_target(path: &Path) -> std::io::Result<OutputTarget> {
    if path == Path::new("-") {
        return Ok(OutputTarget::Stdout);
    }
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        if let Some(fd) = fd_entry(&p) {
            return Ok(if fd == 1 {
                OutputTarget::Stdout
            } else {
                OutputTarget::Stream(p)
            });
        }
        let m = match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OutputTarget::Replace(p))
            }
            Err(e) => return Err(e),
            Ok(m) => m,
        };
        if m.file_type().is_symlink() {
            let t = fs::read_link(&p)?;
            p = match p.parent() {
                Some(dir) if t.is_relative() => dir.join(t),
                _ => t,
            };
            continue;
        }
        if m.is_file() {
            return Ok(OutputTarget::Replace(p));
        }
        if m.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        return Ok(OutputTarget::Stream(p));
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Write an output file: the one writer of every output of this crate and
/// its command line. `-` and anything that is not a regular file (a FIFO,
/// a character device, `/dev/stdout`, `/proc/self/fd/N`) are written to
/// directly; a regular file (or a new path) is written to a temporary
/// sibling, flushed and synced, then renamed over it, so it is never seen
/// half-written; a symbolic link's target is replaced that way and the link
/// stays. On any error the temporary file is removed and `path` is
/// untouched. Stale temporaries of killed jobs are removed first; an
/// interrupted write's temporary is removed by [`cleanup::on_signal`].
pub fn write_output<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    match output_target(path).map_err(|e| Error::io(path, e))? {
        OutputTarget::Stdout => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            write(&mut w)
                .and_then(|_| w.flush())
                .map_err(|e| Error::io(path, e))
        }
        OutputTarget::Stream(p) => {
            let result = (|| {
                let file = fs::OpenOptions::new().write(true).truncate(true).open(&p)?;
                let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
                write(&mut w)?;
                w.flush()
            })();
            result.map_err(|e| Error::io(path, e))
        }
        OutputTarget::Replace(target) => replace_file(path, &target, write),
    }
}

/// The former name of [`write_output`] (same behaviour).
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    write_output(path, write)
}

fn replace_file<F>(path: &Path, target: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    cleanup::remove_stale(target);
    let tmp = temp_path(target);
    let _guard = cleanup::remove_on_signal(&tmp);
    let result = (|| {
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::remove_file(&tmp)?;
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Ok(m) = fs::metadata(target) {
            let _ = file.set_permissions(m.permissions());
        }
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        cleanup::fault_point("rename");
        fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
