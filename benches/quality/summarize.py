#!/usr/bin/env python3
"""Means over seeds of the lines of init_vs_implicit.sh / tune_check.sh
(`DATASET SEED [SOLVER] SYSTEM RECALL NDCG ...`), as a Markdown table.
usage: summarize.py FILE"""
import collections
import sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 5:
        continue
    # init_vs_implicit: d s solver system r n; tune_check: d s system r n ...
    if f[2] in ("cg", "cholesky"):
        key, r, n = (f[0], f[2], f[3]), f[4], f[5]
    else:
        key, r, n = (f[0], "", f[2]), f[3], f[4]
    rows[key].append((f[1], float(r), float(n)))
ref = {}
for (d, solver, system), v in rows.items():
    if system == "implicit":
        ref[(d, solver)] = sum(x[1] for x in v) / len(v)
print("| data | solver | system | Recall@20 per seed | mean | NDCG@20 mean | / implicit |")
print("|---|---|---|---|---|---|---|")
for (d, solver, system), v in rows.items():
    mr = sum(x[1] for x in v) / len(v)
    mn = sum(x[2] for x in v) / len(v)
    rel = f"{mr / ref[(d, solver)]:.3f}" if (d, solver) in ref else ""
    per = " / ".join(f"{x[1]:.4f}" for x in v)
    print(f"| {d} | {solver} | {system} | {per} | {mr:.4f} | {mn:.4f} | {rel} |")
