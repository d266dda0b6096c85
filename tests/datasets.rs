//! Data-set loaders, the Liang 2018 preprocessing/split, `ials split
//! --method liang2018` and the checks of `datasets/download.sh`. Fixtures are
//! strings written here or seeded synthetic data, never real data; the
//! real-data test skips when `../shared/datasets` is absent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use ials::datasets::{
    liang2018, load, load_lastfm_360k, read_lastfm_360k, Format, LiangConfig, Malformed,
    LIANG_MIN_SPLIT_ITEMS,
};
use ials::eval::split::StrongSplit;
use ials::{Error, Interactions, SynthConfig};

// ---------------------------------------------------------------- Last.fm 360K

const U1: &str = "00000c289a1829a808ac09c00daf10bc3c4e223b";
const U2: &str = "00001411dc427966b17297bf4d69e7e193135d89";
const MB1: &str = "3bd73256-3905-4f3a-97e2-8b341527f805";
const MB2: &str = "f2fb0ff0-5679-42ec-a55c-15109ce6e320";

fn lastfm(
    text: &str,
    min: Option<f32>,
    m: Malformed,
) -> ials::Result<(Interactions, ials::datasets::Lastfm360kReport)> {
    read_lastfm_360k(text.as_bytes(), Path::new("plays.tsv"), min, m)
}

fn value(d: &Interactions, user: &str, item: &str) -> Option<f32> {
    let u = d.users().get(user)? as usize;
    let i = d.items().get(item)?;
    let row = d.user_row(u);
    row.indices
        .iter()
        .position(|&j| j == i)
        .map(|p| row.values[p])
}

#[test]
fn lastfm_360k_mbid_name_fallback_and_duplicates() {
    let text = format!(
        "{U1}\t{MB1}\tbetty blowtorch\t2137\n\
         {U1}\t{MB2}\tdie Ärzte\t1099\n\
         {U1}\t\tsome band without mbid\t5\r\n\
         {U2}\t{MB1}\tBetty Blowtorch\t3\n\
         {U2}\t{MB1}\tbetty blowtorch (alt name)\t4\n\
         {U2}\t\tsome band without mbid\t0\n"
    );
    let (d, r) = lastfm(&text, None, Malformed::Error).unwrap();
    assert_eq!((d.n_users(), d.n_items(), d.nnz()), (2, 3, 5));
    assert_eq!(value(&d, U1, MB1), Some(2137.0));
    assert_eq!(value(&d, U1, MB2), Some(1099.0));
    assert_eq!(value(&d, U1, "name:some band without mbid"), Some(5.0));
    // One artist id under two names: one item, plays summed.
    assert_eq!(value(&d, U2, MB1), Some(7.0));
    assert_eq!(value(&d, U2, "name:some band without mbid"), Some(0.0));
    assert_eq!(r.lines, 6);
    assert_eq!(r.records, 6);
    assert_eq!(r.by_name, 2);
    assert_eq!(r.skipped(), 0);
    assert_eq!(
        r.carriage_returns, 0,
        "a CRLF ending is not a stray carriage return"
    );

    // Threshold: plays >= 5 kept as 1.
    let (d, r) = lastfm(&text, Some(5.0), Malformed::Error).unwrap();
    assert_eq!(d.nnz(), 3);
    assert!(d.triplets().all(|t| t.2 == 1.0));
    assert_eq!(r.below_threshold, 3);

    // The same through `load` and a file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("usersha1-artmbid-artname-plays.tsv");
    std::fs::write(&p, &text).unwrap();
    let d2 = load(Format::Lastfm360k, &p, None).unwrap();
    assert_eq!(d2.nnz(), 5);
    assert_eq!(value(&d2, U2, MB1), Some(7.0));
    let (_, r2) = load_lastfm_360k(&p, None, Malformed::Skip).unwrap();
    assert_eq!(r2.records, 6);
}

#[test]
fn lastfm_360k_documented_malformed_lines_are_counted_or_fatal() {
    let text = format!(
        "{U1}\t{MB1}\ta\t10\n\
         {U1}\t{MB1}\n\
         {U1}\t{MB2}\tb\t1.5\n\
         {U2}\t{MB2}\tb\t\n\
         {U2}\t{MB1}\tname with\ttab\t7\n\
         {U2}\t{MB2}\tcarriage\rreturn\t2\n\
         \n"
    );
    let (d, r) = lastfm(&text, None, Malformed::Skip).unwrap();
    assert_eq!(r.lines, 7);
    assert_eq!(r.records, 2);
    assert_eq!(r.skipped_field_count, 3, "{r:?}"); // lines 2, 5, 7
    assert_eq!(r.skipped_plays, 2, "{r:?}"); // lines 3, 4
    assert_eq!(r.skipped_lines, vec![2, 3, 4, 5, 7]);
    assert_eq!(r.carriage_returns, 1);
    assert_eq!(d.nnz(), 2);
    assert_eq!(value(&d, U2, MB2), Some(2.0));

    // Strict: the first defect names its line.
    for (bad, needle) in [
        (
            format!("{U1}\t{MB1}\ta\t1\n{U1}\t{MB1}\n"),
            "line 2: expected 4 tab-separated fields",
        ),
        (
            format!("{U1}\t{MB1}\ta\t-3\n"),
            "line 1: play count \"-3\" is not a non-negative integer",
        ),
        (
            format!("{U1}\t{MB1}\ta\t2\n{U1}\t{MB2}\tx\ry\t1\n"),
            "line 2: carriage return inside the line",
        ),
    ] {
        let e = lastfm(&bad, None, Malformed::Error)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
        assert!(e.starts_with("plays.tsv: "), "{e}");
    }
}

#[test]
fn lastfm_360k_undocumented_defects_are_always_errors() {
    for mode in [Malformed::Skip, Malformed::Error] {
        for (bad, needle) in [
            (
                format!("{U1}\t{MB1}\ta\t1\n\t{MB1}\ta\t1\n"),
                "line 2: empty user id",
            ),
            (
                format!("{U1}\t{MB1}\ta\t1\n{U2}\t\t\t4\n"),
                "line 2: the artist has neither",
            ),
            (
                format!("{U1}\t{MB1}\ta\t99999999999999999999999\n"),
                "line 1: play count",
            ),
        ] {
            let e = lastfm(&bad, None, mode).unwrap_err().to_string();
            assert!(e.contains(needle), "{mode:?}: {e}");
        }
        let mut bytes = format!("{U1}\t{MB1}\ta\t1\n{U2}\t\t").into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\t3\n");
        let e = read_lastfm_360k(&bytes[..], Path::new("plays.tsv"), None, mode).unwrap_err();
        assert!(e.to_string().contains("line 2: not valid UTF-8"), "{e}");
        let e = lastfm("", None, mode).unwrap_err();
        assert!(matches!(e, Error::EmptyInput { .. }), "{e}");
    }
}

// ------------------------------------------------------------ Liang et al. 2018

fn synth() -> Interactions {
    // Counts as values: thresholds on them are meaningful.
    SynthConfig::new(2_500, 400, 150_000, 17)
        .interactions()
        .unwrap()
}

fn small_cfg(seed: u64) -> LiangConfig {
    LiangConfig {
        min_value: Some(1.0),
        binarize: true,
        min_user_items: 5,
        min_item_users: 4,
        heldout_users: 150,
        test_fraction: 0.2,
        seed,
    }
}

type Rows = BTreeMap<String, BTreeSet<String>>;

/// External-id rows of an interaction matrix (value checked to be 1).
fn rows(d: &Interactions) -> Rows {
    let mut out: Rows = BTreeMap::new();
    for (u, i, v) in d.triplets() {
        assert_eq!(v, 1.0);
        out.entry(d.users().id(u).to_owned())
            .or_default()
            .insert(d.items().id(i).to_owned());
    }
    out
}

/// The filters by brute force on external ids: (users kept, their items).
fn reference_filter(data: &Interactions, cfg: &LiangConfig) -> Rows {
    let t = cfg.min_value.unwrap_or(f32::NEG_INFINITY);
    let pairs: Vec<(String, String)> = data
        .triplets()
        .filter(|&(_, _, v)| v > t)
        .map(|(u, i, _)| (data.users().id(u).to_owned(), data.items().id(i).to_owned()))
        .collect();
    let mut item_users: HashMap<&str, usize> = HashMap::new();
    for (_, i) in &pairs {
        *item_users.entry(i).or_default() += 1;
    }
    let mut by_user: Rows = BTreeMap::new();
    for (u, i) in &pairs {
        if item_users[i.as_str()] >= cfg.min_item_users {
            by_user.entry(u.clone()).or_default().insert(i.clone());
        }
    }
    by_user.retain(|_, items| items.len() >= cfg.min_user_items);
    by_user
}

fn ids(d: &Interactions, users: &[u32]) -> BTreeSet<String> {
    users.iter().map(|&u| d.users().id(u).to_owned()).collect()
}

fn triplets(s: &StrongSplit) -> Vec<Vec<(u32, u32, f32)>> {
    let v = s.validation.as_ref().unwrap();
    [&s.train, &v.fold_in, &v.test, &s.test.fold_in, &s.test.test]
        .iter()
        .map(|d| d.triplets().collect())
        .collect()
}

#[test]
fn liang2018_matches_a_brute_force_reference() {
    let data = synth();
    let cfg = small_cfg(5);
    eprintln!("synthetic seed 17, split seed {}", cfg.seed);
    let s = liang2018(&data, &cfg).unwrap();
    let v = s.validation.as_ref().unwrap();
    let reference = reference_filter(&data, &cfg);
    // Every rule bites here, or the test would prove little.
    let mut item_users = vec![0usize; data.n_items()];
    let mut below = 0;
    for (_, i, v) in data.triplets() {
        if v > 1.0 {
            item_users[i as usize] += 1;
        } else {
            below += 1;
        }
    }
    let rare = item_users.iter().filter(|&&c| c > 0 && c < 4).count();
    eprintln!(
        "{} of {} users pass; {below} values <= 1; {rare} items with 1-3 users",
        reference.len(),
        data.n_users()
    );
    assert!(reference.len() < data.n_users() && reference.len() > 1_000);
    assert!(below > 0 && rare > 0);
    // One index space; exactly the users passing the filters.
    for d in [&v.fold_in, &v.test, &s.test.fold_in, &s.test.test] {
        assert_eq!(d.users(), s.train.users());
        assert_eq!(d.items(), s.train.items());
    }
    let all_users: BTreeSet<String> = s.train.users().ids().iter().cloned().collect();
    assert_eq!(all_users, reference.keys().cloned().collect());

    // Group sizes and disjointness.
    let (vu, tu) = (ids(&s.train, &v.users), ids(&s.train, &s.test.users));
    assert_eq!((vu.len(), tu.len()), (150, 150));
    assert!(vu.is_disjoint(&tu));
    let train = rows(&s.train);
    let train_users: BTreeSet<String> = train.keys().cloned().collect();
    assert_eq!(train_users.len(), reference.len() - 300);
    assert!(train_users.is_disjoint(&vu) && train_users.is_disjoint(&tu));

    // Training users keep all their filtered items.
    for (u, items) in &train {
        assert_eq!(items, &reference[u], "user {u}");
    }
    // The item set is exactly the training users' items.
    let train_items: BTreeSet<String> = train.values().flatten().cloned().collect();
    let item_set: BTreeSet<String> = s.train.items().ids().iter().cloned().collect();
    assert_eq!(item_set, train_items);

    // Held-out users: fold-in + eval = filtered items seen in training,
    // disjoint, eval = floor(0.2 n) when n >= 5.
    let mut evaluated = 0;
    for (group, fold, eval) in [
        (&vu, &v.fold_in, &v.test),
        (&tu, &s.test.fold_in, &s.test.test),
    ] {
        let (fold, eval) = (rows(fold), rows(eval));
        assert!(fold.keys().chain(eval.keys()).all(|u| group.contains(u)));
        for u in group {
            let want: BTreeSet<String> = reference[u].intersection(&train_items).cloned().collect();
            let f = fold.get(u).cloned().unwrap_or_default();
            let e = eval.get(u).cloned().unwrap_or_default();
            assert!(f.is_disjoint(&e), "user {u}");
            let union: BTreeSet<String> = f.union(&e).cloned().collect();
            assert_eq!(union, want, "user {u}");
            let n = want.len();
            let take = if n >= LIANG_MIN_SPLIT_ITEMS { n / 5 } else { 0 };
            assert_eq!(e.len(), take, "user {u}: {n} items");
            evaluated += usize::from(take > 0);
        }
    }
    assert!(evaluated > 250, "{evaluated}");
}

#[test]
fn liang2018_is_reproducible_and_seeded() {
    let data = synth();
    let a = liang2018(&data, &small_cfg(5)).unwrap();
    let b = liang2018(&data, &small_cfg(5)).unwrap();
    assert_eq!(triplets(&a), triplets(&b));
    assert_eq!(a.test.users, b.test.users);
    let c = liang2018(&data, &small_cfg(6)).unwrap();
    assert_ne!(a.test.users, c.test.users);
    // Same users pass the filters whatever the seed.
    assert_eq!(a.train.users(), c.train.users());
}

#[test]
fn liang2018_threshold_is_strict_and_values_binary() {
    // Half-star ratings: 3.5 is dropped, 4.0 kept (ML-20M rule).
    let mut b = ials::InteractionsBuilder::new();
    for u in 0..8 {
        for i in 0..15 {
            let r = [3.5, 4.0, 5.0, 0.5, 3.0][(u + i) % 5];
            b.push(&format!("u{u}"), &format!("m{i}"), r).unwrap();
        }
    }
    let data = b.build().unwrap();
    let cfg = LiangConfig {
        heldout_users: 1,
        seed: 3,
        ..LiangConfig::ml20m(0)
    };
    let s = liang2018(&data, &cfg).unwrap();
    let v = s.validation.as_ref().unwrap();
    for d in [&s.train, &v.fold_in, &v.test, &s.test.fold_in, &s.test.test] {
        for (u, i, x) in d.triplets() {
            assert_eq!(x, 1.0);
            let orig = value(&data, d.users().id(u), d.items().id(i)).unwrap();
            assert!(orig > 3.5, "{orig}");
        }
    }
    // 2 of every 5 ratings are > 3.5: each of the 6 training users keeps 6.
    assert_eq!(s.train.n_users(), 8);
    assert_eq!(s.train.nnz(), 36);
}

#[test]
fn liang2018_rejects_impossible_settings() {
    let data = synth();
    let e = liang2018(
        &data,
        &LiangConfig {
            heldout_users: 5_000,
            ..small_cfg(1)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("held-out users"), "{e}");
    let e = liang2018(
        &data,
        &LiangConfig {
            test_fraction: 1.0,
            ..small_cfg(1)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("(0, 1)"), "{e}");
    let e = liang2018(
        &data,
        &LiangConfig {
            heldout_users: 0,
            ..small_cfg(1)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
    let e = LiangConfig::preset("ml-1m", 0).unwrap_err();
    assert!(e.to_string().contains("ml-20m, msd"), "{e}");
    assert_eq!(LiangConfig::preset("msd", 4).unwrap(), LiangConfig::msd(4));
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets")).join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

#[test]
fn liang2018_on_ml_latest_small() {
    let Some(p) = shared("ml-latest-small/ratings.csv") else {
        return;
    };
    let data = load(Format::MovieLensCsv, &p, None).unwrap();
    let cfg = LiangConfig {
        heldout_users: 50,
        ..LiangConfig::ml20m(98765)
    };
    let s = liang2018(&data, &cfg).unwrap();
    let reference = reference_filter(&data, &cfg);
    assert_eq!(s.train.n_users(), reference.len());
    let kept: usize = reference.values().map(|r| r.len()).sum();
    let v = s.validation.as_ref().unwrap();
    let total =
        s.train.nnz() + v.fold_in.nnz() + v.test.nnz() + s.test.fold_in.nnz() + s.test.test.nnz();
    // Only held-out items unseen in training are lost.
    assert!(total <= kept && total * 10 > kept * 9, "{total} of {kept}");
    eprintln!(
        "ml-latest-small: {} users ({} kept ratings > 3.5), {} items, {} train / {} + {} / {} + {}",
        s.train.n_users(),
        kept,
        s.train.n_items(),
        s.train.nnz(),
        v.fold_in.nnz(),
        v.test.nnz(),
        s.test.fold_in.nnz(),
        s.test.test.nnz()
    );
}

// ------------------------------------------------------------------- the CLI

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use std::process::Command;

    fn ials(args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_ials"))
            .args(args)
            .output()
            .unwrap()
    }

    fn read_rows(p: &Path) -> BTreeSet<(String, String)> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 3, "{l}");
                assert_eq!(f[2], "1", "{l}");
                (f[0].to_owned(), f[1].to_owned())
            })
            .collect()
    }

    #[test]
    fn split_liang2018_writes_the_library_split() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        let data = synth();
        let mut text = String::from("user,item,count\n");
        for (u, i, v) in data.triplets() {
            text.push_str(&format!(
                "{},{},{v}\n",
                data.users().id(u),
                data.items().id(i)
            ));
        }
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join("split");
        let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
        let run = ials(&[
            "split",
            "--method",
            "liang2018",
            "--input",
            i,
            "--output",
            o,
            "--header",
            "--min-value",
            "1",
            "--min-user-items",
            "5",
            "--min-item-users",
            "4",
            "--heldout-users",
            "150",
            "--seed",
            "5",
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        // The same file read back (its item order is the file's).
        let opts = ials::data::read::ReadOptions {
            header: true,
            ..Default::default()
        };
        let read = ials::data::read::read_interactions(&input, &opts).unwrap();
        let s = liang2018(&read, &small_cfg(5)).unwrap();
        let v = s.validation.as_ref().unwrap();
        for (name, d) in [
            ("train", &s.train),
            ("validation_fold_in", &v.fold_in),
            ("validation_eval", &v.test),
            ("test_fold_in", &s.test.fold_in),
            ("test_eval", &s.test.test),
        ] {
            let want: BTreeSet<(String, String)> = rows(d)
                .into_iter()
                .flat_map(|(u, items)| items.into_iter().map(move |i| (u.clone(), i)))
                .collect();
            assert_eq!(read_rows(&out.join(format!("{name}.csv"))), want, "{name}");
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("liang2018.json")).unwrap())
                .unwrap();
        assert_eq!(summary["test_users"], 150);
        assert_eq!(summary["interactions"]["train"], s.train.nnz());

        // --preset excludes the flags it sets.
        let run = ials(&[
            "split",
            "--preset",
            "ml-20m",
            "--heldout-users",
            "3",
            "--input",
            i,
            "--output",
            o,
        ]);
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains("cannot be used with"));
        let run = ials(&["split", "--preset", "ml-1m", "--input", i, "--output", o]);
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains("ml-20m, msd"));
    }
}

// ------------------------------------------------------- datasets/download.sh

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn download(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/download.sh"))
        .args(args)
        .env("DATA_DIR", dir)
        .env("SHA256SUMS_LOCAL", dir.join("pins"))
        .output()
        .unwrap()
}

#[test]
fn download_script_fails_on_a_checksum_mismatch_and_pins() {
    if !(have("bash") && have("sha256sum") && have("md5sum")) {
        eprintln!("skipping: bash, sha256sum or md5sum missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A present archive is not fetched again, only checked (no network here).
    for (name, file) in [
        ("ml-100k", "ml-100k.zip"),
        ("lastfm-360k", "lastfm-dataset-360K.tar.gz"),
    ] {
        std::fs::write(dir.path().join(file), b"not the published archive").unwrap();
        let out = download(dir.path(), &[name]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("mismatch"), "{name}: {err}");
        assert!(!dir.path().join("ml-100k").exists());
    }
    // No published sum: --pin records one; a changed file then fails.
    let zip = dir.path().join("train_triplets.txt.zip");
    std::fs::write(&zip, b"first copy").unwrap();
    let out = download(dir.path(), &["msd-taste"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO PUBLISHED SHA-256"));
    assert!(!dir.path().join("pins").exists());
    download(dir.path(), &["--pin", "msd-taste"]); // fails later, at unzip
    let pins = std::fs::read_to_string(dir.path().join("pins")).unwrap();
    assert!(pins.ends_with("  train_triplets.txt.zip\n"), "{pins}");
    std::fs::write(&zip, b"second copy").unwrap();
    let out = download(dir.path(), &["msd-taste"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sha256sum mismatch"), "{err}");
}

// ------------------------------------------------------------------ timestamps

#[test]
fn timestamps_align_with_the_user_major_triplets() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ratings.dat");
    // User 7 before user 2 in the file; a repeated pair keeps its latest time.
    std::fs::write(
        &p,
        "7::30::5::300\n7::10::4::100\n2::10::1::50\n7::30::4::900\n2::20::5::70\n",
    )
    .unwrap();
    let (d, ts) = ials::datasets::load_with_timestamps(Format::Ml1m, &p, None).unwrap();
    let got: Vec<(String, String, i64)> = d
        .triplets()
        .zip(&ts)
        .map(|((u, i, _), &t)| (d.users().id(u).to_owned(), d.items().id(i).to_owned(), t))
        .collect();
    // Rows in index order (first appearance): item 30 before item 10.
    let want = [
        ("7", "30", 900),
        ("7", "10", 100),
        ("2", "10", 50),
        ("2", "20", 70),
    ];
    let want: Vec<(String, String, i64)> = want
        .iter()
        .map(|&(u, i, t)| (u.into(), i.into(), t))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        value(&d, "7", "30"),
        Some(9.0),
        "duplicates summed as in load"
    );
    // Threshold: only ratings >= 5 (as load), still aligned.
    let (d, ts) = ials::datasets::load_with_timestamps(Format::Ml1m, &p, Some(5.0)).unwrap();
    assert_eq!((d.nnz(), ts), (2, vec![300, 70]));
    // Leave-1-out by time takes each user's latest item.
    let (d, ts) = ials::datasets::load_with_timestamps(Format::Ml1m, &p, None).unwrap();
    let (_, test) = ials::eval::leave_k_out(&d, 1, Some(&ts), 0).unwrap();
    let mut latest: Vec<(String, String)> = test
        .triplets()
        .map(|(u, i, _)| (test.users().id(u).to_owned(), test.items().id(i).to_owned()))
        .collect();
    latest.sort();
    assert_eq!(
        latest,
        [("2".into(), "20".into()), ("7".into(), "30".into())]
    );

    std::fs::write(&p, "1::2::3::soon\n").unwrap();
    let e = ials::datasets::load_with_timestamps(Format::Ml1m, &p, None).unwrap_err();
    assert!(e.to_string().contains("line 1: timestamp \"soon\""), "{e}");
    let e = ials::datasets::load_with_timestamps(Format::MsdTaste, &p, None).unwrap_err();
    assert!(e.to_string().contains("no timestamps"), "{e}");
    if let Some(p) = shared("ml-100k/u.data") {
        let (d, ts) = ials::datasets::load_with_timestamps(Format::Ml100k, &p, None).unwrap();
        assert_eq!((d.nnz(), ts.len()), (100_000, 100_000));
        // The README's range.
        assert_eq!(ts.iter().min(), Some(&874_724_710));
        assert_eq!(ts.iter().max(), Some(&893_286_638));
    }
}

// ------------------------------------------- the loaders on ../shared/datasets

#[test]
fn loaders_match_the_published_counts_of_the_shared_copies() {
    // (format, file, interactions, users, items with an interaction), from
    // ../shared/datasets/README.md.
    let cases = [
        (Format::Ml100k, "ml-100k/u.data", 100_000, 943, 1_682),
        (
            Format::MovieLensCsv,
            "ml-latest-small/ratings.csv",
            100_836,
            610,
            9_724,
        ),
        (
            Format::LastfmHetrec,
            "hetrec2011-lastfm-2k/user_artists.dat",
            92_834,
            1_892,
            17_632,
        ),
        (
            Format::Citeulike,
            "citeulike-a/users.dat",
            204_986,
            5_551,
            16_980,
        ),
        (
            Format::Citeulike,
            "citeulike-t/users.dat",
            134_860,
            7_947,
            25_584,
        ),
    ];
    for (format, file, nnz, users, items) in cases {
        let Some(p) = shared(file) else { continue };
        let d = load(format, &p, None).unwrap();
        let rated = (0..d.n_items())
            .filter(|&i| !d.item_row(i).is_empty())
            .count();
        assert_eq!((d.nnz(), d.n_users(), rated), (nnz, users, items), "{file}");
    }
}
