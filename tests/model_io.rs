//! Model directory save/load: round trip, atomic replace, typed errors.

use std::fs;

use ials::{Error, Filter, Model, Params, SolverKind, SynthConfig};

fn model(seed: u64) -> Model {
    let data = SynthConfig::new(60, 40, 600, seed).interactions().unwrap();
    Params::builder()
        .factors(4)
        .iterations(3)
        .regularization(0.1)
        .solver(SolverKind::Cholesky)
        .seed(seed)
        .check()
        .unwrap()
        .fit(&data)
        .unwrap()
}

#[test]
fn saved_and_loaded_model_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(3);
    let path = dir.path().join("m");
    m.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    assert_eq!(back.user_factors(), m.user_factors());
    assert_eq!(back.item_factors(), m.item_factors());
    assert_eq!(back.users(), m.users());
    assert_eq!(back.items(), m.items());
    assert_eq!(back.params(), m.params());
    // JSON keeps f64 to within an ulp (serde_json without float_roundtrip).
    assert_eq!(back.loss_history().len(), m.loss_history().len());
    for (a, b) in back.loss_history().iter().zip(m.loss_history()) {
        assert_eq!(a.iteration, b.iteration);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1e-300);
        assert!(
            close(a.loss.unwrap().total(), b.loss.unwrap().total()),
            "{a:?} {b:?}"
        );
    }
    assert_eq!(back.train(), m.train());
    let f = Filter::new().exclude_seen(true);
    for u in 0..m.n_users() {
        assert_eq!(
            back.recommend(u, 5, &f).unwrap(),
            m.recommend(u, 5, &f).unwrap()
        );
    }
}

#[test]
fn save_replaces_an_existing_model_and_leaves_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    model(1).save(&path).unwrap();
    let second = model(2);
    second.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    assert_eq!(back.user_factors(), second.user_factors());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn save_refuses_to_replace_a_non_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("precious.txt"), "x").unwrap();
    assert!(model(1).save(dir.path()).is_err());
    assert!(dir.path().join("precious.txt").exists());
}

fn model_error(e: Error, file: &str, needle: &str) {
    match &e {
        Error::ModelFormat { path, reason } => {
            assert!(path.ends_with(file), "{e}");
            assert!(reason.contains(needle), "{e}");
        }
        _ => panic!("expected ModelFormat for {file}, got {e}"),
    }
}

#[test]
fn corrupted_truncated_missing_and_future_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    model(4).save(&path).unwrap();
    for file in [
        "user_factors.npy",
        "item_factors.npy",
        "users.txt",
        "items.txt",
        "train.csr",
    ] {
        let p = path.join(file);
        let orig = fs::read(&p).unwrap();
        let mut bytes = orig.clone();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        fs::write(&p, &bytes).unwrap();
        model_error(Model::load(&path).unwrap_err(), file, "checksum");
        fs::write(&p, &orig[..orig.len() - 1]).unwrap();
        model_error(Model::load(&path).unwrap_err(), file, "truncated");
        fs::remove_file(&p).unwrap();
        model_error(Model::load(&path).unwrap_err(), file, "missing");
        fs::write(&p, &orig).unwrap();
        Model::load(&path).unwrap();
    }
    let mp = path.join("manifest.json");
    let orig = fs::read_to_string(&mp).unwrap();
    fs::write(&mp, orig.replace("\"version\": 1", "\"version\": 2")).unwrap();
    model_error(Model::load(&path).unwrap_err(), "manifest.json", "newer");
    fs::write(&mp, &orig[..orig.len() / 2]).unwrap();
    model_error(Model::load(&path).unwrap_err(), "manifest.json", "JSON");
    fs::write(&mp, orig.replace("ials-model", "other")).unwrap();
    model_error(Model::load(&path).unwrap_err(), "manifest.json", "format");
}

#[test]
fn ids_with_line_breaks_are_rejected_at_save() {
    let mut b = ials::InteractionsBuilder::new();
    b.push("a\nb", "x", 1.0).unwrap();
    b.push("c", "y", 1.0).unwrap();
    let data = b.build().unwrap();
    let m = Params::builder()
        .factors(2)
        .iterations(1)
        .check()
        .unwrap()
        .fit(&data)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = m.save(dir.path().join("m")).unwrap_err();
    assert!(e.to_string().contains("line break"), "{e}");
    assert!(!dir.path().join("m").exists());
}
