#!/usr/bin/env python3
"""The two-tower comparison of issue #14: tuned iALS against neural towers
(in-batch softmax, logQ, the serving prior, mixed negatives, mse-gramian) on
seeded 20% per-user holdouts, every row tuned on validation only (a part of
the train split; the test part is scored once), with the same wall-clock
budget per row. Plus CiteULike-a cold items: 20% of the tagged items held
out entirely, towers with tag features.

usage: compare.py IALS_BIN DATASETS_DIR WORK_DIR OUT.jsonl
         [--datasets ml-100k,ml-latest-small,lastfm,citeulike-a] [--seeds 1,2,3]
         [--budget 15] [--budget-large 25] [--threads 2] [--no-cold | --cold-only]
         [--rows "iALS,softmax + logQ,..."] (default: every row; cold rows by their names too)
Needs numpy (the official scorer ../shared/peers/evaluate.py is run with the
same interpreter). WORK_DIR gets the prepared data, splits and models; one
JSON line per (dataset, seed, row) is appended to OUT.jsonl (rows already
there are skipped, so the script resumes). summarize: compare.py --table OUT.jsonl
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EVALUATE = os.path.join(os.path.dirname(ROOT), "shared", "peers", "evaluate.py")
if not os.path.exists(EVALUATE):
    EVALUATE = "/work/shared/peers/evaluate.py"
PRIORS = "0.25,0.5,0.75,1"

# name, `ials tune` arguments (kind twotower unless "ials"), searched prior
ROWS = [
    ("iALS", ["--kind", "ials"]),
    ("iALS + prior", None),  # β on validation for the tuned iALS model
    ("softmax", ["--kind", "twotower", "--loss", "softmax"]),
    ("softmax + logQ", ["--kind", "twotower", "--loss", "softmax", "--logq", "exact"]),
    ("softmax + prior", ["--kind", "twotower", "--loss", "softmax", "--priors", PRIORS]),
    ("softmax + logQ + prior", ["--kind", "twotower", "--loss", "softmax", "--logq", "exact", "--priors", PRIORS]),
    ("mixed", ["--kind", "twotower", "--loss", "mixed", "--negatives", "512"]),
    ("mixed + logQ", ["--kind", "twotower", "--loss", "mixed", "--negatives", "512", "--logq", "exact"]),
    ("mse-gramian", ["--kind", "twotower", "--loss", "mse-gramian"]),
]

COLD_ROWS = ["cold: softmax + logQ, id + tags", "cold: mse-gramian, id + tags", "cold: iALS towers, id + tags"]


def run(cmd, **kw):
    for i, a in enumerate(cmd[:-1]):
        if a == "--output" and cmd[i + 1] != "-":
            os.makedirs(os.path.dirname(cmd[i + 1]), exist_ok=True)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout


def load_model(d):
    ids = lambda f: [int(x) for x in open(os.path.join(d, f)).read().split()]
    return ids("users.txt"), ids("items.txt"), np.load(os.path.join(d, "user_factors.npy")), np.load(os.path.join(d, "item_factors.npy"))


def read_pairs(path):
    a = np.loadtxt(path, delimiter=",", usecols=(0, 1), dtype=np.int64, ndmin=2)
    return a


def n_trials(d):
    """Trials the row's tune ran (None without a tune record)."""
    p = os.path.join(d, "tune.json")
    return json.load(open(p)).get("trials") if os.path.exists(p) else None


def fit_seconds(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    return sum(h["seconds"] + h.get("loss_seconds", 0.0) for h in m["history"]), len(m["history"])


def log_prior(train, n):
    """log P(i) as ials::serve::prior::log_popularity: add-one smoothed counts."""
    c = np.bincount(train[:, 1], minlength=n).astype(np.float64)
    return np.log((c + 1.0) / (c.sum() + n)), c


def score(model_dir, train_csv, test_csv, beta, work, candidates=None):
    """Recall@20 and NDCG@20 from the official evaluate.py (the prior as one
    more factor column), coverage and mean training popularity of the top-20
    lists from the same ranking. `candidates`: rank only these items."""
    users, items, U0, V0 = load_model(model_dir)
    tr, te = read_pairs(train_csv), read_pairs(test_csv)
    m = max(max(users) + 1, tr[:, 0].max() + 1, te[:, 0].max() + 1)
    n = max(max(items) + 1, tr[:, 1].max() + 1, te[:, 1].max() + 1)
    U = np.zeros((m, U0.shape[1] + 1), np.float32)
    V = np.zeros((n, V0.shape[1] + 1), np.float32)
    U[users, :-1] = U0
    V[items, :-1] = V0
    lp, counts = log_prior(tr, n)
    U[:, -1] = 1.0
    V[:, -1] = beta * lp
    known = np.zeros(n, bool)
    known[items] = True
    if candidates is not None:
        keep = np.zeros(n, bool)
        keep[candidates] = True
        known &= keep
    # items without an embedding (or outside the candidates) rank last
    V[~known] = 0.0
    V[~known, -1] = -1e30
    os.makedirs(work, exist_ok=True)
    np.save(os.path.join(work, "U.npy"), U)
    np.save(os.path.join(work, "V.npy"), V)
    out = json.loads(run([sys.executable, EVALUATE, train_csv, test_csv, os.path.join(work, "U.npy"), os.path.join(work, "V.npy"), "20"]))
    # coverage and popularity of the top-20 lists of the test users
    trs = {}
    for u, i in tr:
        trs.setdefault(int(u), []).append(int(i))
    test_users = np.unique(te[:, 0])
    seen_items, pops = set(), []
    for s in range(0, len(test_users), 1024):
        b = test_users[s:s + 1024]
        S = U[b] @ V.T
        for r, u in enumerate(b):
            S[r, trs.get(int(u), [])] = -np.inf
        top = np.argpartition(-S, 20, axis=1)[:, :20]
        seen_items.update(top.ravel().tolist())
        pops.append(counts[top].mean(axis=1))
    n_cat = int(known.sum())
    out["coverage"] = round(len(seen_items) / max(n_cat, 1), 4)
    out["mean_pop"] = round(float(np.concatenate(pops).mean()), 1)
    return out


def prep(bin_, datasets_dir, work, names, seeds):
    if not all(os.path.exists(os.path.join(work, d, "all.csv")) for d in names):
        run([sys.executable, os.path.join(ROOT, "benches", "quality", "prep.py"), datasets_dir, work])
    for d in names:
        for s in seeds:
            sd = os.path.join(work, d, f"s{s}")
            if not os.path.exists(os.path.join(sd, "test.csv")):
                run([bin_, "split", "--input", os.path.join(work, d, "all.csv"), "--output", sd, "--seed", str(s)])
            vd = os.path.join(sd, "v")
            if not os.path.exists(os.path.join(vd, "test.csv")):
                run([bin_, "split", "--input", os.path.join(sd, "train.csv"), "--output", vd, "--seed", str(1000 + s)])


def cold_split(datasets_dir, work, seed):
    """CiteULike-a: 20% of the tagged items (seeded) held out entirely."""
    d = os.path.join(work, "citeulike-a")
    out = os.path.join(d, f"cold{seed}")
    if os.path.exists(os.path.join(out, "test.csv")):
        return out
    os.makedirs(out, exist_ok=True)
    # prep.py numbers items in increasing order of their original ids
    raw = set()
    for line in open(os.path.join(datasets_dir, "citeulike-a", "users.dat")):
        raw.update(int(x) for x in line.split()[1:])
    index = {v: i for i, v in enumerate(sorted(raw))}
    tags = {}
    for i, line in enumerate(open(os.path.join(datasets_dir, "citeulike-a", "item-tag.dat"))):
        f = line.split()
        if i in index and int(f[0]) > 0:
            tags[index[i]] = f[1:]
    tagged = np.array(sorted(tags), np.int64)
    rng = np.random.default_rng(seed)
    cold = set(rng.choice(tagged, size=len(tagged) // 5, replace=False).tolist())
    with open(os.path.join(out, "item_tags.csv"), "w") as f:
        f.write("item,feature\n")
        for i in sorted(tags):
            for t in tags[i]:
                f.write(f"{i},t{t}\n")
    with open(os.path.join(d, "all.csv")) as src, open(os.path.join(out, "train.csv"), "w") as tr, open(os.path.join(out, "test.csv"), "w") as te:
        for line in src:
            (te if int(line.split(",")[1]) in cold else tr).write(line)
    with open(os.path.join(out, "cold_items.txt"), "w") as f:
        f.write("\n".join(str(i) for i in sorted(cold)) + "\n")
    return out


def main():
    args = sys.argv[1:]
    if args and args[0] == "--table":
        return table(args[1])
    opt = {"--datasets": "ml-100k,ml-latest-small,lastfm,citeulike-a", "--seeds": "1,2,3", "--budget": "15", "--budget-large": "25", "--threads": "2",
           "--rows": ""}
    flags = set()
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opt:
            opt[args[i]] = args[i + 1]
            i += 2
        elif args[i].startswith("--"):
            flags.add(args[i])
            i += 1
        else:
            pos.append(args[i])
            i += 1
    bin_, datasets_dir, work, out_path = pos
    names = opt["--datasets"].split(",")
    seeds = [int(s) for s in opt["--seeds"].split(",")]
    threads = opt["--threads"]
    only = set(r.strip() for r in opt["--rows"].split(",") if r.strip())
    unknown = only - {r for r, _ in ROWS} - set(COLD_ROWS)
    if unknown:
        sys.exit(f"--rows: unknown rows {sorted(unknown)}; rows: {[r for r, _ in ROWS] + COLD_ROWS}")
    wanted = lambda row: not only or row in only
    prep(bin_, datasets_dir, work, names, seeds)
    done = set()
    if os.path.exists(out_path):
        for line in open(out_path):
            r = json.loads(line)
            done.add((r["data"], r["seed"], r["row"]))
    outf = open(out_path, "a")

    def emit(rec):
        outf.write(json.dumps(rec) + "\n")
        outf.flush()
        print(json.dumps(rec), flush=True)

    for s in seeds:
      for d in names:
        budget = opt["--budget-large"] if d in ("lastfm", "citeulike-a") else opt["--budget"]
        if True:
            sd = os.path.join(work, d, f"s{s}")
            train, test = os.path.join(sd, "train.csv"), os.path.join(sd, "test.csv")
            for name, targs in ROWS:
                if (d, s, name) in done or "--cold-only" in flags or not wanted(name):
                    continue
                mdir = os.path.join(work, "models", d, f"s{s}", name.replace(" ", "").replace("+", "_"))
                t0 = time.time()
                if name == "iALS + prior":
                    base = os.path.join(work, "models", d, f"s{s}", "iALS")
                    bp = json.load(open(os.path.join(base, "tune.json")))
                    p = bp["best_params"]
                    vd = os.path.join(sd, "v")
                    vm = os.path.join(work, "models", d, f"s{s}", "iALS_v")
                    cmd = [bin_, "fit", "--input", os.path.join(vd, "train.csv"), "--output", vm, "--quiet", "--threads", threads,
                           "--factors", str(p["factors"]), "--iterations", str(p["iterations"]), "--regularization", str(p["regularization"]),
                           "--alpha", str(p["alpha"]), "--confidence", p["confidence"], "--epsilon", str(p["epsilon"]),
                           "--unobserved-weight", str(p["unobserved_weight"]), "--reg-exponent", str(p["reg_exponent"]),
                           "--solver", p["solver"], "--init", p["init"], "--seed", str(p["seed"])]
                    if p.get("block_size"):
                        cmd += ["--block-size", str(p["block_size"])]
                    if p["solver"] == "cg":
                        cmd += ["--cg-steps", str(p["cg_steps"])]
                    if bp.get("binary_values"):
                        cmd += ["--columns", "1,2"]
                    run(cmd)
                    best = max(((json.loads(run([bin_, "eval", "--train", os.path.join(vd, "train.csv"), "--test", os.path.join(vd, "test.csv"),
                                                  "--model", vm, "--popularity-prior", str(b), "--json"]))[0]["metrics"]["recall"], -b, b)
                                for b in [0.0] + [float(x) for x in PRIORS.split(",")]))
                    beta, mdir, tune_s = best[2], base, time.time() - t0
                    valid = best[0]
                else:
                    cmd = [bin_, "tune", "--input", train, "--output", mdir, "--budget", f"{budget}s", "--seed", str(s),
                           "--threads", threads, "--quiet"] + targs
                    run(cmd)
                    tj = json.load(open(os.path.join(mdir, "tune.json")))
                    tune_s = time.time() - t0
                    beta = tj.get("popularity_prior", 0.0)
                    valid = tj.get("best_value")
                    if valid is None:
                        valid = max(v["value"] for v in tj["best_validation_by_factors"])
                fit_s, epochs = fit_seconds(mdir)
                sc = score(mdir, train, test, beta, os.path.join(work, "tmp"))
                emit({"data": d, "seed": s, "row": name, "beta": beta, "validation": valid, "tune_seconds": round(tune_s, 1),
                      "fit_seconds": round(fit_s, 2), "iterations": epochs, "budget": float(budget), "trials": n_trials(mdir), **sc})
        if d == "citeulike-a" and "--no-cold" not in flags:
            budget = opt["--budget-large"]
            if True:
                cd = cold_split(datasets_dir, work, s)
                train, test = os.path.join(cd, "train.csv"), os.path.join(cd, "test.csv")
                cands = [int(x) for x in open(os.path.join(cd, "cold_items.txt")).read().split()]
                tags = os.path.join(cd, "item_tags.csv")
                for name, targs in [
                    (COLD_ROWS[0], ["--kind", "twotower", "--loss", "softmax", "--logq", "exact", "--item-features", tags]),
                    (COLD_ROWS[1], ["--kind", "twotower", "--loss", "mse-gramian", "--item-features", tags]),
                    (COLD_ROWS[2], None),
                ]:
                    if (d + "-cold", s, name) in done or not wanted(name):
                        continue
                    mdir = os.path.join(work, "models", "cold", f"s{s}", str(len(name)) + name.split(":")[1].strip().split(",")[0].replace(" ", "").replace("+", "_"))
                    t0 = time.time()
                    if targs is None:
                        # iALS linear towers: `ials tune --item-features` judged
                        # on held-out cold items of the train part (issue #12)
                        run([bin_, "tune", "--input", train, "--output", mdir, "--budget", f"{budget}s", "--seed", str(s), "--threads", threads,
                             "--quiet", "--item-features", tags, "--metric", "cold-recall@20"])
                    else:
                        run([bin_, "tune", "--input", train, "--output", mdir, "--budget", f"{budget}s", "--seed", str(s), "--threads", threads, "--quiet"] + targs)
                    tune_s = time.time() - t0
                    fit_s, epochs = fit_seconds(mdir)
                    sc = score(mdir, train, test, 0.0, os.path.join(work, "tmp"), candidates=cands)
                    emit({"data": d + "-cold", "seed": s, "row": name, "beta": 0.0, "validation": None, "tune_seconds": round(tune_s, 1),
                          "fit_seconds": round(fit_s, 2), "iterations": epochs, "budget": float(budget), "trials": n_trials(mdir), **sc})


def table(path):
    rows = [json.loads(l) for l in open(path)]
    names = [n for n, _ in ROWS]
    datas = ["ml-100k", "ml-latest-small", "lastfm", "citeulike-a", "citeulike-a-cold"]
    key = lambda dr: (datas.index(dr[0]) if dr[0] in datas else 99, names.index(dr[1]) if dr[1] in names else 99, dr[1])
    order = sorted({(r["data"], r["row"]) for r in rows}, key=key)
    print("| data | model | Recall@20 | NDCG@20 | coverage | mean pop. | fit s | epochs | β | trials | seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d, name in order:
        rs = sorted((r for r in rows if r["data"] == d and r["row"] == name), key=lambda r: r["seed"])
        f = lambda k: np.array([r[k] for r in rs], float)
        ms = lambda k, p=3: f"{f(k).mean():.{p}f} ± {f(k).std():.{p}f}" if len(rs) > 1 else f"{f(k).mean():.{p}f}"
        betas = "/".join(f"{r['beta']:g}" for r in rs)
        trials = "/".join(str(r["trials"]) if r.get("trials") is not None else "–" for r in rs)
        print(f"| {d} | {name} | {ms('recall@20')} | {ms('ndcg@20')} | {f('coverage').mean():.3f} | {f('mean_pop').mean():.0f} | {f('fit_seconds').mean():.1f} | {f('iterations').mean():.0f} | {betas} | {trials} | {len(rs)} |")


main()
