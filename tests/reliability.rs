#![cfg(unix)]
//! Outputs, model files and inputs that cannot be turned against the user
//! (issue #11), through the built `ials` binary.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ials");

fn ials(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run ials")
}

fn ials_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ials")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Exit code 1 (a typed error, not an abort) whose message holds `needle`.
fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "status {:?}: {err}", o.status);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
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

fn fit_args<'a>(input: &'a Path, model: &'a Path, factors: &'a str) -> Vec<&'a str> {
    vec![
        "fit",
        "--input",
        s(input),
        "--output",
        s(model),
        "--factors",
        factors,
        "--iterations",
        "2",
        "--quiet",
    ]
}

fn fit(input: &Path, model: &Path, factors: &str) {
    ok(&ials(&fit_args(input, model, factors)));
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `factors:` line of `ials info --verify`, which must succeed.
fn verified_factors(model: &Path) -> usize {
    let o = ials(&["info", "--model", s(model), "--verify"]);
    ok(&o);
    let out = stdout(&o);
    let line = out.lines().find(|l| l.starts_with("factors:")).unwrap();
    line["factors:".len()..].trim().parse().unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    v.sort();
    v
}

/// Rewrite the manifest's length and checksum of `name` after editing it.
fn reseal(model: &Path, name: &str) {
    let data = fs::read(model.join(name)).unwrap();
    let mpath = model.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    m["files"][name] = serde_json::json!({
        "bytes": data.len(),
        "crc32": crc32fast::hash(&data),
    });
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// A process id that is not running any more.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn mkfifo(p: &Path) {
    ok(&Command::new("mkfifo").arg(p).output().unwrap());
}

// 1. Outputs that are not regular files are streamed to; symlinks stay.
#[test]
fn fifo_symlink_and_dev_stdout_outputs() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    fit(&input, &model, "4");
    let rec = |out: &Path| {
        ials(&[
            "recommend",
            "--model",
            s(&model),
            "--all",
            "--k",
            "2",
            "--output",
            s(out),
        ])
    };
    let expected = {
        let p = d.path().join("plain.csv");
        ok(&rec(&p));
        fs::read_to_string(&p).unwrap()
    };
    assert!(expected.lines().count() > 12, "{expected}");

    // A FIFO: read by another process while ials writes; it stays a FIFO.
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };
    ok(&rec(&fifo));
    assert_eq!(reader.join().unwrap(), expected);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

    // --report to a FIFO as well.
    let rfifo = d.path().join("report.fifo");
    mkfifo(&rfifo);
    let reader = {
        let f = rfifo.clone();
        std::thread::spawn(move || fs::read_to_string(f).unwrap())
    };
    let mut args = fit_args(&input, &model, "4");
    args.extend(["--report", s(&rfifo)]);
    ok(&ials(&args));
    let report: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(report["users"], 12);

    // A symlink: the target is replaced, the link stays a link.
    let target = d.path().join("target.csv");
    fs::write(&target, "old\n").unwrap();
    let link = d.path().join("link.csv");
    std::os::unix::fs::symlink("target.csv", &link).unwrap();
    ok(&rec(&link));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&target).unwrap(), expected);
    // A dangling link: the target is created.
    let dangling = d.path().join("dangling.csv");
    std::os::unix::fs::symlink("new.csv", &dangling).unwrap();
    ok(&rec(&dangling));
    assert!(fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(d.path().join("new.csv")).unwrap(),
        expected
    );

    // /dev/stdout and /proc/self/fd/1 are this process's standard output.
    for out in ["/dev/stdout", "/proc/self/fd/1", "-"] {
        let o = rec(Path::new(out));
        ok(&o);
        assert_eq!(stdout(&o), expected, "{out}");
    }
    // /dev/null stays a character device.
    ok(&rec(Path::new("/dev/null")));
    assert!(!fs::metadata("/dev/null").unwrap().is_file());
    // A directory is an error, not replaced.
    fails_with(&rec(d.path()), "directory");
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}

/// A v1 `.npy` header for a float32 matrix of the given shape text.
fn npy_with_shape(shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

// 2. A crafted header claiming (10^12, k) is a typed error, not an abort.
#[test]
fn crafted_npy_header_is_a_typed_error() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    fit(&input, &model, "4");
    let f = model.join("user_factors.npy");
    let data = fs::read(&f).unwrap();
    let body = &data[128.min(data.len())..];
    fs::write(&f, npy_with_shape("(1000000000000, 4)", body)).unwrap();
    reseal(&model, "user_factors.npy");
    for args in [
        vec!["info", "--model", s(&model), "--verify"],
        vec!["recommend", "--model", s(&model), "--all", "--output", "-"],
        vec![
            "export",
            "--model",
            s(&model),
            "--output",
            s(&d.path().join("x")),
        ],
    ] {
        let o = ials(&args);
        fails_with(&o, "user_factors.npy");
        fails_with(&o, "expected 12 x 4");
    }
    // eval --user-factors: no manifest to compare with, the length decides.
    let (uf, itf) = (d.path().join("u.npy"), d.path().join("i.npy"));
    fs::write(&uf, npy_with_shape("(1000000000000, 4)", &[0u8; 64])).unwrap();
    fs::write(&itf, npy_with_shape("(10, 4)", &[0u8; 160])).unwrap();
    let (ul, il) = (d.path().join("u.txt"), d.path().join("i.txt"));
    fs::write(
        &ul,
        (0..12).map(|u| format!("user{u}\n")).collect::<String>(),
    )
    .unwrap();
    fs::write(
        &il,
        (0..10).map(|i| format!("item{i}\n")).collect::<String>(),
    )
    .unwrap();
    let o = ials(&[
        "eval",
        "--train",
        s(&input),
        "--test",
        s(&input),
        "--user-factors",
        s(&uf),
        "--item-factors",
        s(&itf),
        "--users",
        s(&ul),
        "--items",
        s(&il),
    ]);
    fails_with(&o, "truncated");
    // A v2 header declaring 4 GiB.
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&u32::MAX.to_le_bytes());
    v2.extend_from_slice(&[b' '; 100]);
    fs::write(&uf, v2).unwrap();
    let o = ials(&[
        "eval",
        "--train",
        s(&input),
        "--test",
        s(&input),
        "--user-factors",
        s(&uf),
        "--item-factors",
        s(&itf),
        "--users",
        s(&ul),
        "--items",
        s(&il),
    ]);
    fails_with(&o, "at most 65536");
}

// 3. Killed at each rename of a model replace, the path still names a
// complete model (old or new); the next open repairs and cleans up.
#[test]
fn kill_at_each_rename_leaves_a_complete_model() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    for exchange in [true, false] {
        // With the exchange there is 1 rename (2 fault points), without it 2
        // (3 fault points); one more point than that means "not killed".
        let points = if exchange { 3 } else { 4 };
        for k in 1..=points {
            let model = d.path().join(format!("m-{exchange}-{k}"));
            fit(&input, &model, "4");
            let at = format!("rename:{k}");
            let mut env = vec![("IALS_TEST_ABORT_AT", at.as_str())];
            if !exchange {
                env.push(("IALS_TEST_NO_EXCHANGE", "1"));
            }
            let o = ials_env(&fit_args(&input, &model, "3"), &env);
            let killed = k < points;
            assert_eq!(o.status.success(), !killed, "{exchange} {k}: {o:?}");
            if killed {
                assert!(o.status.code().is_none(), "killed by a signal: {o:?}");
                assert!(!leftovers(d.path()).is_empty(), "{exchange} {k}");
            }
            let f = verified_factors(&model);
            assert!(f == 4 || f == 3, "{exchange} {k}: {f}");
            if !killed {
                assert_eq!(f, 3);
            }
            // Opening repaired the path and removed the dead job's files.
            assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
        }
        // A first save (no previous model), killed before its rename: the
        // complete new model is moved into place by the next open or save.
        let model = d.path().join(format!("fresh-{exchange}"));
        let o = ials_env(
            &fit_args(&input, &model, "3"),
            &[("IALS_TEST_ABORT_AT", "rename:1")],
        );
        assert!(o.status.code().is_none());
        assert!(!leftovers(d.path()).is_empty());
        fit(&input, &model, "3");
        assert_eq!(verified_factors(&model), 3);
        assert!(leftovers(d.path()).is_empty());
    }
}

// 4. Interrupted writes remove their temporaries; stale ones of dead jobs
// go on the next run.
#[test]
fn signals_and_stale_leftovers_are_cleaned() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    fit(&input, &model, "4");
    for (k, env) in [
        (1, vec![]),
        (1, vec![("IALS_TEST_NO_EXCHANGE", "1")]),
        (2, vec![("IALS_TEST_NO_EXCHANGE", "1")]),
    ] {
        let at = format!("rename:{k}");
        let mut env = env;
        env.push(("IALS_TEST_TERM_AT", &at));
        let o = ials_env(&fit_args(&input, &model, "3"), &env);
        assert_eq!(o.status.code(), Some(143), "{o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
        assert_eq!(verified_factors(&model), 4);
    }
    // An output file interrupted just before its rename.
    let out = d.path().join("recs.csv");
    fs::write(&out, "previous\n").unwrap();
    let o = ials_env(
        &[
            "recommend",
            "--model",
            s(&model),
            "--all",
            "--output",
            s(&out),
        ],
        &[("IALS_TEST_TERM_AT", "rename:1")],
    );
    assert_eq!(o.status.code(), Some(143), "{o:?}");
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    assert_eq!(fs::read_to_string(&out).unwrap(), "previous\n");

    // Leftovers of a dead process: removed by the next write or open; those
    // of a live one (this test) are not.
    let dead = dead_pid();
    let stale_file = d.path().join(format!(".recs.csv.tmp-{dead}"));
    let live_file = d
        .path()
        .join(format!(".recs.csv.tmp-{}", std::process::id()));
    fs::write(&stale_file, "x").unwrap();
    fs::write(&live_file, "x").unwrap();
    let stale_dirs = [
        d.path().join(format!(".m.tmp-{dead}")),
        d.path().join(format!(".m.old-{dead}")),
    ];
    for p in &stale_dirs {
        fs::create_dir(p).unwrap();
        fs::write(p.join("user_factors.npy"), "x").unwrap();
    }
    ok(&ials(&[
        "recommend",
        "--model",
        s(&model),
        "--all",
        "--output",
        s(&out),
    ]));
    assert!(!stale_file.exists() && live_file.exists());
    assert!(stale_dirs.iter().all(|p| !p.exists()));
}

fn nan_npy(rows: usize, k: usize, bad: f32) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..rows * k {
        let v = if i == k + 1 { bad } else { 0.5 };
        body.extend_from_slice(&v.to_le_bytes());
    }
    npy_with_shape(&format!("({rows}, {k})"), &body)
}

// 5. Non-finite factors are refused on load and in eval.
#[test]
fn non_finite_factors_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    fit(&input, &model, "4");
    for bad in [f32::NAN, f32::INFINITY] {
        fs::write(model.join("item_factors.npy"), nan_npy(10, 4, bad)).unwrap();
        reseal(&model, "item_factors.npy");
        for args in [
            vec!["info", "--model", s(&model), "--verify"],
            vec!["recommend", "--model", s(&model), "--all", "--output", "-"],
            vec![
                "similar",
                "--model",
                s(&model),
                "--all-items",
                "--output",
                "-",
            ],
        ] {
            fails_with(&ials(&args), "row 1, column 1 is not finite");
        }
    }
    let (uf, itf) = (d.path().join("u.npy"), d.path().join("i.npy"));
    fs::write(&uf, nan_npy(12, 4, f32::NAN)).unwrap();
    fs::write(&itf, nan_npy(10, 4, 1.0)).unwrap();
    let (ul, il) = (d.path().join("u.txt"), d.path().join("i.txt"));
    fs::write(
        &ul,
        (0..12).map(|u| format!("user{u}\n")).collect::<String>(),
    )
    .unwrap();
    fs::write(
        &il,
        (0..10).map(|i| format!("item{i}\n")).collect::<String>(),
    )
    .unwrap();
    let o = ials(&[
        "eval",
        "--train",
        s(&input),
        "--test",
        s(&input),
        "--user-factors",
        s(&uf),
        "--item-factors",
        s(&itf),
        "--users",
        s(&ul),
        "--items",
        s(&il),
    ]);
    fails_with(&o, "u.npy");
    fails_with(&o, "not finite");
}

// 6. Memory estimated before allocating; threads bounded.
#[test]
fn factor_and_thread_extremes_are_refused_quickly() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let model = d.path().join("m");
    for (factors, needle) in [("4294967296", "needs about"), ("100000", "available")] {
        let t = Instant::now();
        let o = ials(&fit_args(&input, &model, factors));
        fails_with(&o, needle);
        fails_with(&o, "fewer factors");
        assert!(t.elapsed() < Duration::from_secs(20));
    }
    let t = Instant::now();
    let mut args = fit_args(&input, &model, "4");
    args.extend(["--threads", "100000"]);
    fails_with(&ials(&args), "100000 threads requested; at most");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(!model.exists());
}

// 7. BOM, quoted fields, short lines, long values, overflowing duplicates,
// id lists.
#[test]
fn input_details() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m");
    let input = tiny(d.path());
    let text = fs::read_to_string(&input).unwrap();
    // A BOM is not part of the first id.
    let bom = d.path().join("bom.csv");
    fs::write(&bom, format!("\u{feff}{text}")).unwrap();
    fit(&bom, &model, "4");
    let info = stdout(&ials(&["info", "--model", s(&model)]));
    assert!(info.contains("users:    12"), "{info}");
    let users = fs::read_to_string(model.join("users.txt")).unwrap();
    assert!(users.starts_with("user0\n"), "{users:?}");
    // A BOM'd id list.
    let ulist = d.path().join("users.txt");
    fs::write(&ulist, "\u{feff}user1\r\nuser2\n").unwrap();
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--users",
        s(&ulist),
        "--k",
        "1",
        "--output",
        "-",
    ]);
    ok(&o);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    fs::write(&ulist, "user1\nuser\r2\n").unwrap();
    let o = ials(&[
        "recommend",
        "--model",
        s(&model),
        "--users",
        s(&ulist),
        "--output",
        "-",
    ]);
    fails_with(&o, "line 2: id \"user\\r2\" holds a carriage return");

    // Quoted fields holding the delimiter are one field.
    let q = d.path().join("q.csv");
    fs::write(&q, format!("{text}\"a,b\",item1,1\n")).unwrap();
    fit(&q, &model, "4");
    let users = fs::read_to_string(model.join("users.txt")).unwrap();
    assert!(users.lines().any(|l| l == "a,b"), "{users}");
    for (bad, needle) in [
        ("\"a,b,item1,1\n", "line 49: unbalanced quote"),
        ("\"a\"b,item1,1\n", "line 49: text after the closing quote"),
        ("c,z\n", "line 49: 2 fields, but line 1 has 3"),
        ("c,z,1,1\n", "line 49: 4 fields, but line 1 has 3"),
    ] {
        fs::write(&q, format!("{text}{bad}")).unwrap();
        fails_with(&ials(&fit_args(&q, &model, "4")), needle);
    }
    // A 10 MB bad value is cut in the message.
    fs::write(&q, format!("{text}c,z,{}\n", "9".repeat(10_000_000) + "x")).unwrap();
    let o = ials(&fit_args(&q, &model, "4"));
    fails_with(&o, "(10000001 bytes)");
    assert!(o.stderr.len() < 1000, "{} bytes of error", o.stderr.len());
    // Duplicates summing past the float range are named by line.
    fs::write(&q, format!("{text}c,z,3e38\nc,y,1\nc,z,3e38\n")).unwrap();
    fails_with(
        &ials(&fit_args(&q, &model, "4")),
        "line 51: the values of user \"c\" and item \"z\"",
    );
}

// 8. Tower files are in the manifest, saved atomically with the model, kept
// by update, shown by info.
#[test]
fn tower_files_are_in_the_manifest_and_survive_update() {
    let d = tempfile::tempdir().unwrap();
    let input = tiny(d.path());
    let feats = d.path().join("items.csv");
    let mut f = String::from("item,feature\n");
    for i in 0..10 {
        f.push_str(&format!("item{i},f{}\nitem{i},g{}\n", i % 3, i % 2));
    }
    fs::write(&feats, f).unwrap();
    let model = d.path().join("m");
    let mut args = fit_args(&input, &model, "4");
    args.extend(["--item-features", s(&feats)]);
    ok(&ials(&args));
    let manifest = fs::read_to_string(model.join("manifest.json")).unwrap();
    assert!(manifest.contains("item_tower_features.txt"), "{manifest}");
    assert!(manifest.contains("item_tower_weights.npy"), "{manifest}");
    let info = stdout(&ials(&["info", "--model", s(&model), "--verify"]));
    assert!(info.contains("towers:   item"), "{info}");
    let weights = fs::read(model.join("item_tower_weights.npy")).unwrap();

    let new = d.path().join("new.csv");
    fs::write(&new, "user99,item1,1\nuser0,item9,2\n").unwrap();
    let updated = d.path().join("u");
    ok(&ials(&[
        "update",
        "--model",
        s(&model),
        "--input",
        s(&new),
        "--output",
        s(&updated),
    ]));
    let info = stdout(&ials(&["info", "--model", s(&updated), "--verify"]));
    assert!(info.contains("towers:   item"), "{info}");
    assert_eq!(
        fs::read(updated.join("item_tower_weights.npy")).unwrap(),
        weights
    );
    // Updated in place as well.
    ok(&ials(&[
        "update",
        "--model",
        s(&model),
        "--input",
        s(&new),
        "--output",
        s(&model),
    ]));
    assert!(stdout(&ials(&["info", "--model", s(&model)])).contains("towers:   item"));
    // A corrupted tower file is caught by the checksum.
    let mut w = fs::read(model.join("item_tower_weights.npy")).unwrap();
    let last = w.len() - 1;
    w[last] ^= 0x40;
    fs::write(model.join("item_tower_weights.npy"), w).unwrap();
    fails_with(
        &ials(&["info", "--model", s(&model), "--verify"]),
        "item_tower_weights.npy: corrupted",
    );
    // A model without towers says so.
    let plain = d.path().join("plain");
    fit(&input, &plain, "4");
    assert!(stdout(&ials(&["info", "--model", s(&plain)])).contains("towers:   none"));
}
