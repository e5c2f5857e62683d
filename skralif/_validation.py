"""Parameter validation shared by the learner, the strategies and the backends, and the
learner's ``set_params`` for parameters whose None means a default component.

scikit-learn's ``_parameter_constraints`` machinery does the work; on top of
it booleans are refused wherever a number is expected (``n_queries=True`` is a
mistake, not 1), while numpy scalars count as numbers.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

from .exceptions import InputTypeError

__all__ = ["validate_params", "DefaultComponentsMixin", "positive_int", "non_negative_real",
           "check_rows", "as_float32", "check_n", "default_n"]


def positive_int():
    """Constraint: an integer of at least 1."""
    return Interval(Integral, 1, None, closed="left")


def non_negative_real():
    """Constraint: a finite real number of at least 0."""
    return Interval(Real, 0, None, closed="left")


def validate_params(obj):
    """Check ``obj.get_params(deep=False)`` against ``obj._parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        A ``ValueError`` and ``TypeError`` naming the parameter, the value
        received and what is allowed.
    """
    params = obj.get_params(deep=False)
    constraints = obj._parameter_constraints
    validate_parameter_constraints(constraints, params, caller_name=type(obj).__name__)
    for name, allowed in constraints.items():
        value = params.get(name)
        if not isinstance(value, bool | np.bool_) or allowed == "no_validation":
            continue
        if "boolean" in allowed or bool in allowed:
            continue
        if any(isinstance(c, Interval) for c in allowed):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(obj).__name__} must be a number, not a "
                f"boolean; got {value!r}."
            )


class DefaultComponentsMixin:
    """Parameters whose None means a default component (``_default_components`` maps
    each to the factory of its default), tunable through nested names all the same;
    and :func:`validate_params` for scikit-learn's ``_fit_context``."""

    _default_components: dict = {}

    def _validate_params(self):
        validate_params(self)

    def set_params(self, **params):
        """Set parameters; nested ones reach the defaults too, so ``GridSearchCV`` can
        tune ``query_strategy__tau`` or ``estimator__max_epochs`` of a learner with
        ``query_strategy=None`` (:class:`~skralif.RALIFQuery`) or ``estimator=None``.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``component__parameter``.

        Returns
        -------
        self : estimator
        """
        for name, default in self._default_components.items():
            nested = any(key.startswith(f"{name}__") for key in params)
            if nested and name not in params and getattr(self, name) is None:
                setattr(self, name, default())
        return super().set_params(**params)


def check_rows(X, name, **kwargs):
    """:func:`sklearn.utils.check_array` whose every error names the argument.

    scikit-learn's own messages name it in most cases ("Input X_pool contains
    NaN") but not all ("Found array with 0 sample(s)"); those get the name in
    front. NaN and infinity are left to the caller, who checks them after the
    cast to the dtype the net computes in.
    """
    kwargs.setdefault("ensure_all_finite", False)
    _refuse_dates(X, name)
    try:
        return check_array(X, input_name=name, **kwargs)
    except (ValueError, TypeError) as err:
        if f"`{name}`" in str(err):
            raise
        raise type(err)(f"`{name}`: {err}") from err


def _refuse_dates(X, name):
    """Dates and durations are not features: cast to floats they become nanoseconds
    since 1970 (about 1e18), silently (issue 22)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and not isinstance(dtypes, np.dtype):  # a pandas DataFrame
        dates = [str(c) for c, d in dtypes.items() if getattr(d, "kind", "") in ("m", "M")]
        where = f" (columns {dates})"
    else:
        dates = getattr(getattr(X, "dtype", None), "kind", "") in ("m", "M")
        where = ""
    if dates:
        raise InputTypeError(
            f"`{name}` holds dates or durations{where}; cast to numbers they would be "
            "nanoseconds since 1970. Convert them to numeric features first (for instance "
            "the day of the year, or days since a date).")


def as_float32(X, name):
    """``X`` as float32, refused if a value is not finite after the cast."""
    X32 = X.astype(np.float32, copy=False)
    finite = np.isfinite(X32.reshape(len(X32), -1)).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise ValueError(
            f"`{name}` holds NaN or infinity in {len(rows)} row(s) (first: {rows[:5].tolist()}) "
            "once cast to float32, the dtype the net computes in (float32 overflows above "
            "about 3.4e38). Only finite values are allowed: drop, impute or rescale them."
        )
    return X32


def check_n(n, n_pool, name="n"):
    """Return ``n`` as an int if ``1 <= n <= n_pool``, else raise an error naming ``name``
    (the argument the user set: ``n``, or the learner's ``query_size``)."""
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise InputTypeError(
            f"`{name}` must be a positive integer; got {n!r} ({type(n).__name__}).")
    if not 1 <= n <= n_pool:
        raise ValueError(
            f"`{name}` must be a positive integer no larger than the pool ({n_pool:,} rows); "
            f"got {n:,}."
        )
    return int(n)


def default_n(query_size, n_pool):
    """``query_size``, the default ``n`` of a query, when the pool has that many rows."""
    if n_pool < query_size:
        raise ValueError(
            f"The pool has {n_pool:,} rows, fewer than `query_size`={query_size} (the default "
            f"`n`); pass `n` between 1 and {n_pool:,}, or lower `query_size`.")
    return query_size
