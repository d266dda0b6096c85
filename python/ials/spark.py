"""ials on Apache Spark: the same fit, its row solvers running in the executors.

:func:`fit` takes a Spark DataFrame of interactions and returns a
:class:`SparkModel` (the factors as DataFrames ``id, features``);
:func:`recommend` ranks items for users inside the executors. The fit equals
:func:`ials.fit` on the same data and settings up to float32 reduction-order
rounding: every row starts from a generator keyed by ``(seed, side, id)``,
and every row solve, ``λ_u``, confidence and loss term is the Rust core's
(``ials._ials.spark_*``). The design, its shuffle volume and memory, and
where the time goes: docs/spark.md.

Layout: the rows of each side are split into ``partitions`` blocks
(contiguous ranges of dense indices, ids indexed in order of first
appearance as on one machine), each block one partition of a cached RDD
holding its rows' interactions (CSR over the other side's rows it needs,
built once) and their current factors. A half-sweep sums the fixed side's
Gramian with a tree aggregate, brings the fixed rows each block needs to it
(broadcast below ``broadcast_threshold`` bytes, else a shuffle of exactly the
rows each block needs, co-partitioned with the blocks so the blocks do not
move) and solves each block in one native call.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from . import _ials, errors
from ._native import FIT_PARAMETERS

__all__ = ["fit", "recommend", "SparkModel"]

#: Above this many bytes of fixed-side factors, they travel by shuffle.
BROADCAST_THRESHOLD = 256 << 20


def _block_key(b):
    """The partition of block ``b`` (blocks are numbered 0..P-1): one
    function object, so that co-partitioned RDDs are recognised as such and
    unions keep the blocks in place."""
    return b


class _Block:
    """One block of rows of one side: ``ids`` (external ids, strings),
    ``rows`` (dense indices, ascending), a CSR matrix over ``need`` (the other
    side's dense indices this block's rows interact with, ascending), and
    ``dst``: for each block of the other side, the positions of this block's
    rows that it needs when this side is the fixed one."""

    __slots__ = ("ids", "rows", "indptr", "indices", "values", "need", "dst")

    def __init__(self, own, other, values, ids, other_rows_per_block):
        # Sorted by (own, other) through one int64 key (indices < 2^31 each;
        # the pairs are distinct, duplicates having been summed).
        span = int(other.max()) + 1
        order = np.argsort(own * span + other, kind="stable")
        own, other, values = own[order], other[order], values[order]
        self.rows, start, counts = np.unique(own, return_index=True, return_counts=True)
        self.ids = ids[order[start]]
        self.indptr = np.zeros(len(self.rows) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        self.need, self.indices = np.unique(other, return_inverse=True)
        self.indices = self.indices.astype(np.int64).ravel()
        self.values = values.astype(np.float32)
        # (other block, position of own row) pairs, distinct, sorted by
        # block then position, as one int64 key.
        n_rows = len(self.rows)
        pos = np.repeat(np.arange(n_rows), counts)
        blocks, positions = np.divmod(np.unique((other // other_rows_per_block) * n_rows + pos), n_rows)
        cut = np.flatnonzero(np.diff(blocks)) + 1
        self.dst = {int(b[0]): p for b, p in zip(np.split(blocks, cut), np.split(positions, cut))}


def _blocks(joined, key: int, rows: int, other_rows_per_block: int, n_blocks: int):
    """The cached-to-be RDD ``(block, _Block)`` of one side (``key`` 0: user
    blocks), from ``joined`` (``u_idx, i_idx, v, u, i``; one row an
    interaction). Each block is built from one Arrow batch of its rows
    (``groupBy(block).applyInPandas``): the interactions never pass through
    Python one by one; only the built blocks (one pickled value each) are
    moved to their partitions."""
    import pickle

    from pyspark.sql import functions as F

    own_c, other_c, id_c = ("u_idx", "i_idx", "u") if key == 0 else ("i_idx", "u_idx", "i")

    def build(pdf):
        import pandas as pd

        blk = _Block(
            pdf[own_c].to_numpy(np.int64),
            pdf[other_c].to_numpy(np.int64),
            pdf["v"].to_numpy(np.float64),
            pdf[id_c].to_numpy(object),
            other_rows_per_block,
        )
        b = int(pdf["b"].iloc[0])
        return pd.DataFrame({"b": [b], "blk": [pickle.dumps(blk, protocol=pickle.HIGHEST_PROTOCOL)]})

    built = (
        joined.select(own_c, other_c, "v", id_c)
        .withColumn("b", (F.col(own_c) / F.lit(rows)).cast("long"))
        .groupBy("b")
        .applyInPandas(build, schema="b long, blk binary")
    )
    return built.rdd.map(lambda r: (int(r[0]), pickle.loads(r[1]))).partitionBy(n_blocks, _block_key)


class SparkModel:
    """The result of :func:`fit`.

    - ``user_factors``, ``item_factors``: DataFrames ``id`` (string),
      ``features`` (array<float>), as MLlib's ALS model has them.
    - ``params``: the settings (every default filled in).
    - ``loss_history``: one dict an iteration (``iteration``, ``loss``,
      ``observed``, ``unobserved``, ``regularization``, ``seconds``).
    - ``model``: the :class:`ials.Model` written to ``output`` (else None).
    - ``user_col``, ``item_col``: the input's column names.
    """

    def __init__(self, spark, params, users, items, user_factors, item_factors, history, n_blocks, user_col, item_col, model):
        self._spark = spark
        self.params = params
        self._users = users  # RDD (block, (_Block, X)) of the last sweep
        self._items = items
        self.user_factors = user_factors
        self.item_factors = item_factors
        self.loss_history = history
        self._n_blocks = n_blocks
        self.user_col = user_col
        self.item_col = item_col
        self.model = model

    def __repr__(self) -> str:
        return (
            f"SparkModel(factors={self.params['factors']}, blocks={self._n_blocks}, "
            f"iterations={len(self.loss_history)})"
        )


def _spark_session(df):
    try:
        from pyspark.sql import DataFrame
    except ImportError as e:  # pragma: no cover - exercised only without pyspark
        raise ImportError("ials.spark needs pyspark (pip install pyspark)") from e
    if not isinstance(df, DataFrame):
        raise TypeError(f"expected a Spark DataFrame, got {type(df).__name__}")
    return df.sparkSession


def _check_columns(df, cols):
    have = list(df.columns)
    for what, c in cols:
        if c is not None and c not in have:
            raise errors.DataError(f"no {what} column {c!r} in the DataFrame (columns: {', '.join(have)})")


def _index(spark, sel, col):
    """Dense indices 0..n-1 of the ids in ``col`` in order of first
    appearance (column ``pos``), as ``ials fit`` and :func:`ials.fit` index
    them: a DataFrame ``col, <col>_idx``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    first = sel.groupBy(col).agg(F.min("pos").alias("p")).orderBy("p")
    rdd = first.rdd.map(lambda r: r[0]).zipWithIndex()
    schema = StructType([StructField(col, StringType(), False), StructField(col + "_idx", LongType(), False)])
    return spark.createDataFrame(rdd, schema)


def _rows_per_block(n, n_blocks):
    """Rows of a block: contiguous ranges of dense indices, a multiple of the
    core's Gramian chunk (256 rows), so the blocks' partial Gramians are sums
    of the very chunks of the single-machine Gramian."""
    per = -(-n // n_blocks)  # ceil(n / n_blocks)
    return max(1, -(-per // 256)) * 256


def _gramian_and_parts(state, k):
    """Tree aggregate of the blocks' Gramians and loss parts."""
    zero = (np.zeros((k, k)), np.zeros(4))

    def seq(acc, kv):
        _, (blk, x, parts) = kv
        return (acc[0] + _ials.spark_gramian(x), acc[1] + np.asarray(parts))

    def comb(a, b):
        return (a[0] + b[0], a[1] + b[1])

    return state.treeAggregate(zero, seq, comb, depth=2)


def _solver(params, side, n_other, k, gram, iteration, threads, loss, fail):
    """The per-block solve: (_Block, previous rows, fixed rows of ``need``)."""

    def solve(blk, prev, fixed):
        if fail is not None and tuple(fail[:2]) == (iteration, side):
            from pyspark import TaskContext

            ctx = TaskContext.get()
            every = len(fail) > 2 and fail[2] == "every"
            if ctx is not None and ctx.partitionId() == 0 and (every or ctx.attemptNumber() == 0):
                raise RuntimeError("ials.spark: injected failure of a task attempt (test)")
        t0 = time.perf_counter()
        x, parts = _ials.spark_solve_rows(
            params, side, blk.indptr, blk.indices, blk.values, fixed, gram, n_other, prev,
            iteration=iteration, threads=threads, loss=loss,
        )
        # The 4th part: task-seconds in the native solve (where the time goes).
        return x, np.append(parts, time.perf_counter() - t0)

    return solve


def _half_sweep(sc, target, fixed, side, params, n_other, k, gram, n_blocks, iteration, opts, loss):
    """New state of ``target`` (RDD (block, (_Block, X, parts))) solved
    against ``fixed``."""
    solve = _solver(params, side, n_other, k, gram, iteration, opts["threads"], loss, opts["fail"])
    if n_other * k * 4 <= opts["broadcast_threshold"]:
        full = np.zeros((n_other, k), dtype=np.float32)
        for rows, x in fixed.map(lambda kv: (kv[1][0].rows, kv[1][1])).collect():
            full[rows] = x
        bc = sc.broadcast(full)

        def step(st):
            blk, prev, _ = st
            x, parts = solve(blk, prev, bc.value[blk.need])
            return (blk, x, parts)

        return target.mapValues(step), bc

    # Join path: every fixed block sends each target block exactly the rows
    # it needs; the messages are partitioned like the target blocks, so the
    # union keeps both in place and no block moves.
    def send(kv):
        _, (blk, x, _) = kv
        for b, pos in blk.dst.items():
            yield (b, ("m", blk.rows[pos], x[pos]))

    msgs = fixed.flatMap(send).partitionBy(n_blocks, _block_key)
    tagged = target.mapValues(lambda st: ("s",) + st)
    both = tagged.union(msgs)
    if both.getNumPartitions() != n_blocks:  # pragma: no cover - Spark fell back to a plain union
        both = both.partitionBy(n_blocks, _block_key)

    def solve_partition(it):
        states, rows, facs = {}, {}, {}
        for b, v in it:
            if v[0] == "s":
                states[b] = v[1:]
            else:
                rows.setdefault(b, []).append(v[1])
                facs.setdefault(b, []).append(v[2])
        for b, (blk, prev, _) in states.items():
            r = np.concatenate(rows[b])
            f = np.concatenate(facs[b])
            order = np.argsort(r, kind="stable")
            if not np.array_equal(r[order], blk.need):  # pragma: no cover - an invariant
                raise RuntimeError(f"block {b} received {len(r)} fixed rows, needs {len(blk.need)}")
            x, parts = solve(blk, prev, f[order])
            yield (b, (blk, x, parts))

    return both.mapPartitions(solve_partition, preservesPartitioning=True), None


def fit(
    df,
    user_col: str = "user",
    item_col: str = "item",
    value_col: Optional[str] = None,
    output: Optional[str] = None,
    *,
    partitions: Optional[int] = None,
    broadcast_threshold: int = BROADCAST_THRESHOLD,
    checkpoint_interval: int = 5,
    callback=None,
    _fail_first_attempt=None,  # tests: (iteration, side[, "every"])
    **params: Any,
) -> SparkModel:
    """Fit iALS on a Spark DataFrame of interactions.

    ``df`` has the columns ``user_col`` and ``item_col`` (ids: strings or
    integers, compared as strings, so ``5`` and ``"5"`` are one id, as in
    ``ials fit``) and optionally ``value_col`` (numbers; 1 without it;
    duplicates summed). ``params`` are those of ``ials fit`` under the same
    names and defaults (``factors``, ``iterations``, ``regularization``,
    ``alpha``, ``confidence``, ``epsilon``, ``target``,
    ``unobserved_weight``, ``reg_exponent``, ``reg_include_unobserved``,
    ``solver``, ``cg_steps``, ``block_size``, ``init``, ``init_std``,
    ``seed``, ``observed_negatives``; ``threads`` is the native threads a
    Spark task uses, default 1).

    ``partitions``: blocks a side (default: the default parallelism);
    ``broadcast_threshold``: bytes of fixed-side factors up to which they are
    broadcast instead of shuffled; ``checkpoint_interval``: iterations
    between checkpoints of the factor RDDs (reliable checkpoints when the
    SparkContext has a checkpoint directory, local ones otherwise).
    ``output``: also write a model directory (``ials recommend --model``,
    :meth:`ials.Model.load`); this collects the interactions and factors to
    the driver. ``callback(report)`` after each iteration (returning
    ``False`` stops).

    The factors equal those of :func:`ials.fit` on the same data and settings
    up to float32 reduction-order rounding.
    """
    spark = _spark_session(df)
    try:  # the blocks are built from Arrow batches (applyInPandas)
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ials.spark.fit needs pandas and pyarrow ({e}); pip install 'ials[spark]'") from e
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    unknown = set(params) - set(FIT_PARAMETERS)
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {sorted(unknown)}; expected some of {', '.join(FIT_PARAMETERS)}"
        )
    threads = int(params.pop("threads", 1) or 1)
    params = dict(_ials.spark_params(params))
    params["threads"] = threads
    native = {k: v for k, v in params.items() if k != "threads"}
    k, iterations = params["factors"], params["iterations"]
    track_loss = bool(params.get("track_loss", True))
    _check_columns(df, [("user", user_col), ("item", item_col), ("value", value_col)])
    if value_col is not None:
        vtype = dict(df.dtypes)[value_col]
        if vtype in ("string", "boolean", "binary", "date", "timestamp") or vtype.startswith(("array", "map", "struct")):
            raise errors.DataError(f"value column {value_col!r} has type {vtype}, expected numbers")
    v = F.col(value_col).cast("double") if value_col is not None else F.lit(1.0)
    sel = df.select(
        F.col(user_col).cast("string").alias("u"),
        F.col(item_col).cast("string").alias("i"),
        v.alias("v"),
    )
    # One pass of checks, each error naming the column.
    bad_value = F.col("v").isNull() | F.isnan("v") | (F.abs(F.col("v")) == float("inf"))
    row = sel.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("u").isNull().cast("long")).alias("nu"),
        F.sum(F.col("i").isNull().cast("long")).alias("ni"),
        F.sum(bad_value.cast("long")).alias("nv"),
        F.min(F.when(~bad_value, F.col("v"))).alias("vmin"),
    ).collect()[0]
    if row["n"] == 0:
        raise errors.DataError("the DataFrame has no interactions")
    if row["nu"]:
        raise errors.DataError(f"{row['nu']} interactions have a null user (column {user_col!r})")
    if row["ni"]:
        raise errors.DataError(f"{row['ni']} interactions have a null item (column {item_col!r})")
    if row["nv"]:
        raise errors.DataError(
            f"{row['nv']} interactions have a null, NaN or infinite value (column {value_col!r})"
        )
    if row["vmin"] < 0 and not params["observed_negatives"]:
        raise errors.DataError(
            f"negative values in column {value_col!r} (min {row['vmin']}); pass observed_negatives=True "
            "to read them as observed negatives"
        )

    sc = spark.sparkContext
    n_blocks = int(partitions or sc.defaultParallelism)
    t_setup = time.perf_counter()
    # Ids are indexed in order of first appearance and each row's
    # interactions sorted by that index, as on one machine: with the same
    # input order, every sum runs in the same order as there.
    sel = sel.withColumn("pos", F.monotonically_increasing_id())
    pairs = sel.groupBy("u", "i").agg(F.sum("v").alias("v"))
    uidx = _index(spark, sel, "u").persist()
    iidx = _index(spark, sel, "i").persist()
    n_users, n_items = uidx.count(), iidx.count()
    per_block = (_rows_per_block(n_users, n_blocks), _rows_per_block(n_items, n_blocks))
    joined = pairs.join(uidx, "u").join(iidx, "i").select("u_idx", "i_idx", "v", "u", "i").persist()
    states = []
    for key, side in ((0, "user"), (1, "item")):
        blocks = _blocks(joined, key, per_block[key], per_block[1 - key], n_blocks)

        def start(blk, side=side):
            x = _ials.spark_initial_rows(native, side, [str(s) for s in blk.ids])
            return (blk, x, np.zeros(4))

        states.append(blocks.mapValues(start).persist())
    users, items = states
    gram, _ = _gramian_and_parts(items, k)
    users.count()
    for d in (joined, uidx, iidx):
        d.unpersist()
    setup_seconds = time.perf_counter() - t_setup

    opts = {
        "threads": threads,
        "broadcast_threshold": broadcast_threshold,
        "fail": _fail_first_attempt,
    }
    history = []
    for it in range(1, iterations + 1):
        t0 = time.perf_counter()
        new_users, bc1 = _half_sweep(sc, users, items, "user", native, n_items, k, gram, n_blocks, it, opts, False)
        new_users = new_users.persist()
        h, uparts = _gramian_and_parts(new_users, k)
        new_items, bc2 = _half_sweep(
            sc, items, new_users, "item", native, n_users, k, h, n_blocks, it, opts, track_loss
        )
        new_items = new_items.persist()
        if checkpoint_interval and it % checkpoint_interval == 0 and it < iterations:
            for s in (new_users, new_items):
                if sc._jsc.sc().getCheckpointDir().isDefined():
                    s.checkpoint()
                else:
                    s.localCheckpoint()
        gram, iparts = _gramian_and_parts(new_items, k)
        for bc in (bc1, bc2):
            if bc is not None:
                bc.unpersist()
        for s in (users, items):
            s.unpersist()
        users, items = new_users, new_items
        seconds = time.perf_counter() - t0
        observed = float(iparts[0])
        unobserved = params["unobserved_weight"] * (float(np.sum(h * gram)) - float(iparts[1]))
        reg = float(uparts[2] + iparts[2])
        if not track_loss:  # the item half-sweep skipped the loss terms
            observed = unobserved = reg = float("nan")
        report = {
            "iteration": it,
            "loss": observed + unobserved + reg if track_loss else None,
            "observed": observed,
            "unobserved": unobserved,
            "regularization": reg,
            "seconds": seconds,
            "solve_task_seconds": float(uparts[3] + iparts[3]),
        }
        history.append(report)
        if callback is not None and callback(report) is False:
            break

    schema = StructType([StructField("id", StringType(), False), StructField("features", ArrayType(FloatType(), False), False)])

    def rows_of(kv):
        _, (blk, x, _) = kv
        return [(str(i), r) for i, r in zip(blk.ids, x.tolist())]

    user_factors = spark.createDataFrame(users.flatMap(rows_of), schema)
    item_factors = spark.createDataFrame(items.flatMap(rows_of), schema)
    model = None
    if output is not None:
        model = _write_model(pairs, users, items, native, history, output)
    for h in history:
        h["setup_seconds"] = setup_seconds
    return SparkModel(spark, params, users, items, user_factors, item_factors, history, n_blocks, user_col, item_col, model)


def _write_model(pairs, users, items, params, history, output):
    """Collect to the driver and write with the package's one writer."""
    from . import _native

    p = pairs.toPandas()
    data = _native.interactions(p, "u", "i", "v", bool(params.get("observed_negatives", False)))

    def gather(state, ids):
        pos = {s: j for j, s in enumerate(ids)}
        out = np.zeros((len(ids), params["factors"]), dtype=np.float32)
        for bids, x in state.map(lambda kv: (kv[1][0].ids, kv[1][1])).collect():
            out[[pos[str(s)] for s in bids]] = x
        return out

    x = gather(users, data.user_ids)
    y = gather(items, data.item_ids)
    hist = [(h["seconds"], h["observed"], h["unobserved"], h["regularization"]) for h in history]
    inner = _ials.spark_model(data, params, x, y, hist)
    m = _native.Model(inner)
    m.save(output)
    return m


def recommend(model: SparkModel, users_df, k: int = 10, exclude_seen: bool = True, user_col: Optional[str] = None):
    """Top-``k`` items for the users of ``users_df`` (column ``user_col``,
    default the fit's user column; unknown users are left out), ranked in
    the executors by the core's blocked top-k against the broadcast item
    factors, leaving out each user's training items with ``exclude_seen``.
    A DataFrame ``user, item, rank, score`` (rank 1 first), like
    :meth:`ials.Model.recommend` and MLlib's ``recommendForUserSubset``."""
    spark = _spark_session(users_df)
    from pyspark.sql import functions as F
    from pyspark.sql.types import FloatType, IntegerType, StringType, StructField, StructType

    col = user_col or model.user_col
    _check_columns(users_df, [("user", col)])
    if k < 1:
        raise errors.ParameterError(f"k must be at least 1, got {k}")
    sc = spark.sparkContext
    n_blocks = model._n_blocks
    items = model._items.map(lambda kv: (kv[1][0].rows, kv[1][0].ids, kv[1][1])).collect()
    n_items = sum(len(r) for r, _, _ in items)
    y = np.zeros((n_items, model.params["factors"]), dtype=np.float32)
    item_ids = np.empty(n_items, dtype=object)
    for rows, ids, x in items:
        y[rows] = x
        item_ids[rows] = ids
    bc = sc.broadcast((y, item_ids))
    wanted = users_df.select(F.col(col).cast("string").alias("u")).distinct().rdd.map(lambda r: r[0]).collect()
    wanted_bc = sc.broadcast(set(wanted))

    def rank(kv):
        _, (blk, x, _) = kv
        want = wanted_bc.value
        sel = np.asarray([j for j, s in enumerate(blk.ids) if str(s) in want], dtype=np.int64)
        if len(sel) == 0:
            return []
        yy, iid = bc.value
        kk = min(k, len(yy))
        if exclude_seen:
            lens = blk.indptr[sel + 1] - blk.indptr[sel]
            indptr = np.zeros(len(sel) + 1, dtype=np.int64)
            np.cumsum(lens, out=indptr[1:])
            idx = np.concatenate([blk.need[blk.indices[blk.indptr[j]:blk.indptr[j + 1]]] for j in sel])
            ids, scores = _ials.topk(yy, np.ascontiguousarray(x[sel]), kk, filter_indptr=indptr, filter_indices=idx)
        else:
            ids, scores = _ials.topk(yy, np.ascontiguousarray(x[sel]), kk)
        out = []
        for q, j in enumerate(sel):
            r = 0
            for c, s in zip(ids[q], scores[q]):
                if c < 0 or not np.isfinite(s):
                    continue
                r += 1
                out.append((str(blk.ids[j]), str(iid[c]), r, float(s)))
        return out

    # A set of the wanted ids per executor: fine up to tens of millions of
    # users; beyond, join the request with the user index instead.
    schema = StructType([
        StructField("user", StringType(), False),
        StructField("item", StringType(), False),
        StructField("rank", IntegerType(), False),
        StructField("score", FloatType(), False),
    ])
    return spark.createDataFrame(model._users.flatMap(rank), schema)
