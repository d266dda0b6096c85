//! Feature towers for `ials fit`: the flags (flatten [`FeatureArgs`] into the
//! fit command) and the fit itself ([`fit_towers`]).
//!
//! Feature files are CSV lines `entity,feature[,value]` (value 1 when
//! omitted; optional header `entity,feature[,value]`; `#` comments). An
//! entity of a feature file that has no interactions is not an error: it is
//! a cold entity, left out of training and served from its features
//! (a note on stderr says how many there are).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ials::towers::{AttributeTower, Features, Tower, TowerModel, TowerParams};
use ials::{Interactions, Model, Params, Progress};

/// Side features: turn `ials fit` into a two-tower model.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FeatureArgs {
    /// Item features, CSV `item,feature[,value]` (value 1 if omitted). Items
    /// listed only here (no interactions) are served cold from their features.
    #[arg(long, value_name = "FILE")]
    pub item_features: Option<PathBuf>,
    /// User features, CSV `user,feature[,value]` (value 1 if omitted). Users
    /// listed only here (no interactions) are served cold from their features.
    #[arg(long, value_name = "FILE")]
    pub user_features: Option<PathBuf>,
    /// Do not give items with interactions their own id feature (a
    /// content-only item tower).
    #[arg(long)]
    pub no_item_ids: bool,
    /// Do not give users with interactions their own id feature (a
    /// content-only user tower).
    #[arg(long)]
    pub no_user_ids: bool,
    /// Regularization of the item feature weights [default: --regularization].
    #[arg(long, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub item_feature_reg: Option<f32>,
    /// Regularization of the user feature weights [default: --regularization].
    #[arg(long, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub user_feature_reg: Option<f32>,
}

impl FeatureArgs {
    /// True when any tower flag is given, i.e. `ials fit` should train
    /// towers instead of plain iALS.
    pub fn wanted(&self) -> bool {
        self.item_features.is_some()
            || self.user_features.is_some()
            || self.no_item_ids
            || self.no_user_ids
            || self.item_feature_reg.is_some()
            || self.user_feature_reg.is_some()
    }

    /// The checked tower settings.
    pub fn tower_params(&self) -> ials::Result<TowerParams> {
        let mut b = TowerParams::builder()
            .user_ids(!self.no_user_ids)
            .item_ids(!self.no_item_ids);
        if let Some(v) = self.user_feature_reg {
            b = b.user_feature_reg(v);
        }
        if let Some(v) = self.item_feature_reg {
            b = b.item_feature_reg(v);
        }
        b.check()
    }
}

/// Read the feature files, fit the towers on `data` (calling `callback`
/// after each iteration, as `Params::fit_with` does) and return the plain
/// model (every entity, cold ones included, after the training ones) with
/// the tower weights. Notes about cold entities go to stderr.
pub fn fit_towers<F>(
    params: &Params,
    data: &Interactions,
    args: &FeatureArgs,
    callback: F,
) -> Result<(Model, TowerModel)>
where
    F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
{
    let tower = args.tower_params()?;
    let user_features = read_features(args.user_features.as_deref(), "user")?;
    let item_features = read_features(args.item_features.as_deref(), "item")?;
    let towers = tower.fit_with(
        params,
        data,
        user_features.as_ref(),
        item_features.as_ref(),
        callback,
    )?;
    for (t, path) in [
        (Tower::User, &args.user_features),
        (Tower::Item, &args.item_features),
    ] {
        let side = t.name();
        if let Some(path) = path {
            let cold = towers.n_cold(t);
            if cold > 0 {
                eprintln!(
                    "note: {cold} {side}s of {} have no interactions: served cold from their features",
                    path.display()
                );
            }
            eprintln!(
                "{side} tower: {} features{}",
                towers.feature_names(t).len(),
                if tower_ids(&tower, t) { " + ids" } else { "" }
            );
        }
        let bare = towers.n_without_features(t);
        if bare > 0 {
            eprintln!(
                "warning: {bare} {side}s with interactions have no feature and no id: their factors are 0"
            );
        }
    }
    Ok((towers.to_model(), towers))
}

/// Save the model and, for each side with a feature file, the attribute
/// weights (so that `ials recommend --user-features` can embed entities first
/// described after the fit) in the same atomic step (listed in the
/// manifest): the tower model directory of `ials fit --item-features` and
/// `ials tune --item-features`.
pub fn save_model(
    output: &Path,
    model: &Model,
    towers: Option<&TowerModel>,
    user_features: Option<&Path>,
    item_features: Option<&Path>,
) -> Result<()> {
    let mut saved: Vec<(Tower, AttributeTower)> = Vec::new();
    if let Some(t) = towers {
        for (side, file) in [(Tower::User, user_features), (Tower::Item, item_features)] {
            if file.is_some() {
                saved.push((side, AttributeTower::of(t, side)));
            }
        }
    }
    let extras: Vec<_> = saved
        .iter()
        .flat_map(|(side, tower)| tower.extras(*side))
        .collect();
    model.save_with(output, &extras)?;
    Ok(())
}

/// Read an optional feature file of `side`.
pub fn read_features(path: Option<&Path>, side: &'static str) -> Result<Option<Features>> {
    path.map(|p| Features::read_csv(p, side).with_context(|| format!("reading {side} features")))
        .transpose()
}

fn tower_ids(p: &TowerParams, t: Tower) -> bool {
    match t {
        Tower::User => p.user_ids,
        Tower::Item => p.item_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ials::InteractionsBuilder;

    fn data() -> Interactions {
        let mut b = InteractionsBuilder::new();
        for (u, i) in [("a", "x"), ("a", "y"), ("b", "y"), ("c", "z")] {
            b.push(u, i, 1.0).unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn fits_with_cold_items_from_a_feature_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.csv");
        std::fs::write(&path, "item,feature\nx,red\ny,red\nz,blue\nnew,blue\n").unwrap();
        let args = FeatureArgs {
            item_features: Some(path),
            item_feature_reg: Some(0.1),
            ..FeatureArgs::default()
        };
        assert!(args.wanted());
        let params = Params::builder().factors(2).iterations(2).check().unwrap();
        let (model, towers) =
            fit_towers(&params, &data(), &args, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(model.n_items(), 4);
        assert!(model.items().get("new").is_some());
        assert_eq!(towers.n_cold(Tower::Item), 1);
        assert_eq!(model.loss_history().len(), 2);
    }

    #[test]
    fn bad_feature_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(&path, "a,old\nb,young,abc\n").unwrap();
        let args = FeatureArgs {
            user_features: Some(path),
            ..FeatureArgs::default()
        };
        let params = Params::builder().factors(2).iterations(1).check().unwrap();
        let err = fit_towers(&params, &data(), &args, |_| ControlFlow::Continue(())).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("users.csv: line 2"), "{msg}");
        let args = FeatureArgs {
            user_feature_reg: Some(-1.0),
            ..FeatureArgs::default()
        };
        let err = fit_towers(&params, &data(), &args, |_| ControlFlow::Continue(())).unwrap_err();
        assert!(format!("{err:#}").contains("user feature regularization"));
    }
}
