//! Replays the fuzz seed corpus (`fuzz/corpus/TARGET/*`) through the fuzz
//! targets' bodies as an ordinary test: the CI smoke run of the fuzzers.
//! (Coverage-guided fuzzing itself: `fuzz/run.sh`.)

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        f(&data);
        // Every truncation too: cheap, and where readers usually break.
        for cut in (0..data.len()).step_by(data.len() / 64 + 1) {
            f(&data[..cut]);
        }
        n += 1;
    }
    assert!(n >= 3, "{target}: only {n} seed files in {}", dir.display());
}

#[test]
fn csv_corpus() {
    replay("csv", harness::csv);
}

#[test]
fn features_corpus() {
    replay("features", harness::features);
}

#[test]
fn idlist_corpus() {
    replay("idlist", harness::idlist);
}

#[test]
fn model_corpus() {
    replay("model", harness::model);
}

/// The model seeds are real models: the fuzzer starts past the checksums.
#[test]
fn model_seeds_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/model");
    for name in ["small_sealed", "small_reseal", "towers_reseal"] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let files: std::collections::BTreeMap<String, Vec<u8>> = harness::FILES
            .iter()
            .zip(split_chunks(&data[1..]))
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        let m = ials::io::model_dir::load_from_memory(&files).unwrap();
        assert_eq!((m.n_users(), m.n_items()), (3, 3), "{name}");
    }
}

fn split_chunks(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(p) = data
        .windows(harness::SEP.len())
        .position(|w| w == harness::SEP)
    {
        out.push(data[..p].to_vec());
        data = &data[p + harness::SEP.len()..];
    }
    out.push(data.to_vec());
    out
}
