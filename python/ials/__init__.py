"""ials: implicit-feedback matrix factorization (exact iALS with the Gramian
trick) on a Rust engine.

- :mod:`ials.implicit`: a drop-in for ``implicit.als.AlternatingLeastSquares``
  (change one import).
- :func:`ials.fit`, :class:`ials.Model`, :func:`ials.interactions`,
  :func:`ials.evaluate`: the native API (string ids, pandas DataFrames, every
  ``ials fit`` parameter, the CLI's model directories, the metrics and
  baselines of ``ials eval``).
"""

from . import errors
from ._ials import __version__
from ._native import FIT_PARAMETERS, Interactions, Model, evaluate, fit, interactions
from .errors import (
    DataError,
    IalsError,
    IalsIOError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ParameterError,
)

__all__ = [
    "FIT_PARAMETERS",
    "Interactions",
    "Model",
    "evaluate",
    "fit",
    "interactions",
    "errors",
    "IalsError",
    "ParameterError",
    "DataError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "IalsIOError",
    "__version__",
]
