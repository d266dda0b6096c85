"""Warnings, errors and small helpers shared with implicit's conventions."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse

__all__ = ["ParameterWarning", "ModelFitError", "check_csr", "check_random_state", "nonzeros"]


class ParameterWarning(Warning):
    """A parameter was converted or ignored (implicit's ``ParameterWarning``)."""


class ModelFitError(Exception):
    """The fit produced NaN factors (implicit's ``ModelFitError``)."""


def _is_csr(m) -> bool:
    return isinstance(m, scipy.sparse.csr_matrix) or (
        hasattr(scipy.sparse, "csr_array") and isinstance(m, scipy.sparse.csr_array)
    )


def check_csr(user_items):
    """Return ``user_items`` as CSR, warning with :class:`ParameterWarning`
    when it had to be converted (as implicit does)."""
    if not _is_csr(user_items):
        class_name = user_items.__class__.__name__
        start = time.time()
        user_items = scipy.sparse.csr_matrix(user_items)
        warnings.warn(
            f"Method expects CSR input, and was passed {class_name} instead. "
            f"Converting to CSR took {time.time() - start} seconds",
            ParameterWarning,
            stacklevel=3,
        )
    return user_items


def check_random_state(random_state):
    """A ``numpy.random.Generator`` from ``None``, a seed, a ``RandomState``
    or a ``Generator`` (implicit's rule)."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


def nonzeros(m, row):
    """The ``(column, value)`` pairs of one CSR row."""
    for index in range(m.indptr[row], m.indptr[row + 1]):
        yield m.indices[index], m.data[index]
