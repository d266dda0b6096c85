"""Type stubs of the compiled module ``ials._ials`` (PyO3)."""

from os import PathLike
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

Report = tuple[int, float, float, float, float, float]

def fit_csr(
    indptr: npt.NDArray[np.integer],
    indices: npt.NDArray[np.integer],
    data: npt.NDArray[Any],
    shape: tuple[int, int],
    user_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    params: dict[str, Any],
    callback: Optional[Callable[[Report], Optional[bool]]] = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], list[Report]]:
    """Fit from a CSR matrix and initial factors; GIL released, Ctrl-C stops
    after the current iteration."""

def topk(
    items: npt.NDArray[np.floating],
    query: npt.NDArray[np.floating],
    k: int,
    item_norms: Optional[npt.NDArray[np.floating]] = None,
    filter_indptr: Optional[npt.NDArray[np.integer]] = None,
    filter_indices: Optional[npt.NDArray[np.integer]] = None,
    filter_items: Optional[npt.NDArray[np.integer]] = None,
    num_threads: int = 0,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.floating]]:
    """implicit's top-k selection (same ordering, padding and filtered scores)."""

class FixedSide:
    """Factors and their Gramian, computed once for repeated re-solves."""
    def __init__(self, y: npt.NDArray[np.float32], num_threads: int = 0) -> None: ...
    @property
    def rows(self) -> int: ...

def solve_rows(
    fixed: FixedSide,
    indptr: npt.NDArray[np.integer],
    indices: npt.NDArray[np.integer],
    data: npt.NDArray[Any],
    shape: tuple[int, int],
    regularization: float,
    alpha: float,
    num_threads: int = 0,
) -> npt.NDArray[np.float32]:
    """Exact row re-solves with implicit's objective."""

def loss_parts(
    indptr: npt.NDArray[np.integer],
    indices: npt.NDArray[np.integer],
    data: npt.NDArray[Any],
    shape: tuple[int, int],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    regularization: float,
    alpha: float = 1.0,
    num_threads: int = 0,
) -> tuple[float, float, float]:
    """``(observed, unobserved, regularization)`` of implicit's objective."""

class Interactions:
    """Interactions with string ids (user-major CSR and its transpose)."""

    @staticmethod
    def from_codes(
        user_ids: list[str],
        item_ids: list[str],
        user_codes: npt.NDArray[np.integer],
        item_codes: npt.NDArray[np.integer],
        values: Optional[npt.NDArray[np.floating]] = None,
        observed_negatives: bool = False,
    ) -> "Interactions": ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    @property
    def nnz(self) -> int: ...
    @property
    def user_ids(self) -> list[str]: ...
    @property
    def item_ids(self) -> list[str]: ...
    def csr(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.float32]]: ...
    def holdout(self, fraction: float = 0.2, seed: int = 42) -> tuple["Interactions", "Interactions"]: ...
    def leave_k_out(self, k: int = 1, seed: int = 42) -> tuple["Interactions", "Interactions"]: ...
    def strong_split(
        self,
        test_users: int,
        validation_users: int = 0,
        test_fraction: float = 0.2,
        seed: int = 42,
    ) -> tuple[
        "Interactions",
        tuple["Interactions", "Interactions"],
        Optional[tuple["Interactions", "Interactions"]],
    ]: ...
    def aligned_to(self, other: "Interactions") -> "Interactions": ...

class Model:
    """A fitted model (the CLI's model directories)."""

    @staticmethod
    def fit(
        data: Interactions,
        params: Optional[dict[str, Any]] = None,
        callback: Optional[Callable[[dict[str, float]], Optional[bool]]] = None,
    ) -> "Model": ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> "Model": ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @property
    def user_factors(self) -> npt.NDArray[np.float32]: ...
    @property
    def item_factors(self) -> npt.NDArray[np.float32]: ...
    @property
    def user_ids(self) -> list[str]: ...
    @property
    def item_ids(self) -> list[str]: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def loss_history(self) -> list[dict[str, float]]: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    def _recommend(
        self,
        users: Optional[list[str]] = None,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: Optional[list[str]] = None,
        candidates: Optional[list[str]] = None,
        threads: int = 0,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.float32]]: ...
    def fold_in(self, items: list[str], values: Optional[list[float]] = None) -> npt.NDArray[np.float32]: ...
    def _recommend_history(
        self,
        items: list[str],
        values: Optional[list[float]] = None,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: Optional[list[str]] = None,
        candidates: Optional[list[str]] = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]: ...
    def explain(self, user: str, item: str) -> tuple[float, list[tuple[str, float]]]: ...
    def similar_items(self, item: str, k: int = 10) -> list[tuple[str, float]]: ...
    def similar_users(self, user: str, k: int = 10) -> list[tuple[str, float]]: ...
    def partial_fit(
        self,
        users: list[str],
        items: list[str],
        values: Optional[list[float]] = None,
        rounds: int = 2,
        sweeps: int = 0,
    ) -> dict[str, int]: ...

def evaluate(
    scorer: Any,
    train: Interactions,
    test: Interactions,
    k: Sequence[int] = ...,
    auc: bool = True,
    neighbors: int = 100,
    ease_lambda: float = 200.0,
    threads: int = 0,
    missing_items: Optional[list[bool]] = None,
    fold_in: Optional[Interactions] = None,
) -> list[dict[str, Any]]: ...
