#!/usr/bin/env python3
"""Spark MLlib ALS(implicitPrefs=True) against ials.spark.fit, side by side on
one local Spark (one SparkSession, same input DataFrame, same cores).

usage: vs_spark.py DATA.csv [--factors 64] [--cores 2] [--iterations 3]
                   [--solvers cg,cholesky] [--skip-mllib]

DATA.csv: ``user,item,value`` without a header (the format of
/work/shared/peers/synth.py). Seconds per iteration: for MLlib, the
difference of a fit with ``iterations`` and a fit with 1 iteration, divided
by ``iterations - 1`` (so its one-off setup is left out, as it is for ials,
whose fit reports each iteration's seconds and its setup apart). Prints one
JSON line per run and the ratio.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def local_session(cores):
    """The one local SparkSession of the benchmarks (python/bench/)."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .config("spark.driver.memory", "12g")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.default.parallelism", str(cores * 2))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--solvers", default="cg,cholesky")
    ap.add_argument("--skip-mllib", action="store_true")
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--broadcast-threshold", type=int, default=None)
    a = ap.parse_args()

    from pyspark.ml.recommendation import ALS

    import ials
    from ials import spark as ispark

    spark = local_session(a.cores)
    spark.sparkContext.setCheckpointDir("/tmp/spark-ckpt-vs")
    df = spark.read.csv(a.data, schema="user INT, item INT, weight FLOAT").cache()
    nnz = df.count()
    print(json.dumps({"nnz": nnz, "load": os.getloadavg()}), flush=True)
    results = {}

    if not a.skip_mllib:
        times = {}
        for iters in (1, a.iterations):
            als = ALS(rank=a.factors, maxIter=iters, regParam=0.05, alpha=1.0, implicitPrefs=True,
                      userCol="user", itemCol="item", ratingCol="weight", seed=42,
                      numUserBlocks=a.cores * 2, numItemBlocks=a.cores * 2)
            t0 = time.perf_counter()
            model = als.fit(df)
            model.userFactors.count()
            model.itemFactors.count()
            times[iters] = time.perf_counter() - t0
        per = (times[a.iterations] - times[1]) / (a.iterations - 1)
        results["mllib"] = per
        print(json.dumps({"system": "mllib-als", "fit_1_s": round(times[1], 2),
                          f"fit_{a.iterations}_s": round(times[a.iterations], 2),
                          "per_iter_s": round(per, 3), "load": os.getloadavg()}), flush=True)

    for solver in [s for s in a.solvers.split(",") if s]:
        kw = {}
        if a.partitions:
            kw["partitions"] = a.partitions
        if a.broadcast_threshold is not None:
            kw["broadcast_threshold"] = a.broadcast_threshold
        t0 = time.perf_counter()
        sm = ispark.fit(df, "user", "item", "weight", factors=a.factors, iterations=a.iterations,
                        regularization=0.05, solver=solver, seed=42, **kw)
        total = time.perf_counter() - t0
        secs = [h["seconds"] for h in sm.loss_history]
        per = sum(secs[1:]) / max(len(secs) - 1, 1)
        results[solver] = per
        print(json.dumps({"system": f"ials.spark-{solver}", "setup_s": round(sm.loss_history[0]["setup_seconds"], 2),
                          "iteration_s": [round(s, 2) for s in secs],
                          "solve_task_s": [round(h["solve_task_seconds"], 2) for h in sm.loss_history], "per_iter_s": round(per, 3),
                          "total_s": round(total, 2), "loss": sm.loss_history[-1]["loss"],
                          "load": os.getloadavg()}), flush=True)
    if "mllib" in results:
        for s in results:
            if s != "mllib":
                print(f"ials.spark {s}: {results[s]:.2f} s/iter, MLlib {results['mllib']:.2f} s/iter, "
                      f"ratio {results[s] / results['mllib']:.3f}", flush=True)
    spark.stop()
    _ = ials


if __name__ == "__main__":
    main()
