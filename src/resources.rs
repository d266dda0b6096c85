//! What a job may ask of the machine: memory estimated before allocating,
//! and a bound on threads.
//!
//! [`check_fit`] estimates the bytes an iALS fit allocates (the factor
//! matrices, the `k x k` Gramian and per-thread normal equations, the copy
//! of the training matrix the model keeps) and refuses, with the figures,
//! a fit that needs more than the memory available: `MemAvailable` of
//! `/proc/meminfo`, lowered to the cgroup (v2) limit when one is set. Where
//! neither can be read (not Linux), only sizes whose byte count overflows
//! are refused. [`check_threads`] refuses more than [`max_threads`] worker
//! threads.

use crate::error::{Error, Result};
use crate::params::Params;

/// Bytes of memory this process can still allocate, if known: Linux
/// `MemAvailable`, or less when a cgroup v2 limit leaves less.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut avail = kib.saturating_mul(1024);
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    if let (Some(max), Some(cur)) = (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        avail = avail.min(max.saturating_sub(cur));
    }
    Some(avail)
}

/// The most worker threads a job may ask for: 8 per available core, and at
/// least 64. More only adds start-up time and contention.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (8 * cores).max(64)
}

/// Refuse a thread count above [`max_threads`] (or 0).
pub fn check_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::ZeroThreads);
    }
    let max = max_threads();
    if threads > max {
        return Err(Error::TooLarge(format!(
            "{threads} threads requested; at most {max} are allowed here \
             (8 per core, at least 64); leave it unset to use every core"
        )));
    }
    Ok(())
}

/// Estimated peak bytes an iALS fit of `params` allocates on a `users x
/// items` matrix with `nnz` non-zeros (the input itself not counted).
pub fn fit_bytes(params: &Params, users: usize, items: usize, nnz: usize) -> f64 {
    let k = params.factors() as f64;
    let threads = params
        .threads()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        as f64;
    let factors = 4.0 * k * (users as f64 + items as f64);
    // Gramian and its f64 copy, and per thread a k x k system, its factor
    // and a few k-vectors.
    let gram = 8.0 * k * k * 2.0 + threads * (16.0 * k * k + 64.0 * k);
    // The model keeps the user-major matrix.
    let train = 8.0 * nnz as f64 + 8.0 * (users as f64 + 1.0);
    factors + gram + train
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Refuse a fit whose [`fit_bytes`] exceed the [`available_memory`] (or
/// whose sizes overflow the address space), naming both figures; also
/// [`check_threads`].
pub fn check_fit(params: &Params, users: usize, items: usize, nnz: usize) -> Result<()> {
    if let Some(t) = params.threads() {
        check_threads(t)?;
    }
    let need = fit_bytes(params, users, items, nnz);
    let k = params.factors();
    let overflows = k
        .checked_mul(users.max(items))
        .and_then(|e| e.checked_mul(8))
        .and_then(|_| k.checked_mul(k))
        .and_then(|e| e.checked_mul(16))
        .is_none()
        || need >= isize::MAX as f64;
    let avail = available_memory();
    if overflows || avail.is_some_and(|a| need > a as f64) {
        let have = match avail {
            Some(a) => format!("{} available", human(a as f64)),
            None => "more than the address space".into(),
        };
        return Err(Error::TooLarge(format!(
            "this fit needs about {} ({k} factors: {users} + {items} factor rows of {} \
             and {} for the {k} x {k} Gramian and per-thread systems), {have}; \
             use fewer factors",
            human(need),
            human(4.0 * k as f64),
            human(8.0 * (k as f64).powi(2) * 2.0)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_fits_are_refused_with_figures_and_small_ones_pass() {
        let p = |k: usize| Params::builder().factors(k).check().unwrap();
        assert!(check_fit(&p(8), 100, 50, 1000).is_ok());
        let e = check_fit(&p(1 << 32), 100, 50, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs about") && e.contains("fewer factors"),
            "{e}"
        );
        if available_memory().is_some_and(|a| a < 10_000_000_000_000) {
            let e = check_fit(&p(1_000_000), 2000, 2000, 4000)
                .unwrap_err()
                .to_string();
            assert!(e.contains("TB") && e.contains("available"), "{e}");
        }
        assert!(check_threads(4).is_ok());
        assert!(check_threads(100_000)
            .unwrap_err()
            .to_string()
            .contains("at most"));
    }
}
