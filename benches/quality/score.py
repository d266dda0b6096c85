#!/usr/bin/env python3
"""Score an ials model directory (or `ials export` output) with the official
scorer: rows of user_factors.npy / item_factors.npy are put at their integer
ids (users.txt / items.txt), then ../shared/peers/evaluate.py is run.

usage: score.py EVALUATE.py TRAIN.csv TEST.csv MODEL_DIR [K=20]
Prints evaluate.py's JSON line."""
import os
import subprocess
import sys
import tempfile

import numpy as np


def by_id(factors, ids_file):
    f = np.load(factors)
    ids = [int(x) for x in open(ids_file).read().split()]
    out = np.zeros((max(ids) + 1, f.shape[1]), np.float32)
    out[ids] = f
    return out


def main():
    ev, train, test, model = sys.argv[1:5]
    k = sys.argv[5] if len(sys.argv) > 5 else "20"
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "U.npy"), by_id(os.path.join(model, "user_factors.npy"), os.path.join(model, "users.txt")))
        np.save(os.path.join(d, "V.npy"), by_id(os.path.join(model, "item_factors.npy"), os.path.join(model, "items.txt")))
        r = subprocess.run([sys.executable, ev, train, test, os.path.join(d, "U.npy"), os.path.join(d, "V.npy"), k],
                           check=True, capture_output=True, text=True)
        print(r.stdout.strip())


main()
