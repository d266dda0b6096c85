//! Temporary files of interrupted writes: the ones in progress (removed by
//! [`on_signal`] when the CLI is interrupted) and stale ones left by a job
//! that was killed (removed by [`remove_stale`] on the next write).
//!
//! Every temporary sibling is named `.NAME.TAG-PID` (`TAG` is `tmp` or
//! `old`), so a leftover names the process that made it: when no process
//! with that id is alive any more, it is stale.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What to do with a registered path if the process is interrupted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    /// A temporary file or directory: remove it.
    Remove(PathBuf),
    /// A previous model moved aside (`from`): move it back to `to` when `to`
    /// is missing, else remove it.
    Restore { from: PathBuf, to: PathBuf },
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<Pending>> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registration that is withdrawn when dropped (the write finished, or
/// failed and cleaned up after itself).
#[must_use]
pub struct Guard(Pending);

impl Drop for Guard {
    fn drop(&mut self) {
        let mut p = pending();
        if let Some(i) = p.iter().rposition(|x| *x == self.0) {
            p.remove(i);
        }
    }
}

/// Remove `path` (a temporary file or directory) if the process is
/// interrupted before the guard is dropped.
pub fn remove_on_signal(path: &Path) -> Guard {
    let e = Pending::Remove(path.to_path_buf());
    pending().push(e.clone());
    Guard(e)
}

/// Move `from` back to `to` (if `to` is missing) on interruption.
pub fn restore_on_signal(from: &Path, to: &Path) -> Guard {
    let e = Pending::Restore {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
    };
    pending().push(e.clone());
    Guard(e)
}

fn remove_any(p: &Path) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Clean up every registered path: call this from a signal-handling thread
/// just before exiting. Restores run first.
pub fn on_signal() {
    let list = std::mem::take(&mut *pending());
    for e in list.iter().rev() {
        if let Pending::Restore { from, to } = e {
            if fs::symlink_metadata(to).is_err() {
                let _ = fs::rename(from, to);
            } else {
                remove_any(from);
            }
        }
    }
    for e in list.iter().rev() {
        if let Pending::Remove(p) = e {
            remove_any(p);
        }
    }
}

/// The sibling `dir/.NAME.TAG-PID` of `path` for this process.
pub fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let s = format!(".{name}.{tag}-{}", std::process::id());
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(s),
        _ => PathBuf::from(s),
    }
}

/// Whether a process with id `pid` exists (on Linux, `/proc/PID`; elsewhere
/// every process is assumed alive, so nothing is ever removed as stale).
pub fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Leftovers `.NAME.TAG-PID` of `path` (for each tag in `tags`) whose
/// process is gone, as `(tag, path)`.
pub fn stale(path: &Path, tags: &[&str]) -> Vec<(String, PathBuf)> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = fs::read_dir(&parent) else {
        return Vec::new();
    };
    let prefix = format!(".{name}.");
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        for tag in tags {
            let pid = rest
                .strip_prefix(tag)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !pid_alive(pid) {
                    out.push((tag.to_string(), parent.join(&file)));
                }
            }
        }
    }
    out.sort();
    out
}

/// Remove the stale temporaries (`tmp` tag) of `path` (best effort).
pub fn remove_stale(path: &Path) {
    for (_, p) in stale(path, &["tmp"]) {
        remove_any(&p);
    }
}

/// A fault-injection point for tests of crash safety. When the environment
/// variable `IALS_TEST_ABORT_AT` is `NAME:N` (e.g. `rename:2`), the `N`-th
/// call (1-based) of `fault_point(NAME)` in this process aborts it, as a
/// `kill -9` would at that point; with `IALS_TEST_TERM_AT=NAME:N` the
/// process sends itself SIGTERM there instead (and waits for the signal
/// handler to exit). Unset (always, outside tests) it does nothing.
#[doc(hidden)]
pub fn fault_point(name: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<(bool, String, usize)>> = OnceLock::new();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let at = AT.get_or_init(|| {
        let (term, v) = match std::env::var("IALS_TEST_ABORT_AT") {
            Ok(v) => (false, v),
            Err(_) => (true, std::env::var("IALS_TEST_TERM_AT").ok()?),
        };
        let (n, k) = v.split_once(':')?;
        Some((term, n.to_owned(), k.parse().ok()?))
    });
    if let Some((term, n, k)) = at {
        if n == name && COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *k {
            if !*term {
                std::process::abort();
            }
            #[cfg(unix)]
            // SAFETY: sending a signal to this very process.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGTERM);
            }
            std::thread::sleep(std::time::Duration::from_secs(30));
            std::process::abort();
        }
    }
}
