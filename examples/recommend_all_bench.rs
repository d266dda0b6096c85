//! Time `Model::recommend_all` (the blocked top-k kernel) on given factors,
//! for a side-by-side comparison with implicit's `recommend(userids=all)`
//! (`benches/peers/implicit_recommend_all.py`).
//!
//! ```text
//! cargo run --release --example recommend_all_bench -- TRAIN.csv U.npy V.npy [N=10] [k=64] [seed=5] [reps=1] [out.npy]
//! ```
//!
//! TRAIN.csv holds `user,item,count` with dense integer ids (as written by
//! `shared/peers/synth.py`); its items are excluded per user (exclude-seen).
//! When U.npy / V.npy do not exist they are written first: seeded
//! `N(0, 0.1²)` factors sized by the CSV. Prints users/second per repetition;
//! with out.npy, saves the item ids (users x N, as float32) for cross-checking.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use ials::io::npy;
use ials::serve::{topk, Filter};
use ials::{Factors, IdMap, Interactions, Model, Params};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        return Err(
            "usage: recommend_all_bench TRAIN.csv U.npy V.npy [N] [k] [seed] [reps] [out.npy]"
                .into(),
        );
    }
    let get = |i: usize, d: u64| a.get(i).map_or(Ok(d), |s| s.parse::<u64>());
    let (top_n, k, seed, reps) = (
        get(3, 10)? as usize,
        get(4, 64)? as usize,
        get(5, 5)?,
        get(6, 1)?,
    );
    let t = Instant::now();
    let f = std::io::BufReader::new(std::fs::File::open(&a[0])?);
    let mut trip = Vec::new();
    let (mut m, mut n) = (0usize, 0usize);
    for line in f.lines() {
        let line = line?;
        let mut it = line.split(',');
        let (Some(u), Some(i), Some(v)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let (u, i, v): (u32, u32, f32) = (u.trim().parse()?, i.trim().parse()?, v.trim().parse()?);
        m = m.max(u as usize + 1);
        n = n.max(i as usize + 1);
        trip.push((u, i, v));
    }
    let data = Interactions::from_indexed(m, n, trip)?;
    let (up, vp) = (Path::new(&a[1]), Path::new(&a[2]));
    if !up.exists() || !vp.exists() {
        let x = Factors::random_normal(m, k, 0.1, seed);
        let y = Factors::random_normal(n, k, 0.1, seed ^ 0x5EED);
        npy::save_f32(up, m, k, x.as_slice())?;
        npy::save_f32(vp, n, k, y.as_slice())?;
        eprintln!(
            "wrote seeded factors (seed {seed}) to {} and {}",
            up.display(),
            vp.display()
        );
    }
    let (xm, xk, xd) = npy::load_f32(up)?;
    let (ym, yk, yd) = npy::load_f32(vp)?;
    assert!(
        xm == m && ym == n && xk == yk,
        "factor shapes do not match the CSV"
    );
    let x = Factors::from_vec(xm, xk, xd).ok_or("bad U")?;
    let y = Factors::from_vec(ym, yk, yd).ok_or("bad V")?;
    let params = Params::builder().factors(xk).check()?;
    let (_, _, train) = data.into_parts();
    let model = Model::new(
        params,
        IdMap::identity(m),
        IdMap::identity(n),
        train,
        x,
        y,
        Vec::new(),
    );
    eprintln!(
        "loaded {m} users x {n} items, k = {xk}, {} interactions in {:.1}s; kernel {}, {} threads",
        model.train().nnz(),
        t.elapsed().as_secs_f64(),
        topk::kernel_name(),
        rayon::current_num_threads()
    );
    let filter = Filter::new().exclude_seen(true);
    let mut ids = vec![0f32; m * top_n];
    for rep in 0..reps {
        let t = Instant::now();
        let mut count = 0usize;
        model.recommend_all::<ials::Error>(top_n, &filter, |u, list| {
            for (j, &(i, _)) in list.iter().enumerate() {
                ids[u * top_n + j] = i as f32;
            }
            count += 1;
            Ok(())
        })?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{{\"system\": \"ials\", \"rep\": {rep}, \"users\": {count}, \"items\": {n}, \"factors\": {xk}, \"N\": {top_n}, \"threads\": {}, \"kernel\": \"{}\", \"seconds\": {s:.3}, \"users_per_s\": {:.1}}}",
            rayon::current_num_threads(),
            topk::kernel_name(),
            count as f64 / s
        );
    }
    if let Some(out) = a.get(7) {
        npy::save_f32(Path::new(out), m, top_n, &ids)?;
    }
    Ok(())
}
