//! `ials split`: seeded train/test splits written as CSV (external ids).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ials::data::read::{read_interactions, ReadOptions};
use ials::eval::{leave_k_out, random_holdout, strong_generalization, StrongConfig};
use ials::Interactions;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Interactions (user,item[,value]) and their layout.
    #[command(flatten)]
    input: crate::common::Input,
    /// holdout (a fraction per user), leave-k-out, strong (held-out users), or
    /// liang2018 (Liang et al. 2018 filters, then validation and test users).
    #[arg(long, default_value = "holdout")]
    method: String,
    /// Output directory: train.csv, test.csv (strong: also fold_in.csv;
    /// liang2018: train, validation_fold_in, validation_eval, test_fold_in,
    /// test_eval .csv and liang2018.json).
    #[arg(long)]
    output: PathBuf,
    /// Fraction of each user's (holdout) or held-out user's (strong) items to test.
    #[arg(long, default_value_t = 0.2)]
    fraction: f64,
    /// Items per user for leave-k-out.
    #[arg(long, default_value_t = 1)]
    leave: usize,
    /// 1-based column of a timestamp for leave-k-out (the latest items go to
    /// test), counted as `ials fit --columns` counts (u.data: 4).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timestamp_column: Option<u64>,
    /// Held-out users (strong; liang2018: in each of validation and test).
    #[arg(long, default_value_t = 100)]
    heldout_users: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// liang2018: keep values strictly greater than this (ML-20M: 3.5).
    #[arg(long)]
    min_value: Option<f32>,
    /// liang2018: keep users with at least this many items.
    #[arg(long, default_value_t = 5)]
    min_user_items: usize,
    /// liang2018: keep items with at least this many users (applied first).
    #[arg(long, default_value_t = 0)]
    min_item_users: usize,
    /// Liang 2018 / Rendle 2022 preset, implies --method liang2018: ml-20m
    /// (input ml-20m/ratings.csv) or msd (input train_triplets.txt).
    #[arg(long, conflicts_with_all = ["method", "fraction", "heldout_users", "header", "min_value", "min_user_items", "min_item_users"])]
    preset: Option<String>,
}

fn write_csv(path: &Path, d: &Interactions) -> Result<()> {
    ials::io::write_atomic(path, |w| {
        for (u, i, v) in d.triplets() {
            writeln!(w, "{},{},{}", d.users().id(u), d.items().id(i), v)?;
        }
        Ok(())
    })?;
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    if a.preset.is_some() || a.method == "liang2018" {
        return run_liang(&a);
    }
    let opts = a.input.format.read_options()?;
    let data = read_interactions(&a.input.input, &opts)?;
    std::fs::create_dir_all(&a.output)?;
    let (train, test, fold) = match a.method.as_str() {
        "holdout" => {
            let (tr, te) = random_holdout(&data, a.fraction, a.seed)?;
            (tr, te, None)
        }
        "leave-k-out" => {
            let ts = match a.timestamp_column {
                Some(c) => Some(timestamps(&a.input.input, &opts, c as usize - 1, &data)?),
                None => None,
            };
            let (tr, te) = leave_k_out(&data, a.leave, ts.as_deref(), a.seed)?;
            (tr, te, None)
        }
        "strong" => {
            let s = strong_generalization(
                &data,
                &StrongConfig {
                    test_users: a.heldout_users,
                    validation_users: 0,
                    test_fraction: a.fraction,
                    seed: a.seed,
                },
            )?;
            (s.train, s.test.test, Some(s.test.fold_in))
        }
        other => {
            bail!("unknown method {other:?}; expected holdout, leave-k-out, strong, liang2018")
        }
    };
    write_csv(&a.output.join("train.csv"), &train)?;
    write_csv(&a.output.join("test.csv"), &test)?;
    if let Some(f) = &fold {
        write_csv(&a.output.join("fold_in.csv"), f)?;
    }
    println!(
        "{} (seed {}): {} train, {} test{} interactions in {}",
        a.method,
        a.seed,
        train.nnz(),
        test.nnz(),
        fold.map(|f| format!(", {} fold-in", f.nnz()))
            .unwrap_or_default(),
        a.output.display()
    );
    Ok(())
}

/// Liang et al. 2018 preprocessing and split: five CSV files and a JSON
/// summary (`liang2018.json`: settings and sizes).
fn run_liang(a: &Args) -> Result<()> {
    use ials::datasets::{liang2018, load, Format, LiangConfig};
    let (data, cfg) = match a.preset.as_deref() {
        Some(name) => {
            let cfg = LiangConfig::preset(name, a.seed)?;
            let format = if name == "ml-20m" {
                Format::MovieLensCsv
            } else {
                Format::MsdTaste
            };
            (load(format, &a.input.input, None)?, cfg)
        }
        None => {
            let opts = a.input.format.read_options()?;
            let cfg = LiangConfig {
                min_value: a.min_value,
                binarize: true,
                min_user_items: a.min_user_items,
                min_item_users: a.min_item_users,
                heldout_users: a.heldout_users,
                test_fraction: a.fraction,
                seed: a.seed,
            };
            (read_interactions(&a.input.input, &opts)?, cfg)
        }
    };
    let s = liang2018(&data, &cfg)?;
    let v = s
        .validation
        .as_ref()
        .expect("invariant: liang2018 returns a validation group");
    std::fs::create_dir_all(&a.output)?;
    let parts = [
        ("train", &s.train),
        ("validation_fold_in", &v.fold_in),
        ("validation_eval", &v.test),
        ("test_fold_in", &s.test.fold_in),
        ("test_eval", &s.test.test),
    ];
    let mut sizes = serde_json::Map::new();
    for (name, d) in parts {
        write_csv(&a.output.join(format!("{name}.csv")), d)?;
        sizes.insert(name.to_owned(), d.nnz().into());
    }
    let train_users = s.train.n_users() - v.users.len() - s.test.users.len();
    let summary = serde_json::json!({
        "protocol": "liang2018",
        "preset": a.preset,
        "config": cfg,
        "users": s.train.n_users(),
        "items": s.train.n_items(),
        "train_users": train_users,
        "validation_users": v.users.len(),
        "test_users": s.test.users.len(),
        "interactions": sizes,
    });
    ials::io::write_atomic(&a.output.join("liang2018.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        writeln!(w)
    })?;
    println!(
        "liang2018 (seed {}): {} users ({} train, {} validation, {} test), {} items; {} train, {} + {} validation, {} + {} test interactions (fold-in + eval) in {}",
        a.seed,
        s.train.n_users(),
        train_users,
        v.users.len(),
        s.test.users.len(),
        s.train.n_items(),
        s.train.nnz(),
        v.fold_in.nnz(),
        v.test.nnz(),
        s.test.fold_in.nnz(),
        s.test.test.nnz(),
        a.output.display()
    );
    Ok(())
}

/// Timestamps aligned with the user-major non-zeros (latest of duplicates).
fn timestamps(
    path: &Path,
    opts: &ReadOptions,
    col: usize,
    data: &Interactions,
) -> Result<Vec<i64>> {
    let mut t: Vec<(u32, u32, i64)> = Vec::new();
    ials::data::read::for_each_record(ials::data::read::open(path)?, path, opts, |r| {
        let ts = r
            .fields
            .get(col)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| ials::Error::Parse {
                path: path.to_path_buf(),
                line: r.line,
                message: format!("no numeric timestamp in column {col}"),
            })?;
        let (u, i) = (data.users().get(r.user), data.items().get(r.item));
        if let (Some(u), Some(i)) = (u, i) {
            t.push((u, i, ts as i64));
        }
        Ok(())
    })?;
    t.sort_unstable();
    let mut out = Vec::with_capacity(data.nnz());
    for (u, i, _) in data.triplets() {
        let hi = t.partition_point(|x| (x.0, x.1) <= (u, i));
        out.push(t[hi - 1].2);
    }
    Ok(out)
}
