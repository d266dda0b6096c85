#!/usr/bin/env python3
"""Setup seconds of ials.spark.fit (ids indexed, blocks built and cached,
the first Gramian) against MLlib ALS's (a 1-iteration fit less one
iteration: 2 fit(1) - fit(2)), on one local Spark, the same cached input.
With ``--before OLD_SPARK_PY`` (an earlier python/ials/spark.py, e.g.
``git show REV:python/ials/spark.py > /tmp/spark_before.py``) that version
is timed too, alternating with the installed one, and the fits' losses are
printed (they must agree).

usage: spark_setup.py DATA.csv [--cores 2] [--rounds 1] [--before FILE] [--skip-mllib]

DATA.csv: ``user,item,value`` without a header (/work/shared/peers/synth.py).
Prints one JSON line a run.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--before")
    ap.add_argument("--skip-mllib", action="store_true")
    a = ap.parse_args()

    from pyspark.ml.recommendation import ALS
    from vs_spark import local_session

    from ials import spark as after

    systems = [("after", after)]
    if a.before:
        spec = importlib.util.spec_from_file_location("ials.spark_before", a.before)
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)
        systems.insert(0, ("before", before))
    spark = local_session(a.cores)
    df = spark.read.csv(a.data, schema="user INT, item INT, weight FLOAT").cache()
    print(json.dumps({"nnz": df.count(), "load": os.getloadavg()}), flush=True)
    for r in range(a.rounds):
        for name, mod in systems:
            sm = mod.fit(df, "user", "item", "weight", factors=64, iterations=1, regularization=0.05, solver="cg", seed=42)
            h = sm.loss_history[0]
            print(json.dumps({"system": f"ials.spark ({name})", "round": r, "setup_s": round(h["setup_seconds"], 2),
                              "iteration_s": round(h["seconds"], 2), "loss": h["loss"], "load": os.getloadavg()}), flush=True)
    if not a.skip_mllib:
        t = {}
        for iters in (1, 2):
            als = ALS(rank=64, maxIter=iters, regParam=0.05, alpha=1.0, implicitPrefs=True, userCol="user",
                      itemCol="item", ratingCol="weight", seed=42, numUserBlocks=a.cores * 2, numItemBlocks=a.cores * 2)
            t0 = time.perf_counter()
            m = als.fit(df)
            m.userFactors.count()
            m.itemFactors.count()
            t[iters] = time.perf_counter() - t0
        print(json.dumps({"system": "mllib-als", "fit_1_s": round(t[1], 2), "fit_2_s": round(t[2], 2),
                          "setup_s": round(2 * t[1] - t[2], 2), "load": os.getloadavg()}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
