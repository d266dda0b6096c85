//! Shared helpers of the subcommands: output files, CSV quoting, threads.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Set the size of rayon's global pool (`None`: one thread per core).
pub fn init_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        ials::resources::check_threads(t)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .with_context(|| format!("cannot start {t} threads"))?;
    }
    Ok(())
}

/// Write `out` with `write` through the one output writer,
/// [`ials::io::write_output`]: `-` and anything that is not a regular file
/// (FIFO, device, `/dev/stdout`) are streamed to; a regular file (or a
/// symlink's target) is replaced atomically and not created on failure.
pub fn write_output<F>(out: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    ials::io::write_output(out, write)?;
    Ok(())
}

/// Fail early, before any work, if `out`'s directory does not exist.
pub fn check_output_parent(out: &Path) -> Result<()> {
    if out == Path::new("-") {
        return Ok(());
    }
    if let Some(p) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !p.is_dir() {
            anyhow::bail!(
                "{}: cannot write: directory {} does not exist",
                out.display(),
                p.display()
            );
        }
    }
    Ok(())
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break.
pub fn csv_field(w: &mut dyn Write, s: &str) -> std::io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(w, "\"{}\"", s.replace('"', "\"\""))
    } else {
        w.write_all(s.as_bytes())
    }
}

/// `--delimiter`: one ASCII character, `tab` or `space`; `None`: detect.
pub fn parse_delimiter(s: Option<&str>) -> Result<Option<u8>> {
    s.map(delimiter_byte).transpose()
}

fn delimiter_byte(s: &str) -> Result<u8> {
    Ok(match s {
        "tab" | "\\t" | "\t" => b'\t',
        "space" | " " => ials::data::read::WHITESPACE,
        s if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
        _ => bail!("invalid --delimiter {s:?}: give one ASCII character, `tab` or `space`"),
    })
}

/// CSV rows `query,target,rank,score` of one ranked list (rank 1 = best),
/// target indices named by `targets`.
pub fn write_ranked(
    w: &mut dyn Write,
    query: &str,
    list: &[(u32, f32)],
    targets: &ials::IdMap,
) -> std::io::Result<()> {
    for (rank, &(t, s)) in list.iter().enumerate() {
        csv_field(w, query)?;
        w.write_all(b",")?;
        csv_field(w, targets.id(t))?;
        writeln!(w, ",{},{}", rank + 1, s)?;
    }
    Ok(())
}

/// How an interactions file is laid out: the flags every command that reads
/// one shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InputFormat {
    /// Field delimiter: one character, or `tab` / `space` (default: detected).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The file's first line is a header (skipped).
    #[arg(long)]
    pub header: bool,
}

impl InputFormat {
    /// The reader's options (default columns `user,item[,value]`).
    pub fn read_options(&self) -> Result<ials::data::read::ReadOptions> {
        Ok(ials::data::read::ReadOptions {
            delimiter: parse_delimiter(self.delimiter.as_deref())?,
            header: self.header,
            ..Default::default()
        })
    }
}

/// The interactions file of a command and its layout.
#[derive(clap::Args, Debug, Clone)]
pub struct Input {
    /// Interactions: CSV or TSV with columns user,item[,value] (`-`: stdin).
    #[arg(long)]
    pub input: std::path::PathBuf,
    #[command(flatten)]
    pub format: InputFormat,
}

/// Early stopping on a validation file (`ials fit`, `ials twotower`).
#[derive(clap::Args, Debug, Clone)]
pub struct ValidationArgs {
    /// Validation pairs (same format as --input, users and items of the
    /// input): evaluate --metric after each iteration (an epoch of
    /// `twotower`), stop after --patience of them without improvement, keep
    /// the best one.
    #[arg(long, value_name = "FILE")]
    pub validation: Option<std::path::PathBuf>,
    /// Iterations (epochs) without improvement before early stopping.
    #[arg(long, default_value_t = 3, requires = "validation")]
    pub patience: usize,
    /// Validation metric: recall@K, ndcg@K, precision@K, map@K, mrr@K, hr@K, auc.
    #[arg(long, default_value = "recall@20", requires = "validation")]
    pub metric: ials::eval::Metric,
}

/// The fit parameters; every default is the library's
/// ([`ials::params::defaults`]), written once there.
#[derive(clap::Args, Debug, Clone)]
pub struct ParamArgs {
    /// Latent factors.
    #[arg(long, default_value_t = defaults::FACTORS)]
    factors: usize,
    /// Full sweeps.
    #[arg(long, default_value_t = defaults::ITERATIONS)]
    iterations: usize,
    /// Regularization λ.
    #[arg(long, default_value_t = defaults::REGULARIZATION, allow_negative_numbers = true)]
    regularization: f32,
    /// Confidence scale α.
    #[arg(long, default_value_t = defaults::ALPHA, allow_negative_numbers = true)]
    alpha: f32,
    /// Confidence: linear (1 + αr), log (1 + α ln(1 + r/ε)), as-given (αr).
    #[arg(long, default_value_t = defaults::CONFIDENCE)]
    confidence: ials::ConfidenceKind,
    /// ε of the log confidence.
    #[arg(long, default_value_t = defaults::EPSILON, allow_negative_numbers = true)]
    epsilon: f32,
    /// Target of observed pairs: one or reciprocal (1/c).
    #[arg(long, default_value_t = defaults::TARGET)]
    target: ials::Target,
    /// Weight α0 of each unobserved pair.
    #[arg(long, default_value_t = defaults::UNOBSERVED_WEIGHT, allow_negative_numbers = true)]
    unobserved_weight: f32,
    /// Frequency exponent ν of the regularization.
    #[arg(long, default_value_t = defaults::REG_EXPONENT, allow_negative_numbers = true)]
    reg_exponent: f32,
    /// Count only observed pairs in the frequency of λ_u (Spark's ALS-WR).
    #[arg(long)]
    no_reg_unobserved: bool,
    /// Do not compute the loss after each iteration (a quarter to a third of
    /// a CG iteration on the 14.66M set; the same factors, no loss shown).
    #[arg(long)]
    no_loss: bool,
    /// Row solver: cholesky, cg or block.
    #[arg(long, default_value_t = defaults::SOLVER)]
    solver: ials::SolverKind,
    /// Conjugate-gradient steps.
    #[arg(long, default_value_t = defaults::CG_STEPS)]
    cg_steps: usize,
    /// iALS++ block size (default min(factors, 32)).
    #[arg(long)]
    block_size: Option<usize>,
    /// How the factors start: uniform on [0, init-std) (benfred/implicit's
    /// start; the default) or normal N(0, init-std²).
    #[arg(long, default_value = "uniform")]
    init: ials::Init,
    /// Scale of the start: the upper end of uniform (default 0.01), the
    /// standard deviation of normal (default 0.1/√factors).
    #[arg(long, allow_negative_numbers = true)]
    init_std: Option<f32>,
    /// Seed of the initialization.
    #[arg(long, default_value_t = defaults::SEED)]
    seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

use ials::params::defaults;

impl ParamArgs {
    /// The checked params.
    pub fn check(&self) -> ials::Result<ials::Params> {
        let mut b = ials::Params::builder()
            .factors(self.factors)
            .iterations(self.iterations)
            .regularization(self.regularization)
            .alpha(self.alpha)
            .confidence(self.confidence)
            .epsilon(self.epsilon)
            .target(self.target)
            .unobserved_weight(self.unobserved_weight)
            .reg_exponent(self.reg_exponent)
            .reg_include_unobserved(!self.no_reg_unobserved)
            .track_loss(!self.no_loss)
            .solver(self.solver)
            .cg_steps(self.cg_steps)
            .init(self.init)
            .seed(self.seed);
        if let Some(bs) = self.block_size {
            b = b.block_size(bs);
        }
        if let Some(s) = self.init_std {
            b = b.init_std(s);
        }
        if let Some(t) = self.threads {
            b = b.threads(t);
        }
        b.check()
    }
}

/// `--exclude FILE` / `--candidates FILE`: id lists that restrict a ranked
/// list.
#[derive(clap::Args, Debug, Clone)]
pub struct ListFilter {
    /// File of ids never to return, one per line.
    #[arg(long)]
    pub exclude: Option<std::path::PathBuf>,
    /// File of ids to return from, one per line.
    #[arg(long)]
    pub candidates: Option<std::path::PathBuf>,
}

impl ListFilter {
    /// `filter` restricted by the lists (ids of `ids`, named `kind`).
    pub fn apply(
        &self,
        mut filter: ials::Filter,
        ids: &ials::IdMap,
        kind: &'static str,
    ) -> Result<ials::Filter> {
        use ials::data::read::read_id_list;
        if let Some(p) = &self.exclude {
            filter = filter.exclude(read_id_list(p, ids, kind)?);
        }
        if let Some(p) = &self.candidates {
            filter = filter.candidates(read_id_list(p, ids, kind)?);
        }
        Ok(filter)
    }
}

/// The index of external id `id` of `kind`, or a typed error naming it.
pub fn lookup(ids: &ials::IdMap, id: &str, kind: &'static str) -> ials::Result<usize> {
    ids.get(id)
        .map(|i| i as usize)
        .ok_or_else(|| ials::Error::UnknownId {
            kind,
            id: id.to_owned(),
        })
}

/// One line per iteration: the header of the loss table.
pub fn print_loss_header() {
    println!(
        "{:>5} {:>16} {:>16} {:>16} {:>16} {:>9}",
        "iter", "loss", "observed", "unobserved", "regularization", "seconds"
    );
}

/// One row of the loss table.
pub fn print_loss_row(r: &ials::IterationReport) {
    println!(
        "{:>5} {:>16.6e} {:>16.6e} {:>16.6e} {:>16.6e} {:>9.3}",
        r.iteration,
        r.loss_or_nan().total(),
        r.loss_or_nan().observed,
        r.loss_or_nan().unobserved,
        r.loss_or_nan().regularization,
        r.seconds
    );
}

/// A validation file (`--validation`) indexed like `data`: pairs naming users
/// or items not in the input are dropped (with a note unless `quiet`); none
/// left is an error naming the file.
pub fn read_validation(
    path: &std::path::Path,
    opts: &ials::data::read::ReadOptions,
    data: &ials::Interactions,
    quiet: bool,
) -> anyhow::Result<ials::Interactions> {
    let mut users = data.users().clone();
    let (triplets, dropped) =
        ials::eval::io::read_aligned(path, opts, &mut users, data.items(), false)?;
    if dropped > 0 && !quiet {
        eprintln!(
            "note: {}: {dropped} lines name users or items not in the input and are ignored",
            path.display()
        );
    }
    ials::eval::io::assemble(data.users(), data.items(), triplets).map_err(|e| match e {
        ials::Error::EmptyMatrix => anyhow::anyhow!(
            "{}: no validation pair names a user and an item of the input",
            path.display()
        ),
        e => e.into(),
    })
}
