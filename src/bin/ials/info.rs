//! `ials info`: format version, sizes, params and loss history of a model.

use std::path::PathBuf;

use anyhow::Result;
use ials::io::model_dir::read_manifest;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `ials fit`.
    #[arg(long)]
    model: PathBuf,
    /// Also load every file and verify its checksum.
    #[arg(long)]
    verify: bool,
}

pub fn run(a: Args) -> Result<()> {
    let m = read_manifest(&a.model)?;
    if a.verify {
        ials::io::model_dir::verify_all(&a.model)?;
    }
    let towers: Vec<&str> = ["user", "item"]
        .into_iter()
        .filter(|t| {
            let (n, w) = ials::towers::AttributeTower::file_names(match *t {
                "user" => ials::towers::Tower::User,
                _ => ials::towers::Tower::Item,
            });
            m.files.contains_key(&n) && m.files.contains_key(&w)
        })
        .collect();
    println!("model:    {}", a.model.display());
    println!(
        "format:   {} version {} (written by {})",
        m.format, m.version, m.written_by
    );
    println!("users:    {}", m.users);
    println!("items:    {}", m.items);
    println!("factors:  {}", m.factors);
    println!("nnz:      {}", m.nnz);
    println!("params:   {}", serde_json::to_string(&m.params)?);
    if towers.is_empty() {
        println!("towers:   none");
    } else {
        println!(
            "towers:   {} (attribute weights for entities first described after the fit)",
            towers.join(", ")
        );
    }
    println!("files:");
    for (name, f) in &m.files {
        println!("  {name:<18} {:>14} bytes  crc32 {:08x}", f.bytes, f.crc32);
    }
    if a.verify {
        println!("verified: every file matches its length and checksum");
    }
    crate::common::print_loss_header();
    m.history.iter().for_each(crate::common::print_loss_row);
    Ok(())
}
