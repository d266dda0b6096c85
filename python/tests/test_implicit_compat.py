"""The contract of ials.implicit.AlternatingLeastSquares: implicit 0.7's CPU
ALS. Each test pins one behaviour; where the real implicit is importable the
same calls are compared with it numerically (skipped otherwise)."""

import io
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from ials.implicit import AlternatingLeastSquares, ModelFitError, ParameterWarning, calculate_loss

try:  # the reference, optional
    import implicit.cpu.als as implicit_als

    HAS_IMPLICIT = True
except ImportError:  # pragma: no cover
    HAS_IMPLICIT = False

needs_implicit = pytest.mark.skipif(not HAS_IMPLICIT, reason="implicit is not installed")


def checker_board(n):
    r = np.zeros((n, n))
    for i in range(n):
        for j in range(i % 2, n, 2):
            r[i, j] = 1.0
    return sp.csr_matrix(r - np.eye(n))


def random_csr(m, n, density, seed, negatives=False):
    rng = np.random.default_rng(seed)
    a = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=np.float64)
    a.data = np.ceil(a.data * 5)
    if negatives:
        flip = rng.random(a.nnz) < 0.2
        a.data[flip] *= -1
    return a


def fitted(seed=3, **kw):
    ui = random_csr(40, 30, 0.15, seed)
    m = AlternatingLeastSquares(factors=6, random_state=seed, iterations=4, **kw)
    m.fit(ui, show_progress=False)
    return m, ui


def reference(ours):
    """implicit's model with our factors and settings."""
    ref = implicit_als.AlternatingLeastSquares(
        factors=ours.factors,
        regularization=ours.regularization,
        alpha=ours.alpha,
        dtype=ours.dtype,
        use_cg=ours.use_cg,
        iterations=ours.iterations,
        random_state=ours.random_state,
    )
    ref.user_factors = ours.user_factors.copy()
    ref.item_factors = ours.item_factors.copy()
    return ref


# ----------------------------------------------------------------- shapes
def test_attributes_and_dtypes():
    m, ui = fitted()
    assert m.user_factors.shape == (40, 6) and m.item_factors.shape == (30, 6)
    assert m.user_factors.dtype == np.float32
    ids, scores = m.recommend(0, ui[0], N=5)
    assert ids.shape == (5,) and ids.dtype == np.int32 and scores.dtype == np.float32
    assert np.all(np.diff(scores) <= 0)
    ids, scores = m.recommend(np.arange(7), ui[:7], N=5)
    assert ids.shape == (7, 5) and scores.shape == (7, 5)
    m64, ui = fitted(dtype=np.float64)
    assert m64.user_factors.dtype == np.float64
    assert m64.recommend(0, ui[0])[1].dtype == np.float64
    assert m64.recalculate_user(0, ui[0]).dtype == np.float64


def test_layout_beyond_the_items_and_filtered_scores():
    m, ui = fitted()
    seen = set(ui[0].indices)
    ids, scores = m.recommend(0, ui[0], N=40)  # 30 items
    assert ids.shape == (40,)
    # the unfiltered items first, then the filtered ones at -finfo.max, then padding 0
    k = 30 - len(seen)
    assert set(ids[:k]).isdisjoint(seen)
    assert np.all(scores[k:30] == -np.finfo(np.float32).max)
    assert set(ids[k:30]) == seen
    assert np.all(ids[30:] == 0) and np.all(scores[30:] == 0)
    # filter_items, items= restricts and remaps
    ids, _ = m.recommend(0, ui[0], N=3, filter_items=[ids[0]])
    assert ids[0] != m.recommend(0, ui[0], N=1)[0][0]
    sel = [5, 1, 29, 7]
    ids, _ = m.recommend(0, ui[0], N=10, items=sel, filter_already_liked_items=False)
    assert len(ids) == 4 and set(ids) == set(sel)
    with pytest.raises(IndexError):
        m.recommend(0, ui[0], items=[1, 30])
    with pytest.raises(ValueError):
        m.recommend(0, ui[0], items=[1], filter_items=[2])


def test_errors_like_implicit():
    m, ui = fitted()
    with pytest.raises(IndexError):
        m.recommend(400, ui[0])
    with pytest.raises(ValueError):
        m.recommend(0, ui)  # rows != users
    with pytest.raises(ValueError):
        m.recommend(0, ui[0].tocoo())
    with pytest.raises(ValueError, match="CPU"):
        AlternatingLeastSquares(use_gpu=True)
    with pytest.warns(ParameterWarning):
        AlternatingLeastSquares(factors=2, iterations=1).fit(ui.tocoo(), show_progress=False)
    assert issubclass(ModelFitError, Exception)


def test_callback_and_loss_reporting():
    ui = random_csr(30, 20, 0.2, 1)
    calls = []
    m = AlternatingLeastSquares(factors=4, iterations=3, calculate_training_loss=True, random_state=1)
    m.fit(ui, show_progress=False, callback=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [0, 1, 2]
    assert all(c[2] is not None and c[2] > 0 for c in calls)
    assert calls[-1][2] == pytest.approx(calculate_loss(m.alpha * ui, m.user_factors, m.item_factors, m.regularization), rel=1e-4)
    calls.clear()
    m = AlternatingLeastSquares(factors=4, iterations=2, random_state=1)
    m.fit_callback = lambda *a: calls.append(a)
    m.fit(ui, show_progress=False)
    assert len(calls) == 2 and calls[0][2] is None


def test_the_loss_is_computed_only_when_asked_and_changes_nothing():
    ui = random_csr(40, 30, 0.15, 8)
    runs = {}
    for want in (False, True):
        seen = []
        m = AlternatingLeastSquares(factors=5, iterations=3, random_state=8, calculate_training_loss=want)
        m.fit(ui, show_progress=False, callback=lambda it, secs, loss: seen.append(loss))
        runs[want] = (m, seen)
    (a, la), (b, lb) = runs[False], runs[True]
    assert np.array_equal(a.user_factors, b.user_factors) and np.array_equal(a.item_factors, b.item_factors)
    assert la == [None, None, None] and all(np.isfinite(x) for x in lb)


def test_zero_iterations_and_warm_start():
    ui = random_csr(10, 10, 0.3, 2)
    m = AlternatingLeastSquares(factors=3, iterations=0, random_state=5)
    m.fit(ui, show_progress=False)
    init = m.user_factors.copy()
    rng = np.random.default_rng(5)
    assert np.array_equal(init, rng.random((10, 3), dtype=np.float32) * 0.01)
    m.iterations = 2
    m.fit(ui, show_progress=False)  # continues from the stored factors, as implicit
    assert not np.array_equal(init, m.user_factors)


def test_pickle_save_load_roundtrip(tmp_path):
    m, ui = fitted()
    back = pickle.loads(pickle.dumps(m))
    assert np.array_equal(back.recommend(0, ui[0])[0], m.recommend(0, ui[0])[0])
    m.save(str(tmp_path / "model"))
    back = AlternatingLeastSquares.load(str(tmp_path / "model"))
    assert np.array_equal(back.item_factors, m.item_factors)
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    assert np.array_equal(AlternatingLeastSquares.load(buf).user_factors, m.user_factors)
    empty = AlternatingLeastSquares(random_state=4)
    empty.save(str(tmp_path / "empty.npz"))
    assert AlternatingLeastSquares.load(str(tmp_path / "empty.npz")).__dict__ == empty.__dict__


def test_partial_fit_grows_the_model():
    likes = checker_board(20)
    m = AlternatingLeastSquares(factors=2, regularization=0, random_state=23)
    m.fit(likes, show_progress=False)
    m.partial_fit_users([25], likes[1])
    assert m.user_factors.shape[0] == 26 and np.all(m.user_factors[20:25] == 0)
    assert m.recommend(25, likes[1])[0][0] == 1
    m.partial_fit_items([21], likes[1])
    assert m.item_factors.shape[0] == 22


def _fresh(m):
    """A model with m's settings and a copy of its factors (no cached state)."""
    f = AlternatingLeastSquares(factors=m.factors, regularization=m.regularization, alpha=m.alpha)
    f.user_factors, f.item_factors = m.user_factors.copy(), m.item_factors.copy()
    return f


def test_recalculate_reuses_the_fixed_side_until_the_factors_change():
    m, ui = fitted(seed=5, regularization=0.5)
    rows = np.arange(6)
    a = m.recalculate_user(rows, ui[rows])
    cached = m._fixed["items"][1]
    assert np.array_equal(m.recalculate_user(rows, ui[rows]), a) and m._fixed["items"][1] is cached
    assert np.array_equal(a, _fresh(m).recalculate_user(rows, ui[rows]))
    # partial_fit_items writes rows in place: the Gramian must follow.
    m.partial_fit_items([2, 7], ui.T.tocsr()[[5, 9]])
    b = m.recalculate_user(rows, ui[rows])
    assert not np.array_equal(a, b)
    assert np.array_equal(b, _fresh(m).recalculate_user(rows, ui[rows]))
    # A new array assigned by the user is noticed too; users likewise.
    m.item_factors = m.item_factors * 1.5
    assert np.array_equal(m.recalculate_user(rows, ui[rows]), _fresh(m).recalculate_user(rows, ui[rows]))
    items_users = ui.T.tocsr()
    m.recalculate_item(3, items_users[3])
    m.partial_fit_users([1], ui[[4]])
    assert np.array_equal(m.recalculate_item(3, items_users[3]), _fresh(m).recalculate_item(3, items_users[3]))
    # Pickling leaves the cache behind and the copy recomputes it.
    back = pickle.loads(pickle.dumps(m))
    assert back._fixed == {}
    assert np.array_equal(back.recalculate_user(rows, ui[rows]), m.recalculate_user(rows, ui[rows]))


def test_explain_sums_to_the_recalculated_score():
    ui = random_csr(30, 15, 0.3, 9)
    m = AlternatingLeastSquares(factors=4, regularization=1.0, use_cg=False, iterations=10, random_state=9)
    m.fit(ui, show_progress=False)
    x = m.recalculate_user(0, ui[0])
    total, contrib, w = m.explain(0, ui, 3)
    assert total == pytest.approx(float(x @ m.item_factors[3]), rel=1e-3, abs=1e-5)
    assert sum(s for _, s in contrib) == pytest.approx(total, rel=1e-6)
    again, top2, _ = m.explain(0, ui, 3, user_weights=w, N=2)
    assert again == pytest.approx(total) and len(top2) == 2


def test_negative_values_are_observed_negatives():
    # A pair given a large negative value is pushed towards 0 compared with
    # the same pair left unobserved.
    base = checker_board(20).tolil()
    base[0, 2] = 0
    neg = base.copy()
    neg[0, 2] = -30
    a = AlternatingLeastSquares(factors=3, use_cg=False, random_state=2, regularization=0.1)
    b = AlternatingLeastSquares(factors=3, use_cg=False, random_state=2, regularization=0.1)
    a.fit(base.tocsr(), show_progress=False)
    b.fit(neg.tocsr(), show_progress=False)
    sa = float(a.user_factors[0] @ a.item_factors[2])
    sb = float(b.user_factors[0] @ b.item_factors[2])
    assert abs(sb) < abs(sa)


def test_calculate_loss_simple():
    ratings = sp.coo_matrix(([1.0], ([0], [0])), shape=(1, 2)).tocsr()
    Y = np.array([[0.0], [1.0]], dtype="float32")
    X = np.array([[1.0]], dtype="float32")
    assert calculate_loss(ratings, X, Y, regularization=0) == pytest.approx(1.0)
    assert calculate_loss(ratings, X, Y, regularization=1.0) == pytest.approx(2.0)


# --------------------------------------------------- against the real implicit
@needs_implicit
@pytest.mark.parametrize("negatives", [False, True])
def test_calculate_loss_equals_implicit(negatives):
    ui = random_csr(30, 25, 0.2, 4, negatives=negatives)
    rng = np.random.default_rng(1)
    X = rng.random((30, 5), dtype=np.float32)
    Y = rng.random((25, 5), dtype=np.float32)
    ours = calculate_loss(ui, X, Y, 0.3)
    theirs = implicit_als.calculate_loss(ui, X, Y, 0.3)
    assert ours == pytest.approx(theirs, rel=1e-5)


@needs_implicit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_recommend_and_similar_equal_implicit_on_the_same_factors(dtype):
    ours, ui = fitted(dtype=dtype)
    ref = reference(ours)
    users = np.arange(12)
    cases = [
        dict(N=5),
        dict(N=35),
        dict(N=4, filter_items=[0, 3, 7]),
        dict(N=6, filter_already_liked_items=False),
        dict(N=3, items=[2, 9, 4, 28, 11]),
        dict(N=8, items=[2, 9, 4, 28, 11], filter_already_liked_items=True),
        dict(N=3, recalculate_user=True),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw in cases:
            for uid, rows in [(3, ui[3]), (users, ui[users])]:
                a_ids, a_s = ours.recommend(uid, rows, **kw)
                b_ids, b_s = ref.recommend(uid, rows, **kw)
                assert a_ids.shape == b_ids.shape and a_s.dtype == b_s.dtype, kw
                assert np.array_equal(a_ids, b_ids), kw
                assert np.allclose(a_s, b_s, rtol=1e-4, atol=1e-5), kw
        for kw in [dict(N=5), dict(N=4, filter_items=[1, 2]), dict(N=3, items=[0, 4, 8, 9])]:
            for q in (4, np.arange(6)):
                a = ours.similar_items(q, **kw)
                b = ref.similar_items(q, **kw)
                assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], rtol=1e-4), kw
        a = ours.similar_users(np.arange(5), N=4, filter_users=[1])
        b = ref.similar_users(np.arange(5), N=4, filter_users=[1])
        assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], rtol=1e-4)
        a = ours.similar_items(2, N=4, recalculate_item=True, item_users=ui.T.tocsr()[2])
        b = ref.similar_items(2, N=4, recalculate_item=True, item_users=ui.T.tocsr()[2])
        assert np.array_equal(a[0], b[0])


@needs_implicit
def test_recalculate_and_explain_equal_implicit():
    ours, ui = fitted(seed=5, regularization=0.5)
    ref = reference(ours)
    rows = np.arange(10)
    assert np.allclose(ours.recalculate_user(rows, ui[rows]), ref.recalculate_user(rows, ui[rows]), rtol=1e-3, atol=1e-5)
    items_users = ui.T.tocsr()
    assert np.allclose(ours.recalculate_item(2, items_users[2]), ref.recalculate_item(2, items_users[2]), rtol=1e-3, atol=1e-5)
    a = ours.explain(1, ui, 4)
    b = ref.explain(1, ui, 4)
    assert a[0] == pytest.approx(b[0], rel=1e-4)
    assert [i for i, _ in a[1]] == [i for i, _ in b[1]]


@needs_implicit
@pytest.mark.parametrize("use_cg", [False, True])
@pytest.mark.parametrize("negatives", [False, True])
def test_fit_follows_implicit(use_cg, negatives):
    """Same initialisation (random_state), same objective and solver: the
    factors after a fit agree with implicit's to float32 round-off."""
    ui = random_csr(60, 40, 0.1, 11, negatives=negatives)
    kw = dict(factors=5, regularization=0.1, alpha=2.0, use_cg=use_cg, iterations=3, random_state=7)
    ours = AlternatingLeastSquares(**kw)
    ref = implicit_als.AlternatingLeastSquares(**kw)
    ours.fit(ui, show_progress=False)
    ref.fit(ui, show_progress=False)
    # Cholesky solves each row exactly; 3 CG steps in a different floating
    # point order drift a little further apart.
    tol = 1e-2 if use_cg else 2e-3
    scale = np.abs(ref.user_factors).max()
    assert np.allclose(ours.user_factors, ref.user_factors, atol=tol * scale)
    assert np.allclose(ours.item_factors, ref.item_factors, atol=tol * np.abs(ref.item_factors).max())
    lo = calculate_loss(2.0 * ui, ours.user_factors, ours.item_factors, 0.1)
    lr = implicit_als.calculate_loss(2.0 * ui, ref.user_factors, ref.item_factors, 0.1)
    assert lo == pytest.approx(lr, rel=1e-3)


@needs_implicit
def test_save_files_move_both_ways(tmp_path):
    ours, ui = fitted()
    ours.save(str(tmp_path / "ours.npz"))
    theirs = implicit_als.AlternatingLeastSquares.load(str(tmp_path / "ours.npz"))
    assert np.array_equal(theirs.recommend(2, ui[2])[0], ours.recommend(2, ui[2])[0])
    ref = implicit_als.AlternatingLeastSquares(factors=4, iterations=2, random_state=3)
    ref.fit(ui, show_progress=False)
    ref.save(str(tmp_path / "ref.npz"))
    back = AlternatingLeastSquares.load(str(tmp_path / "ref.npz"))
    assert np.array_equal(back.user_factors, ref.user_factors)
    assert np.array_equal(back.recommend(2, ui[2])[0], ref.recommend(2, ui[2])[0])


@needs_implicit
def test_large_batches_on_the_blocked_kernel_equal_implicit():
    """Batches of 64 users or more run on the core's blocked kernel when every
    row keeps N unfiltered items; the lists equal implicit's."""
    ui = random_csr(300, 120, 0.05, 21)
    ours = AlternatingLeastSquares(factors=8, iterations=3, random_state=21)
    ours.fit(ui, show_progress=False)
    ref = reference(ours)
    users = np.arange(300)
    for kw in [dict(N=10), dict(N=7, filter_items=[3, 50, 119]), dict(N=12, filter_already_liked_items=False)]:
        a = ours.recommend(users, ui, **kw)
        b = ref.recommend(users, ui, **kw)
        assert np.array_equal(a[0], b[0]), kw
        assert np.allclose(a[1], b[1], rtol=1e-4, atol=1e-6), kw
    # the exact path still handles N beyond the unfiltered items
    a = ours.recommend(users, ui, N=118)
    b = ref.recommend(users, ui, N=118)
    assert np.array_equal(a[0][:, :100], b[0][:, :100])
