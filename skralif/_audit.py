"""The audit sample: how accurate the model is on the unlabeled rows, without bias.

Rows chosen by a strategy are hard by design, so accuracy measured on them (or
cross-validated over them) reads low. An audit draws rows *uniformly at random*
from the unlabeled rows each round; their labels estimate the current model's
accuracy on the unlabeled rows and are never trained on.

Draws pool across rounds. A row drawn in round ``s`` was uniform over the rows
unlabeled then; the strategy (which never sees audit labels, and may still pick an
audited row) then labels some of them for training. Given which rows it labeled,
a draw from round ``s`` that is still unlabeled in round ``t`` is uniform over the
rows unlabeled in round ``t``: every still-unlabeled draw counts for the current
model, and a drawn row the strategy later picks drops out (its label then trains).
A row drawn twice counts twice, as sampling with replacement across rounds.

Two estimators of the accuracy on the ``N`` unlabeled rows from ``n`` draws:

``"difference"`` (the default, chosen by ``benchmarks/bench_estimate.py``)
    The model's mean confidence over all ``N`` rows, corrected by the mean of
    ``correct - confidence`` over the draws. Unbiased whatever the confidence
    is worth (it comes from a model that never saw the audit labels); its
    variance is that of the residuals, smaller than a plain proportion's when
    the confidence is informative. Its interval uses the residuals' variance
    with one pseudo-draw of each outcome added, so a handful of lucky draws
    cannot make it narrow.
``"proportion"``
    The share of draws predicted correctly, with the Wilson score interval.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ESTIMATORS", "AccuracyEstimate", "Audit", "draw_audit", "estimate_accuracy",
           "estimate_from_draws"]

ESTIMATORS = ("difference", "proportion")
_Z95 = 1.959963984540054


class AccuracyEstimate(tuple):
    """An accuracy estimated from audit draws, as the tuple ``(estimate, low, high, n,
    n_correct)``.

    Parameters
    ----------
    estimate : float
        The accuracy on the unlabeled rows (NaN without a draw).
    low, high : float
        Its 95% interval.
    n : int
        The audit draws behind it.
    n_correct : int, default=0
        How many of them the model predicted correctly.
    """

    __slots__ = ()

    def __new__(cls, estimate, low, high, n, n_correct=0):
        return super().__new__(cls, (float(estimate), float(low), float(high), int(n),
                                     int(n_correct)))

    estimate = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])
    n = property(lambda self: self[3])
    n_correct = property(lambda self: self[4])

    def as_record(self):
        """The values under the names ``history_`` records carry.

        Returns
        -------
        dict
        """
        return {"accuracy_estimate": self.estimate, "accuracy_low": self.low,
                "accuracy_high": self.high, "n_audit": self.n, "audit_correct": self.n_correct}

    def line(self, rows="rows"):
        """One sentence for a summary, saying what is estimated and from how much.

        Parameters
        ----------
        rows : str, default="rows"
            What is labeled ("rows", "tasks").

        Returns
        -------
        str
        """
        if self.n == 0:
            return (f"Accuracy on the unlabeled {rows}: no audit label yet (audit rows are "
                    "drawn at random each round; label them to get an estimate).")
        return (f"Estimated accuracy on the unlabeled {rows}: {self.estimate:.3f} "
                f"(95% interval {self.low:.3f} to {self.high:.3f}, from {self.n} audit "
                f"label{'s' if self.n != 1 else ''} drawn at random).")


NO_ESTIMATE = AccuracyEstimate(math.nan, math.nan, math.nan, 0)


def draw_audit(rng, unlabeled, size):
    """``size`` rows of ``unlabeled`` (ids) drawn uniformly without replacement.

    Parameters
    ----------
    rng : numpy.random.RandomState
    unlabeled : ndarray of int
        The rows not labeled for training now.
    size : int
        Rows to draw (fewer if fewer are unlabeled).

    Returns
    -------
    drawn : ndarray of int
    """
    unlabeled = np.asarray(unlabeled, dtype=np.int64)
    size = min(int(size), len(unlabeled))
    if size == 0:
        return np.empty(0, dtype=np.int64)
    return unlabeled[np.sort(rng.choice(len(unlabeled), size, replace=False))]


def estimate_accuracy(correct, confidence_drawn=None, confidence_all=None,
                      estimator="difference"):
    """The accuracy on the unlabeled rows, from the audit draws still unlabeled.

    Parameters
    ----------
    correct : array-like of bool, shape (n,)
        Whether the model predicts each draw's label.
    confidence_drawn : array-like of shape (n,), default=None
        The model's probability of its prediction at each draw.
    confidence_all : array-like of shape (N,), default=None
        The same at every unlabeled row.
    estimator : {"difference", "proportion"}, default="difference"
        See the module's documentation; ``"difference"`` needs both confidences.

    Returns
    -------
    AccuracyEstimate
        NaN with ``n=0`` when there is no draw.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}; got {estimator!r}.")
    correct = np.asarray(correct, dtype=np.float64)
    n = len(correct)
    if n == 0:
        return NO_ESTIMATE
    if estimator == "proportion":
        return _wilson(correct.sum(), n)
    residual = correct - np.asarray(confidence_drawn, dtype=np.float64)
    base = float(np.mean(confidence_all))
    estimate = base + residual.mean()
    # one pseudo-draw of each outcome at the mean confidence: a floor on the variance
    padded = np.concatenate([residual, [-base, 1.0 - base]])
    half = _Z95 * math.sqrt(padded.var(ddof=1) / n)
    return AccuracyEstimate(min(max(estimate, 0.0), 1.0), max(estimate - half, 0.0),
                            min(estimate + half, 1.0), n, correct.sum())


def _wilson(k, n):
    p, z2 = k / n, _Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return AccuracyEstimate(p, max(centre - half, 0.0), min(centre + half, 1.0), n, k)


class Audit:
    """The audit draws of one simulated run, and the estimate they give each round.

    Parameters
    ----------
    size : int
        Rows drawn per round (0: no audit).
    seed : int
        Seeds the draws.
    estimator : {"difference", "proportion"}, default="difference"
    """

    def __init__(self, size, seed, estimator="difference"):
        self.size, self.estimator = size, estimator
        self.rng = np.random.RandomState(seed)
        self.draws = np.empty(0, dtype=np.int64)

    def round(self, pool, proba, y, classes, labeled):
        """Draw this round's rows from ``pool`` and estimate the model's accuracy on it.

        Parameters
        ----------
        pool : ndarray of int
            The unlabeled rows (ids into ``y``).
        proba : ndarray of shape (len(pool), n_classes)
            The model's probabilities on them.
        y : ndarray
            The oracle's labels, by id.
        classes : ndarray
            Class values of ``proba``'s columns.
        labeled : ndarray of int
            The rows labeled for training.

        Returns
        -------
        dict
            :meth:`AccuracyEstimate.as_record` plus ``audit_labels``: the audited
            rows never labeled for training, the labels the audit cost.
        """
        self.draws = np.concatenate([self.draws, draw_audit(self.rng, pool, self.size)])
        record = estimate_from_draws(proba, pool, self.draws, y[self.draws], classes,
                                     self.estimator).as_record()
        record["audit_labels"] = len(np.setdiff1d(self.draws, labeled))
        return record


def estimate_from_draws(proba, pool, draws, labels, classes, estimator="difference"):
    """:func:`estimate_accuracy` from the draws still in ``pool`` whose label is known.

    Parameters
    ----------
    proba : ndarray of shape (len(pool), n_classes)
        The model's probabilities on the unlabeled rows.
    pool : ndarray of int
        The unlabeled rows (ids).
    draws : ndarray of int
        Every audit draw so far (ids; repeats count twice).
    labels : sequence
        The label of each draw, None where not known yet.
    classes : ndarray
        Class values of ``proba``'s columns, of the labels' kind.
    estimator : {"difference", "proportion"}, default="difference"

    Returns
    -------
    AccuracyEstimate
    """
    where = {int(r): j for j, r in enumerate(pool)}
    keep = [k for k, r in enumerate(draws) if int(r) in where and labels[k] is not None]
    rows = np.array([where[int(draws[k])] for k in keep], dtype=np.int64)
    if len(rows) == 0 or len(pool) == 0:
        return NO_ESTIMATE
    confidence = proba.max(axis=1)
    predicted = classes[proba.argmax(axis=1)]
    correct = [predicted[j] == labels[k] for j, k in zip(rows, keep, strict=True)]
    return estimate_accuracy(correct, confidence[rows], confidence, estimator)
