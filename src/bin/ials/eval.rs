//! `ials eval`: score baselines, an iALS fit, or anyone's embeddings on one
//! train/test split with the same code path.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ials::data::read::read_interactions;
use ials::eval::io::{assemble, read_aligned};
use ials::eval::*;
use ials::io::npy::load_f32;
use ials::{Factors, IdMap, Interactions, Params};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training interactions (user,item[,value]).
    #[arg(long)]
    train: PathBuf,
    /// Test interactions; lines with users or items unknown to training are dropped.
    #[arg(long)]
    test: PathBuf,
    /// Fold-in part of held-out users (strong generalization): their
    /// history, excluded from the ranking; iALS folds each one in.
    #[arg(long)]
    fold_in: Option<PathBuf>,
    /// Comma-separated: popularity, item-knn, ease, ials.
    #[arg(long, value_delimiter = ',')]
    baseline: Vec<String>,
    /// JSON file with iALS `Params` for `--baseline ials` (default params otherwise).
    #[arg(long)]
    params: Option<PathBuf>,
    /// External user factors (.npy, rows in the order of --users).
    #[arg(long, requires_all = ["item_factors", "users", "items"])]
    user_factors: Option<PathBuf>,
    /// External item factors (.npy, rows in the order of --items).
    #[arg(long)]
    item_factors: Option<PathBuf>,
    /// User ids, one a line, of the rows of --user-factors.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Item ids, one a line, of the rows of --item-factors.
    #[arg(long)]
    items: Option<PathBuf>,
    /// A saved model directory (`ials fit`/`ials tune --output`), scored
    /// like external embeddings: its factors aligned by id to --train.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Cut-off K, or several separated by commas (`20,50,100`): one table
    /// (or JSON row) per K, each model fitted once.
    #[arg(long, default_value = "20", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    k: Vec<u64>,
    /// Keep only interactions with value >= this, as 1 (e.g. 4 for ratings >= 4).
    #[arg(long)]
    min_value: Option<f32>,
    /// Layout of every input file.
    #[command(flatten)]
    format: crate::common::InputFormat,
    /// EASE regularization λ.
    #[arg(long, default_value_t = 200.0)]
    ease_lambda: f64,
    /// EASE item limit.
    #[arg(long, default_value_t = EASE_MAX_ITEMS)]
    ease_max_items: usize,
    /// Item-kNN neighbours per item.
    #[arg(long, default_value_t = 100)]
    neighbors: usize,
    /// Rank by `score + β log P(i)` (P(i) the item's frequency in --train,
    /// add-one smoothed; 0: off) for --model, external factors and the ials
    /// baseline.
    #[arg(
        long,
        value_name = "BETA",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    popularity_prior: f32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn ids(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let text = ials::data::read::strip_bom(&text);
    Ok(text.lines().map(|l| l.trim().to_owned()).collect())
}

fn binarize(t: &mut Vec<(u32, u32, f32)>, min: Option<f32>) {
    if let Some(m) = min {
        t.retain(|x| x.2 >= m);
        t.iter_mut().for_each(|x| x.2 = 1.0);
    }
}

/// The training, test and fold-in parts, read and indexed like the training
/// data (values binarized at `--min-value`).
struct EvalData {
    users: IdMap,
    items: IdMap,
    train: Interactions,
    test: Interactions,
    fold: Option<Interactions>,
}

fn read_eval_data(a: &Args) -> Result<EvalData> {
    let opts = a.format.read_options()?;
    let train0 = read_interactions(&a.train, &opts)?;
    let mut users = train0.users().clone();
    let items = train0.items().clone();
    let mut train_t: Vec<_> = train0.triplets().collect();
    binarize(&mut train_t, a.min_value);
    let fold_t = match &a.fold_in {
        Some(p) => {
            let (mut t, d) = read_aligned(p, &opts, &mut users, &items, true)?;
            binarize(&mut t, a.min_value);
            if d > 0 {
                eprintln!(
                    "{}: dropped {d} lines with items unknown to training",
                    p.display()
                );
            }
            Some(t)
        }
        None => None,
    };
    let (mut test_t, dropped) = read_aligned(&a.test, &opts, &mut users, &items, false)?;
    binarize(&mut test_t, a.min_value);
    if dropped > 0 {
        eprintln!(
            "{}: dropped {dropped} lines with users or items unknown to training",
            a.test.display()
        );
    }
    let train = assemble(&users, &items, train_t)?;
    let test = assemble(&users, &items, test_t)?;
    let fold = fold_t.map(|t| assemble(&users, &items, t)).transpose()?;
    Ok(EvalData {
        users,
        items,
        train,
        test,
        fold,
    })
}

pub fn run(a: Args) -> Result<()> {
    let EvalData {
        users,
        items,
        train,
        test,
        fold,
    } = read_eval_data(&a)?;
    let beta = ials::serve::prior::check_beta(a.popularity_prior)?;
    let log_prior =
        ials::serve::prior::log_popularity(&ials::serve::prior::item_counts(train.by_user()));
    let prior =
        |x: &Factors, y: &Factors| ials::serve::prior::with_prior_column(x, y, &log_prior, beta);
    let history = fold.as_ref().unwrap_or(&train);
    let mut ks: Vec<usize> = a.k.iter().map(|&k| k as usize).collect();
    ks.sort_unstable();
    ks.dedup();
    let evs: Vec<Evaluator<'_>> = ks
        .iter()
        .map(|&k| {
            Evaluator::new(history, &test)?
                .k(k)
                .with_auc(true)
                .popularity_from(&train)
        })
        .collect::<ials::Result<_>>()?;
    let all =
        |s: &dyn Scorer| -> Vec<RankingMetrics> { evs.iter().map(|ev| ev.evaluate(s)).collect() };
    let mut rows: Vec<(String, Vec<RankingMetrics>)> = Vec::new();
    for b in &a.baseline {
        let m = match b.as_str() {
            "popularity" => all(&Popularity::fit(&train)),
            "item-knn" => all(&ItemKnn::fit(&train, a.neighbors)),
            "ease" => all(&Ease::fit(&train, a.ease_lambda, a.ease_max_items)?),
            "ials" => {
                let params: Params = match &a.params {
                    Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)
                        .with_context(|| p.display().to_string())?,
                    None => Params::default(),
                };
                params.validate()?;
                let model = params.fit(&train)?;
                if fold.is_some() {
                    all(&FoldInScorer::new(model.params(), model.item_factors()))
                } else if beta != 0.0 {
                    let (x, y) = prior(model.user_factors(), model.item_factors());
                    all(&FactorScorer::new(&x, &y))
                } else {
                    all(&FactorScorer::new(
                        model.user_factors(),
                        model.item_factors(),
                    ))
                }
            }
            other => bail!("unknown baseline {other:?}; expected popularity, item-knn, ease, ials"),
        };
        rows.push((b.clone(), m));
    }
    if let Some(dir) = &a.model {
        let model = ials::Model::load(dir).with_context(|| dir.display().to_string())?;
        let (x, y) = (model.user_factors(), model.item_factors());
        let m = Embeddings {
            k: x.k(),
            uids: model.users().ids().to_vec(),
            udata: x.as_slice().to_vec(),
            iids: model.items().ids().to_vec(),
            idata: y.as_slice().to_vec(),
            what: dir.display().to_string(),
        }
        .evaluate(&evs, &users, &items, &test, &prior, beta)?;
        rows.push(("model".into(), m));
    }
    if let (Some(uf), Some(itf), Some(up), Some(ip)) =
        (&a.user_factors, &a.item_factors, &a.users, &a.items)
    {
        let (ur, uk, udata) = load_f32(uf)?;
        ials::io::npy::check_finite(uf, uk, &udata)?;
        let (ir, ik, idata) = load_f32(itf)?;
        ials::io::npy::check_finite(itf, ik, &idata)?;
        let (uids, iids) = (ids(up)?, ids(ip)?);
        if uk != ik || ur != uids.len() || ir != iids.len() {
            bail!(
                "embeddings are {ur}x{uk} and {ir}x{ik} for {} user ids and {} item ids",
                uids.len(),
                iids.len()
            );
        }
        let m = Embeddings {
            k: uk,
            uids,
            udata,
            iids,
            idata,
            what: format!("{} / {}", up.display(), ip.display()),
        }
        .evaluate(&evs, &users, &items, &test, &prior, beta)?;
        rows.push(("external".into(), m));
    }
    if rows.is_empty() {
        bail!("nothing to evaluate: give --baseline, --model and/or --user-factors/--item-factors/--users/--items");
    }
    print_rows(a.json, &ks, &rows)?;
    Ok(())
}

/// Embeddings with their ids (a saved model's or external .npy files),
/// aligned by id to the training ids and scored by [`FactorScorer`].
struct Embeddings {
    k: usize,
    uids: Vec<String>,
    udata: Vec<f32>,
    iids: Vec<String>,
    idata: Vec<f32>,
    what: String,
}

impl Embeddings {
    fn evaluate(
        &self,
        evs: &[Evaluator<'_>],
        users: &ials::IdMap,
        items: &ials::IdMap,
        test: &ials::Interactions,
        prior: &dyn Fn(&Factors, &Factors) -> (Factors, Factors),
        beta: f32,
    ) -> Result<Vec<RankingMetrics>> {
        let k = self.k;
        let mut x = Factors::zeros(users.len(), k);
        let mut y = Factors::zeros(items.len(), k);
        let mut seen_u = vec![false; users.len()];
        let mut missing = vec![true; items.len()];
        for (r, id) in self.uids.iter().enumerate() {
            if let Some(u) = users.get(id) {
                x.row_mut(u as usize)
                    .copy_from_slice(&self.udata[r * k..(r + 1) * k]);
                seen_u[u as usize] = true;
            }
        }
        for (r, id) in self.iids.iter().enumerate() {
            if let Some(i) = items.get(id) {
                y.row_mut(i as usize)
                    .copy_from_slice(&self.idata[r * k..(r + 1) * k]);
                missing[i as usize] = false;
            }
        }
        if let Some(u) = (0..users.len()).find(|&u| !seen_u[u] && !test.user_row(u).is_empty()) {
            bail!(
                "{}: test user {:?} has no embedding",
                self.what,
                users.id(u as u32)
            );
        }
        let n_missing = missing.iter().filter(|&&m| m).count();
        if n_missing > 0 {
            eprintln!(
                "{}: {n_missing} training items have no embedding (ranked last)",
                self.what
            );
        }
        let (x, y) = if beta != 0.0 { prior(&x, &y) } else { (x, y) };
        let scorer = FactorScorer::new(&x, &y).with_missing_items(&missing);
        Ok(evs.iter().map(|ev| ev.evaluate(&scorer)).collect())
    }
}

/// The metrics of every model at every cut-off: JSON, or one table a cut-off.
fn print_rows(json: bool, ks: &[usize], rows: &[(String, Vec<RankingMetrics>)]) -> Result<()> {
    if json {
        let v: Vec<_> = rows
            .iter()
            .flat_map(|(n, ms)| {
                ks.iter()
                    .zip(ms)
                    .map(move |(k, m)| serde_json::json!({"model": n, "k": k, "metrics": m}))
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (j, &k) in ks.iter().enumerate() {
            if j > 0 {
                println!();
            }
            println!(
                "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>6}",
                "model",
                format!("recall@{k}"),
                format!("ndcg@{k}"),
                format!("prec@{k}"),
                format!("map@{k}"),
                format!("mrr@{k}"),
                format!("hr@{k}"),
                "auc",
                "coverage",
                "mean_pop",
                "users"
            );
            for (n, ms) in rows {
                let m = &ms[j];
                println!(
                "{:<12} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>7.4} {:>9.4} {:>9.1} {:>6}",
                n, m.recall, m.ndcg, m.precision, m.map, m.mrr, m.hit_rate,
                m.auc.unwrap_or(f64::NAN), m.coverage, m.mean_popularity, m.users
            );
            }
        }
    }
    Ok(())
}
