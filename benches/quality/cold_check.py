#!/usr/bin/env python3
"""Issue #12's cold-item target on CiteULike-a: 20% of the tagged items held
out entirely (the split of benches/twotower/compare.py's cold_split, so
figures are comparable), settings chosen by

    ials tune --input TRAIN --item-features TAGS --metric cold-recall@20

on the train part only (its own validation split holds out 20% of the
train part's tagged items whole), then the tuned tower model (refitted on
all of the train part; the test items are served cold from their tags) and
the TF-IDF content profile of examples/citeulike_cold.rs (user profile = sum
of the tf-idf tag vectors of the user's training articles; cosine) rank the
cold test items for each user who has one; Recall@20 = hits / min(20, |test|)
(the definition of ../shared/peers/evaluate.py), one scorer for both.

usage: cold_check.py IALS_BIN DATASETS_DIR WORK_DIR [--seeds 1,2,3]
         [--budget 12m] [--threads 2] [--max-factors 256] [--tune-seed 42]
         [--values l2|one] [--out WORK_DIR/cold_check.jsonl]
Needs numpy and scipy. Tag values: l2 (1/sqrt(number of tags of the article),
the default of examples/citeulike_cold.rs) or one. One JSON line per seed is
appended to --out (seeds already there are skipped); the table is printed
from all lines with the same settings.
"""
import ast
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
K = 20


def load_cold_split():
    """compare.py's cold_split, taken from its source (compare.py runs its
    main() on import), so the split is defined in one place."""
    path = os.path.join(ROOT, "benches", "twotower", "compare.py")
    tree = ast.parse(open(path).read())
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cold_split"]
    ns = {"os": os, "np": np}
    exec(compile(ast.Module(body=fn, type_ignores=[]), path, "exec"), ns)
    return ns["cold_split"]


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout


def read_pairs(path):
    return np.loadtxt(path, delimiter=",", usecols=(0, 1), dtype=np.int64, ndmin=2)


def read_tags(path):
    tags = {}
    with open(path) as f:
        next(f)
        for line in f:
            i, t = line.rstrip("\n").split(",")[:2]
            tags.setdefault(int(i), []).append(t)
    return tags


def write_values(tags, path, values):
    with open(path, "w") as f:
        f.write("item,feature,value\n")
        for i in sorted(tags):
            v = 1.0 / np.sqrt(len(tags[i])) if values == "l2" else 1.0
            for t in tags[i]:
                f.write(f"{i},{t},{v:.7g}\n")


def recall(S, tests):
    """Mean hits/min(K, |test|) of the top K of each row of S (ties: lower
    column first); tests[r] = the set of relevant columns of row r."""
    out = []
    for r in range(S.shape[0]):
        order = np.argsort(-S[r], kind="stable")[:K]
        hits = sum(1 for c in order if c in tests[r])
        out.append(hits / min(K, len(tests[r])))
    return float(np.mean(out))


def score(model_dir, train, test, cold, tags, n_items):
    """Cold Recall@20 of the tower model and of TF-IDF, ranking only `cold`."""
    col = {c: j for j, c in enumerate(cold)}
    users = sorted({int(u) for u in test[:, 0]})
    tests = {}
    for u, i in test:
        tests.setdefault(int(u), set()).add(col[int(i)])
    rows = [tests[u] for u in users]
    # Tower model: embeddings of every user and item (cold ones included).
    uid = [int(x) for x in open(os.path.join(model_dir, "users.txt")).read().split()]
    iid = [int(x) for x in open(os.path.join(model_dir, "items.txt")).read().split()]
    U0 = np.load(os.path.join(model_dir, "user_factors.npy"))
    V0 = np.load(os.path.join(model_dir, "item_factors.npy"))
    upos = {u: r for r, u in enumerate(uid)}
    ipos = {i: r for r, i in enumerate(iid)}
    U = np.stack([U0[upos[u]] if u in upos else np.zeros(U0.shape[1], np.float32) for u in users])
    V = np.stack([V0[ipos[c]] for c in cold])
    towers = recall(U @ V.T, rows)
    # TF-IDF over the tags of every article (idf over all n_items articles).
    vocab = {}
    r_, c_, v_ = [], [], []
    df = {}
    for i, ts in tags.items():
        for t in set(ts):
            df[t] = df.get(t, 0) + 1
    for i, ts in tags.items():
        ts = sorted(set(ts))
        w = np.array([np.log(n_items / df[t]) for t in ts])
        nrm = np.sqrt((w * w).sum())
        for t, x in zip(ts, w):
            r_.append(i)
            c_.append(vocab.setdefault(t, len(vocab)))
            v_.append(x / nrm if nrm > 0 else 0.0)
    T = sp.csr_matrix((v_, (r_, c_)), shape=(n_items, len(vocab)))
    m = int(max(train[:, 0].max(), test[:, 0].max())) + 1
    R = sp.csr_matrix((np.ones(len(train)), (train[:, 0], train[:, 1])), shape=(m, n_items))
    P = R @ T  # profiles: sum of the training articles' tf-idf vectors
    S = (P[users] @ T[cold].T).toarray()
    tfidf = recall(S, rows)
    return towers, tfidf, len(users)


def main():
    args = sys.argv[1:]
    opt = {"--seeds": "1,2,3", "--budget": "12m", "--threads": "2", "--max-factors": "256",
           "--tune-seed": "42", "--values": "l2", "--out": None}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opt:
            opt[args[i]] = args[i + 1]
            i += 2
        else:
            pos.append(args[i])
            i += 1
    bin_, datasets, work = pos
    out = opt["--out"] or os.path.join(work, "cold_check.jsonl")
    setting = {k: opt[k] for k in ["--budget", "--threads", "--max-factors", "--tune-seed", "--values"]}
    if not os.path.exists(os.path.join(work, "citeulike-a", "all.csv")):
        run([sys.executable, os.path.join(HERE, "prep.py"), datasets, work])
    cold_split = load_cold_split()
    n_items = sum(1 for _ in open(os.path.join(datasets, "citeulike-a", "item-tag.dat")))
    done = set()
    if os.path.exists(out):
        for line in open(out):
            r = json.loads(line)
            if r["setting"] == setting:
                done.add(r["seed"])
    for s in [int(x) for x in opt["--seeds"].split(",")]:
        if s in done:
            continue
        d = cold_split(datasets, work, s)
        tags = read_tags(os.path.join(d, "item_tags.csv"))
        tag_file = os.path.join(d, f"item_tags_{opt['--values']}.csv")
        write_values(tags, tag_file, opt["--values"])
        train, test = read_pairs(os.path.join(d, "train.csv")), read_pairs(os.path.join(d, "test.csv"))
        cold = [int(x) for x in open(os.path.join(d, "cold_items.txt")).read().split()]
        mdir = os.path.join(work, "models", f"cold_tune_s{s}")
        os.makedirs(os.path.dirname(mdir), exist_ok=True)
        load0 = loadavg()
        t0 = time.time()
        log = run([bin_, "tune", "--input", os.path.join(d, "train.csv"), "--output", mdir,
                   "--item-features", tag_file, "--metric", "cold-recall@20",
                   "--budget", opt["--budget"], "--max-factors", opt["--max-factors"],
                   "--threads", opt["--threads"], "--seed", opt["--tune-seed"]])
        tune_s = time.time() - t0
        load1 = loadavg()
        with open(os.path.join(work, f"cold_tune_s{s}.log"), "w") as f:
            f.write(log)
        summary = json.load(open(os.path.join(mdir, "tune.json")))
        towers, tfidf, users = score(mdir, train, test, cold, tags, n_items)
        row = {"seed": s, "setting": setting, "towers": round(towers, 4), "tfidf": round(tfidf, 4),
               "users": users, "cold_items": len(cold), "tune_seconds": round(tune_s, 1),
               "best_params": summary["best_params"], "tower_params": summary.get("tower_params"),
               "validation": summary["best_validation_by_factors"], "trials": summary["trials"],
               "load_before": load0, "load_after": load1}
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    rows = [json.loads(l) for l in open(out)]
    rows = [r for r in rows if r["setting"] == setting]
    print(f"\nCiteULike-a cold items, Recall@20 ranking only the cold test items ({setting})")
    print("| seed | tuned k, λ, λ_F, α, α0, ν, iters | tune s | towers | TF-IDF | towers / TF-IDF | load before → after |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["seed"]):
        p, tp = r["best_params"], r["tower_params"] or {}
        print(f"| {r['seed']} | {p['factors']}, {p['regularization']:.3g}, {tp.get('item_feature_reg') or 0:.3g}, "
              f"{p['alpha']:.3g}, {p['unobserved_weight']:.3g}, {p['reg_exponent']:.3g}, {p['iterations']} | "
              f"{r['tune_seconds']:.0f} | {r['towers']:.4f} | {r['tfidf']:.4f} | {r['towers'] / r['tfidf']:.3f} | "
              f"{' '.join(r['load_before'])} → {' '.join(r['load_after'])} |")
    if rows:
        mt = np.mean([r["towers"] for r in rows])
        mf = np.mean([r["tfidf"] for r in rows])
        print(f"| mean | | | {mt:.4f} | {mf:.4f} | {mt / mf:.3f} | |")


main()
