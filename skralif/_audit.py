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
from typing import NamedTuple

import numpy as np

__all__ = ["ESTIMATORS", "AccuracyEstimate", "Audit", "draw_audit", "estimate_accuracy",
           "estimate_from_draws", "fit_temperature", "choose_temperature", "scale_temperature",
           "MIN_CALIBRATION"]

ESTIMATORS = ("difference", "proportion")
_Z95 = 1.959963984540054


class AccuracyEstimate(NamedTuple):
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

    estimate: float
    low: float
    high: float
    n: int
    n_correct: int = 0

    def as_record(self):
        """The values under the names ``history_`` records carry.

        Returns
        -------
        dict
        """
        return {"accuracy_estimate": float(self.estimate), "accuracy_low": float(self.low),
                "accuracy_high": float(self.high), "n_audit": int(self.n),
                "audit_correct": int(self.n_correct)}

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
        return _wilson(int(correct.sum()), n)
    if confidence_drawn is None or confidence_all is None or len(confidence_drawn) != n:
        raise ValueError(
            "The difference estimator needs `confidence_drawn` (one per draw, "
            f"{n} here) and `confidence_all` (one per unlabeled row); got "
            f"{None if confidence_drawn is None else len(confidence_drawn)} and "
            f"{None if confidence_all is None else len(confidence_all)}. Pass both, or "
            "estimator='proportion'.")
    residual = correct - np.asarray(confidence_drawn, dtype=np.float64)
    base = float(np.mean(confidence_all))
    estimate = base + residual.mean()
    # one pseudo-draw of each outcome at the mean confidence: a floor on the variance
    padded = np.concatenate([residual, [-base, 1.0 - base]])
    half = _Z95 * math.sqrt(padded.var(ddof=1) / n)
    return AccuracyEstimate(min(max(estimate, 0.0), 1.0), max(estimate - half, 0.0),
                            min(estimate + half, 1.0), n, int(correct.sum()))


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
        record = estimate_from_draws(classes[proba.argmax(axis=1)], proba.max(axis=1), pool,
                                     self.draws, y[self.draws], self.estimator).as_record()
        record["audit_labels"] = len(np.setdiff1d(self.draws, labeled))
        return record


def estimate_from_draws(predicted, confidence, pool, draws, labels, estimator="difference"):
    """:func:`estimate_accuracy` from the draws still in ``pool`` whose label is known.

    Parameters
    ----------
    predicted : ndarray of shape (len(pool),)
        The model's predicted label of each unlabeled row.
    confidence : ndarray of shape (len(pool),)
        Its probability.
    pool : ndarray of int
        The unlabeled rows (ids).
    draws : ndarray of int
        Every audit draw so far (ids; repeats count twice).
    labels : sequence
        The label of each draw (of ``predicted``'s kind), None where not known yet.
    estimator : {"difference", "proportion"}, default="difference"

    Returns
    -------
    AccuracyEstimate
    """
    pool, draws = np.asarray(pool, dtype=np.int64), np.asarray(draws, dtype=np.int64)
    if len(pool) == 0 or len(draws) == 0:
        return NO_ESTIMATE
    # the draws' positions in the pool, by binary search (no per-round dict of the pool)
    order = np.argsort(pool, kind="stable")
    at = np.minimum(np.searchsorted(pool[order], draws), len(pool) - 1)
    keep = np.flatnonzero((pool[order][at] == draws)
                          & np.array([v is not None for v in labels], dtype=bool))
    if len(keep) == 0:
        return NO_ESTIMATE
    rows = order[at[keep]]
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = [predicted[j] == labels[k] for j, k in zip(rows, keep, strict=True)]
    return estimate_accuracy(correct, confidence[rows], confidence, estimator)


#: audit labels needed before probabilities are temperature-scaled on them
MIN_CALIBRATION = 10


def fit_temperature(proba, y_index, smoothing="laplace"):
    """The temperature ``T`` that best fits ``proba ** (1 / T)`` (renormalised) to labels.

    Temperature scaling (Guo et al., 2017) on probabilities: dividing the
    logits by ``T`` is raising the probabilities to ``1 / T``; the predicted
    class never changes. ``T > 1`` softens an overconfident net; ``T`` is
    never below 1: sharpening fitted on a few dozen labels made MNIST's
    calibration worse while developing this. ``T`` minimises the Brier score,
    not the log-loss: on a few dozen labels one confidently wrong prediction
    (probability 1e-10 for the truth) makes the log-loss flatten every row,
    which made digits' calibration worse than unscaled in development. Both
    choices were made on digits and MNIST; ``benchmarks/bench_estimate.py``
    measures the result.
    On a handful of labels, all predicted right, a plain fit would sharpen
    without bound (every probability reading 1.0000); the ``"laplace"``
    smoothing fits to the labels smoothed by Laplace's rule of succession,
    ``1 / (n + 2)`` of each label's mass spread over the classes, so ``n``
    correct labels never claim more certainty than ``n`` draws can give.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        The model's probabilities at labeled rows it was not trained on.
    y_index : ndarray of int, shape (n,)
        Their labels as column indices of ``proba``.
    smoothing : "laplace" or float, default="laplace"
        The share of each label's mass spread evenly over the classes
        (``"laplace"``: ``1 / (n + 2)``; 0: the plain fit).

    Returns
    -------
    float
        ``T`` in [1, 100], by the Brier score.
    """
    from scipy.optimize import minimize_scalar

    proba = np.asarray(proba, dtype=np.float64)
    n, n_classes = proba.shape
    eps = 1.0 / (n + 2) if smoothing == "laplace" else float(smoothing)
    target = np.full(proba.shape, eps / n_classes)
    target[np.arange(n), y_index] += 1.0 - eps

    def brier(log_t):
        return float(np.mean(((scale_temperature(proba, math.exp(log_t)) - target) ** 2)
                             .sum(axis=1)))

    found = minimize_scalar(brier, bounds=(0.0, math.log(100.0)), method="bounded")
    return math.exp(found.x)


def choose_temperature(proba, y_index, folds=5):
    """:func:`fit_temperature`'s ``T`` if it predicts held-out labels better, else 1.

    With a few dozen labels a fitted temperature can be noise: ``folds``-fold
    cross-validation compares the Brier score of held-out labels scaled by a
    temperature fitted on the other folds with their unscaled score, and the
    temperature (fitted on all labels) is used only if scaling wins.

    Parameters
    ----------
    proba, y_index : ndarray
        As :func:`fit_temperature`.
    folds : int, default=5
        Folds of the cross-validation (rows dealt in turn).

    Returns
    -------
    float
        The temperature, 1.0 when scaling does not pay off.
    """
    proba, y_index = np.asarray(proba, dtype=np.float64), np.asarray(y_index)
    onehot = np.eye(proba.shape[1])[y_index]
    part = np.arange(len(y_index)) % folds
    scaled = raw = 0.0
    for k in range(folds):
        test = part == k
        if test.all() or not test.any():
            continue
        held = scale_temperature(proba[test], fit_temperature(proba[~test], y_index[~test]))
        scaled += ((held - onehot[test]) ** 2).sum()
        raw += ((proba[test] - onehot[test]) ** 2).sum()
    return fit_temperature(proba, y_index) if scaled < raw else 1.0


def scale_temperature(proba, temperature):
    """``proba ** (1 / temperature)``, renormalised per row.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
    temperature : float

    Returns
    -------
    ndarray of shape (n, n_classes)
    """
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-300, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)
