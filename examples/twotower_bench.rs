//! Seconds per epoch of the in-batch softmax two-tower trainer on a CSV of
//! interactions (`user,item[,value]`), for the side-by-side run against
//! `../shared/peers/twotower_torch.py bench` (same data, k, batch, threads).
//!
//! ```sh
//! cargo run --release --example twotower_bench -- synth_20m.csv --k 64 --batch 1024 --threads 2 [--epochs 1]
//! ```

use std::time::Instant;

use ials::data::read::{read_interactions, ReadOptions};
use ials::neural::TwoTowerParams;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|p| args.get(p + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: twotower_bench FILE [--k K] [--batch B] [--threads T] [--epochs E]")?;
    let k = arg(&args, "--k", 64usize);
    let batch = arg(&args, "--batch", 1024usize);
    let threads = arg(&args, "--threads", 2usize);
    let epochs = arg(&args, "--epochs", 1usize);
    let t0 = Instant::now();
    let data = read_interactions(path, &ReadOptions::default())?;
    let load = t0.elapsed().as_secs_f64();
    let params = TwoTowerParams::builder()
        .factors(k)
        .batch_size(batch)
        .epochs(epochs)
        .threads(Some(threads))
        .check()?;
    let t1 = Instant::now();
    let model = params.fit(&data)?;
    let fit = t1.elapsed().as_secs_f64();
    let per_epoch: Vec<f64> = model.history().iter().map(|r| r.seconds).collect();
    println!(
        "{{\"system\": \"ials\", \"threads\": {threads}, \"nnz\": {}, \"k\": {k}, \"batch\": {batch}, \"load_s\": {load:.2}, \"fit_s\": {fit:.2}, \"epoch_s\": {per_epoch:?}, \"loss\": {:.5}}}",
        data.nnz(),
        model.history().last().map(|r| r.loss.unwrap().total()).unwrap_or(f64::NAN)
    );
    Ok(())
}
