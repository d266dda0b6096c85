//! `ials recommend`: top-k items per user, streamed as CSV in user order.
//!
//! Scores come from the blocked, parallel top-k kernel of [`ials::serve`]:
//! memory beyond the model is a few blocks of result lists, whatever the
//! number of users. `--history FILE` folds in the users of a history file
//! (new or known) by one exact row solve each, and ranks for them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use ials::data::read::read_id_list;
use ials::serve::recommend_history;
use ials::towers::{AttributeTower, Features, Tower};
use ials::{Factors, Filter, Model};

use crate::common;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// Recommend for every user of the model.
    #[arg(long, conflicts_with_all = ["users", "history", "user_features"])]
    all: bool,
    /// File of user ids, one per line.
    #[arg(long, conflicts_with_all = ["history", "user_features"])]
    users: Option<PathBuf>,
    /// Users described by features, CSV `user,feature[,value]` (a model
    /// fitted with `--user-features`): a user of the model keeps its
    /// factors; a new one is embedded from its features by the saved user
    /// tower (cold start, no refit). Unknown feature names are reported.
    #[arg(long, value_name = "FILE", conflicts_with = "history")]
    user_features: Option<PathBuf>,
    /// File of `user,item[,value]` rows: each user's whole history, whether or
    /// not the user was in training. Users are folded in (one exact solve
    /// against the item factors); unknown items are reported, not fatal.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Layout of the `--history` file.
    #[command(flatten)]
    history_format: common::InputFormat,
    /// Items per user.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Output CSV (`-`: standard output).
    #[arg(long)]
    output: PathBuf,
    /// Keep the user's training (or history) items (excluded by default).
    #[arg(long)]
    include_seen: bool,
    /// Item id lists (`--exclude FILE`, `--candidates FILE`).
    #[command(flatten)]
    lists: common::ListFilter,
    /// Rank by `score + β log P(i)`, P(i) the item's training frequency
    /// (add-one smoothed; 0: off). Not with --history or --user-features.
    #[arg(long, value_name = "BETA", allow_negative_numbers = true, conflicts_with_all = ["history", "user_features"])]
    popularity_prior: Option<f32>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No summary on standard error.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    if !a.all && a.users.is_none() && a.history.is_none() && a.user_features.is_none() {
        bail!("give --all, --users FILE, --history FILE or --user-features FILE");
    }
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let history_opts = a.history_format.read_options()?;
    common::check_output_parent(&a.output)?;
    common::init_threads(a.threads)?;
    let model = Model::load(&a.model)?;
    let model = match a.popularity_prior {
        Some(beta) => ials::serve::prior::with_popularity_prior(&model, beta)?,
        None => model,
    };
    let seen = Filter::new().exclude_seen(!a.include_seen);
    let filter = a.lists.apply(seen, model.items(), "item")?;
    if let Some(h) = &a.history {
        let recs = recommend_history(&model, h, &history_opts, a.k, &filter)?;
        if !recs.unknown_items.is_empty() {
            let lines: u64 = recs.unknown_items.iter().map(|(_, n)| n).sum();
            let shown: Vec<&str> = recs
                .unknown_items
                .iter()
                .take(5)
                .map(|(id, _)| id.as_str())
                .collect();
            eprintln!(
                "warning: {}: {} item ids the model does not know ({} lines skipped), e.g. {}",
                h.display(),
                recs.unknown_items.len(),
                lines,
                shown.join(", ")
            );
        }
        let empty = recs.users.iter().filter(|u| u.known_items == 0).count();
        if empty > 0 {
            eprintln!(
                "warning: {empty} users of {} have no known item and get no recommendations",
                h.display()
            );
        }
        return common::write_output(&a.output, |w| {
            w.write_all(b"user,item,rank,score\n")?;
            for u in &recs.users {
                common::write_ranked(w, &u.id, &u.recommendations, model.items())?;
            }
            Ok(())
        });
    }
    if let Some(path) = &a.user_features {
        return recommend_featured(&model, path, &a, &filter);
    }
    let started = std::time::Instant::now();
    let n = match &a.users {
        Some(p) => {
            let users = read_id_list(p, model.users(), "user")?;
            let x = model.user_factors().gather(&users);
            common::write_output(&a.output, |w| {
                w.write_all(b"user,item,rank,score\n")?;
                model.recommend_rows::<std::io::Error>(
                    &x,
                    |r| model.user_history(users[r] as usize).indices,
                    a.k,
                    &filter,
                    |r, list| {
                        common::write_ranked(w, model.users().id(users[r]), list, model.items())
                    },
                )
            })?;
            users.len()
        }
        None => {
            common::write_output(&a.output, |w| write_all(&model, a.k, &filter, w))?;
            model.n_users()
        }
    };
    if !a.quiet {
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "{n} users, top {} each in {s:.2}s ({:.0} users/s)",
            a.k,
            n as f64 / s.max(1e-9)
        );
    }
    Ok(())
}

/// Stream `user,item,rank,score` rows for every user of the model.
pub fn write_all(
    model: &Model,
    k: usize,
    filter: &Filter,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    w.write_all(b"user,item,rank,score\n")?;
    model.recommend_all::<std::io::Error>(k, filter, |u, list| {
        common::write_ranked(w, model.users().id(u as u32), list, model.items())
    })
}

/// `--user-features`: known users keep their factors, new ones are embedded
/// by the saved user tower; lists in the file's user order.
fn recommend_featured(
    model: &Model,
    path: &std::path::Path,
    a: &Args,
    filter: &Filter,
) -> Result<()> {
    let feats = Features::read_csv(path, "user")?;
    let tower = AttributeTower::load(&a.model, Tower::User)?;
    let k = model.user_factors().k();
    let entities = feats.entities();
    let mut rows: Vec<Vec<(&str, f32)>> = vec![Vec::new(); entities.len()];
    for &(e, f, v) in feats.triplets() {
        rows[e as usize].push((feats.names().id(f), v));
    }
    let mut x = Factors::zeros(entities.len(), k);
    let mut known = vec![None; entities.len()];
    let (mut new_users, mut unknown_names) = (0usize, 0usize);
    for (e, feats_e) in rows.iter().enumerate() {
        let id = entities.id(e as u32);
        if let Some(u) = model.users().get(id) {
            x.row_mut(e)
                .copy_from_slice(model.user_factors().row(u as usize));
            known[e] = Some(u);
            continue;
        }
        let Some(t) = &tower else {
            bail!(
                "{}: user {id:?} is not in the model, and the model has no user feature tower \
                 (fit it with --user-features to embed new users from their features)",
                path.display()
            );
        };
        let (v, unknown) = t.embed(feats_e);
        x.row_mut(e).copy_from_slice(&v);
        new_users += 1;
        unknown_names += unknown;
    }
    if unknown_names > 0 {
        eprintln!(
            "warning: {}: {unknown_names} feature values name features the user tower does not know (ignored)",
            path.display()
        );
    }
    if !a.quiet {
        eprintln!(
            "{} users: {} of the model, {new_users} embedded from their features",
            entities.len(),
            entities.len() - new_users
        );
    }
    common::write_output(&a.output, |w| {
        w.write_all(b"user,item,rank,score\n")?;
        model.recommend_rows::<std::io::Error>(
            &x,
            |e| match known[e] {
                Some(u) => model.user_history(u as usize).indices,
                None => &[],
            },
            a.k,
            filter,
            |e, list| common::write_ranked(w, entities.id(e as u32), list, model.items()),
        )
    })
}
