"""Side by side in one process: seconds per iteration (CG, Cholesky) and
recommend-for-every-user throughput of implicit's CPU ALS and
ials.implicit.AlternatingLeastSquares, same data, factors, threads and
initialisation. Runs alternate (implicit, ials, implicit, ials, ...).

usage: OPENBLAS_NUM_THREADS=1 python vs_implicit.py DATA.csv [--factors 64]
       [--threads 2] [--iterations 3] [--repeats 2] [--json OUT]
DATA.csv: user,item,value lines (0-based integer ids), e.g. from
../shared/peers/synth.py.
"""

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp

import implicit.cpu.als as implicit_als
from ials.implicit import AlternatingLeastSquares as IalsALS


def load(path):
    import pandas as pd

    df = pd.read_csv(path, header=None, names=["u", "i", "v"])
    m, n = df.u.max() + 1, df.i.max() + 1
    return sp.csr_matrix((df.v.astype(np.float32), (df.u, df.i)), shape=(m, n))


def fit_seconds(cls, ui, use_cg, args):
    model = cls(factors=args.factors, regularization=0.05, alpha=1.0, use_cg=use_cg,
                iterations=args.iterations, num_threads=args.threads, random_state=11)
    stamps = []
    start = time.perf_counter()
    model.fit(ui, show_progress=False, callback=lambda *a: stamps.append(time.perf_counter()))
    total = time.perf_counter() - start
    # per iteration: between callbacks (the first includes setup: transpose, init)
    per = np.diff([start] + stamps)
    return model, total / args.iterations, float(np.median(per))


def recommend_all(model, ui, args):
    users = np.arange(ui.shape[0])
    start = time.perf_counter()
    batch = 10000
    for s in range(0, len(users), batch):
        ids = users[s:s + batch]
        model.recommend(ids, ui[ids], N=10)
    return len(users) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args()
    ui = load(args.data)
    print(f"{args.data}: {ui.shape[0]} users x {ui.shape[1]} items, {ui.nnz} interactions, "
          f"k={args.factors}, threads={args.threads}", flush=True)
    rows = []
    for rep in range(args.repeats):
        for solver, use_cg in [("cg", True), ("cholesky", False)]:
            for name, cls in [("implicit", implicit_als.AlternatingLeastSquares), ("ials", IalsALS)]:
                model, mean, median = fit_seconds(cls, ui, use_cg, args)
                row = {"repeat": rep, "solver": solver, "library": name,
                       "s_per_iter_total": mean, "s_per_iter_median": median}
                if solver == "cg":
                    row["recommend_users_per_s"] = recommend_all(model, ui, args)
                rows.append(row)
                print(json.dumps(row), flush=True)
    for solver in ("cg", "cholesky"):
        imp = [r["s_per_iter_total"] for r in rows if r["solver"] == solver and r["library"] == "implicit"]
        ial = [r["s_per_iter_total"] for r in rows if r["solver"] == solver and r["library"] == "ials"]
        print(f"{solver}: implicit {imp} s/iter, ials {ial} s/iter, ratio "
              f"{[round(b / a, 3) for a, b in zip(imp, ial)]}")
    imp = [r["recommend_users_per_s"] for r in rows if "recommend_users_per_s" in r and r["library"] == "implicit"]
    ial = [r["recommend_users_per_s"] for r in rows if "recommend_users_per_s" in r and r["library"] == "ials"]
    print(f"recommend all, top 10: implicit {[round(x) for x in imp]} users/s, ials "
          f"{[round(x) for x in ial]} users/s, ratio {[round(b / a, 2) for a, b in zip(imp, ial)]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
