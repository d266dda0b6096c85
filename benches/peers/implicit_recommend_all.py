#!/usr/bin/env python3
"""Time benfred/implicit's recommend for every user on given factors.

usage: implicit_recommend_all.py TRAIN.csv U.npy V.npy [N=10] [threads=2] [blas_threads=1] [out.npy]

TRAIN.csv holds `user,item,count` with dense integer ids (as written by
shared/peers/synth.py); its CSR is the `user_items` whose items are filtered
(filter_already_liked_items=True). U.npy / V.npy are the factors (float32),
set directly on implicit.cpu.als.AlternatingLeastSquares. Prints JSON with
the seconds and users/second of `model.recommend(userids=all, user_items, N)`;
with out.npy, saves the item ids (users x N, int32) for cross-checking.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

src, upath, vpath = sys.argv[1:4]
rest = sys.argv[4:] + [None] * 4
N = int(rest[0] or 10)
threads = int(rest[1] or 2)
blas_threads = int(rest[2] or 1)
out = rest[3]

d = pd.read_csv(src, header=None, usecols=[0, 1, 2]).to_numpy(np.int64)
U = np.load(upath).astype(np.float32)
V = np.load(vpath).astype(np.float32)
m, n = U.shape[0], V.shape[0]
X = sp.csr_matrix((d[:, 2].astype(np.float32), (d[:, 0], d[:, 1])), shape=(m, n))
X.sum_duplicates()
X.sort_indices()

from implicit.cpu.als import AlternatingLeastSquares

model = AlternatingLeastSquares(factors=U.shape[1], num_threads=threads)
model.user_factors = U
model.item_factors = V
users = np.arange(m)
with threadpool_limits(blas_threads, "blas"):
    t0 = time.perf_counter()
    ids, scores = model.recommend(users, X, N=N, filter_already_liked_items=True)
    secs = time.perf_counter() - t0
if out:
    np.save(out, ids.astype(np.int32))
print(json.dumps({"system": "implicit", "users": m, "items": n, "factors": U.shape[1], "N": N,
                  "threads": threads, "blas_threads": blas_threads, "nnz": int(X.nnz),
                  "seconds": round(secs, 3), "users_per_s": round(m / secs, 1)}))
