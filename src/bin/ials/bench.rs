//! `ials bench`: time the sweeps on a seeded synthetic set (or a
//! `user,item,count` CSV with integer ids) and print one JSON object with
//! seconds per iteration, the loss, effective GFLOP/s of the row solves and
//! the peak resident memory.
//!
//! GFLOP/s count the flops of the normal equations for every non-zero (a
//! multiply-add is two flops), whatever the solver skips:
//! - cholesky: `|S| (k² + 3k) + (m + n)(k³/3 + 2k²)` a half-sweep pair;
//! - cg with `s` steps: `|S| (4k (s + 1) + 2k) + (m + n)(s + 1) 2k²`;
//! - block of size `b`: `|S| (k (b + 1) + 8k) + (m + n)(k b²/3 + 2kb + 4k²)`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ials::{ConfidenceKind, Factors, Interactions, Params, Solver, SolverKind, SynthConfig};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read `user,item,count` lines (0-based integer ids, no header) instead
    /// of generating data.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Users of the generated set.
    #[arg(long, default_value_t = 138_000)]
    users: usize,
    /// Items of the generated set.
    #[arg(long, default_value_t = 27_000)]
    items: usize,
    /// Draws of the generated set (20M draws give about 14.66M interactions).
    #[arg(long, default_value_t = 20_000_000)]
    draws: usize,
    /// Seed of the generated data and of the initialization.
    #[arg(long, default_value_t = 11)]
    seed: u64,
    /// Latent factors.
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// Row solver: cholesky, cg or block.
    #[arg(long, default_value = "cg")]
    solver: SolverKind,
    /// Iterations timed.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// CG steps.
    #[arg(long, default_value_t = 3)]
    cg_steps: usize,
    /// iALS++ block size (default min(k, 32)).
    #[arg(long)]
    block_size: Option<usize>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Regularization λ (constant).
    #[arg(long, default_value_t = 0.05)]
    regularization: f32,
    /// Confidence scale α.
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
    /// Confidence: as-given (c = α r, implicit's), linear or log.
    #[arg(long, default_value = "as-given")]
    confidence: ConfidenceKind,
    /// Weight α0 of the unobserved pairs.
    #[arg(long, default_value_t = 1.0)]
    unobserved_weight: f32,
    /// Scale of the initialization (the library's default start and scale:
    /// uniform on `[0, 0.01)`).
    #[arg(long)]
    init_std: Option<f32>,
    /// Initialize both sides uniformly in `[0, s)` (implicit initializes with
    /// s = 0.01): `--init uniform --init-std s` of `ials fit`.
    #[arg(long)]
    init_uniform: Option<f32>,
    /// Skip the loss after each iteration (`ials fit --no-loss`).
    #[arg(long)]
    no_loss: bool,
    /// Also report our loss of factors saved by `implicit_run.py` (a
    /// directory with U.npy and V.npy, float32), on the same data and objective.
    #[arg(long)]
    eval_factors: Option<PathBuf>,
}

/// Read `user,item,count` lines; ids are 0-based integers.
fn read_csv(path: &Path) -> Result<Interactions> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(64);
    let mut triplets: Vec<(u32, u32, f32)> = Vec::new();
    let (mut m, mut n) = (0usize, 0usize);
    let mut no = 0usize;
    loop {
        line.clear();
        let got = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("{}: read error after line {no}", path.display()))?;
        if got == 0 {
            break;
        }
        no += 1;
        let text = std::str::from_utf8(&line)
            .with_context(|| format!("{}: line {no}: not UTF-8", path.display()))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let mut fields = text.split(',');
        let (Some(u), Some(i), Some(v)) = (fields.next(), fields.next(), fields.next()) else {
            bail!("{}: line {no}: expected user,item,count", path.display());
        };
        let u: u32 = u
            .trim()
            .parse()
            .with_context(|| format!("{}: line {no}: bad user id {u:?}", path.display()))?;
        let i: u32 = i
            .trim()
            .parse()
            .with_context(|| format!("{}: line {no}: bad item id {i:?}", path.display()))?;
        let v: f32 = v
            .trim()
            .parse()
            .with_context(|| format!("{}: line {no}: bad count {v:?}", path.display()))?;
        if !(v.is_finite() && v >= 0.0) {
            bail!(
                "{}: line {no}: count {v} is not finite and >= 0",
                path.display()
            );
        }
        m = m.max(u as usize + 1);
        n = n.max(i as usize + 1);
        triplets.push((u, i, v));
    }
    Interactions::from_indexed(m, n, triplets)
        .with_context(|| format!("{}: building the matrix", path.display()))
}

/// A float32 `.npy` matrix as factors (the checked reader of model files).
fn read_npy(path: &Path) -> Result<Factors> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let (rows, k, data) = ials::io::npy::read_f32(BufReader::new(file), path)?;
    Factors::from_vec(rows, k, data).context("invariant: rows x k values")
}

/// Peak resident set size of this process in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU seconds (user + system) used by this process so far (Linux), if known.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Clock of the first CPU in GHz (Linux), if known.
fn cpu_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    let mhz: f64 = line.split(':').nth(1)?.trim().parse().ok()?;
    Some(mhz / 1000.0)
}

/// Nominal flops of one iteration (both half-sweeps); see the module docs.
pub fn flops_per_iteration(solver: Solver, nnz: usize, rows: usize, k: usize) -> f64 {
    let (s, r, k) = (nnz as f64, rows as f64, k as f64);
    match solver {
        Solver::Cholesky => s * (k * k + 3.0 * k) + r * (k * k * k / 3.0 + 2.0 * k * k),
        Solver::Cg { steps } => {
            let st = steps as f64 + 1.0;
            s * (4.0 * k * st + 2.0 * k) + r * st * 2.0 * k * k
        }
        Solver::Block { size } => {
            let b = size as f64;
            s * (k * (b + 1.0) + 8.0 * k) + r * (k * b * b / 3.0 + 2.0 * k * b + 4.0 * k * k)
        }
    }
}

/// The checked params of a bench run (its own defaults: implicit's
/// objective, 2 threads, seed 11).
fn bench_params(a: &Args) -> Result<Params> {
    let mut builder = Params::builder()
        .factors(a.factors)
        .iterations(a.iterations)
        .regularization(a.regularization)
        .alpha(a.alpha)
        .confidence(a.confidence)
        .unobserved_weight(a.unobserved_weight)
        .solver(a.solver)
        .cg_steps(a.cg_steps)
        .threads(a.threads)
        .track_loss(!a.no_loss)
        .seed(a.seed);
    if let Some(b) = a.block_size {
        builder = builder.block_size(b);
    }
    if let Some(s) = a.init_std {
        builder = builder.init_std(s);
    }
    if let Some(s) = a.init_uniform {
        builder = builder.init(ials::Init::Uniform).init_std(s);
    }
    Ok(builder.check()?)
}

/// Our loss of the factors another system saved in `dir` (U.npy, V.npy),
/// on the same data and objective.
fn their_loss(dir: &Path, params: &Params, data: &Interactions) -> Result<f64> {
    let x = read_npy(&dir.join("U.npy"))?;
    let y = read_npy(&dir.join("V.npy"))?;
    if x.rows() != data.n_users() || y.rows() != data.n_items() || x.k() != y.k() {
        bail!(
            "{}: factors are {}x{} and {}x{}, data is {}x{}",
            dir.display(),
            x.rows(),
            x.k(),
            y.rows(),
            y.k(),
            data.n_users(),
            data.n_items()
        );
    }
    let eval_params = params.to_builder().factors(x.k()).check()?;
    Ok(ials::train::loss(&eval_params, data, &x, &y).total())
}

pub fn run(a: Args) -> Result<()> {
    let t = Instant::now();
    let (data, source) = match &a.csv {
        Some(path) => (read_csv(path)?, path.display().to_string()),
        None => (
            SynthConfig::new(a.users, a.items, a.draws, a.seed).interactions()?,
            format!(
                "synth users={} items={} draws={} seed={}",
                a.users, a.items, a.draws, a.seed
            ),
        ),
    };
    let load_s = t.elapsed().as_secs_f64();
    let params = bench_params(&a)?;
    let cpu0 = cpu_seconds();
    let (x0, y0) = ials::train::initial_factors_for(&params, data.users(), data.items());
    let model = params.fit_from(&data, x0, y0, |p| {
        let r = p.report;
        eprintln!(
            "iter {:>3}  {:.3}s  loss {:.6e}",
            r.iteration,
            r.seconds,
            r.loss_or_nan().total()
        );
        ControlFlow::Continue(())
    })?;
    let cpu_fit = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let hist = model.loss_history();
    let secs: Vec<f64> = hist.iter().map(|r| r.seconds).collect();
    let per_iter = secs.iter().sum::<f64>() / secs.len().max(1) as f64;
    let best = secs.iter().cloned().fold(f64::INFINITY, f64::min);
    let block = a
        .block_size
        .unwrap_or(a.factors.min(ials::params::defaults::MAX_BLOCK_SIZE));
    let rows = data.n_users() + data.n_items();
    let flops = flops_per_iteration(params.solver(), data.nnz(), rows, a.factors);
    let peak = cpu_ghz().map(|g| g * a.threads as f64 * 32.0);
    let mut out = json!({
        "system": "ials",
        "source": source,
        "simd": ials::internals::linalg::simd().to_string(),
        "threads": a.threads,
        "users": data.n_users(),
        "items": data.n_items(),
        "nnz": data.nnz(),
        "factors": a.factors,
        "solver": a.solver.to_string(),
        "cg_steps": a.cg_steps,
        "block_size": block,
        "confidence": a.confidence.to_string(),
        "alpha": a.alpha,
        "init": match params.init() {
            ials::Init::Uniform => format!("uniform[0,{})", params.init_std()),
            ials::Init::Normal => format!("normal(0,{})", params.init_std()),
        },
        "regularization": a.regularization,
        "unobserved_weight": a.unobserved_weight,
        "load_s": load_s,
        "per_iter_s": per_iter,
        "best_iter_s": best,
        "iter_s": secs,
        "loss": hist.iter().map(|r| r.loss_or_nan().total()).collect::<Vec<_>>(),
        "gflop_per_iter": flops / 1e9,
        "gflops": flops / per_iter / 1e9,
        "peak_gflops_2x256bit_fma": peak,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_s_per_iter_incl_loss": cpu_fit.map(|c| c / hist.len().max(1) as f64),
    });
    if let Some(dir) = &a.eval_factors {
        let theirs = their_loss(dir, &params, &data)?;
        let ours = hist
            .last()
            .map(|r| r.loss_or_nan().total())
            .unwrap_or(f64::NAN);
        out["their_loss"] = json!(theirs);
        out["loss_ratio_ours_over_theirs"] = json!(ours / theirs);
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
