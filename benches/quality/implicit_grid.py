#!/usr/bin/env python3
"""benfred/implicit ALS over a small grid, scored on a validation split the
way evaluate.py scores (Recall@20, NDCG@20; items unseen in training count
as misses). Used to look for the region issue #12 reports, on validation only.

usage: implicit_grid.py TRAIN.csv VALID.csv KS REGS ALPHAS  (comma lists)
Prints: k reg alpha recall@20 ndcg@20 seconds"""
import sys, json, numpy as np, scipy.sparse as sp, itertools, time
from threadpoolctl import threadpool_limits
from implicit.cpu.als import AlternatingLeastSquares
tr_f, te_f = sys.argv[1], sys.argv[2]
tr = np.loadtxt(tr_f, delimiter=',', dtype=np.float64, ndmin=2); te = np.loadtxt(te_f, delimiter=',', usecols=(0,1), dtype=np.int64, ndmin=2)
m = int(max(tr[:,0].max(), te[:,0].max()))+1; n = int(max(tr[:,1].max(), te[:,1].max()))+1
X = sp.csr_matrix((tr[:,2].astype(np.float32), (tr[:,0].astype(np.int64), tr[:,1].astype(np.int64))), shape=(m,n))
TR = sp.csr_matrix((np.ones(len(tr)), (tr[:,0].astype(np.int64), tr[:,1].astype(np.int64))), shape=(m,n))
TE = sp.csr_matrix((np.ones(len(te)), (te[:,0], te[:,1])), shape=(m,n))
users = np.unique(te[:,0]); K=20; disc = 1/np.log2(np.arange(2,K+2))
def score(U,V):
    S = U[users] @ V.T; S[TR[users].nonzero()] = -np.inf
    top = np.argpartition(-S, K, axis=1)[:, :K]; top = np.take_along_axis(top, np.argsort(-np.take_along_axis(S, top, 1), 1), 1)
    T = TE[users]; hit = np.asarray(T[np.arange(len(users))[:,None], top].todense())>0; nt = np.asarray(T.sum(1)).ravel()
    return float(np.mean(hit.sum(1)/np.minimum(K,nt))), float(np.mean((hit*disc).sum(1)/np.array([disc[:min(K,int(x))].sum() for x in nt])))
ks = [int(x) for x in sys.argv[3].split(',')]; regs=[float(x) for x in sys.argv[4].split(',')]; alphas=[float(x) for x in sys.argv[5].split(',')]
for k, reg, a in itertools.product(ks, regs, alphas):
    with threadpool_limits(1,'blas'):
        mdl = AlternatingLeastSquares(factors=k, regularization=reg, alpha=a, iterations=15, num_threads=1, random_state=42, calculate_training_loss=False)
        t=time.time(); mdl.fit(X, show_progress=False)
    r, nd = score(mdl.user_factors, mdl.item_factors)
    print(k, reg, a, round(r,4), round(nd,4), round(time.time()-t,1), flush=True)
