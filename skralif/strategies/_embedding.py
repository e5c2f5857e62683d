"""Diversity baselines in a net's embedding: core-set (k-center greedy) and BADGE."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._adapter import HeadView, augment, iter_chunks, n_rows, pool_features, take_rows
from .._validation import positive_int
from ..influence._head import head_proba, head_residuals
from ._base import QueryStrategy, euclidean_to, kmeans_pp, nearest_distance, top_n

_CONSTRAINTS = {"head": [str, None], "batch_size": [positive_int(), None],
                "max_candidates": [positive_int(), None], "random_state": ["random_state"]}

def _capped(strategy, X_pool, n, select):
    """``select(X)`` on at most ``strategy.max_candidates`` rows of ``X_pool`` (at least
    ``n``), drawn uniformly; returns indices into ``X_pool``."""
    size = n_rows(X_pool)
    cap = strategy.max_candidates
    if cap is None or size <= max(cap, n):
        return select(X_pool)
    rng = np.random.RandomState(check_random_state(strategy.random_state).randint(2**31 - 1))
    rows = np.sort(rng.choice(size, max(cap, n), replace=False))
    return rows[select(take_rows(X_pool, rows))]

__all__ = ["CoresetQuery", "BADGEQuery"]


class CoresetQuery(QueryStrategy):
    """Core-set selection (Sener & Savarese, 2018): k-center greedy on encoder features.

    The encoder is the input of the net's head (as for RALIF). Each pick is
    the pool row farthest from everything labeled or picked so far. Cost:
    one encoder pass over the pool, then ``O(n_pool (n_labeled + n) d)``.
    Memory: the pool's encoder features, ``4 d`` bytes a row, plus ``8`` bytes a
    row of distances: more than ``predict_proba`` (``4 C`` bytes a row) by nature;
    ``max_candidates`` bounds it.

    Parameters
    ----------
    head : str or None, default=None
        Name of the head, a ``torch.nn.Linear`` of the net's module. None
        finds it by tracing one forward pass on two pool rows: the Linear,
        called once, whose output is the module's output (possibly through
        a final softmax, log-softmax or sigmoid). An error lists the
        candidates when none or several qualify.
    batch_size : int or None, default=None
        Rows per forward pass. None uses the net's own inference batch size
        (skorch's ``iterator_valid__batch_size``, else ``batch_size``), so a
        query holds the activations of no more rows than the net's own
        ``predict_proba``.
    max_candidates : int or None, default=None
        Query at most this many pool rows (at least ``n``), drawn uniformly at
        random, seeded by ``random_state``: peak memory is then bounded by the
        candidates' features whatever the pool's size. None reads the whole
        pool.
    random_state : int, RandomState instance or None, default=None
        Chooses the first pick when nothing is labeled yet, and the candidates.
    """

    needs_net = True

    _parameter_constraints: dict = dict(_CONSTRAINTS)

    def __init__(self, head=None, batch_size=None, max_candidates=None, random_state=None):
        self.head = head
        self.batch_size = batch_size
        self.max_candidates = max_candidates
        self.random_state = random_state

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Distance of each pool row to its nearest labeled row (``inf`` with none)."""
        return self._distances(estimator, X_pool, X_labeled)[1].cpu().numpy()

    def _distances(self, estimator, X_pool, X_labeled):
        view = HeadView.from_estimator(estimator, X_pool, self.head, features_only=True)
        rows = self._batch_rows(estimator, X_pool)
        feats = pool_features(estimator, X_pool, view, rows)
        if X_labeled is None:
            labeled = feats[:0]
        else:
            labeled = pool_features(estimator, X_labeled, view, rows, "X_labeled")
        return feats, nearest_distance(feats, labeled)

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        return _capped(self, X_pool, n, lambda X: self._greedy(estimator, X, n, X_labeled))

    def _greedy(self, estimator, X_pool, n, X_labeled):
        feats, dist = self._distances(estimator, X_pool, X_labeled)
        distance_to = euclidean_to(feats)
        if torch.isinf(dist).all():  # nothing labeled: a seeded random first center
            first = check_random_state(self.random_state).randint(len(dist))
        else:
            first = int(torch.argmax(dist))  # ties: the lowest index
        picks = [first]
        for _ in range(n - 1):
            dist = torch.minimum(dist, distance_to(picks[-1]))
            dist[picks] = -1.0
            picks.append(int(torch.argmax(dist)))
        return np.asarray(picks, dtype=np.int64)


class BADGEQuery(QueryStrategy):
    """BADGE (Ash et al., 2020): k-means++ on the head's gradient embeddings.

    A pool row's embedding is the gradient of its loss under its predicted
    label, ``g_u = (p_u - e_{yhat_u}) [f(u); 1]^T``. The embeddings are never
    materialised: for Kronecker products
    ``<g_u, g_v> = <a_u, a_v> <x~_u, x~_v>``, so a distance costs
    ``O(C + d)``. Selection starts at the largest embedding and draws the rest
    with probability proportional to the squared distance to the nearest pick.
    Cost: one encoder pass, then ``O(n n_pool (C + d))``. Memory: the pool's
    encoder features, ``4 d`` bytes a row (float32, as the net computes them),
    plus ``8 (C + 3)`` bytes a row of residuals, norms and distances; never the
    ``C (d + 1)`` numbers of a row's embedding. That is more than
    ``predict_proba`` (``4 C`` bytes a row) by nature; ``max_candidates``
    bounds it.

    Parameters
    ----------
    head : str or None, default=None
        Name of the head, a ``torch.nn.Linear`` of the net's module. None
        finds it by tracing one forward pass on two pool rows: the Linear,
        called once, whose output is the module's output (possibly through
        a final softmax, log-softmax or sigmoid). An error lists the
        candidates when none or several qualify.
    batch_size : int or None, default=None
        Rows per forward pass. None uses the net's own inference batch size
        (skorch's ``iterator_valid__batch_size``, else ``batch_size``), so a
        query holds the activations of no more rows than the net's own
        ``predict_proba``.
    max_candidates : int or None, default=None
        Draw the batch from at most this many pool rows (at least ``n``),
        sampled uniformly with ``random_state``, so that the features held
        are the candidates', not the pool's. None reads the whole pool.
    random_state : int, RandomState instance or None, default=None
        Seeds the D^2 sampling and the candidates.
    """

    needs_net = True

    _parameter_constraints: dict = dict(_CONSTRAINTS)

    def __init__(self, head=None, batch_size=None, max_candidates=None, random_state=None):
        self.head = head
        self.batch_size = batch_size
        self.max_candidates = max_candidates
        self.random_state = random_state

    def _embedding(self, estimator, X_pool):
        """``(A, feats, W, xx)``: the head residuals ``a_u`` (float64, ``n x C``), the
        encoder features as computed (float32), the head ``[W | b]`` (``x~`` is
        ``augment(f, W)``) and ``||x~_u||^2``. ``x~`` itself is never built: a float64
        copy of it was ``8 (d + 1)`` bytes a row, the largest allocation of a query
        (issue 26)."""
        view = HeadView.from_estimator(estimator, X_pool, self.head)
        feats = pool_features(estimator, X_pool, view, self._batch_rows(estimator, X_pool))
        W = view.weights()
        parts = list(iter_chunks(len(feats), 8192))  # float64 temporaries of a few MiB
        if not parts:
            P = head_proba(feats, W)
            return (head_residuals(P, P.argmax(dim=1), view.binary), feats, W,
                    feats.new_zeros(0, dtype=torch.float64))
        P = torch.cat([head_proba(feats[sl], W) for sl in parts])
        A = head_residuals(P, P.argmax(dim=1), view.binary)
        xx = torch.cat([(augment(feats[sl], W) ** 2).sum(1) for sl in parts])
        return A, feats, W, xx

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Norm of each row's gradient embedding, ``||a_u|| ||x~_u||``."""
        A, _, _, xx = self._embedding(estimator, X_pool)
        return (torch.linalg.vector_norm(A, dim=1) * xx.sqrt()).cpu().numpy()

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        return _capped(self, X_pool, n, lambda X: self._seed_kmeans(estimator, X, n))

    def _seed_kmeans(self, estimator, X_pool, n):
        A, feats, W, xx = self._embedding(estimator, X_pool)
        sq = (A * A).sum(1) * xx

        bias = 1.0 if W.shape[1] > feats.shape[1] else 0.0

        def distance_to(i):
            # <x~_u, x~_i> = <f_u, f_i> (+ 1 for the bias), from the stored float32
            # features: no float64 copy of the pool per pick
            dots = (feats @ feats[i]).to(torch.float64) + bias
            d2 = sq + sq[i] - 2.0 * (A @ A[i]) * dots
            return d2.clamp_min(0.0).sqrt()

        first = int(top_n(sq.cpu().numpy(), 1)[0])
        rng = check_random_state(self.random_state)
        return kmeans_pp(distance_to, len(A), n, rng, first)
