"""ials.spark on a local Spark (local[2,4]: 2 cores, 4 attempts a task, so a
failed task is retried): the Spark fit equals the single-machine fit on
ml-100k through the join path and the broadcast path, a task killed
mid-sweep changes nothing, string ids, bad input names the problem, the model
directory, recommend. Skips with a message without pyspark or Java."""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import ials

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no Java runtime (java not on PATH, JAVA_HOME unset)", allow_module_level=True)

from ials import spark as ispark  # noqa: E402

DATASETS = Path(os.environ.get("IALS_DATASETS", "/work/shared/datasets"))
ML100K = DATASETS / "ml-100k" / "u.data"

# Small k, few iterations, one SparkSession: the module runs in a few minutes
# on 2 cores (most of it Spark's per-job overhead).
PARAMS = dict(factors=8, iterations=2, regularization=0.05, alpha=2.0, confidence="log", seed=7)


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The executors' Python is this one (it has ials installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    s = (
        SparkSession.builder.master("local[2,4]")
        .appName("ials-spark-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ml100k():
    if not ML100K.is_file():
        pytest.skip(f"ml-100k is not in {DATASETS} (set IALS_DATASETS)")
    import pandas as pd

    return pd.read_csv(ML100K, sep="\t", names=["user", "item", "rating", "ts"])[["user", "item", "rating"]]


def by_id(ids, f):
    return {str(i): np.asarray(r, dtype=np.float64) for i, r in zip(ids, f)}


def factor_dicts(sm):
    u = {r["id"]: np.asarray(r["features"], dtype=np.float64) for r in sm.user_factors.collect()}
    i = {r["id"]: np.asarray(r["features"], dtype=np.float64) for r in sm.item_factors.collect()}
    return u, i


def assert_close(got, want, tol=1e-5):
    """Every row within relative difference ``tol`` (float32 reduction order)."""
    assert set(got) == set(want)
    worst = 0.0
    for key, w in want.items():
        d = np.linalg.norm(got[key] - w) / max(np.linalg.norm(w), 1e-30)
        worst = max(worst, d)
    assert worst <= tol, f"largest relative row difference {worst:.3g} > {tol}"
    return worst


def single(pdf, value="rating", **params):
    m = ials.fit(pdf, "user", "item", value, threads=2, **params)
    return m, by_id(m.user_ids, m.user_factors), by_id(m.item_ids, m.item_factors)


@pytest.fixture(scope="module")
def reference(ml100k):
    return single(ml100k, **PARAMS)


@pytest.fixture(scope="module")
def joined(spark, ml100k):
    df = spark.createDataFrame(ml100k)
    return ispark.fit(df, value_col="rating", broadcast_threshold=0, **PARAMS)


def test_join_path_equals_the_single_machine_fit(joined, reference):
    _, xu, yi = reference
    u, i = factor_dicts(joined)
    assert_close(u, xu)
    assert_close(i, yi)
    # The loss is the core's, summed by blocks.
    want = reference[0].loss_history[-1]
    got = joined.loss_history[-1]
    assert abs(got["loss"] - want["loss"]) <= 1e-5 * abs(want["loss"])


def test_broadcast_path_equals_the_single_machine_fit(spark, ml100k):
    params = dict(PARAMS, solver="cholesky", init="normal", reg_exponent=0.5)
    _, xu, yi = single(ml100k, **params)
    df = spark.createDataFrame(ml100k)
    sm = ispark.fit(df, value_col="rating", broadcast_threshold=1 << 40, partitions=3, **params)
    u, i = factor_dicts(sm)
    assert_close(u, xu)
    assert_close(i, yi)


def test_a_task_killed_mid_sweep_is_retried_to_the_same_result(spark, ml100k, joined):
    df = spark.createDataFrame(ml100k)
    sm = ispark.fit(df, value_col="rating", broadcast_threshold=0, _fail_first_attempt=(2, "item"), **PARAMS)
    u, i = factor_dicts(sm)
    u0, i0 = factor_dicts(joined)
    assert_close(u, u0, 1e-6)
    assert_close(i, i0, 1e-6)


def test_the_injected_failure_is_on_the_solve_path(spark, ml100k):
    # The test above means something only if the injected failure fires:
    # failing every attempt of that task exhausts Spark's 4 attempts.
    df = spark.createDataFrame(ml100k.head(2000))
    with pytest.raises(Exception, match="injected failure"):
        ispark.fit(df, value_col="rating", _fail_first_attempt=(1, "user", "every"), factors=4, iterations=1)


def test_string_ids_and_the_model_directory(spark, ml100k, tmp_path):
    pdf = ml100k.head(20000).copy()
    pdf["user"] = "user " + pdf["user"].astype(str)
    pdf["item"] = "item/" + pdf["item"].astype(str)
    m, xu, yi = single(pdf, **PARAMS)
    out = tmp_path / "model"
    sm = ispark.fit(spark.createDataFrame(pdf), value_col="rating", output=str(out), **PARAMS)
    u, i = factor_dicts(sm)
    assert_close(u, xu)
    assert_close(i, yi)
    loaded = ials.Model.load(out)
    assert_close(by_id(loaded.user_ids, loaded.user_factors), xu)
    assert_close(by_id(loaded.item_ids, loaded.item_factors), yi)
    assert loaded.params["factors"] == PARAMS["factors"]
    assert len(loaded.loss_history) == PARAMS["iterations"]


def test_recommend_gives_the_single_machine_top_10(spark, joined, reference):
    m = reference[0]
    users = [str(u) for u in range(1, 944, 37)] + ["no such user"]
    want = m.recommend(users=users[:-1], k=10)
    got = ispark.recommend(joined, spark.createDataFrame([(u,) for u in users], ["user"]), 10).toPandas()
    assert set(got["user"]) == set(users[:-1])
    for u in users[:-1]:
        g = got[got.user == u].sort_values("rank")
        w = want[want.user == u].sort_values("rank")
        assert list(g["rank"]) == list(range(1, 11))
        if list(g["item"]) != list(w["item"]):
            # Only a float32 near-tie may swap neighbours.
            np.testing.assert_allclose(g["score"].to_numpy(), w["score"].to_numpy(), rtol=1e-4)
    # exclude_seen=False can return seen items; k larger than the catalogue is cut.
    both = ispark.recommend(joined, spark.createDataFrame([("1",)], ["user"]), 5, exclude_seen=False).toPandas()
    assert len(both) == 5


def test_bad_input_names_the_problem(spark):
    df = spark.createDataFrame([("a", "x", 1.0), ("b", None, 2.0)], ["user", "item", "plays"])
    with pytest.raises(ials.DataError, match="null item .*'item'"):
        ispark.fit(df, value_col="plays", factors=2, iterations=1)
    with pytest.raises(ials.DataError, match="no value column 'rating'.*plays"):
        ispark.fit(df, value_col="rating")
    with pytest.raises(ials.DataError, match="no user column 'uid'"):
        ispark.fit(df, user_col="uid")
    neg = spark.createDataFrame([("a", "x", -1.0)], ["user", "item", "v"])
    with pytest.raises(ials.DataError, match="negative values in column 'v'"):
        ispark.fit(neg, value_col="v", factors=2, iterations=1)
    nan = spark.createDataFrame([("a", "x", float("nan"))], ["user", "item", "v"])
    with pytest.raises(ials.DataError, match="NaN or infinite value"):
        ispark.fit(nan, value_col="v", factors=2, iterations=1)
    txt = spark.createDataFrame([("a", "x", "many")], ["user", "item", "v"])
    with pytest.raises(ials.DataError, match="type string, expected numbers"):
        ispark.fit(txt, value_col="v")
    with pytest.raises(ials.ParameterError, match="factors"):
        ispark.fit(df.dropna(), value_col="plays", factors=0)
    with pytest.raises(TypeError, match="unknown parameter"):
        ispark.fit(df.dropna(), value_col="plays", factor=3)
    with pytest.raises(TypeError, match="Spark DataFrame"):
        ispark.fit([("a", "x")])
    empty = df.filter("user = 'nobody'")
    with pytest.raises(ials.DataError, match="no interactions"):
        ispark.fit(empty, value_col="plays")
