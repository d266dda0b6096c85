//! `ials export`: the factors as `.npy` and the id lists, for numpy.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ials::io::model_dir::read_manifest;
use ials::Model;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// Directory to write user_factors.npy, item_factors.npy, users.txt,
    /// items.txt into (created if missing).
    #[arg(long)]
    output: PathBuf,
}

const FILES: [&str; 4] = [
    "user_factors.npy",
    "item_factors.npy",
    "users.txt",
    "items.txt",
];

pub fn run(a: Args) -> Result<()> {
    // Verify every length and checksum first: a corrupt model exports nothing.
    read_manifest(&a.model)?;
    Model::load(&a.model)?;
    if a.output.exists() && !a.output.is_dir() {
        bail!("{}: exists and is not a directory", a.output.display());
    }
    let created = !a.output.exists();
    let result = (|| -> Result<()> {
        fs::create_dir_all(&a.output)
            .with_context(|| format!("{}: cannot create directory", a.output.display()))?;
        for name in FILES {
            let bytes = fs::read(a.model.join(name))
                .with_context(|| format!("{}", a.model.join(name).display()))?;
            ials::io::write_atomic(&a.output.join(name), |w| w.write_all(&bytes))?;
        }
        Ok(())
    })();
    if result.is_err() && created {
        let _ = fs::remove_dir_all(&a.output);
    }
    result
}
