//! The fuzz targets' bodies, shared by the libFuzzer binaries
//! (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Each feeds arbitrary bytes to a reader and
//! accepts any `Result`: the property is "no panic, no abort, no hang, no
//! allocation on the input's word".
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use ials::data::read::{
    read_id_list_from, read_interactions_from, Columns, ReadOptions, WHITESPACE,
};
use ials::io::model_dir::load_from_memory;
use ials::towers::Features;
use ials::IdMap;

/// The interaction reader; the first byte picks the options.
pub fn csv(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let delimiter = match b & 7 {
        0 | 5 => None,
        1 => Some(b','),
        2 => Some(b'\t'),
        3 => Some(WHITESPACE),
        4 => Some(b';'),
        _ => Some(b'|'),
    };
    let columns = match (b >> 3) & 3 {
        0 => Columns::default(),
        1 => Columns {
            user: 0,
            item: 1,
            value: None,
        },
        2 => Columns {
            user: 1,
            item: 0,
            value: Some(3),
        },
        _ => Columns {
            user: 2,
            item: 2,
            value: Some(0),
        },
    };
    let opts = ReadOptions {
        delimiter,
        header: b & 0x20 != 0,
        columns,
        value_optional: b & 0x40 != 0,
        observed_negatives: b & 0x80 != 0,
    };
    if let Ok(d) = read_interactions_from(rest, "fuzz.csv", &opts) {
        assert!(d.nnz() > 0);
        assert!(d
            .user_row(0)
            .values
            .iter()
            .all(|v| v.is_finite() && (opts.observed_negatives || *v >= 0.0)));
    }
}

/// The feature-file reader.
pub fn features(data: &[u8]) {
    if let Ok(f) = Features::from_reader(data, "fuzz.csv", "item") {
        // Zero values are dropped, so an entity may have no triplet.
        assert!(!f.entities().is_empty());
        assert!(f
            .triplets()
            .iter()
            .all(|t| (t.0 as usize) < f.entities().len() && (t.1 as usize) < f.names().len()));
        assert!(f.triplets().iter().all(|t| t.2.is_finite()));
    }
}

/// The id-list reader, against a few known ids.
pub fn idlist(data: &[u8]) {
    let ids = IdMap::from_ids(["a", "b", "item 3", "\u{e9}"], "item").expect("distinct ids");
    if let Ok(v) = read_id_list_from(data, Path::new("fuzz.txt"), &ids, "item") {
        assert!(!v.is_empty() && v.iter().all(|&i| (i as usize) < ids.len()));
    }
}

/// The files of a model in one input: chunks separated by [`SEP`], in the
/// order of [`FILES`]. When the first byte is odd, the manifest's `files`
/// table is rewritten with the true lengths and checksums of the chunks
/// given, so that mutations reach the parsers behind the checksums.
pub fn model(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let mut files = BTreeMap::new();
    for (name, chunk) in FILES.iter().zip(split(rest)) {
        files.insert(name.to_string(), chunk.to_vec());
    }
    if b & 1 == 1 {
        if let Some(m) = files.get("manifest.json") {
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(m) {
                let table: serde_json::Map<String, serde_json::Value> = files
                    .iter()
                    .filter(|(n, _)| n.as_str() != "manifest.json")
                    .map(|(n, d)| {
                        (
                            n.clone(),
                            serde_json::json!({"bytes": d.len(), "crc32": crc32fast::hash(d)}),
                        )
                    })
                    .collect();
                if let Some(o) = v.as_object_mut() {
                    o.insert("files".into(), serde_json::Value::Object(table));
                }
                files.insert(
                    "manifest.json".into(),
                    serde_json::to_vec(&v).expect("a JSON value serializes"),
                );
            }
        }
    }
    if let Ok(m) = load_from_memory(&files) {
        assert!(m.user_factors().as_slice().iter().all(|v| v.is_finite()));
        assert!(m.item_factors().as_slice().iter().all(|v| v.is_finite()));
    }
}

/// The separator of the model target's chunks.
pub const SEP: &[u8] = b"\n=====\n";

/// The model files, in the model target's chunk order.
pub const FILES: [&str; 6] = [
    "manifest.json",
    "user_factors.npy",
    "item_factors.npy",
    "users.txt",
    "items.txt",
    "train.csr",
];

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(p) = data.windows(SEP.len()).position(|w| w == SEP) {
        out.push(&data[..p]);
        data = &data[p + SEP.len()..];
    }
    out.push(data);
    out
}
