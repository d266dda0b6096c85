"""``AlternatingLeastSquares`` with implicit 0.7's interface on the ials engine."""

from __future__ import annotations

import heapq
import logging
import sys
import time
import warnings

import numpy as np
import scipy.linalg
import scipy.sparse

from .. import _ials
from ..errors import IalsError, NonFiniteError, NotPositiveDefiniteError
from .utils import ModelFitError, ParameterWarning, check_csr, check_random_state, nonzeros

log = logging.getLogger("ials.implicit")

__all__ = ["AlternatingLeastSquares", "calculate_loss"]


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _implicit_loss(parts, data, shape, scale):
    """implicit's normalised loss from the three loss parts: implicit adds the
    confidence of each negative entry once more, and divides by the total
    confidence plus the number of unobserved pairs."""
    observed, unobserved, reg = parts
    data = np.asarray(data, dtype=np.float64) * scale
    negative = -data[data < 0].sum()
    total_confidence = np.abs(data).sum()
    denominator = total_confidence + shape[0] * shape[1] - data.size
    return float((observed + unobserved + reg + negative) / denominator)


def calculate_loss(Cui, X, Y, regularization, num_threads=0):
    """implicit's ``calculate_loss``: the training loss of factors ``X``, ``Y``
    on the confidence matrix ``Cui`` (``c = value``; negative values are
    observed negatives), normalised as implicit does."""
    Cui = check_csr(Cui)
    parts = _ials.loss_parts(
        Cui.indptr,
        Cui.indices,
        Cui.data,
        Cui.shape,
        _f32(X),
        _f32(Y),
        float(regularization),
        1.0,
        int(num_threads),
    )
    return _implicit_loss(parts, Cui.data, Cui.shape, 1.0)


def _progress(total, show):
    if not show:
        return None
    try:
        from tqdm.auto import tqdm  # optional, as in implicit

        return tqdm(total=total)
    except ImportError:
        return _TextProgress(total)


class _TextProgress:
    def __init__(self, total):
        self.total, self.n = total, 0

    def update(self, n):
        self.n += n
        sys.stderr.write(f"\r{self.n}/{self.total}")
        sys.stderr.flush()

    def set_postfix(self, d):
        sys.stderr.write(" " + " ".join(f"{k}={v:.6g}" for k, v in d.items()))

    def close(self):
        sys.stderr.write("\n")


class AlternatingLeastSquares:
    """Alternating Least Squares (Hu, Koren & Volinsky 2008) with the
    interface of ``implicit.als.AlternatingLeastSquares`` (implicit 0.7, CPU).

    Parameters
    ----------
    factors : int, optional
        The number of latent factors to compute.
    regularization : float, optional
        The regularization factor λ (``λ (‖X‖² + ‖Y‖²)``).
    alpha : float, optional
        The confidence of an entry is ``alpha * value``.
    dtype : data-type, optional
        float32 or float64 factors (the engine computes in float32).
    use_native : bool, optional
        Accepted for compatibility; the engine is always native.
    use_cg : bool, optional
        Conjugate gradient (``cg_steps`` = 3 warm-started steps a row, the
        default) or the exact Cholesky solve.
    use_gpu : bool, optional
        Must be False: ials runs on the CPU.
    iterations : int, optional
        ALS sweeps of ``fit``.
    calculate_training_loss : bool, optional
        Compute implicit's normalised loss after each iteration (passed to the
        callback and logged).
    num_threads : int, optional
        Threads of ``fit`` and of batch calls; 0 uses every core.
    random_state : int, RandomState, Generator or None, optional
        Seed of the initial factors (uniform in [0, 0.01), as implicit).

    Attributes
    ----------
    item_factors : ndarray
        Array of latent factors for each item in the training set.
    user_factors : ndarray
        Array of latent factors for each user in the training set.
    """

    def __init__(
        self,
        factors=100,
        regularization=0.01,
        alpha=1.0,
        dtype=np.float32,
        use_native=True,
        use_cg=True,
        iterations=15,
        calculate_training_loss=False,
        num_threads=0,
        random_state=None,
        use_gpu=False,
    ):
        if use_gpu:
            raise ValueError(
                "use_gpu=True is not supported: ials runs on the CPU "
                "(pass use_gpu=False, or use implicit's GPU model)"
            )
        self.item_factors = None
        self.user_factors = None
        self._user_norms, self._item_norms = None, None
        self.num_threads = num_threads

        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha

        self.dtype = np.dtype(dtype)
        self.use_native = use_native
        self.use_cg = use_cg
        self.iterations = iterations
        self.calculate_training_loss = calculate_training_loss
        self.fit_callback = None
        self.cg_steps = 3
        self.random_state = random_state

        self._YtY = None
        self._XtX = None
        # side -> (factors array, _ials.FixedSide): the Gramian and the copy
        # a re-solve needs, reused while the factors are the same array.
        self._fixed = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fixed"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_fixed", {})

    # ------------------------------------------------------------------ fit
    def fit(self, user_items, show_progress=True, callback=None):
        """Factorizes the ``user_items`` matrix (users x items, CSR; the
        values are confidences, negative values observed negatives).

        Parameters
        ----------
        user_items : csr_matrix
            Matrix of confidences for the liked items.
        show_progress : bool, optional
            Whether to show a progress bar during fitting.
        callback : Callable, optional
            Called after each iteration as ``callback(iteration, seconds,
            loss)`` (``loss`` is None unless ``calculate_training_loss``).
        """
        random_state = check_random_state(self.random_state)
        Cui = check_csr(user_items)
        users, items = Cui.shape

        if self.user_factors is None:
            self.user_factors = random_state.random((users, self.factors), dtype=self.dtype) * 0.01
        if self.item_factors is None:
            self.item_factors = random_state.random((items, self.factors), dtype=self.dtype) * 0.01
        if self.user_factors.shape[0] != users or self.item_factors.shape[0] != items:
            raise ValueError(
                f"the model has {self.user_factors.shape[0]} users and "
                f"{self.item_factors.shape[0]} items but user_items is {users}x{items}"
            )

        self._item_norms = self._user_norms = None
        self._YtY = None
        self._XtX = None
        self._fixed = {}

        if not callback:
            callback = self.fit_callback
        k = self.user_factors.shape[1]
        if self.iterations <= 0 or Cui.nnz == 0 or k == 0:
            if Cui.nnz == 0 and self.iterations > 0:
                self.user_factors = np.zeros_like(self.user_factors)
                self.item_factors = np.zeros_like(self.item_factors)
            self._check_fit_errors()
            return

        params = {
            "factors": k,
            "iterations": int(self.iterations),
            "regularization": float(self.regularization),
            "alpha": float(self.alpha),
            "confidence": "as-given",
            "unobserved_weight": 1.0,
            "reg_exponent": 0.0,
            "solver": "cg" if self.use_cg else "cholesky",
            "cg_steps": int(self.cg_steps),
            "threads": int(self.num_threads or 0),
            "observed_negatives": True,
            # implicit computes the loss only when asked; so do we (the
            # factors are the same either way).
            "track_loss": bool(self.calculate_training_loss),
        }
        progress = _progress(self.iterations, show_progress)
        want_loss = self.calculate_training_loss
        loss = None

        def on_iteration(report):
            nonlocal loss
            iteration, seconds, observed, unobserved, reg, _ = report
            if progress is not None:
                progress.update(1)
            if want_loss:
                loss = _implicit_loss(
                    (observed, unobserved, reg), Cui.data, Cui.shape, float(self.alpha)
                )
                if progress is not None:
                    progress.set_postfix({"loss": loss})
                else:
                    log.info("loss %.4f", loss)
            if callback:
                callback(iteration - 1, seconds, loss)
            return True

        try:
            x, y, _ = _ials.fit_csr(
                Cui.indptr,
                Cui.indices,
                Cui.data,
                Cui.shape,
                _f32(self.user_factors),
                _f32(self.item_factors),
                params,
                on_iteration,
            )
        except NonFiniteError as e:
            raise ModelFitError(str(e)) from e
        except NotPositiveDefiniteError as e:
            # implicit raises ValueError when its posv fails (regularization 0)
            raise ValueError(f"{e}. Try increasing the regularization parameter.") from e
        finally:
            if progress is not None:
                progress.close()
        self.user_factors = x if self.dtype == np.float32 else x.astype(self.dtype)
        self.item_factors = y if self.dtype == np.float32 else y.astype(self.dtype)
        if want_loss:
            log.info("Final training loss %.4f", loss)
        self._check_fit_errors()

    # ------------------------------------------------------------ recommend
    def recommend(
        self,
        userid,
        user_items,
        N=10,
        filter_already_liked_items=True,
        filter_items=None,
        recalculate_user=False,
        items=None,
    ):
        """Recommends items for a user or an array of users.

        Returns ``(ids, scores)``: 1-D arrays of length ``N`` for one user,
        ``(len(userid), N)`` arrays for a batch; ids are int32, scores in the
        model's dtype, best first. Filtered items score ``-finfo.max`` and
        only appear when fewer than ``N`` others remain; slots beyond the
        number of items are padded with id 0 and score 0 (implicit's layout).

        Parameters
        ----------
        userid : int or array_like
            The user id(s).
        user_items : csr_matrix
            One row per user in ``userid``: the items to filter out and (with
            ``recalculate_user``) the items to re-solve the user from.
        N : int, optional
            The number of results to return.
        filter_already_liked_items : bool, optional
            Leave out the items of ``user_items``.
        filter_items : array_like, optional
            Extra item ids to leave out for every user.
        recalculate_user : bool, optional
            Re-solve the users from ``user_items`` instead of their stored
            factors.
        items : array_like, optional
            Rank only these item ids (cannot be combined with
            ``filter_items``).
        """
        if filter_already_liked_items or recalculate_user:
            if not scipy.sparse.issparse(user_items) or user_items.format != "csr":
                raise ValueError("user_items needs to be a CSR sparse matrix")
            user_count = 1 if np.isscalar(userid) else len(userid)
            if user_items.shape[0] != user_count:
                raise ValueError("user_items must contain 1 row for every user in userids")

        user = self._user_factor(userid, user_items, recalculate_user)
        item_factors = self.item_factors

        if items is not None:
            N = min(N, len(items))
            if filter_items:
                raise ValueError("Can't set both items and filter_items in recommend call")
            items = np.array(items)
            items.sort()
            if items.max() >= self.item_factors.shape[0] or items.min() < 0:
                raise IndexError("Some itemids in the items parameter in are not in the model")
            item_factors = item_factors[items]

        filter_query_items = None
        if filter_already_liked_items:
            filter_query_items = user_items
            if items is not None:
                filter_query_items = _filter_items_from_sparse_matrix(items, filter_query_items)

        ids, scores = self._topk(
            item_factors, user, N, filter_query_items=filter_query_items, filter_items=filter_items
        )
        if np.isscalar(userid):
            ids, scores = ids[0], scores[0]
        if items is not None:
            ids = items[ids]
        return ids, scores

    def _topk(self, factors, query, N, item_norms=None, filter_query_items=None, filter_items=None):
        query = np.asarray(query)
        if query.ndim == 1:
            query = query.reshape((1, len(query)))
        factors = np.asarray(factors)
        dtype = factors.dtype if factors.dtype in (np.float32, np.float64) else np.float32
        factors = np.ascontiguousarray(factors, dtype=dtype)
        query = np.ascontiguousarray(query, dtype=dtype)
        norms = None
        if item_norms is not None:
            norms = np.ascontiguousarray(item_norms, dtype=dtype)
        fptr = findices = None
        if filter_query_items is not None:
            fptr, findices = filter_query_items.indptr, filter_query_items.indices
        fitems = None
        if filter_items is not None:
            fitems = np.asarray(filter_items, dtype=np.int64).ravel()
            n = factors.shape[0]
            if fitems.size and (fitems.min() < -n or fitems.max() >= n):
                bad = fitems[(fitems < -n) | (fitems >= n)][0]
                raise IndexError(f"index {bad} is out of bounds for axis 1 with size {n}")
            fitems = np.where(fitems < 0, fitems + n, fitems)
        return _ials.topk(
            factors,
            query,
            int(N),
            norms,
            fptr,
            findices,
            fitems,
            int(self.num_threads or 0),
        )

    def recommend_all(
        self,
        user_items,
        N=10,
        recalculate_user=False,
        filter_already_liked_items=True,
        filter_items=None,
        users_items_offset=0,
    ):
        """Deprecated in implicit: ``recommend`` with an array of user ids."""
        warnings.warn(
            "recommend_all is deprecated. Use recommend with an array of userids instead",
            DeprecationWarning,
        )
        userids = np.arange(user_items.shape[0]) + users_items_offset
        if users_items_offset:
            adjusted = scipy.sparse.lil_matrix(
                (user_items.shape[0] + users_items_offset, user_items.shape[1]),
                dtype=user_items.dtype,
            )
            adjusted[users_items_offset:] = user_items
            user_items = adjusted.tocsr()
        ids, _ = self.recommend(
            userids,
            user_items,
            N=N,
            filter_already_liked_items=filter_already_liked_items,
            filter_items=filter_items,
            recalculate_user=recalculate_user,
        )
        return ids

    def rank_items(self, userid, user_items, selected_items, recalculate_user=False):
        """Deprecated in implicit: ``recommend`` with ``items``."""
        warnings.warn(
            "rank_items is deprecated. Use recommend with the 'items' parameter instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.recommend(
            userid,
            user_items,
            recalculate_user=recalculate_user,
            items=selected_items,
            filter_already_liked_items=False,
        )

    def _user_factor(self, userid, user_items, recalculate_user=False):
        if recalculate_user:
            return self.recalculate_user(userid, user_items)
        return self.user_factors[userid]

    def _item_factor(self, itemid, item_users, recalculate_item=False):
        if recalculate_item:
            return self.recalculate_item(itemid, item_users)
        return self.item_factors[itemid]

    # ----------------------------------------------------------- similarity
    def similar_users(self, userid, N=10, filter_users=None, users=None):
        """The ``N`` users most similar to ``userid`` (cosine; one id or an
        array), optionally leaving out ``filter_users`` or ranking only
        ``users``. The user itself is included (score 1)."""
        user_factors = self.user_factors
        norms = self.user_norms
        norm = norms[userid]
        if users is not None:
            if filter_users:
                raise ValueError("Can't set both users and filter_users in similar_users call")
            users = np.array(users)
            user_factors = user_factors[users]
            norms = norms[users]
            if users.max() >= self.user_factors.shape[0] or users.min() < 0:
                raise IndexError("Some userids in the users parameter are not in the model")
        factor = self.user_factors[userid]
        ids, scores = self._get_similarity_score(
            factor, norm, user_factors, norms, N, filter_items=filter_users
        )
        if users is not None:
            ids = users[ids]
        return ids, scores

    def similar_items(
        self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None
    ):
        """The ``N`` items most similar to ``itemid`` (cosine; one id or an
        array), optionally re-solved from ``item_users``, leaving out
        ``filter_items`` or ranking only ``items``."""
        factor = self._item_factor(itemid, item_users, recalculate_item)
        factors = self.item_factors
        norms = self.item_norms
        if recalculate_item:
            if np.isscalar(itemid):
                norm = np.linalg.norm(factor)
                norm = norm if norm != 0 else 1e-10
            else:
                norm = np.linalg.norm(factor, axis=1)
                norm[norm == 0] = 1e-10
        else:
            norm = norms[itemid]
        if items is not None:
            if filter_items:
                raise ValueError("Can't set both items and filter_items in similar_items call")
            items = np.array(items)
            factors = factors[items]
            norms = norms[items]
            if items.max() >= self.item_factors.shape[0] or items.min() < 0:
                raise IndexError("Some itemids in the items parameter are not in the model")
        ids, scores = self._get_similarity_score(
            factor, norm, factors, norms, N, filter_items=filter_items
        )
        if items is not None:
            ids = items[ids]
        return ids, scores

    def _get_similarity_score(self, factor, norm, factors, norms, N, filter_items=None):
        ids, scores = self._topk(factors, factor, N, item_norms=norms, filter_items=filter_items)
        if np.isscalar(norm):
            ids, scores = ids[0], scores[0]
            scores /= norm
        else:
            scores /= norm[:, None]
        return ids, scores

    @property
    def user_norms(self):
        if self._user_norms is None:
            self._user_norms = np.linalg.norm(self.user_factors, axis=-1)
            self._user_norms[self._user_norms == 0] = 1e-10
        return self._user_norms

    @property
    def item_norms(self):
        if self._item_norms is None:
            self._item_norms = np.linalg.norm(self.item_factors, axis=-1)
            self._item_norms[self._item_norms == 0] = 1e-10
        return self._item_norms

    # ------------------------------------------------------ fold-in, updates
    def _fixed_side(self, side):
        factors = self.item_factors if side == "items" else self.user_factors
        cached = self.__dict__.setdefault("_fixed", {}).get(side)
        if cached is None or cached[0] is not factors:
            cached = (factors, _ials.FixedSide(_f32(factors), int(self.num_threads or 0)))
            self._fixed[side] = cached
        return cached[1]

    def _solve(self, side, rows, count):
        rows = check_csr(rows)
        fixed = self._fixed_side(side)
        # implicit reads the column indices directly: a matrix narrower than
        # the model is fine, an index beyond it is an error.
        out = _ials.solve_rows(
            fixed,
            rows.indptr,
            rows.indices,
            rows.data,
            (rows.shape[0], fixed.rows),
            float(self.regularization),
            float(self.alpha),
            int(self.num_threads or 0),
        )
        return out if self.dtype == np.float32 else out.astype(self.dtype)

    def recalculate_user(self, userid, user_items):
        """Exact factors of the user(s) from ``user_items`` (one row per user),
        against the current item factors; nothing is stored."""
        user_items = check_csr(user_items)
        users = 1 if np.isscalar(userid) else len(userid)
        if user_items.shape[0] != users:
            raise ValueError("user_items should have one row for every item in user")
        x = self._solve("items", user_items, users)
        return x[0] if np.isscalar(userid) else x

    def recalculate_item(self, itemid, item_users):
        """Exact factors of the item(s) from ``item_users`` (one row per
        item), against the current user factors; nothing is stored."""
        item_users = check_csr(item_users)
        items = 1 if np.isscalar(itemid) else len(itemid)
        if item_users.shape[0] != items:
            raise ValueError("item_users should have one row for every item in itemid")
        y = self._solve("users", item_users, items)
        return y[0] if np.isscalar(itemid) else y

    def partial_fit_users(self, userids, user_items):
        """Re-solve (or add) the users ``userids`` from ``user_items`` and
        store their factors; the model grows for ids beyond its users."""
        if len(userids) != user_items.shape[0]:
            raise ValueError("user_items must contain 1 row for every user in userids")
        user_factors = self.recalculate_user(userids, user_items)
        users, factors = self.user_factors.shape
        max_userid = max(userids)
        if max_userid >= users:
            self.user_factors = np.concatenate(
                [self.user_factors, np.zeros((max_userid - users + 1, factors), dtype=self.dtype)]
            )
        self.user_factors[userids] = user_factors
        self._user_norms = None
        self._XtX = None
        self.__dict__.setdefault("_fixed", {}).pop("users", None)

    def partial_fit_items(self, itemids, item_users):
        """Re-solve (or add) the items ``itemids`` from ``item_users`` and
        store their factors; the model grows for ids beyond its items."""
        if len(itemids) != item_users.shape[0]:
            raise ValueError("item_users must contain 1 row for every user in itemids")
        item_factors = self.recalculate_item(itemids, item_users)
        items, factors = self.item_factors.shape
        max_itemid = max(itemids)
        if max_itemid >= items:
            self.item_factors = np.concatenate(
                [self.item_factors, np.zeros((max_itemid - items + 1, factors), dtype=self.dtype)]
            )
        self.item_factors[itemids] = item_factors
        self._item_norms = None
        self._YtY = None
        self.__dict__.setdefault("_fixed", {}).pop("items", None)

    def explain(self, userid, user_items, itemid, user_weights=None, N=10):
        """Why ``itemid`` scores what it does for ``userid`` (Hu et al. 2008
        §5): ``(total_score, [(itemid, contribution)] top N, user_weights)``;
        pass ``user_weights`` back to speed up repeated calls."""
        user_items = check_csr(user_items)
        if self.alpha != 1.0:
            user_items = self.alpha * user_items
        if user_weights is None:
            A, _ = _user_linear_equation(
                self.item_factors, self.YtY, user_items, userid, self.regularization, self.factors
            )
            user_weights = scipy.linalg.cho_factor(A)
        seed_item = self.item_factors[itemid]
        weighted_item = scipy.linalg.cho_solve(user_weights, seed_item)
        total_score = 0.0
        h = []
        h_len = 0
        for other_itemid, confidence in nonzeros(user_items, userid):
            if confidence < 0:
                continue
            factor = self.item_factors[other_itemid]
            score = weighted_item.dot(factor) * confidence
            total_score += score
            contribution = (score, other_itemid)
            if h_len < N:
                heapq.heappush(h, contribution)
                h_len += 1
            else:
                heapq.heappushpop(h, contribution)
        items = (heapq.heappop(h) for i in range(len(h)))
        top_contributions = list((i, s) for s, i in items)[::-1]
        return total_score, top_contributions, user_weights

    @property
    def YtY(self):
        if self._YtY is None:
            Y = self.item_factors
            self._YtY = Y.T.dot(Y)
        return self._YtY

    @property
    def XtX(self):
        if self._XtX is None:
            X = self.user_factors
            self._XtX = X.T.dot(X)
        return self._XtX

    def _check_fit_errors(self):
        is_nan = np.any(np.isnan(self.user_factors), axis=None)
        is_nan |= np.any(np.isnan(self.item_factors), axis=None)
        if is_nan:
            raise ModelFitError("NaN encountered in factors")

    def to_gpu(self):
        raise NotImplementedError("ials runs on the CPU; there is no GPU model")

    def to_cpu(self):
        return self

    # ------------------------------------------------------------- save/load
    def save(self, fileobj_or_path):
        """Save to a ``.npz`` file (implicit's format: implicit can load it)."""
        args = {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "regularization": self.regularization,
            "factors": self.factors,
            "num_threads": self.num_threads,
            "iterations": self.iterations,
            "use_native": self.use_native,
            "use_cg": self.use_cg,
            "cg_steps": self.cg_steps,
            "calculate_training_loss": self.calculate_training_loss,
            "dtype": self.dtype.name,
            "random_state": self.random_state,
            "alpha": self.alpha,
        }
        args = {
            k: v
            for k, v in args.items()
            if v is not None and not isinstance(v, (np.random.RandomState, np.random.Generator))
        }
        np.savez(fileobj_or_path, **args)

    @classmethod
    def load(cls, fileobj_or_path):
        """Load a model saved by ``save`` here or by implicit's ALS."""
        if isinstance(fileobj_or_path, str) and not fileobj_or_path.endswith(".npz"):
            fileobj_or_path = fileobj_or_path + ".npz"
        with np.load(fileobj_or_path, allow_pickle=False) as data:
            ret = cls()
            for k, v in data.items():
                if k == "dtype":
                    v = np.dtype(str(v))
                elif v.shape == ():
                    v = v.item()
                setattr(ret, k, v)
            return ret

    def __repr__(self):
        return (
            f"AlternatingLeastSquares(factors={self.factors}, regularization={self.regularization}, "
            f"alpha={self.alpha}, use_cg={self.use_cg}, iterations={self.iterations})"
        )


def _user_linear_equation(Y, YtY, Cui, u, regularization, n_factors):
    A = YtY + regularization * np.eye(n_factors)
    b = np.zeros(n_factors)
    for i, confidence in nonzeros(Cui, u):
        factor = Y[i]
        if confidence > 0:
            b += confidence * factor
        else:
            confidence *= -1
        A += (confidence - 1) * np.outer(factor, factor)
    return A, b


def _filter_items_from_sparse_matrix(items, query_items):
    """Remap the columns of ``query_items`` to positions in the sorted
    ``items`` (dropping the others)."""
    filter_query_items = query_items.tocoo()
    positions = np.searchsorted(items, filter_query_items.col)
    positions = np.clip(positions, 0, len(items) - 1)
    filter_query_items.data[items[positions] != filter_query_items.col] = 0
    filter_query_items.col = positions
    filter_query_items.eliminate_zeros()
    return filter_query_items.tocsr()


# silence "imported but unused" for names re-exported from here
_ = (ParameterWarning, IalsError, time)
