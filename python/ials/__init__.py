"""ials: implicit-feedback matrix factorization (exact iALS with the Gramian
trick) on a Rust engine.

- :mod:`ials.implicit`: a drop-in for ``implicit.als.AlternatingLeastSquares``.
- :class:`ials.Model` and :func:`ials.fit`: the native API (string ids,
  pandas DataFrames, every ``ials fit`` parameter, the CLI's model
  directories, evaluation).
"""

from . import errors
from ._ials import __version__

__all__ = ["errors", "__version__"]
