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

import numbers
from abc import ABCMeta, abstractmethod

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import assert_all_finite, check_array
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet

from .._nets import (
    DEFAULT_BATCH_SIZE,
    HeadView,
    as_input,
    call_module,
    check_fitted_net,
    eval_mode,
    iter_chunks,
    n_rows,
    net_device,
    take_rows,
)

__all__ = ["QueryStrategy", "check_n", "split_estimator", "top_n", "kmeans_pp", "predict_proba"]

_SCORE_SECTIONS = """
        Parameters
        ----------
        estimator : estimator
            Fitted skorch ``NeuralNetClassifier`` or ``Pipeline`` ending in one
            (any fitted classifier for probability-only strategies).
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled rows.
        X_labeled : array-like of shape (n_labeled, ...), default=None
            Rows labeled so far.
        y_labeled : array-like of shape (n_labeled,), default=None
            Their class indices, as the net's output columns.

        Returns
        -------
        scores : ndarray of shape (n_pool,)
            Higher is queried first; ``NaN`` marks rows the strategy excludes.
        """


def scores_doc(method):
    """Complete a ``score_samples`` docstring (its summary) with the shared sections."""
    method.__doc__ = method.__doc__.rstrip() + "\n" + _SCORE_SECTIONS
    return method


class QueryStrategy(BaseEstimator, metaclass=ABCMeta):
    """Base class of query strategies.

    Subclasses implement :meth:`score_samples`; :meth:`query` validates the
    inputs, scores the pool and selects the top ``n`` (override
    :meth:`_select` for another selection rule).
    """

    #: whether ``estimator`` must be a skorch net (or a Pipeline ending in one)
    needs_net = False

    def query(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Return ``n`` distinct row indices into ``X_pool``, best first.

        Parameters
        ----------
        estimator : estimator
            Fitted skorch ``NeuralNetClassifier``, or fitted ``Pipeline`` whose
            last step is one (``X`` then goes through the preceding steps).
            Strategies that use only ``predict_proba`` accept any fitted
            classifier.
        X_pool : array-like of shape (n_pool, ...)
            Unlabeled rows to choose from.
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
        X_pool, X_labeled = self._check_inputs(estimator, X_pool, X_labeled, y_labeled)
        n = check_n(n, n_rows(X_pool))
        return self._select(estimator, X_pool, n, X_labeled, y_labeled)

    @abstractmethod
    @scores_doc
    def score_samples(self, estimator, X_pool, *, X_labeled=None, y_labeled=None) -> np.ndarray:
        """Per-sample scores of the pool; higher is queried first, ``NaN`` excluded."""

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        scores = self.score_samples(estimator, X_pool, X_labeled=X_labeled, y_labeled=y_labeled)
        return top_n(scores, n)

    def _check_inputs(self, estimator, X_pool, X_labeled, y_labeled):
        net, _ = split_estimator(estimator)
        if self.needs_net:
            check_fitted_net(net, "estimator")
        else:
            check_is_fitted(estimator)
        X_pool = check_pool(X_pool)
        if X_labeled is not None:
            X_labeled = check_array(X_labeled, allow_nd=True, dtype=None, input_name="X_labeled")
            if X_labeled.shape[1:] != X_pool.shape[1:]:
                raise ValueError(
                    f"`X_labeled` rows have shape {X_labeled.shape[1:]} but `X_pool` rows "
                    f"have shape {X_pool.shape[1:]}; they must match."
                )
            if y_labeled is not None and len(y_labeled) != len(X_labeled):
                raise ValueError(
                    f"`y_labeled` has {len(y_labeled)} labels for {len(X_labeled)} rows "
                    "of `X_labeled`."
                )
        return X_pool, X_labeled


def check_pool(X_pool):
    """Validate a pool: an array (checked now) or a dask array (shape now, values per task)."""
    if not is_dask(X_pool):
        return check_array(X_pool, allow_nd=True, dtype=None, input_name="X_pool")
    if X_pool.ndim < 2 or not np.issubdtype(X_pool.dtype, np.number):
        raise ValueError(
            f"A dask `X_pool` must be a numeric array with at least 2 dimensions; got "
            f"ndim={X_pool.ndim}, dtype={X_pool.dtype}."
        )
    return X_pool


def check_n(n, n_pool: int) -> int:
    """Return ``n`` as an int if ``1 <= n <= n_pool``, else raise a clear error."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`n` must be a positive integer; got {n!r} ({type(n).__name__}).")
    if not 1 <= n <= n_pool:
        raise ValueError(
            f"`n` must be a positive integer no larger than the pool ({n_pool:,} rows); "
            f"got {n:,}."
        )
    return int(n)


def split_estimator(estimator):
    """Return ``(final_step, transform)`` where ``transform`` maps raw ``X`` to its input."""
    if isinstance(estimator, Pipeline):
        head = estimator[:-1]
        return estimator.steps[-1][1], (head.transform if len(head.steps) else (lambda X: X))
    return estimator, lambda X: X


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores, ties by lower index, ``NaN`` last."""
    key = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((np.arange(len(key)), -key, np.isnan(scores)))
    return order[:n].astype(np.int64)


def kmeans_pp(distance_to, size: int, n: int, rng, first: int, min_dist=None) -> np.ndarray:
    """k-means++ seeding (D^2 sampling) of ``n`` of ``size`` rows, starting at ``first``.

    ``distance_to(i)`` returns the distances (float64 tensor, shape ``(size,)``)
    of every row to row ``i``. ``min_dist`` (optional) is each row's distance to
    the nearest already-chosen point outside the rows (the labeled set), so the
    sampling avoids what is already labeled. Rows at distance 0 from every
    choice are picked, uniformly, only once no positive distance is left.
    Cost: ``n`` calls of ``distance_to``.
    """
    dist = torch.full((size,), float("inf"), dtype=torch.float64)
    if min_dist is not None:
        dist = torch.minimum(dist, min_dist.cpu().to(dist))
    picks = [int(first)]
    for _ in range(n - 1):
        dist = torch.minimum(dist, distance_to(picks[-1]).cpu().to(dist))
        dist[picks] = 0.0
        picks.append(_d2_sample(dist, rng, picks))
    return np.asarray(picks, dtype=np.int64)


def euclidean_to(feats: torch.Tensor):
    """``distance_to`` for :func:`kmeans_pp` in the Euclidean space of ``feats``."""
    feats = feats.to(torch.float64)
    return lambda i: torch.linalg.vector_norm(feats - feats[i], dim=1)


def encode(estimator, X, head=None, batch_size=DEFAULT_BATCH_SIZE, features_only=False):
    """Return ``(view, feats)``: the net's head and its input for every row of ``X``.

    ``X`` (an array or a dask array) goes through a Pipeline's preceding steps
    chunk by chunk; ``feats`` is one ``(n, d)`` tensor on the net's device.
    """
    view = head_view(estimator, head, features_only)
    chunks = pool_map(lambda block, _: chunk_features(estimator, block, head, features_only),
                      X, batch_size)
    if not chunks:
        return view, torch.zeros(0, view.head.in_features, device=view.device)
    return view, torch.cat([torch.as_tensor(c, device=view.device) for c in chunks])


def head_view(estimator, head=None, features_only=False):
    """The :class:`~skralif._nets.HeadView` of the net inside ``estimator``."""
    return HeadView.from_net(split_estimator(estimator)[0], head, features_only=features_only)


def chunk_features(estimator, block, head=None, features_only=False):
    """Encoder features of one chunk of raw rows (through a Pipeline's steps).

    The head is looked up here, not passed in: in a Dask worker the estimator
    arrives unpickled, and skorch pickles its module apart from other objects.
    """
    view = head_view(estimator, head, features_only)
    _, transform = split_estimator(estimator)
    Xt = transform(block)
    return torch.cat(list(view.features(Xt, max(n_rows(Xt), 1))))


def is_dask(X) -> bool:
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")


def pool_map(fn, X, batch_size):
    """``[fn(chunk, start) for each chunk of batch_size rows]``, in row order.

    For a dask array the pool is rechunked to ``batch_size`` rows per block
    (so chunks, and thus every float, match the in-memory path) and each call
    runs as a Dask task on the active scheduler; only ``fn``'s results are
    gathered. Blocks are checked for NaN and infinity inside their task.
    """
    n = n_rows(X)
    if not is_dask(X):
        return [fn(take_rows(X, sl), sl.start) for sl in iter_chunks(n, batch_size)]
    import dask  # optional dependency (skralif[dask]): only reached with a dask input

    blocks = X.rechunk({0: batch_size, **{i: -1 for i in range(1, X.ndim)}})
    tasks = [dask.delayed(_checked_call)(fn, block, i * batch_size)
             for i, block in enumerate(blocks.to_delayed().ravel())]
    return list(dask.compute(*tasks))


def _checked_call(fn, block, start):
    assert_all_finite(block, input_name="X_pool")
    return fn(block, start)


def _d2_sample(dist, rng, picks):
    weights = (dist**2).cpu().numpy()
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        free = np.setdiff1d(np.arange(len(weights)), picks)
        return int(rng.choice(free))
    return int(rng.choice(len(weights), p=weights / total))


def nearest_distance(feats: torch.Tensor, others: torch.Tensor, batch_size=DEFAULT_BATCH_SIZE):
    """Distance from every row of ``feats`` to its nearest row of ``others``, chunked."""
    if len(others) == 0:
        return torch.full((len(feats),), float("inf"), dtype=torch.float64, device=feats.device)
    out = [torch.cdist(feats[sl].to(torch.float64), others.to(torch.float64)).min(dim=1).values
           for sl in iter_chunks(len(feats), batch_size)]
    return torch.cat(out)


def predict_proba(estimator, X, batch_size=DEFAULT_BATCH_SIZE) -> np.ndarray:
    """``estimator.predict_proba`` over chunks of ``X`` (bounded memory; dask arrays too)."""
    return np.concatenate(pool_map(lambda block, _: chunk_proba(estimator, block), X, batch_size))


def chunk_proba(estimator, block) -> np.ndarray:
    """``estimator.predict_proba`` of one chunk.

    For a skorch net (or a Pipeline ending in one) this is one forward pass
    of the module followed by the net's own prediction nonlinearity: the same
    numbers as ``net.predict_proba`` without its per-row data loader.
    """
    final, transform = split_estimator(estimator)
    if not isinstance(final, NeuralNet):
        return estimator.predict_proba(block)
    module = final.module_
    with torch.no_grad(), eval_mode(module):
        x = as_input(transform(block), net_device(final), next(module.parameters()).dtype)
        out = final._get_predict_nonlinearity()(call_module(module, x))
    return out.cpu().numpy()
