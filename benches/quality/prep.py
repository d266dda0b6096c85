#!/usr/bin/env python3
"""Write the quality-check datasets as `user,item,value` CSVs with 0-based
integer ids (the input format of ../shared/peers/evaluate.py and
implicit_run.py).  Standard library only.

usage: prep.py DATASETS_DIR OUT_DIR
  OUT_DIR/ml-100k/all.csv          u.data, ratings >= 4 kept, value 1
  OUT_DIR/ml-latest-small/all.csv  ratings.csv, ratings >= 4 kept, value 1
  OUT_DIR/lastfm/all.csv           user_artists.dat, raw play counts
  OUT_DIR/citeulike-a/all.csv      users.dat (line = user), value 1
Users and items are numbered 0.. in increasing order of their original ids.
"""
import os
import sys


def write(out, name, triples):
    users = {u: i for i, u in enumerate(sorted({t[0] for t in triples}))}
    items = {v: i for i, v in enumerate(sorted({t[1] for t in triples}))}
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "all.csv"), "w") as f:
        for u, i, v in triples:
            f.write(f"{users[u]},{items[i]},{v:g}\n")
    print(f"{name}: {len(users)} users, {len(items)} items, {len(triples)} pairs")


def main():
    src, out = sys.argv[1], sys.argv[2]
    t = []
    for line in open(os.path.join(src, "ml-100k/u.data")):
        u, i, r, _ = line.split("\t")
        if float(r) >= 4:
            t.append((int(u), int(i), 1.0))
    write(out, "ml-100k", t)
    t = []
    with open(os.path.join(src, "ml-latest-small/ratings.csv")) as f:
        next(f)
        for line in f:
            u, i, r, _ = line.split(",")
            if float(r) >= 4:
                t.append((int(u), int(i), 1.0))
    write(out, "ml-latest-small", t)
    t = []
    with open(os.path.join(src, "hetrec2011-lastfm-2k/user_artists.dat")) as f:
        next(f)
        for line in f:
            u, i, w = line.split("\t")
            t.append((int(u), int(i), float(w)))
    write(out, "lastfm", t)
    t = []
    for u, line in enumerate(open(os.path.join(src, "citeulike-a/users.dat"))):
        f = line.split()
        assert int(f[0]) == len(f) - 1, f"citeulike-a line {u + 1}: count {f[0]}"
        t.extend((u, int(i), 1.0) for i in f[1:])
    write(out, "citeulike-a", t)


main()
