"""Random and uncertainty sampling: scores from ``predict_proba`` alone."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

from .._adapter import block_proba, n_rows, pool_map
from .._validation import positive_int
from ._base import QueryStrategy

__all__ = ["RandomQuery", "UncertaintyQuery", "uncertainty"]


class RandomQuery(QueryStrategy):
    """Uniformly random queries: the baseline every strategy must beat.

    Label-free: ``estimator`` may be None, so it also draws a plain random
    initial set (``ActiveLearningClassifier(initial_strategy=RandomQuery())``).

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int gives the same indices on every call.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skralif.strategies import RandomQuery
    >>> clf = DummyClassifier().fit([[0], [1]], [0, 1])
    >>> RandomQuery(random_state=0).query(clf, np.zeros((5, 1)), 3)
    array([1, 2, 0])
    """

    label_free = True

    _parameter_constraints: dict = {"random_state": ["random_state"]}

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Independent uniform draws in ``[0, 1)``, one per pool row. Cost: ``O(n_pool)``."""
        return check_random_state(self.random_state).random_sample(n_rows(X_pool))


def uncertainty(proba: np.ndarray, measure: str) -> np.ndarray:
    """Uncertainty of each row of a probability table; higher is more uncertain.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities.
    measure : {"entropy", "margin", "least_confident"}
        ``"entropy"``: ``-sum_k p_k log p_k``; ``"margin"``: ``-(p_(1) - p_(2))``
        (minus the gap between the two largest); ``"least_confident"``:
        ``1 - max_k p_k``.

    Returns
    -------
    uncertainty : ndarray of shape (n_samples,)
    """
    proba = np.asarray(proba, dtype=np.float64)
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(proba > 0, proba * np.log(proba), 0.0).sum(axis=1)
    if measure == "margin":
        if proba.shape[1] < 2:
            return np.zeros(len(proba))
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        return -(top2[:, 0] - top2[:, 1])
    if measure == "least_confident":
        return 1.0 - proba.max(axis=1)
    raise ValueError(
        f"`measure` must be 'entropy', 'margin' or 'least_confident'; got {measure!r}."
    )


class UncertaintyQuery(QueryStrategy):
    """Query the rows the classifier is least sure about (top-``n``, no diversity).

    Works with any fitted classifier that has ``predict_proba``. Cost: one
    ``predict_proba`` pass over the pool, ``batch_size`` rows at a time.

    Parameters
    ----------
    measure : {"entropy", "margin", "least_confident"}, default="entropy"
        See :func:`uncertainty`.
    batch_size : int or None, default=None
        Rows per forward pass. None uses the net's own inference batch size
        (skorch's ``iterator_valid__batch_size``, else ``batch_size``), so a
        query holds the activations of no more rows than the net's own
        ``predict_proba``; any other classifier gets 4,096 rows per
        ``predict_proba`` call.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skralif.strategies import UncertaintyQuery
    >>> clf = LogisticRegression().fit([[-2.0], [2.0]], [0, 1])
    >>> UncertaintyQuery().query(clf, np.array([[-3.0], [0.1], [5.0]]), 1)
    array([1])
    """

    _parameter_constraints: dict = {
        "measure": [StrOptions({"entropy", "margin", "least_confident"})],
        "batch_size": [positive_int(), None],
    }

    def __init__(self, measure="entropy", batch_size=None):
        self.measure = measure
        self.batch_size = batch_size

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Uncertainty of each pool row under ``measure``; higher is queried first."""
        # per block: only one score per row is ever kept, never the probability table
        rows = self._batch_rows(estimator, X_pool)
        return np.concatenate(pool_map(
            lambda block, _: uncertainty(block_proba(estimator, block, rows), self.measure),
            X_pool, rows))
