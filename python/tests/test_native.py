"""The native API: fits from DataFrames and tuples with string ids, the same
numbers as the CLI, model directories shared with the CLI both ways,
callbacks, Ctrl-C, the GIL, typed errors and evaluation."""

import csv
import io
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ials

ROOT = Path(__file__).resolve().parents[2]


def cli_binary():
    for p in [os.environ.get("IALS_BIN"), ROOT / "target" / "release" / "ials", ROOT / "target" / "debug" / "ials"]:
        if p and Path(p).is_file():
            return str(p)
    return None


BIN = cli_binary()
needs_cli = pytest.mark.skipif(BIN is None, reason="the ials binary is not built (cargo build --release)")


def plays(n=4000, users=300, items=120, seed=0, negatives=False):
    rng = np.random.default_rng(seed)
    u = [f"u{x}" for x in rng.integers(0, users, n)]
    i = [f"item {x}" if x % 7 else f"i,{x}"[0] + f"x{x}" for x in rng.integers(0, items, n)]
    v = rng.integers(1, 6, n).astype(float)
    if negatives:
        v[rng.random(n) < 0.2] *= -1
    return u, i, v


def write_csv(path, u, i, v):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        for row in zip(u, i, v):
            w.writerow([row[0], row[1], repr(float(row[2]))])


def run_cli(*args):
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True)


@pytest.fixture
def data():
    u, i, v = plays()
    return {"user": u, "item": i, "value": v}


def test_fit_from_a_frame_tuples_and_columns_agree(data):
    pd = pytest.importorskip("pandas")
    a = ials.fit(pd.DataFrame(data), value="value", factors=6, iterations=3)
    b = ials.fit(list(zip(data["user"], data["item"], data["value"])), factors=6, iterations=3)
    c = ials.fit(data, value="value", factors=6, iterations=3)
    for m in (b, c):
        assert m.user_ids == a.user_ids and m.item_ids == a.item_ids
        assert np.array_equal(m.user_factors, a.user_factors)
    assert a.user_ids[0] == data["user"][0]  # first-appearance order
    assert a.params["factors"] == 6 and a.params["solver"] == "cg"
    assert len(a.loss_history) == 3


def test_every_fit_parameter_is_accepted_and_checked(data):
    m = ials.fit(
        data,
        value="value",
        factors=8,
        iterations=2,
        regularization=0.05,
        alpha=3.0,
        confidence="log",
        epsilon=0.5,
        target="reciprocal",
        unobserved_weight=0.3,
        reg_exponent=0.5,
        reg_include_unobserved=False,
        solver="block",
        cg_steps=2,
        block_size=4,
        init_std=0.05,
        seed=9,
        threads=1,
    )
    p = m.params
    assert (p["confidence"], p["target"], p["solver"], p["block_size"], p["seed"]) == ("log", "reciprocal", "block", 4, 9)
    with pytest.raises(TypeError, match="unknown parameter"):
        ials.fit(data, factorz=3)
    with pytest.raises(ials.ParameterError, match="block_size"):
        ials.fit(data, factors=4, block_size=8)
    with pytest.raises(ValueError, match="confidence"):
        ials.fit(data, confidence="cubic")


def test_callback_sees_the_loss_parts_and_can_stop(data):
    seen = []

    def cb(r):
        seen.append(r)
        return r["iteration"] < 2

    m = ials.fit(data, value="value", factors=4, iterations=10, callback=cb)
    assert len(seen) == 2 and len(m.loss_history) == 2
    r = seen[-1]
    assert r["loss"] == pytest.approx(r["observed"] + r["unobserved"] + r["regularization"])
    assert seen[1]["loss"] < seen[0]["loss"]


def test_ctrl_c_stops_a_fit_cleanly(data):
    calls = []

    def cb(r):
        calls.append(r["iteration"])
        if r["iteration"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)  # let the watcher see it before the next iteration ends

    with pytest.raises(KeyboardInterrupt):
        ials.fit(data, value="value", factors=4, iterations=50, callback=cb)
    assert 1 <= len(calls) < 50


def test_the_gil_is_released_during_a_fit():
    u, i, v = plays(n=60000, users=3000, items=800, seed=3)
    d = ials.interactions(list(zip(u, i, v)))
    done = threading.Event()
    ticks = 0

    def work():
        ials.fit(d, factors=32, iterations=8, solver="cholesky", threads=1)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    start = time.perf_counter()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the whole fit this loop could not run at all.
    assert elapsed > 0.05 and ticks > 10


def test_typed_errors_carry_the_rust_messages(tmp_path):
    with pytest.raises(ials.DataError, match="values must be finite and >= 0"):
        ials.fit([("a", "x", -1.0)])
    with pytest.raises(ials.DataError, match="empty"):
        ials.fit([])
    with pytest.raises(ials.ParameterError, match="factors cannot be 0"):
        ials.fit([("a", "x", 1.0)], factors=0)
    with pytest.raises(ials.IalsIOError):
        ials.Model.load(tmp_path / "missing")
    m = ials.fit([("a", "x", 1.0), ("b", "y", 1.0)], factors=2, iterations=1)
    with pytest.raises(KeyError, match="nobody"):
        m.recommend(["nobody"])
    assert issubclass(ials.DataError, ValueError) and issubclass(ials.IalsIOError, OSError)


def test_observed_negatives_need_the_flag():
    rows = [("a", "x", 2.0), ("a", "y", -3.0), ("b", "y", 1.0), ("b", "z", 1.0)]
    with pytest.raises(ials.DataError):
        ials.fit(rows)
    m = ials.fit(rows, factors=2, iterations=2, observed_negatives=True)
    assert m.params["observed_negatives"] is True


def test_serving_methods(data):
    pd = pytest.importorskip("pandas")
    m = ials.fit(data, value="value", factors=8, iterations=4, solver="cholesky")
    recs = m.recommend([data["user"][0], data["user"][1]], k=5)
    assert isinstance(recs, pd.DataFrame) and list(recs.columns) == ["user", "item", "rank", "score"]
    assert len(recs) == 10 and list(recs["rank"][:5]) == [1, 2, 3, 4, 5]
    u0 = data["user"][0]
    seen = {i for uu, i in zip(data["user"], data["item"]) if uu == u0}
    assert seen.isdisjoint(set(recs[recs.user == u0].item))
    allrecs = m.recommend(k=3)
    assert len(allrecs) == 3 * m.n_users
    top = recs.item[0]
    only = m.recommend([u0], k=2, candidates=[top, m.item_ids[0]], exclude_seen=False)
    assert set(only.item) <= {top, m.item_ids[0]}
    assert top not in set(m.recommend([u0], k=5, exclude=[top]).item)
    score, contrib = m.explain(u0, top)
    assert score == pytest.approx(sum(c for _, c in contrib), rel=1e-6)
    x = m.fold_in(sorted(seen))
    assert x.shape == (8,)
    hist = m.recommend_history(sorted(seen), k=4)
    assert len(hist) == 4 and set(hist.item).isdisjoint(seen)
    sim = m.similar_items(top, 3)
    assert len(sim) == 3 and top not in [s for s, _ in sim]
    rep = m.partial_fit([("new user", top, 2.0)])
    assert rep["new_users"] == 1 and "new user" in m.user_ids


def test_evaluation_models_baselines_and_embeddings(data):
    d = ials.interactions(data, value="value")
    train, test = d.holdout(0.2, seed=1)
    m = ials.fit(train, factors=8, iterations=4)
    res = ials.evaluate(m, train, test, k=[5, 10])
    assert [r["k"] for r in res] == [5, 10] and 0 <= res[0]["recall"] <= 1
    emb = ials.evaluate((m.user_factors, m.item_factors), train, test, k=10)
    assert emb == res[1]
    # embeddings given with ids in another order score the same
    perm = np.random.default_rng(0).permutation(m.n_items)
    ids = [m.item_ids[j] for j in perm]
    shuffled = ials.evaluate(((m.user_ids, m.user_factors), (ids, m.item_factors[perm])), train, test, k=10)
    assert shuffled == res[1]
    for b in ("popularity", "item-knn", "ease"):
        r = ials.evaluate(b, train, test, k=10)
        assert 0 <= r["recall"] <= 1
    with pytest.raises(ValueError, match="unknown baseline"):
        ials.evaluate("nope", train, test)


@needs_cli
@pytest.mark.parametrize(
    "params",
    [
        dict(factors=6, iterations=3, solver="cg"),
        dict(factors=6, iterations=3, solver="cg", init="normal", init_std=0.05),
        dict(factors=6, iterations=3, solver="cholesky", confidence="log", alpha=2.0, epsilon=0.5),
        dict(factors=8, iterations=2, solver="block", block_size=4, unobserved_weight=0.2, reg_exponent=1.0, target="reciprocal", seed=5),
        dict(factors=5, iterations=2, solver="cholesky", observed_negatives=True, confidence="as-given", alpha=2.0),
    ],
)
def test_a_python_fit_equals_the_cli_fit_bit_for_bit(tmp_path, params):
    u, i, v = plays(seed=4, negatives=params.get("observed_negatives", False))
    write_csv(tmp_path / "plays.csv", u, i, v)
    args = []
    for k, val in params.items():
        if k == "observed_negatives":
            args.append("--observed-negatives")
        else:
            args += [f"--{k.replace('_', '-')}", val]
    run_cli("fit", "--input", tmp_path / "plays.csv", "--output", tmp_path / "cli", "--quiet", *args)
    cli = ials.Model.load(tmp_path / "cli")
    py = ials.fit(list(zip(u, i, v)), **params)
    assert cli.user_ids == py.user_ids and cli.item_ids == py.item_ids
    assert np.array_equal(cli.user_factors, py.user_factors)
    assert np.array_equal(cli.item_factors, py.item_factors)
    assert [h["loss"] for h in cli.loss_history] == [h["loss"] for h in py.loss_history]


@needs_cli
def test_model_directories_move_between_cli_and_python(tmp_path):
    pd = pytest.importorskip("pandas")
    u, i, v = plays(seed=6)
    write_csv(tmp_path / "plays.csv", u, i, v)
    # Python fits, the CLI serves
    py = ials.fit(list(zip(u, i, v)), factors=6, iterations=3)
    py.save(tmp_path / "py_model")
    out = run_cli("recommend", "--model", tmp_path / "py_model", "--all", "--k", "5", "--output", "-").stdout
    served = pd.read_csv(io.StringIO(out), dtype={"user": str, "item": str})
    mine = py.recommend(k=5)
    assert list(served.user) == list(mine.user) and list(served.item) == list(mine.item)
    assert np.allclose(served.score, mine.score, rtol=1e-6)
    # the CLI fits (and updates), Python serves
    run_cli("fit", "--input", tmp_path / "plays.csv", "--output", tmp_path / "cli_model", "--factors", 6, "--iterations", 3, "--quiet")
    cli = ials.Model.load(tmp_path / "cli_model")
    out = run_cli("recommend", "--model", tmp_path / "cli_model", "--all", "--k", "5", "--output", "-").stdout
    served = pd.read_csv(io.StringIO(out), dtype={"user": str, "item": str})
    mine = cli.recommend(k=5)
    assert list(served.item) == list(mine.item)
    # a Python save of a loaded model is served identically
    cli.save(tmp_path / "resaved")
    out2 = run_cli("recommend", "--model", tmp_path / "resaved", "--all", "--k", "5", "--output", "-").stdout
    assert out2 == out
    shutil.rmtree(tmp_path / "resaved")


def test_interactions_splits_alignment_and_csr(data):
    sp = pytest.importorskip("scipy.sparse")
    d = ials.interactions(data, value="value")
    indptr, indices, values = d.csr()
    m = sp.csr_matrix((values, indices, indptr), shape=(d.n_users, d.n_items))
    assert m.nnz == d.nnz
    # duplicates summed: the matrix total is the value total
    assert m.sum() == pytest.approx(float(np.sum(data["value"])), rel=1e-6)
    train, test = d.leave_k_out(1, seed=3)
    assert train.nnz + test.nnz == d.nnz and train.user_ids == d.user_ids
    # a test frame read separately, aligned to the training ids
    other = ials.interactions([(data["user"][0], data["item"][0]), ("stranger", data["item"][1])])
    aligned = other.aligned_to(d)
    assert aligned.n_users == d.n_users and aligned.nnz == 1


def _csr(d):
    sp = pytest.importorskip("scipy.sparse")
    indptr, indices, values = d.csr()
    return sp.csr_matrix((values, indices, indptr), shape=(d.n_users, d.n_items))


def test_strong_split_and_fold_in_evaluation(data):
    d = ials.interactions(data, value="value")
    train, (fold, test), val = d.strong_split(test_users=40, validation_users=20, seed=7)
    full, tr, fo, te = _csr(d), _csr(train), _csr(fold), _csr(test)
    held = np.flatnonzero(np.diff(te.indptr))
    assert len(held) == 40 and val is not None and _csr(val[1]).getnnz(axis=1).astype(bool).sum() == 20
    # held-out users are gone from training; fold-in + test is their history
    assert tr[held].nnz == 0
    assert abs(fo[held] + te[held] - full[held]).sum() == 0
    assert fo[held].multiply(te[held]).nnz == 0
    m = ials.fit(train, factors=8, iterations=6, regularization=0.5)
    k = 10
    got = ials.evaluate(m, train, test, k=k, fold_in=fold)
    # brute force: fold each user in, rank all items but the fold-in ones
    items = m.item_ids
    Y = m.item_factors
    recalls = []
    for u in held:
        row = fo[u]
        x = m.fold_in([items[j] for j in row.indices], row.data)
        scores = Y @ x
        scores[row.indices] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        truth = set(te[u].indices)
        recalls.append(len(truth & set(top)) / min(k, len(truth)))
    assert got["recall"] == pytest.approx(np.mean(recalls), abs=1e-6)
    assert got["users"] == 40
    # baselines read the fold-in items as history; fixed embeddings are refused
    assert 0 <= ials.evaluate("item-knn", train, test, k=k, fold_in=fold)["recall"] <= 1
    with pytest.raises(ValueError, match="fold_in needs a Model"):
        ials.evaluate((m.user_factors, m.item_factors), train, test, fold_in=fold)
    with pytest.raises(ValueError, match="strong generalization"):
        d.strong_split(test_users=10_000)


def test_native_model_pickles_through_its_model_directory(data, tmp_path):
    import pickle

    m = ials.fit(ials.interactions(data, value="value"), factors=6, iterations=3, seed=4)
    back = pickle.loads(pickle.dumps(m))
    assert np.array_equal(back.user_factors, m.user_factors)
    assert np.array_equal(back.item_factors, m.item_factors)
    assert back.user_ids == m.user_ids and back.item_ids == m.item_ids
    assert back.params == m.params and back.loss_history == m.loss_history
    users = m.user_ids[:5]
    a, b = m.recommend(users, k=5), back.recommend(users, k=5)
    assert a.equals(b) if hasattr(a, "equals") else a == b


def test_track_loss_false_keeps_the_factors_and_reports_no_loss(data):
    d = ials.interactions(data, value="value")
    a = ials.fit(d, factors=6, iterations=3, seed=2)
    b = ials.fit(d, factors=6, iterations=3, seed=2, track_loss=False)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert [r["loss"] for r in b.loss_history] == [None, None, None]
    assert all(r["loss"] > 0 for r in a.loss_history)
    assert b.params["track_loss"] is False
