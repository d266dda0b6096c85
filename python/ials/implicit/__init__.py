"""A drop-in for ``implicit.als.AlternatingLeastSquares`` (implicit 0.7, CPU).

Change one import::

    # from implicit.als import AlternatingLeastSquares
    from ials.implicit import AlternatingLeastSquares

The constructor, ``fit``, ``recommend`` (one user or a batch, with every
filter), ``similar_items``, ``similar_users``, ``explain``,
``recalculate_user``/``recalculate_item``, ``partial_fit_users``/``items``,
``save``/``load`` (implicit's own ``.npz`` files too), pickling and the
``user_factors``/``item_factors`` arrays behave as in implicit; the fit runs on
the ials engine (the same objective: confidence ``alpha * value``, a negative
value an observed negative with target 0 and confidence ``alpha * |value|``).
"""

from .als import AlternatingLeastSquares, calculate_loss
from .utils import ModelFitError, ParameterWarning

__all__ = ["AlternatingLeastSquares", "calculate_loss", "ModelFitError", "ParameterWarning"]
