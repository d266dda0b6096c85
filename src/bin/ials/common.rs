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
