"""Exceptions raised by ials, each carrying the Rust library's message.

Every class derives from :class:`IalsError` and from the built-in exception a
Python user would expect (``ValueError`` for bad parameters and data,
``IndexError`` for an index out of range, ``OSError`` for files), so
``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "IalsError",
    "ParameterError",
    "DataError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "IalsIOError",
    "IndexError_",
]


class IalsError(Exception):
    """Base class of every error raised by the Rust engine."""


class ParameterError(IalsError, ValueError):
    """An invalid fit setting (``factors cannot be 0``, ...)."""


class DataError(IalsError, ValueError):
    """Invalid interactions: a negative or non-finite value, an empty matrix,
    a shape mismatch, a duplicate id, a parse error naming the file and line."""


class NonFiniteError(IalsError, ArithmeticError):
    """A non-finite loss or factor stopped the fit."""


class NotPositiveDefiniteError(IalsError, ArithmeticError):
    """A row system that is not positive definite (possible only with a
    regularization of 0)."""


class IalsIOError(IalsError, OSError):
    """A file or model directory could not be read or written (or is
    corrupted: a checksum, format or version error)."""


class IndexError_(IalsError, IndexError):
    """A user or item index out of range."""
