"""The native API: string ids, DataFrames, every ``ials fit`` setting, the
CLI's model directories and the evaluation of ``ials eval``."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import _ials

__all__ = ["Interactions", "Model", "interactions", "fit", "evaluate", "FIT_PARAMETERS"]

Interactions = _ials.Interactions

#: The settings :func:`fit` accepts (those of ``ials fit``).
FIT_PARAMETERS = (
    "factors",
    "iterations",
    "regularization",
    "alpha",
    "confidence",
    "epsilon",
    "target",
    "unobserved_weight",
    "reg_exponent",
    "reg_include_unobserved",
    "solver",
    "cg_steps",
    "block_size",
    "init",
    "init_std",
    "seed",
    "threads",
    "observed_negatives",
    "track_loss",
)


def _factorize(values) -> tuple:
    """First-appearance codes and unique ids as strings (the order in which
    ``ials fit`` meets ids in a file)."""
    try:
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(values, dtype=object).astype(str), sort=False)
        return codes.astype(np.int64), [str(u) for u in uniques]
    except ImportError:
        index: dict = {}
        codes = np.empty(len(values), dtype=np.int64)
        for j, v in enumerate(values):
            codes[j] = index.setdefault(str(v), len(index))
        return codes, list(index)


def interactions(
    data: Any,
    user: Union[str, int] = "user",
    item: Union[str, int] = "item",
    value: Union[str, int, None] = None,
    observed_negatives: bool = False,
) -> Interactions:
    """Interactions from a pandas DataFrame (columns ``user``, ``item`` and
    optionally ``value``), a dict of columns, or an iterable of ``(user,
    item)`` / ``(user, item, value)`` tuples. Ids are strings (other types are
    converted with ``str``) indexed in order of first appearance and
    duplicates are summed, exactly as ``ials fit`` reads a file; without a
    value column every value is 1.
    """
    if hasattr(data, "columns") or isinstance(data, dict):
        users = list(data[user]) if not hasattr(data[user], "to_numpy") else data[user].to_numpy()
        items = list(data[item]) if not hasattr(data[item], "to_numpy") else data[item].to_numpy()
        values = None
        if value is not None:
            values = np.asarray(data[value], dtype=np.float64)
    else:
        rows = list(data)
        users = [r[0] for r in rows]
        items = [r[1] for r in rows]
        values = None
        if rows and len(rows[0]) > 2:
            values = np.asarray([r[2] for r in rows], dtype=np.float64)
    uc, uids = _factorize(users)
    ic, iids = _factorize(items)
    if values is not None:
        values = values.astype(np.float32)
    return _ials.Interactions.from_codes(uids, iids, uc, ic, values, observed_negatives)


def _as_interactions(data, user, item, value, observed_negatives):
    if isinstance(data, _ials.Interactions):
        return data
    return interactions(data, user, item, value, observed_negatives)


class _Progress:
    def __init__(self, total: int):
        try:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total)
        except ImportError:
            self.bar = None
        self.total = total

    def __call__(self, r: dict) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({"loss": r["loss"]})
        else:
            sys.stderr.write(f"\riteration {r['iteration']}/{self.total}  loss {r['loss']:.6e}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")


def fit(
    data: Any,
    user: Union[str, int] = "user",
    item: Union[str, int] = "item",
    value: Union[str, int, None] = None,
    *,
    callback: Optional[Callable[[dict], Optional[bool]]] = None,
    show_progress: bool = False,
    **params: Any,
) -> "Model":
    """Fit iALS on ``data`` (an :class:`Interactions`, a DataFrame, a dict of
    columns or an iterable of tuples; see :func:`interactions`).

    ``params`` are the settings of ``ials fit`` with the same defaults:
    ``factors`` (64), ``iterations`` (15), ``regularization`` (0.01),
    ``alpha`` (1), ``confidence`` ("linear", "log", "as-given"), ``epsilon``
    (1), ``target`` ("one", "reciprocal"), ``unobserved_weight`` (α0, 1),
    ``reg_exponent`` (ν, 0), ``reg_include_unobserved`` (True), ``solver``
    ("cg", "cholesky", "block"), ``cg_steps`` (3), ``block_size``
    (min(k, 32)), ``init`` ("uniform" on [0, init_std), "normal"
    N(0, init_std²)), ``init_std`` (0.01 uniform, 0.1/√k normal), ``seed``
    (42), ``threads`` (0: all cores), ``observed_negatives`` (False).

    ``callback(report)`` is called after each iteration with a dict
    (``iteration``, ``loss``, ``observed``, ``unobserved``,
    ``regularization``, ``seconds``); returning ``False`` stops the fit.
    The same data, ids and settings give bit for bit the factors of
    ``ials fit``. Ctrl-C stops after the current iteration
    (``KeyboardInterrupt``; nothing is written).
    """
    unknown = set(params) - set(FIT_PARAMETERS)
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {sorted(unknown)}; expected some of {', '.join(FIT_PARAMETERS)}"
        )
    data = _as_interactions(
        data, user, item, value, bool(params.get("observed_negatives", False))
    )
    progress = _Progress(params.get("iterations", 15)) if show_progress else None
    cb = callback
    if progress is not None:

        def cb(r):
            progress(r)
            return callback(r) if callback is not None else None

    try:
        inner = _ials.Model.fit(data, params, cb)
    finally:
        if progress is not None:
            progress.close()
    return Model(inner)


def _frame(columns: dict):
    try:
        import pandas as pd

        return pd.DataFrame(columns)
    except ImportError:
        return columns


class Model:
    """A fitted model: the same object ``ials fit`` saves and ``ials
    recommend`` serves. Create with :func:`fit` or :meth:`Model.load`."""

    def __init__(self, inner: "_ials.Model"):
        self._m = inner

    # ---------------------------------------------------------------- io
    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Model":
        """Load a model directory written by ``ials fit`` or :meth:`save`."""
        return cls(_ials.Model.load(os.fspath(path)))

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write a model directory the CLI serves (atomic, checksummed)."""
        self._m.save(os.fspath(path))

    # ------------------------------------------------------------ fields
    @property
    def user_factors(self) -> np.ndarray:
        """``n_users x k`` float32 (a copy)."""
        return self._m.user_factors

    @property
    def item_factors(self) -> np.ndarray:
        """``n_items x k`` float32 (a copy)."""
        return self._m.item_factors

    @property
    def user_ids(self) -> list:
        return self._m.user_ids

    @property
    def item_ids(self) -> list:
        return self._m.item_ids

    @property
    def params(self) -> dict:
        """The fit settings (the keys :func:`fit` accepts)."""
        return self._m.params

    @property
    def loss_history(self) -> list:
        """One dict per iteration: the loss and its three parts, seconds."""
        return self._m.loss_history

    @property
    def n_users(self) -> int:
        return self._m.n_users

    @property
    def n_items(self) -> int:
        return self._m.n_items

    # ------------------------------------------------------------ serving
    def recommend(
        self,
        users: Optional[Iterable[Any]] = None,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: Optional[Iterable[Any]] = None,
        candidates: Optional[Iterable[Any]] = None,
        threads: int = 0,
    ):
        """Top ``k`` items of each user in ``users`` (ids; ``None``: every
        user, with the blocked all-users kernel), as a DataFrame with columns
        ``user, item, rank, score`` (a dict of columns without pandas), the
        rows of ``ials recommend``: seen items left out unless
        ``exclude_seen=False``, ``exclude`` never returned, only
        ``candidates`` ranked. Ties go to the lower item index.
        """
        us = None if users is None else [str(u) for u in users]
        ex = None if exclude is None else [str(i) for i in exclude]
        ca = None if candidates is None else [str(i) for i in candidates]
        u, i, r, s = self._m._recommend(us, int(k), bool(exclude_seen), ex, ca, int(threads))
        uids = np.asarray(self._m.user_ids, dtype=object)
        iids = np.asarray(self._m.item_ids, dtype=object)
        return _frame({"user": uids[u], "item": iids[i], "rank": r, "score": s})

    def recommend_history(
        self,
        items: Sequence[Any],
        values: Optional[Sequence[float]] = None,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: Optional[Iterable[Any]] = None,
        candidates: Optional[Iterable[Any]] = None,
    ):
        """Top ``k`` for a new user given by its items (and values), folded
        in with one exact solve: a DataFrame ``item, rank, score``."""
        ex = None if exclude is None else [str(i) for i in exclude]
        ca = None if candidates is None else [str(i) for i in candidates]
        vals = None if values is None else [float(v) for v in values]
        i, s = self._m._recommend_history([str(x) for x in items], vals, int(k), exclude_seen, ex, ca)
        iids = np.asarray(self._m.item_ids, dtype=object)
        return _frame({"item": iids[i], "rank": np.arange(1, len(i) + 1, dtype=np.uint32), "score": s})

    def fold_in(self, items: Sequence[Any], values: Optional[Sequence[float]] = None) -> np.ndarray:
        """The factors of a new user with these items (exact solve)."""
        vals = None if values is None else [float(v) for v in values]
        return self._m.fold_in([str(x) for x in items], vals)

    def explain(self, user: Any, item: Any):
        """``(score, [(item, contribution)])``: the score of ``item`` for
        ``user`` split over the user's items, largest first."""
        return self._m.explain(str(user), str(item))

    def similar_items(self, item: Any, k: int = 10) -> list:
        """``[(item, cosine)]``, the item itself left out."""
        return self._m.similar_items(str(item), int(k))

    def similar_users(self, user: Any, k: int = 10) -> list:
        """``[(user, cosine)]``, the user itself left out."""
        return self._m.similar_users(str(user), int(k))

    def partial_fit(
        self,
        data: Any,
        user: Union[str, int] = "user",
        item: Union[str, int] = "item",
        value: Union[str, int, None] = None,
        rounds: int = 2,
        sweeps: int = 0,
    ) -> dict:
        """Add new users, items and pairs (a DataFrame or tuples, as
        :func:`interactions`) and re-solve only the touched rows."""
        if hasattr(data, "columns") or isinstance(data, dict):
            us = [str(x) for x in data[user]]
            its = [str(x) for x in data[item]]
            vs = None if value is None else [float(x) for x in data[value]]
        else:
            rows = list(data)
            us = [str(r[0]) for r in rows]
            its = [str(r[1]) for r in rows]
            vs = [float(r[2]) for r in rows] if rows and len(rows[0]) > 2 else None
        return self._m.partial_fit(us, its, vs, int(rounds), int(sweeps))

    def evaluate(
        self,
        train: Interactions,
        test: Interactions,
        k=20,
        auc: bool = True,
        threads: int = 0,
        fold_in: Optional[Interactions] = None,
    ):
        """Metrics of this model on ``test`` (see :func:`evaluate`)."""
        return evaluate(self, train, test, k=k, auc=auc, threads=threads, fold_in=fold_in)

    # ----------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        # The model directory's files, as bytes: the same writer and the
        # same checked loader as save/load (tower files included).
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ials-pickle-") as tmp:
            root = os.path.join(tmp, "model")
            self._m.save(root)
            files = {}
            for dirpath, _, names in os.walk(root):
                for name in names:
                    full = os.path.join(dirpath, name)
                    with open(full, "rb") as f:
                        files[os.path.relpath(full, root)] = f.read()
        return {"ials_model_dir": files}

    def __setstate__(self, state: dict) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ials-pickle-") as tmp:
            root = os.path.join(tmp, "model")
            for rel, data in state["ials_model_dir"].items():
                full = os.path.join(root, rel)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(data)
            self._m = _ials.Model.load(root)

    def __repr__(self) -> str:
        return repr(self._m)


def evaluate(
    scorer: Any,
    train: Interactions,
    test: Interactions,
    k: Union[int, Sequence[int]] = 20,
    auc: bool = True,
    neighbors: int = 100,
    ease_lambda: float = 200.0,
    threads: int = 0,
    fold_in: Optional[Interactions] = None,
):
    """Ranking metrics on ``test`` with the code of ``ials eval`` (train items
    excluded, Recall@K = hits / min(K, |test|), binary NDCG, precision, MAP,
    MRR, hit rate, AUC, coverage, mean popularity).

    ``scorer``: a :class:`Model` fitted on ``train``; ``"popularity"``,
    ``"item-knn"`` or ``"ease"``; or ``(user_factors, item_factors)`` —
    anyone's embeddings (a two-tower model's, say) — either aligned with
    ``train``'s ids or given as ``((user_ids, U), (item_ids, V))`` to be
    aligned (unknown training users score 0, missing items rank last).
    ``test`` must be indexed like ``train`` (``test.aligned_to(train)``).
    ``fold_in`` (strong generalization, :meth:`Interactions.strong_split`):
    the held-out users' given items; a :class:`Model` folds each user in by
    one exact solve against its item factors, baselines read them as history.
    Returns a list of dicts, one per cut-off, or one dict for a single ``k``.
    """
    ks = [int(k)] if np.isscalar(k) else [int(x) for x in k]
    missing = None
    if isinstance(scorer, Model):
        scorer = scorer._m
    elif isinstance(scorer, tuple) and len(scorer) == 2 and isinstance(scorer[0], tuple):
        (uids, U), (iids, V) = scorer
        U = np.asarray(U, dtype=np.float32)
        V = np.asarray(V, dtype=np.float32)
        uindex = {str(u): j for j, u in enumerate(uids)}
        iindex = {str(i): j for j, i in enumerate(iids)}
        Ua = np.zeros((train.n_users, U.shape[1]), dtype=np.float32)
        Va = np.zeros((train.n_items, V.shape[1]), dtype=np.float32)
        missing = []
        for j, u in enumerate(train.user_ids):
            if u in uindex:
                Ua[j] = U[uindex[u]]
        for j, i in enumerate(train.item_ids):
            if i in iindex:
                Va[j] = V[iindex[i]]
                missing.append(False)
            else:
                missing.append(True)
        scorer = (Ua, Va)
    elif isinstance(scorer, tuple):
        scorer = tuple(np.ascontiguousarray(a, dtype=np.float32) for a in scorer)
    out = _ials.evaluate(scorer, train, test, ks, auc, neighbors, ease_lambda, threads, missing, fold_in)
    return out[0] if np.isscalar(k) else out
