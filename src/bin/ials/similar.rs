//! `ials similar`: the k most similar items (cosine of item factors).

use std::path::PathBuf;

use anyhow::{bail, Result};
use ials::filter::read_id_list;
use ials::Model;
use rayon::prelude::*;

use crate::common;
use crate::recommend::CHUNK;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// File of item ids, one per line.
    #[arg(long)]
    items: Option<PathBuf>,
    /// Every item of the model.
    #[arg(long, conflicts_with = "items")]
    all_items: bool,
    /// Similar items per item.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Output CSV `item,similar,rank,score` (`-`: standard output).
    #[arg(long)]
    output: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    if !a.all_items && a.items.is_none() {
        bail!("give --all-items or --items FILE");
    }
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;
    let model = Model::load(&a.model)?;
    let items: Vec<u32> = match &a.items {
        Some(p) => read_id_list(p, model.items(), "item")?,
        None => (0..model.n_items() as u32).collect(),
    };
    common::write_output(&a.output, |w| {
        w.write_all(b"item,similar,rank,score\n")?;
        for chunk in items.chunks(CHUNK) {
            let lists: Vec<Vec<(u32, f32)>> = chunk
                .par_iter()
                .map(|&i| model.similar_items(i as usize, a.k))
                .collect();
            for (&i, list) in chunk.iter().zip(&lists) {
                for (rank, &(j, s)) in list.iter().enumerate() {
                    common::csv_field(w, model.items().id(i))?;
                    w.write_all(b",")?;
                    common::csv_field(w, model.items().id(j))?;
                    writeln!(w, ",{},{}", rank + 1, s)?;
                }
            }
        }
        Ok(())
    })
}
