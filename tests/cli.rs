//! Runs the built `ials` binary: happy paths and every kind of bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ials");

fn ials(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run ials")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tiny(dir: &Path) -> PathBuf {
    let p = dir.join("in.csv");
    let mut text = String::new();
    for u in 0..12 {
        for j in 0..4 {
            let i = (u * 3 + j * 2) % 10;
            text.push_str(&format!("user{u},item{i},{}\n", 1 + (u + j) % 3));
        }
    }
    fs::write(&p, text).unwrap();
    p
}

fn fit(input: &Path, model: &Path, extra: &[&str]) -> Output {
    let mut a = vec![
        "fit",
        "--input",
        s(input),
        "--output",
        s(model),
        "--factors",
        "4",
        "--iterations",
        "3",
        "--seed",
        "5",
        "--quiet",
    ];
    a.extend_from_slice(extra);
    ials(&a)
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "expected failure containing {needle:?}"
    );
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn fit_report_info_export_recommend_similar() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("model");
    let report = d.path().join("report.json");
    ok(&fit(
        &input,
        &model,
        &["--report", s(&report), "--solver", "cholesky"],
    ));
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["users"], 12);
    assert_eq!(r["items"], 10);
    assert_eq!(r["nnz"], 48);
    assert_eq!(r["iterations"].as_array().unwrap().len(), 3);
    for key in [
        "seconds",
        "loss",
        "loss_observed",
        "loss_unobserved",
        "loss_regularization",
    ] {
        assert!(r["iterations"][0][key].is_number(), "{key}");
    }
    assert!(r["load_seconds"].is_number());
    assert_eq!(r["params"]["factors"], 4);

    let info = ials(&["info", "--model", s(&model), "--verify"]);
    ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("version 1") && text.contains("users:    12"),
        "{text}"
    );

    let out = d.path().join("export");
    ok(&ials(&[
        "export",
        "--model",
        s(&model),
        "--output",
        s(&out),
    ]));
    let (m, k, x) = ials::io::npy::load_f32(&out.join("user_factors.npy")).unwrap();
    let (n, k2, y) = ials::io::npy::load_f32(&out.join("item_factors.npy")).unwrap();
    assert_eq!((m, n, k, k2), (12, 10, 4, 4));
    let users: Vec<String> = fs::read_to_string(out.join("users.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let items: Vec<String> = fs::read_to_string(out.join("items.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(users.len(), 12);

    let recs = d.path().join("recs.csv");
    ok(&ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--k",
        "3",
        "--output",
        s(&recs),
    ]));
    let text = fs::read_to_string(&recs).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user,item,rank,score"));
    let train = fs::read_to_string(&input).unwrap();
    let seen: std::collections::HashSet<(String, String)> = train
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 12 * 3);
    for (ui, uid) in users.iter().enumerate() {
        // Brute force from the exported factors.
        let mut scored: Vec<(usize, f32)> = (0..n)
            .filter(|&i| !seen.contains(&(uid.clone(), items[i].clone())))
            .map(|i| (i, (0..k).map(|f| x[ui * k + f] * y[i * k + f]).sum::<f32>()))
            .collect();
        scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        let got: Vec<&Vec<String>> = rows.iter().filter(|r| &r[0] == uid).collect();
        assert_eq!(got.len(), 3);
        for (rank, r) in got.iter().enumerate() {
            assert!(
                !seen.contains(&(uid.clone(), r[1].clone())),
                "seen item recommended"
            );
            assert_eq!(r[2], (rank + 1).to_string());
            let score: f32 = r[3].parse().unwrap();
            assert!(
                (score - scored[rank].1).abs() <= 1e-5 * (1.0 + score.abs()),
                "{uid} {r:?} vs {:?}",
                scored[rank]
            );
        }
    }

    // Filters: candidates and exclude, users from a file, stdout.
    let ulist = d.path().join("users.txt");
    fs::write(&ulist, "user3\nuser0\n").unwrap();
    let cands = d.path().join("cands.txt");
    fs::write(&cands, "item1\nitem2\nitem4\nitem7\n").unwrap();
    let excl = d.path().join("excl.txt");
    fs::write(&excl, "item2\n").unwrap();
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--users",
        s(&ulist),
        "--k",
        "10",
        "--output",
        "-",
        "--candidates",
        s(&cands),
        "--exclude",
        s(&excl),
        "--include-seen",
        "--threads",
        "1",
    ]);
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows[..3].iter().all(|r| r.starts_with("user3,")));
    assert!(rows
        .iter()
        .all(|r| ["item1", "item4", "item7"].contains(&r.split(',').nth(1).unwrap())));

    let sim = d.path().join("sim.csv");
    ok(&ials(&[
        "similar",
        "--model",
        s(&model),
        "--all-items",
        "--k",
        "2",
        "--output",
        s(&sim),
    ]));
    let text = fs::read_to_string(&sim).unwrap();
    assert_eq!(text.lines().count(), 1 + 10 * 2);
    assert!(text.lines().skip(1).all(|l| {
        let f: Vec<&str> = l.split(',').collect();
        f[0] != f[1] && f[3].parse::<f32>().unwrap().abs() <= 1.0 + 1e-5
    }));
}

#[test]
fn same_seed_same_model_on_one_or_two_threads() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    ok(&fit(&input, &a, &["--threads", "1"]));
    ok(&fit(&input, &b, &["--threads", "2"]));
    for f in ["user_factors.npy", "item_factors.npy"] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn stdin_tsv_header_and_columns() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m");
    let mut child = Command::new(BIN)
        .args([
            "fit",
            "--input",
            "-",
            "--output",
            s(&model),
            "--factors",
            "2",
            "--iterations",
            "1",
            "--quiet",
            "--header",
            "--columns",
            "3,1",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"item\tjunk\tuser\nx\t9\ta\ny\t9\tb\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let users = fs::read_to_string(model.join("users.txt")).unwrap();
    assert_eq!(users, "a\nb\n");
}

#[test]
fn bad_input_fails_cleanly_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        ("missing.csv", b"a,x,1\nb\n", "line 2: missing item field"),
        (
            "nonnum.csv",
            b"a,x,1\nb,y,abc\n",
            "line 2: value \"abc\" is not a number",
        ),
        (
            "nan.csv",
            b"a,x,NaN\n",
            "line 1: value \"NaN\" is not finite",
        ),
        (
            "inf.csv",
            b"a,x,1\na,y,inf\n",
            "line 2: value \"inf\" is not finite",
        ),
        ("neg.csv", b"a,x,-2\n", "line 1: value \"-2\" is negative"),
        ("empty.csv", b"", "no data lines"),
        (
            "junk.bin",
            b"\x00\x01\x02\xff\xfe junk",
            "line 1: binary data",
        ),
    ];
    for (name, content, needle) in cases {
        let input = d.path().join(name);
        fs::write(&input, content).unwrap();
        let out = d.path().join(format!("{name}.model"));
        let report = d.path().join(format!("{name}.json"));
        let o = fit(&input, &out, &["--report", s(&report)]);
        fails_with(&o, needle);
        fails_with(&o, name);
        assert!(!out.exists() && !report.exists(), "{name}: output created");
    }
    let out = d.path().join("m");
    fails_with(&fit(&d.path().join("nope.csv"), &out, &[]), "nope.csv");
    assert!(!out.exists());
    let input = tiny(d.path());
    fails_with(
        &fit(&input, Path::new("/nonexistent-dir/m"), &[]),
        "/nonexistent-dir",
    );
    for (flags, needle) in [
        (&["--factors", "0"][..], "factors cannot be 0"),
        (&["--iterations", "0"][..], "iterations cannot be 0"),
        (&["--regularization", "-1"][..], "regularization must be"),
        (&["--alpha", "nan"][..], "alpha must be"),
        (&["--epsilon", "0"][..], "epsilon must be"),
        (
            &["--unobserved-weight", "-0.5"][..],
            "unobserved_weight must be",
        ),
        (&["--solver", "magic"][..], "unknown solver"),
        (&["--confidence", "cubic"][..], "unknown confidence"),
        (&["--cg-steps", "0"][..], "cg_steps cannot be 0"),
        (&["--block-size", "9"][..], "block_size (9) cannot exceed"),
        (&["--threads", "0"][..], "threads cannot be 0"),
        (&["--init-std", "-1"][..], "init_std must be"),
        (&["--delimiter", "ab"][..], "invalid --delimiter"),
        (&["--columns", "1,1"][..], "invalid --columns"),
    ] {
        fails_with(&fit(&input, &out, flags), needle);
        assert!(!out.exists(), "{flags:?}: output created");
    }
}

#[test]
fn bad_models_and_lists_fail_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    ok(&fit(&input, &model, &[]));
    let recs = d.path().join("r.csv");
    let ulist = d.path().join("u.txt");
    fs::write(&ulist, "user1\nstranger\n").unwrap();
    fails_with(
        &ials(&[
            "recommend",
            "--model",
            s(&model),
            "--users",
            s(&ulist),
            "--k",
            "2",
            "--output",
            s(&recs),
        ]),
        "line 2: unknown user id \"stranger\"",
    );
    assert!(!recs.exists());
    fails_with(
        &ials(&[
            "recommend",
            "--model",
            s(&model),
            "--k",
            "2",
            "--output",
            s(&recs),
        ]),
        "give --all, --users FILE, --history FILE or --user-features FILE",
    );
    let p = model.join("item_factors.npy");
    let mut b = fs::read(&p).unwrap();
    b.truncate(b.len() - 4);
    fs::write(&p, &b).unwrap();
    for args in [
        vec![
            "recommend",
            "--model",
            s(&model),
            "--all",
            "--k",
            "2",
            "--output",
            s(&recs),
        ],
        vec![
            "similar",
            "--model",
            s(&model),
            "--all-items",
            "--k",
            "2",
            "--output",
            s(&recs),
        ],
        vec!["export", "--model", s(&model), "--output", s(&recs)],
        vec!["info", "--model", s(&model), "--verify"],
    ] {
        fails_with(&ials(&args), "item_factors.npy");
        assert!(!recs.exists(), "{args:?}");
    }
    fails_with(
        &ials(&["info", "--model", s(&d.path().join("none"))]),
        "none",
    );
}

/// End to end on MovieLens 100K: fit -> export -> numpy, and a saved model
/// recommends what the exported factors say.
#[test]
fn real_dataset_end_to_end() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets"));
    let data = root.join("ml-100k/u.data");
    if !data.exists() {
        eprintln!("skipping: {} not found", data.display());
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m");
    let o = ials(&[
        "fit",
        "--input",
        s(&data),
        "--output",
        s(&model),
        "--factors",
        "8",
        "--iterations",
        "2",
        "--quiet",
        "--columns",
        "1,2",
        "--seed",
        "3",
    ]);
    ok(&o);
    let m = ials::Model::load(&model).unwrap();
    assert_eq!(
        (m.n_users(), m.n_items(), m.train().nnz()),
        (943, 1682, 100_000)
    );
    let out = d.path().join("e");
    ok(&ials(&[
        "export",
        "--model",
        s(&model),
        "--output",
        s(&out),
    ]));
    let recs = d.path().join("r.csv");
    ok(&ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--k",
        "5",
        "--output",
        s(&recs),
    ]));
    let text = fs::read_to_string(&recs).unwrap();
    let filter = ials::Filter::new().exclude_seen(true);
    let mut lines = text.lines().skip(1);
    for u in 0..m.n_users() {
        for (rank, (i, score)) in m.recommend(u, 5, &filter).unwrap().into_iter().enumerate() {
            let line = lines.next().unwrap();
            assert_eq!(
                line,
                format!(
                    "{},{},{},{}",
                    m.users().id(u as u32),
                    m.items().id(i),
                    rank + 1,
                    score
                )
            );
            assert!(m.user_history(u).indices.binary_search(&i).is_err());
        }
    }
    let python = [
        std::env::var("HOME")
            .map(|h| format!("{h}/peers-venv/bin/python"))
            .unwrap_or_default(),
        "python3".into(),
    ];
    let py = python.iter().find(|p| {
        Command::new(p)
            .args(["-c", "import numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    let Some(py) = py else {
        eprintln!("skipping the numpy check: no python with numpy");
        return;
    };
    let script = format!(
        "import numpy as np; x = np.load('{0}/user_factors.npy'); y = np.load('{0}/item_factors.npy'); \
         assert x.dtype == np.float32 and x.shape == (943, 8) and y.shape == (1682, 8); \
         print(float((x[0] @ y[0])))",
        s(&out)
    );
    let o = Command::new(py).args(["-c", &script]).output().unwrap();
    ok(&o);
    let got: f32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!((got - m.score(0, 0)).abs() <= 1e-5 * (1.0 + got.abs()));
}

fn read_csv_rows(p: &Path) -> Vec<Vec<String>> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn history_fold_in_explain_and_update() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    ok(&fit(&input, &model, &["--solver", "cholesky"]));

    // A new user and a known one, with an item the model does not know.
    let hist = d.path().join("hist.csv");
    fs::write(
        &hist,
        "newbie,item1,1\nnewbie,item4,2\nnewbie,nosuch,1\nuser3,item3,1\n",
    )
    .unwrap();
    let recs = d.path().join("recs.csv");
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--history",
        s(&hist),
        "--k",
        "3",
        "--output",
        s(&recs),
    ]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 item ids the model does not know"), "{err}");
    assert!(err.contains("nosuch"), "{err}");
    // The library path gives the same lists.
    let m = ials::Model::load(&model).unwrap();
    let lib = ials::serve::recommend_history(
        &m,
        &hist,
        &ials::data::read::ReadOptions::default(),
        3,
        &ials::Filter::new().exclude_seen(true),
    )
    .unwrap();
    let rows = read_csv_rows(&recs);
    let mut expected = Vec::new();
    for u in &lib.users {
        for (r, &(i, sc)) in u.recommendations.iter().enumerate() {
            expected.push(vec![
                u.id.clone(),
                m.items().id(i).to_owned(),
                (r + 1).to_string(),
                sc.to_string(),
            ]);
        }
    }
    assert_eq!(rows, expected);
    assert_eq!(rows.iter().filter(|r| r[0] == "newbie").count(), 3);
    // History items are excluded by default.
    assert!(rows
        .iter()
        .all(|r| !(r[0] == "newbie" && (r[1] == "item1" || r[1] == "item4"))));

    // Explain: the contributions listed (all of them) sum to the score.
    let o = ials(&[
        "explain",
        "--model",
        s(&model),
        "--user",
        "user3",
        "--item",
        "item5",
        "--top",
        "100",
    ]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    let score: f64 = out
        .split("score ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let sum: f64 = out
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((sum - score).abs() <= 1e-5 * score.abs().max(1.0), "{out}");
    fails_with(
        &ials(&[
            "explain",
            "--model",
            s(&model),
            "--user",
            "ghost",
            "--item",
            "item5",
        ]),
        "ghost",
    );

    // Update: new user, new item, new pair; the old model stays as it was.
    let new = d.path().join("new.csv");
    fs::write(&new, "user0,item_new,2\nstranger,item2,1\n").unwrap();
    let m2 = d.path().join("m2");
    ok(&ials(&[
        "update",
        "--model",
        s(&model),
        "--input",
        s(&new),
        "--output",
        s(&m2),
    ]));
    let updated = ials::Model::load(&m2).unwrap();
    assert_eq!(updated.n_users(), m.n_users() + 1);
    assert_eq!(updated.n_items(), m.n_items() + 1);
    assert!(updated.users().get("stranger").is_some());
    assert!(updated.items().get("item_new").is_some());
    assert_eq!(
        ials::Model::load(&model).unwrap().user_factors(),
        m.user_factors()
    );
    // Untouched users keep their rows: user5 has no item in common with
    // the update (item2, item_new) and is not user0.
    let u5 = m.users().get("user5").unwrap() as usize;
    let touched = m
        .user_history(u5)
        .indices
        .contains(&m.items().get("item2").unwrap());
    if !touched {
        assert_eq!(updated.user_factors().row(u5), m.user_factors().row(u5));
    }
    // The updated model recommends and exports.
    let exported = d.path().join("exp");
    ok(&ials(&[
        "export",
        "--model",
        s(&m2),
        "--output",
        s(&exported),
    ]));
    let users = fs::read_to_string(exported.join("users.txt")).unwrap();
    assert_eq!(users.lines().last(), Some("stranger"));
    // Bad update input: nothing written.
    fs::write(&new, "user0,item1,nan\n").unwrap();
    let m3 = d.path().join("m3");
    fails_with(
        &ials(&[
            "update",
            "--model",
            s(&model),
            "--input",
            s(&new),
            "--output",
            s(&m3),
        ]),
        "line 1",
    );
    assert!(!m3.exists());
}

#[test]
fn similar_users_and_filters() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    ok(&fit(&input, &model, &[]));
    let m = ials::Model::load(&model).unwrap();
    let out = d.path().join("sim.csv");
    ok(&ials(&[
        "similar",
        "--model",
        s(&model),
        "--all-users",
        "--k",
        "4",
        "--output",
        s(&out),
    ]));
    let rows = read_csv_rows(&out);
    assert_eq!(rows.len(), m.n_users() * 4);
    // Brute-force cosine for each user.
    let x = m.user_factors();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    for u in 0..m.n_users() {
        let uid = m.users().id(u as u32);
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == uid).collect();
        let mut all: Vec<(f32, usize)> = (0..m.n_users())
            .filter(|&v| v != u)
            .map(|v| {
                let c = x
                    .row(u)
                    .iter()
                    .zip(x.row(v))
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    / (norm(x.row(u)) * norm(x.row(v)));
                (c, v)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (r, row) in mine.iter().enumerate() {
            let sc: f32 = row[3].parse().unwrap();
            assert!((sc - all[r].0).abs() < 1e-4, "user {uid} rank {r}");
            assert_ne!(row[1], uid);
        }
    }
    // Item filters: excluded items never appear, candidates bound the output.
    let ex = d.path().join("ex.txt");
    fs::write(&ex, "item1\nitem3\n").unwrap();
    let cand = d.path().join("cand.txt");
    fs::write(&cand, "item0\nitem1\nitem2\nitem5\n").unwrap();
    ok(&ials(&[
        "similar",
        "--model",
        s(&model),
        "--all-items",
        "--k",
        "10",
        "--exclude",
        s(&ex),
        "--candidates",
        s(&cand),
        "--output",
        s(&out),
    ]));
    for r in read_csv_rows(&out) {
        assert!(
            ["item0", "item2", "item5"].contains(&r[1].as_str()),
            "{r:?}"
        );
        assert_ne!(r[0], r[1]);
    }
    fails_with(
        &ials(&["similar", "--model", s(&model), "--k", "3", "--output", "-"]),
        "give --all-items",
    );
}

#[test]
fn fit_with_validation_keeps_the_best_iteration() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let valid = d.path().join("valid.csv");
    fs::write(
        &valid,
        "user0,item9\nuser1,item0\nuser2,item5\nghost,item1\n",
    )
    .unwrap();
    let model = d.path().join("m");
    let report = d.path().join("r.json");
    ok(&fit(
        &input,
        &model,
        &[
            "--iterations",
            "12",
            "--validation",
            s(&valid),
            "--patience",
            "2",
            "--metric",
            "ndcg@5",
            "--report",
            s(&report),
        ],
    ));
    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let v = &r["validation"];
    assert_eq!(v["metric"], "ndcg@5");
    let best = v["best_iteration"].as_u64().unwrap() as usize;
    let hist = v["history"].as_array().unwrap();
    assert!(best >= 1 && best <= hist.len());
    let best_value = v["best_value"].as_f64().unwrap();
    assert!(hist
        .iter()
        .all(|h| h["value"].as_f64().unwrap() <= best_value));
    // Stopped by patience or by the iteration budget.
    assert!(hist.len() == 12 || hist.len() == best + 2, "{v}");
    let m = ials::Model::load(&model).unwrap();
    assert_eq!(m.params().iterations(), best);
    assert_eq!(m.loss_history().len(), best);

    // A validation file naming nobody of the input, a bad metric, a metric
    // without a validation file: clear errors, nothing written.
    fs::write(&valid, "ghost,item1\n").unwrap();
    let m2 = d.path().join("m2");
    fails_with(
        &fit(&input, &m2, &["--validation", s(&valid)]),
        "no validation pair",
    );
    fails_with(
        &fit(
            &input,
            &m2,
            &["--validation", s(&valid), "--metric", "bogus@3"],
        ),
        "bogus",
    );
    fails_with(&fit(&input, &m2, &["--patience", "3"]), "--validation");
    assert!(!m2.exists());
}

#[test]
fn fit_with_item_features_serves_cold_items() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let feats = d.path().join("items.csv");
    let mut text = String::from("item,feature,value\n");
    for i in 0..10 {
        text.push_str(&format!("item{i},g{}\n", i % 3));
    }
    text.push_str("cold_item,g1\ncold_item,g2,0.5\n");
    fs::write(&feats, &text).unwrap();
    let model = d.path().join("m");
    let o = fit(&input, &model, &["--item-features", s(&feats)]);
    ok(&o);
    let m = ials::Model::load(&model).unwrap();
    let cold = m.items().get("cold_item").expect("cold item in the model") as usize;
    assert_eq!(m.n_items(), 11);
    assert!(m.item_factors().row(cold).iter().any(|&v| v != 0.0));
    // Export includes it; recommend can rank it as a candidate.
    let exported = d.path().join("exp");
    ok(&ials(&[
        "export",
        "--model",
        s(&model),
        "--output",
        s(&exported),
    ]));
    assert!(fs::read_to_string(exported.join("items.txt"))
        .unwrap()
        .lines()
        .any(|l| l == "cold_item"));
    let cand = d.path().join("cand.txt");
    fs::write(&cand, "cold_item\n").unwrap();
    let recs = d.path().join("recs.csv");
    ok(&ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--candidates",
        s(&cand),
        "--k",
        "1",
        "--output",
        s(&recs),
    ]));
    let rows = read_csv_rows(&recs);
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r[1] == "cold_item"));
    // Same seed, one or two threads: the same model files.
    let m1 = d.path().join("t1");
    let m2 = d.path().join("t2");
    ok(&fit(
        &input,
        &m1,
        &["--item-features", s(&feats), "--threads", "1"],
    ));
    ok(&fit(
        &input,
        &m2,
        &["--item-features", s(&feats), "--threads", "2"],
    ));
    for f in ["item_factors.npy", "user_factors.npy"] {
        assert_eq!(
            fs::read(m1.join(f)).unwrap(),
            fs::read(m2.join(f)).unwrap(),
            "{f}"
        );
    }

    // Bad feature files: line-numbered errors, nothing written.
    let bad = d.path().join("bad.csv");
    let out = d.path().join("never");
    for (body, needle) in [
        ("item1,g1\nitem2,g2,inf\n", "line 2"),
        ("item1\n", "line 1"),
        ("", "no data lines"),
    ] {
        fs::write(&bad, body).unwrap();
        fails_with(&fit(&input, &out, &["--item-features", s(&bad)]), needle);
        assert!(!out.exists());
    }
    fails_with(
        &fit(
            &input,
            &out,
            &["--item-features", s(&d.path().join("missing.csv"))],
        ),
        "missing.csv",
    );
    fails_with(
        &fit(
            &input,
            &out,
            &["--item-features", s(&feats), "--validation", s(&input)],
        ),
        "not supported with feature towers",
    );
    fails_with(
        &fit(
            &input,
            &out,
            &["--item-features", s(&feats), "--item-feature-reg", "-1"],
        ),
        "regularization",
    );
    assert!(!out.exists());
}

#[test]
fn closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let d = tempfile::tempdir().unwrap();
    // Enough output (2000 items x 50 rows) to overflow any pipe buffer.
    let input = d.path().join("big.csv");
    let text: String = (0..2000)
        .map(|i| format!("u{},i{i}\nu{},i{i}\n", i % 97, (i * 7) % 89))
        .collect();
    fs::write(&input, text).unwrap();
    let model = d.path().join("m");
    ok(&fit(&input, &model, &[]));
    let mut child = Command::new(BIN)
        .args(["similar", "--model", s(&model), "--all-items", "--k", "50"])
        .args(["--output", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "item,similar,rank,score\n");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Killed by SIGPIPE, as `head` expects of a Unix tool.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(13), "{:?} {err}", o.status);
    }
}

#[test]
fn leave_one_out_by_timestamp_takes_each_users_latest_item() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("ts.csv");
    let mut text = String::new();
    for u in 0..6 {
        for j in 0..5 {
            // Latest item of user u is item (u + 2) % 5 (timestamp 100).
            let t = if j == (u + 2) % 5 { 100 } else { 10 + j };
            text.push_str(&format!("u{u},i{j},1,{t}\n"));
        }
    }
    fs::write(&input, text).unwrap();
    let out = d.path().join("split");
    ok(&ials(&[
        "split",
        "--input",
        s(&input),
        "--output",
        s(&out),
        "--method",
        "leave-k-out",
        "--timestamp-column",
        "4",
    ]));
    let test = fs::read_to_string(out.join("test.csv")).unwrap();
    let mut got: Vec<String> = test
        .lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    got.sort();
    let want: Vec<String> = (0..6).map(|u| format!("u{u},i{}", (u + 2) % 5)).collect();
    assert_eq!(got, want);
    assert_eq!(
        fs::read_to_string(out.join("train.csv"))
            .unwrap()
            .lines()
            .count(),
        24
    );
    fails_with(
        &ials(&[
            "split",
            "--input",
            s(&input),
            "--output",
            s(&out),
            "--method",
            "leave-k-out",
            "--timestamp-column",
            "0",
        ]),
        "--timestamp-column",
    );
}

#[test]
fn eval_with_several_cutoffs_equals_one_run_per_cutoff() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let test = d.path().join("test.csv");
    fs::write(
        &test,
        "user0,item9\nuser1,item0\nuser2,item5\nuser3,item8\n",
    )
    .unwrap();
    let run = |k: &str| -> serde_json::Value {
        let o = ials(&[
            "eval",
            "--train",
            s(&input),
            "--test",
            s(&test),
            "--baseline",
            "popularity,item-knn,ials",
            "--k",
            k,
            "--json",
        ]);
        ok(&o);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let both = run("5,2");
    let rows = both.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for k in [2u64, 5] {
        let one = run(&k.to_string());
        for r in one.as_array().unwrap() {
            assert_eq!(r["k"], k);
            let same = rows
                .iter()
                .find(|x| x["model"] == r["model"] && x["k"] == k)
                .unwrap();
            assert_eq!(same["metrics"], r["metrics"], "{} k={k}", r["model"]);
        }
    }
    fails_with(
        &ials(&["eval", "--train", s(&input), "--test", s(&test), "--k", "0"]),
        "--k",
    );
}

#[test]
fn users_first_described_after_the_fit_are_embedded_by_the_saved_tower() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let feats = d.path().join("users.csv");
    let mut text = String::new();
    for u in 0..12 {
        text.push_str(&format!("user{u},age{}\nuser{u},zip{}\n", u % 3, u % 2));
    }
    text.push_str("newbie,age1\nnewbie,zip0\n");
    fs::write(&feats, &text).unwrap();
    let model = d.path().join("m");
    ok(&fit(&input, &model, &["--user-features", s(&feats)]));
    assert!(model.join("user_tower_features.txt").exists());
    assert!(model.join("user_tower_weights.npy").exists());
    assert!(!model.join("item_tower_weights.npy").exists());
    // `newbie` was cold at fit time (in the model); `late` has the same
    // features but was never seen: the saved tower gives it the same lists.
    let list = d.path().join("newbie.txt");
    fs::write(&list, "newbie\n").unwrap();
    let a = d.path().join("a.csv");
    ok(&ials(&[
        "recommend",
        "--model",
        s(&model),
        "--users",
        s(&list),
        "--k",
        "4",
        "--output",
        s(&a),
    ]));
    let late = d.path().join("late.csv");
    fs::write(
        &late,
        "late,age1\nlate,zip0\nlate,no_such_feature\nuser3,age0\n",
    )
    .unwrap();
    let b = d.path().join("b.csv");
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--user-features",
        s(&late),
        "--k",
        "4",
        "--output",
        s(&b),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 feature values name features"));
    let (ra, rb) = (read_csv_rows(&a), read_csv_rows(&b));
    let late_rows: Vec<&Vec<String>> = rb.iter().filter(|r| r[0] == "late").collect();
    assert_eq!(late_rows.len(), 4);
    for (x, y) in ra.iter().zip(&late_rows) {
        assert_eq!((&x[1], &x[2]), (&y[1], &y[2]));
        let (sx, sy): (f32, f32) = (x[3].parse().unwrap(), y[3].parse().unwrap());
        assert!((sx - sy).abs() <= 1e-5 * sx.abs().max(1.0), "{x:?} {y:?}");
    }
    // A known user keeps its own factors and its training items stay out.
    let m = ials::Model::load(&model).unwrap();
    let u3 = m.users().get("user3").unwrap() as usize;
    let want = m
        .recommend(u3, 4, &ials::Filter::new().exclude_seen(true))
        .unwrap();
    let got: Vec<&Vec<String>> = rb.iter().filter(|r| r[0] == "user3").collect();
    assert_eq!(got.len(), want.len());
    for (r, (i, _)) in got.iter().zip(&want) {
        assert_eq!(r[1], m.items().id(*i));
    }
    // Without a user tower, a new user is a clear error and nothing is written.
    let plain = d.path().join("plain");
    ok(&fit(&input, &plain, &[]));
    let c = d.path().join("c.csv");
    fails_with(
        &ials(&[
            "recommend",
            "--model",
            s(&plain),
            "--user-features",
            s(&late),
            "--k",
            "4",
            "--output",
            s(&c),
        ]),
        "no user feature tower",
    );
    assert!(!c.exists());
}

#[test]
fn twotower_saves_a_model_that_recommend_and_export_serve() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(dir.path());
    let model = dir.path().join("tt");
    let report = dir.path().join("tt.json");
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&model),
        "--factors",
        "4",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--loss",
        "mixed",
        "--negatives",
        "4",
        "--logq",
        "exact",
        "--hidden",
        "6",
        "--report",
        s(&report),
        "--quiet",
    ]);
    ok(&o);
    // A standard model directory: recommend serves it, its manifest lists
    // the two-tower settings, the report has one entry per epoch.
    assert!(model.join("twotower.json").is_file());
    let settings: serde_json::Value =
        serde_json::from_slice(&fs::read(model.join("twotower.json")).unwrap()).unwrap();
    assert_eq!(settings["twotower"]["loss"], "mixed");
    assert_eq!(settings["twotower"]["hidden"], serde_json::json!([6]));
    assert_eq!(settings["twotower"]["mask_user_items"], true);
    // --no-mask-user-items reaches the trainer (and the saved settings).
    let unmasked = dir.path().join("tt-unmasked");
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&unmasked),
        "--factors",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--no-mask-user-items",
        "--quiet",
    ]);
    ok(&o);
    let settings: serde_json::Value =
        serde_json::from_slice(&fs::read(unmasked.join("twotower.json")).unwrap()).unwrap();
    assert_eq!(settings["twotower"]["mask_user_items"], false);
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["epochs"].as_array().unwrap().len(), 3);
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--k",
        "3",
        "--output",
        "-",
    ]);
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 1 + 12 * 3, "{text}");
    let o = ials(&["info", "--model", s(&model), "--verify"]);
    ok(&o);
    // Bad settings are typed errors naming the setting, and nothing is written.
    let bad = dir.path().join("bad");
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&bad),
        "--loss",
        "mixed",
        "--quiet",
    ]);
    fails_with(&o, "negatives must be at least 1 with loss mixed");
    assert!(!bad.exists());
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&bad),
        "--loss",
        "softmaxx",
    ]);
    fails_with(&o, "softmaxx");
    assert!(!bad.exists());
}

#[test]
fn bench_reports_its_run_and_scores_saved_factors_with_the_checked_reader() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ints.csv");
    let mut text = String::new();
    for u in 0..30u32 {
        for j in 0..5u32 {
            text.push_str(&format!(
                "{u},{},{}\n",
                (u * 7 + j * 3) % 20,
                1 + (u + j) % 4
            ));
        }
    }
    fs::write(&csv, text).unwrap();
    let base = [
        "bench",
        "--csv",
        s(&csv),
        "--factors",
        "3",
        "--iterations",
        "3",
        "--threads",
        "1",
    ];
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        let o = ials(&a);
        ok(&o);
        let out = String::from_utf8(o.stdout).unwrap();
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    };
    let r = run(&[]);
    assert_eq!(
        (r["users"].as_u64(), r["items"].as_u64()),
        (Some(30), Some(20))
    );
    assert_eq!(r["init"], "uniform[0,0.01)");
    let loss: Vec<f64> = serde_json::from_value(r["loss"].clone()).unwrap();
    assert_eq!(loss.len(), 3);
    assert!(loss[2] <= loss[0], "{loss:?}");
    assert_eq!(run(&["--init-uniform", "0.5"])["init"], "uniform[0,0.5)");
    // Factors saved by another system: its loss on our objective.
    let theirs = dir.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    let u: Vec<f32> = (0..30 * 3).map(|v| (v % 7) as f32 * 0.05).collect();
    let v: Vec<f32> = (0..20 * 3).map(|v| (v % 5) as f32 * 0.05).collect();
    ials::io::npy::save_f32(&theirs.join("U.npy"), 30, 3, &u).unwrap();
    ials::io::npy::save_f32(&theirs.join("V.npy"), 20, 3, &v).unwrap();
    let r = run(&["--eval-factors", s(&theirs)]);
    let their_loss = r["their_loss"].as_f64().unwrap();
    assert!(their_loss.is_finite() && their_loss > 0.0);
    // The wrong shape, and a truncated file, are typed errors naming the file.
    ials::io::npy::save_f32(&theirs.join("V.npy"), 19, 3, &v[..57]).unwrap();
    let mut a = base.to_vec();
    a.extend_from_slice(&["--eval-factors", s(&theirs)]);
    fails_with(&ials(&a), "factors are 30x3 and 19x3");
    let bytes = fs::read(theirs.join("U.npy")).unwrap();
    fs::write(theirs.join("U.npy"), &bytes[..bytes.len() - 8]).unwrap();
    fails_with(&ials(&a), "U.npy");
}

#[test]
fn twotower_features_validation_prior_and_tune() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(dir.path());
    // Item features: a genre per item, and one cold item with no interactions.
    let feats = dir.path().join("items.csv");
    let mut text = String::from("item,feature\n");
    for i in 0..10 {
        text.push_str(&format!("item{i},g{}\n", i % 3));
    }
    text.push_str("coldie,g1\n");
    fs::write(&feats, text).unwrap();
    let valid = dir.path().join("valid.csv");
    fs::write(
        &valid,
        "user0,item9\nuser1,item0\nuser2,item1\nuser3,item2\n",
    )
    .unwrap();
    let model = dir.path().join("tt");
    let report = dir.path().join("tt.json");
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&model),
        "--factors",
        "4",
        "--epochs",
        "8",
        "--batch-size",
        "8",
        "--item-features",
        s(&feats),
        "--validation",
        s(&valid),
        "--patience",
        "2",
        "--popularity-prior",
        "0.5",
        "--report",
        s(&report),
    ]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 cold items"), "{err}");
    assert!(err.contains("validation recall@20"), "{err}");
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let best = r["validation"]["best_iteration"].as_u64().unwrap();
    assert_eq!(r["epochs"].as_array().unwrap().len() as u64, best);
    assert_eq!(r["cold_items"], 1);
    // The cold item is part of the served catalogue.
    let items = fs::read_to_string(model.join("items.txt")).unwrap();
    assert!(items.lines().any(|l| l == "coldie"), "{items}");
    let q = dir.path().join("q.txt");
    fs::write(&q, "coldie\n").unwrap();
    let o = ials(&[
        "similar",
        "--model",
        s(&model),
        "--items",
        s(&q),
        "--k",
        "2",
        "--output",
        "-",
    ]);
    ok(&o);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    // recommend and eval with the prior; 0 is the plain ranking.
    let rec = |beta: &str| {
        let o = ials(&[
            "recommend",
            "--model",
            s(&model),
            "--all",
            "--k",
            "11",
            "--include-seen",
            "--popularity-prior",
            beta,
            "--output",
            "-",
        ]);
        ok(&o);
        String::from_utf8(o.stdout).unwrap()
    };
    let plain = rec("0");
    assert_eq!(plain.lines().count(), 1 + 12 * 11);
    assert!(plain.contains("coldie"));
    let strong = rec("50");
    // With a huge β the ranking is popularity order: the cold item (count 0) last.
    let first_user: Vec<&str> = strong.lines().skip(1).take(11).collect();
    assert!(first_user[10].contains(",coldie,"), "{first_user:?}");
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--popularity-prior",
        "nan",
        "--output",
        "-",
    ]);
    fails_with(&o, "popularity-prior must be finite");
    let ev = |beta: &str| {
        let o = ials(&[
            "eval",
            "--train",
            s(&input),
            "--test",
            s(&valid),
            "--model",
            s(&model),
            "--popularity-prior",
            beta,
            "--json",
        ]);
        ok(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0]["metrics"]["mean_popularity"].as_f64().unwrap()
    };
    assert!(ev("5") >= ev("0"));
    // tune --kind twotower: one trial, a model directory with tune.json.
    let tuned = dir.path().join("tuned");
    let o = ials(&[
        "tune",
        "--kind",
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&tuned),
        "--max-trials",
        "2",
        "--factors",
        "4",
        "--batch-size",
        "8",
        "--max-epochs",
        "3",
        "--logq",
        "exact",
        "--priors",
        "0,1",
        "--item-features",
        s(&feats),
        "--quiet",
    ]);
    ok(&o);
    let t: serde_json::Value =
        serde_json::from_slice(&fs::read(tuned.join("tune.json")).unwrap()).unwrap();
    assert_eq!(t["kind"], "twotower");
    assert_eq!(t["trials"], 2);
    let o = ials(&["info", "--model", s(&tuned), "--verify"]);
    ok(&o);
    let o = ials(&[
        "tune",
        "--kind",
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&tuned),
        "--loss",
        "mixed",
        "--quiet",
    ]);
    fails_with(&o, "negatives");
    // A bad feature file is an error naming the file and line; nothing written.
    let bad_feats = dir.path().join("bad_items.csv");
    fs::write(&bad_feats, "item0,g0\nitem1,g1,abc\n").unwrap();
    let bad = dir.path().join("bad");
    let o = ials(&[
        "twotower",
        "--input",
        s(&input),
        "--output",
        s(&bad),
        "--item-features",
        s(&bad_feats),
        "--quiet",
    ]);
    fails_with(&o, "bad_items.csv: line 2");
    assert!(!bad.exists());
}

#[test]
fn tune_with_item_features_writes_a_tower_model_and_checks_the_cold_metric() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(dir.path());
    let feats = dir.path().join("items.csv");
    let mut text = String::from("item,feature\n");
    for i in 0..10 {
        text.push_str(&format!("item{i},g{}\nitem{i},h{}\n", i % 2, i % 3));
    }
    text.push_str("fresh,g0\n");
    fs::write(&feats, text).unwrap();
    let tuned = dir.path().join("tuned");
    let args = |metric: &'static str, features: bool| {
        let mut a = vec![
            "tune",
            "--input",
            s(&input),
            "--output",
            s(&tuned),
            "--metric",
            metric,
            "--max-trials",
            "2",
            "--small-factors",
            "4",
            "--max-factors",
            "4",
            "--max-iterations",
            "3",
            "--threads",
            "1",
            "--quiet",
        ];
        if features {
            a.extend(["--item-features", s(&feats)]);
        }
        a
    };
    // A cold-item metric needs item features: a typed error, nothing written.
    let o = ials(&args("cold-recall@5", false));
    fails_with(&o, "needs item features");
    assert!(!tuned.exists());
    let o = ials(&args("cold-recall@5", true));
    ok(&o);
    let t: serde_json::Value =
        serde_json::from_slice(&fs::read(tuned.join("tune.json")).unwrap()).unwrap();
    assert_eq!(t["metric"], "cold-recall@5");
    assert!(t["tower_params"]["item_feature_reg"].is_number());
    // The standard tower model directory: the item in the feature file
    // only is served cold.
    let o = ials(&["info", "--model", s(&tuned), "--verify"]);
    ok(&o);
    let q = dir.path().join("q.txt");
    fs::write(&q, "fresh\n").unwrap();
    let o = ials(&[
        "similar",
        "--model",
        s(&tuned),
        "--items",
        s(&q),
        "--k",
        "3",
        "--output",
        "-",
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("fresh,"));
}
