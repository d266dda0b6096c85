//! `ials similar`: the k most similar items (or users) by the cosine of their
//! factors, with the blocked top-k kernel of [`ials::serve`], streamed as CSV.

use std::path::PathBuf;

use anyhow::{bail, Result};
use ials::data::read::read_id_list;
use ials::serve::topk::top_k_all;
use ials::{Filter, Model, Side};

use crate::common;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// File of item ids, one per line.
    #[arg(long, conflicts_with_all = ["all_items", "users", "all_users"])]
    items: Option<PathBuf>,
    /// Every item of the model.
    #[arg(long, conflicts_with_all = ["users", "all_users"])]
    all_items: bool,
    /// File of user ids, one per line (similar users).
    #[arg(long, conflicts_with = "all_users")]
    users: Option<PathBuf>,
    /// Every user of the model (similar users).
    #[arg(long)]
    all_users: bool,
    /// Similar rows per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Output CSV `item,similar,rank,score` (or `user,similar,…`; `-`:
    /// standard output).
    #[arg(long)]
    output: PathBuf,
    /// Id lists (`--exclude FILE`, `--candidates FILE`).
    #[command(flatten)]
    lists: common::ListFilter,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    let (side, list, all) = if a.items.is_some() || a.all_items {
        (Side::Item, &a.items, a.all_items)
    } else if a.users.is_some() || a.all_users {
        (Side::User, &a.users, a.all_users)
    } else {
        bail!("give --all-items, --items FILE, --all-users or --users FILE");
    };
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;
    let model = Model::load(&a.model)?;
    let kind = side.name();
    let ids = model.ids(side);
    // Unit-norm rows (cosine), cached by the model.
    let nf = model.unit_factors(side);
    let filter = a.lists.apply(Filter::new(), ids, kind)?;
    let allowed = filter.allowed_targets(nf.rows(), kind)?;
    let queries: Vec<u32> = match list {
        Some(p) if !all => read_id_list(p, ids, kind)?,
        _ => (0..nf.rows() as u32).collect(),
    };
    let q = nf.gather(&queries);
    common::write_output(&a.output, |w| {
        writeln!(w, "{kind},similar,rank,score")?;
        top_k_all::<_, _, std::io::Error>(
            &q,
            nf,
            allowed,
            a.k,
            |r, j| j == queries[r],
            |r, list| common::write_ranked(w, ids.id(queries[r]), list, ids),
        )
    })
}
