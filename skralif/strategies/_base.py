"""The query-strategy interface and the selectors strategies share.

A strategy is a scikit-learn-style parameter object: ``__init__`` stores its
arguments, ``get_params``/``set_params``/``clone`` work, and randomness comes
only from its ``random_state``. Strategies differ only in how they score
(:meth:`QueryStrategy.score_samples`) and, for batch-diverse ones, how they
select (:meth:`QueryStrategy._select`).

**Score convention.** For every strategy a *higher* score means "query this
sample earlier"; samples a strategy refuses to rank carry ``NaN`` and are
selected last.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet

from .._adapter import (
    batch_rows,
    check_fitted_net,
    check_pool,
    check_values,
    iter_chunks,
    n_rows,
    net_dtype,
    split_estimator,
)
from .._validation import check_n, check_rows, validate_params
from ..exceptions import InputTypeError

__all__ = ["QueryStrategy", "top_n", "kmeans_pp"]

class QueryStrategy(BaseEstimator, metaclass=ABCMeta):
    """Base class of query strategies.

    :meth:`query` and :meth:`score_samples` validate the strategy's
    parameters (``_parameter_constraints``) and the inputs the same way, then
    call the subclass: :meth:`_scores` scores the pool, and :meth:`_select`
    (top-``n`` of the scores unless overridden) picks the rows.
    """

    #: whether ``estimator`` must be a skorch net (or a Pipeline ending in one)
    needs_net = False
    #: whether ``estimator`` may be None (label-free strategies: random, cold start)
    label_free = False

    _parameter_constraints: dict = {}

    def query(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Return ``n`` distinct row indices into ``X_pool``, best first.

        Parameters
        ----------
        estimator : estimator
            Fitted skorch ``NeuralNetClassifier``, or fitted ``Pipeline`` whose
            last step is one (``X`` then goes through the preceding steps).
            Strategies that use only ``predict_proba`` accept any fitted
            classifier; label-free ones (random, TypiClust, ProbCover) accept
            None.
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled rows to choose from. Any numeric dtype; values are cast
            to the dtype the net computes in and must be finite after the cast.
        n : int
            Number of rows to return, ``1 <= n <= n_pool``.
        X_labeled : array-like of shape (n_labeled, ...), default=None
            Rows labeled so far (used by RALIF, core-set and diversity steps).
        y_labeled : array-like of shape (n_labeled,), default=None
            Their class indices, as the net's output columns.

        Returns
        -------
        indices : ndarray of shape (n,), dtype int64
        """
        X_pool, X_labeled, y_labeled = self._check_inputs(estimator, X_pool, X_labeled,
                                                          y_labeled)
        n = check_n(n, n_rows(X_pool))
        return self._select(estimator, X_pool, n, X_labeled, y_labeled)

    def score_samples(self, estimator, X_pool, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Per-sample scores of the pool; higher is queried first, ``NaN`` excluded.

        Validates exactly like :meth:`query`.

        Parameters
        ----------
        estimator : estimator
            Fitted skorch ``NeuralNetClassifier`` or ``Pipeline`` ending in one
            (any fitted classifier for probability-only strategies, None for
            label-free ones).
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled rows.
        X_labeled : array-like of shape (n_labeled, ...), default=None
            Rows labeled so far.
        y_labeled : array-like of shape (n_labeled,), default=None
            Their class indices, as the net's output columns.

        Returns
        -------
        scores : ndarray of shape (n_pool,)
            Higher is queried first; ``NaN`` marks rows the strategy excludes
            (RALIF: rows with no plausible class), so rank with
            ``np.argsort(-np.nan_to_num(scores, nan=-np.inf))`` or use
            :meth:`query`, never a bare ``np.argmax``.
        """
        X_pool, X_labeled, y_labeled = self._check_inputs(estimator, X_pool, X_labeled,
                                                          y_labeled)
        return self._scores(estimator, X_pool, X_labeled, y_labeled)

    @abstractmethod
    def _scores(self, estimator, X_pool, X_labeled, y_labeled) -> np.ndarray:
        """Scores of validated inputs (see :meth:`score_samples`)."""

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        return top_n(self._scores(estimator, X_pool, X_labeled, y_labeled), n)

    def _batch_rows(self, estimator, X_pool):
        """Rows per forward pass: the ``batch_size`` option, else the net's own."""
        return batch_rows(estimator, getattr(self, "batch_size", None), n_rows(X_pool))

    def _check_inputs(self, estimator, X_pool, X_labeled, y_labeled):
        validate_params(self)
        net, _ = split_estimator(estimator)
        if self.needs_net:
            check_fitted_net(net, "estimator")
        elif estimator is None and not self.label_free:
            raise InputTypeError(f"{type(self).__name__} needs a fitted classifier as `estimator`; "
                            "got None. Only label-free strategies (RandomQuery, "
                            "TypiClustQuery, ProbCoverQuery) run without one.")
        elif estimator is not None:
            check_is_fitted(estimator)
        # raw rows go straight into a bare net: check them in the dtype it computes in
        dtype = (net_dtype(net.module_) if isinstance(net, NeuralNet)
                 and estimator is net else torch.float64)
        X_pool = check_values(check_pool(X_pool, "X_pool"), dtype, "X_pool")
        if X_labeled is not None:
            X_labeled = check_rows(X_labeled, "X_labeled", allow_nd=True, dtype=None,
                                   ensure_min_samples=0)
            if X_labeled.dtype.kind not in "biuf":
                raise ValueError(f"`X_labeled` must hold numbers; got dtype {X_labeled.dtype}.")
            X_labeled = check_values(X_labeled, dtype, "X_labeled")
            if X_labeled.shape[1:] != X_pool.shape[1:]:
                raise ValueError(
                    f"`X_labeled` rows have shape {X_labeled.shape[1:]} but `X_pool` rows "
                    f"have shape {X_pool.shape[1:]}; they must match."
                )
        if y_labeled is not None:
            y_labeled = column_or_1d(np.asarray(y_labeled), warn=False)
            if X_labeled is None or len(y_labeled) != len(X_labeled):
                raise ValueError(
                    f"`y_labeled` has {len(y_labeled)} labels for "
                    f"{0 if X_labeled is None else len(X_labeled)} rows of `X_labeled`."
                )
            # checked whether or not this strategy reads it (issue 22: most ignored it)
            y_labeled = _check_class_indices(y_labeled)
        return X_pool, X_labeled, y_labeled


def _check_class_indices(y):
    """``y`` as int64 class indices from 0: the net's output columns, not the user's own
    labels. (Their upper bound is the output width, which strategies that read
    ``y_labeled`` check; a net's ``classes_`` may list fewer.)"""
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.all(np.isfinite(y))
                                        and np.all(np.mod(y, 1) == 0))
    if not integral or (len(y) and y.min() < 0):
        raise ValueError(
            f"`y_labeled` must hold class indices (integers from 0, the net's output "
            f"columns, not the labels themselves); got {y[:5].tolist()} (dtype {y.dtype}).")
    return y.astype(np.int64)


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores, ties by lower index, ``NaN`` last."""
    key = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((np.arange(len(key)), -key, np.isnan(scores)))
    return order[:n].astype(np.int64)


def kmeans_pp(distance_to, size: int, n: int, rng, first: int, min_dist=None) -> np.ndarray:
    """k-means++ seeding (D^2 sampling) of ``n`` of ``size`` rows, starting at ``first``.

    ``distance_to(i)`` returns the distances (a tensor of shape ``(size,)``) of
    every row to row ``i``. ``min_dist`` (optional) is each row's distance to
    the nearest already-chosen point outside the rows (the labeled set), so the
    sampling avoids what is already labeled. Rows at distance 0 from every
    choice are picked, uniformly, only once no positive distance is left.
    Everything stays on the device of the distances: per pick only the drawn
    index crosses to the host. Cost: ``n`` calls of ``distance_to``.
    """
    picks = [int(first)]
    dist = None if min_dist is None else min_dist.to(torch.float64)
    for _ in range(n - 1):
        new = distance_to(picks[-1]).to(torch.float64)
        dist = new if dist is None else torch.minimum(dist, new.to(dist.device))
        dist[torch.as_tensor(picks, device=dist.device)] = 0.0
        picks.append(_d2_sample(dist, rng, picks))
    return np.asarray(picks, dtype=np.int64)


def euclidean_to(feats: torch.Tensor):
    """``distance_to`` for :func:`kmeans_pp` in the Euclidean space of ``feats``.

    Distances are computed in float64, in chunks of about 2**20 values (8 MiB),
    from ``feats`` as they are stored: no float64 copy of the whole set is made.
    One chunk buffer serves every chunk of every call: with glibc's default
    settings, a fresh 8 MiB temporary per chunk was kept resident chunk after
    chunk (issue 26: 7.6 GiB for a core-set query of a million rows).
    """
    rows = min(len(feats), max(1, 2**20 // max(feats.shape[1], 1)))
    chunk = feats.new_empty((rows, feats.shape[1]), dtype=torch.float64)

    def distance_to(i):
        center = feats[i].to(torch.float64)
        out = torch.empty(len(feats), dtype=torch.float64, device=feats.device)
        for sl in iter_chunks(len(feats), rows):
            x = chunk[:sl.stop - sl.start]
            x.copy_(feats[sl]).sub_(center)
            torch.linalg.vector_norm(x, dim=1, out=out[sl])
        return out

    return distance_to


def _d2_sample(dist, rng, picks):
    """One index drawn with probability proportional to ``dist**2``, on its device.

    The draw consumes one ``rng.random_sample()`` and inverts the cumulative
    weights, as ``rng.choice(size, p=weights)`` does.
    """
    cdf = torch.cumsum(dist * dist, dim=0)
    total = float(cdf[-1])
    if not np.isfinite(total) or total <= 0:
        free = np.setdiff1d(np.arange(len(dist)), picks)
        return int(rng.choice(free))
    u = torch.tensor([rng.random_sample() * total], dtype=cdf.dtype, device=cdf.device)
    return min(int(torch.searchsorted(cdf, u, right=True)), len(dist) - 1)


def nearest_distance(feats: torch.Tensor, others: torch.Tensor):
    """Distance from every row of ``feats`` to its nearest row of ``others``.

    Computed in float64, in chunks of rows whose inputs and distance table hold
    about 2**20 values each (8 MiB), from ``feats`` as they are stored, in two
    buffers reused for every chunk (see :func:`euclidean_to`: fresh temporaries
    per chunk stayed resident, 7.6 GiB for a million rows and 1,000 labeled).
    """
    out = torch.full((len(feats),), float("inf"), dtype=torch.float64, device=feats.device)
    if len(others) == 0 or len(feats) == 0:
        return out
    others = others.to(torch.float64)
    others_sq = (others * others).sum(dim=1)
    rows = min(len(feats), max(1, 2**20 // max(len(others), feats.shape[1], 1)))
    chunk = feats.new_empty((rows, feats.shape[1]), dtype=torch.float64)
    table = feats.new_empty((rows, len(others)), dtype=torch.float64)
    for sl in iter_chunks(len(feats), rows):
        x, d2 = chunk[:sl.stop - sl.start], table[:sl.stop - sl.start]
        x.copy_(feats[sl])
        # ||x - o||^2 = ||x||^2 + ||o||^2 - 2 x.o, clamped at 0 against rounding
        torch.mm(x, others.T, out=d2)
        d2.mul_(-2.0).add_(others_sq).add_((x * x).sum(dim=1, keepdim=True))
        torch.amin(d2, dim=1, out=out[sl])
    return out.clamp_(min=0.0).sqrt_()
