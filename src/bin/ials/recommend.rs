//! `ials recommend`: top-k items per user, streamed as CSV in user order.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use ials::filter::read_id_list;
use ials::{Filter, Model};
use rayon::prelude::*;

use crate::common;

/// Users scored at once: memory is bounded by one chunk of result lists.
pub const CHUNK: usize = 4096;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// Recommend for every user of the model.
    #[arg(long, conflicts_with = "users")]
    all: bool,
    /// File of user ids, one per line.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Items per user.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Output CSV (`-`: standard output).
    #[arg(long)]
    output: PathBuf,
    /// Keep the user's training items (excluded by default).
    #[arg(long)]
    include_seen: bool,
    /// File of item ids never to recommend, one per line.
    #[arg(long)]
    exclude: Option<PathBuf>,
    /// File of item ids to recommend from, one per line.
    #[arg(long)]
    candidates: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Top-k lists of `users`, in order. Brute force for now; a blocked
/// kernel can replace this function without touching the output path.
pub fn recommend_chunk(
    model: &Model,
    users: &[u32],
    k: usize,
    filter: &Filter,
) -> Vec<Vec<(u32, f32)>> {
    users
        .par_iter()
        .map(|&u| model.recommend_filtered(u as usize, k, filter))
        .collect()
}

pub fn run(a: Args) -> Result<()> {
    if !a.all && a.users.is_none() {
        bail!("give --all or --users FILE");
    }
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;
    let model = Model::load(&a.model)?;
    let users: Vec<u32> = match &a.users {
        Some(p) => read_id_list(p, model.users(), "user")?,
        None => (0..model.n_users() as u32).collect(),
    };
    let mut filter = Filter::new(!a.include_seen);
    if let Some(p) = &a.exclude {
        filter = filter.with_exclude(read_id_list(p, model.items(), "item")?);
    }
    if let Some(p) = &a.candidates {
        filter = filter.with_candidates(read_id_list(p, model.items(), "item")?);
    }
    common::write_output(&a.output, |w| write_all(&model, &users, a.k, &filter, w))
}

/// Stream `user,item,rank,score` rows for `users`, chunk after chunk.
pub fn write_all(
    model: &Model,
    users: &[u32],
    k: usize,
    filter: &Filter,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    w.write_all(b"user,item,rank,score\n")?;
    for chunk in users.chunks(CHUNK) {
        let lists = recommend_chunk(model, chunk, k, filter);
        for (&u, list) in chunk.iter().zip(&lists) {
            let uid = model.users().id(u);
            for (rank, &(i, s)) in list.iter().enumerate() {
                common::csv_field(w, uid)?;
                w.write_all(b",")?;
                common::csv_field(w, model.items().id(i))?;
                writeln!(w, ",{},{}", rank + 1, s)?;
            }
        }
    }
    Ok(())
}
