"""Exceptions raised by skralif.

Every exception subclasses :class:`SkralifError` and the builtin that matches
what went wrong, so ``except ValueError`` keeps working for callers that do
not know about skralif.
"""

__all__ = [
    "SkralifError",
    "InputTypeError",
    "PoolChangedError",
    "ConvergenceError",
    "LiSSADivergenceError",
    "HessianTooLargeError",
]


class SkralifError(Exception):
    """Base class of every exception raised by skralif."""


class InputTypeError(SkralifError, TypeError):
    """An argument or data of a type skralif cannot use (the message names it).

    Raised for bad input only, so a bare :class:`TypeError` from skralif is a defect.
    """


class PoolChangedError(SkralifError, RuntimeError):
    """The stored pool changed (a ``teach`` in another thread) while a query of it ran:
    its indices would point into a pool that no longer exists. Query again."""


class ConvergenceError(SkralifError, RuntimeError):
    """An iterative solver failed in a way that makes its result unusable."""


class LiSSADivergenceError(ConvergenceError, ValueError):
    """The LiSSA recursion diverged, almost always because ``scale`` is too small.

    It is also a :class:`ValueError` because the fix is a different value of
    the backend's ``scale`` (or ``damping``) parameter.
    """


class HessianTooLargeError(SkralifError, MemoryError):
    """A dense Hessian would not fit in the memory allowed for it."""
