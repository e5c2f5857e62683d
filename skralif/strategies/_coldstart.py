"""Cold-start strategies that need no label and no model: TypiClust and ProbCover.

Both work in a feature space: the rows as given (``features="input"``), or the
encoder of a fitted net (the head's input, as core-set uses). With few or no
labels they beat uncertainty and influence strategies, which have no model
worth trusting yet (Hacohen et al., 2022; Yehuda et al., 2022), so they are
the natural ``initial_strategy`` of :class:`~skralif.ActiveLearningClassifier`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from skorch import NeuralNet

from .._adapter import HeadView, is_dask, pool_features, split_estimator
from .._validation import positive_int
from ._base import QueryStrategy

__all__ = ["TypiClustQuery", "ProbCoverQuery"]

#: up to this many clusters k-means runs in full (Lloyd); beyond, mini-batches
#: (as in the TypiClust paper's code: full k-means is too slow for hundreds of clusters)
FULL_KMEANS_CLUSTERS = 50

_SHARED = {
    "features": [StrOptions({"auto", "input", "encoder"})],
    "head": [str, None],
    "batch_size": [positive_int(), None],
    "random_state": ["random_state"],
}

class _FeatureSpaceQuery(QueryStrategy):
    """Shared by the cold-start strategies: the feature space and clustering."""

    label_free = True

    def _features(self, estimator, X_pool, X_labeled):
        """Pool and labeled rows in the chosen space, as float32 numpy arrays."""
        net, _ = split_estimator(estimator)
        use_encoder = self.features == "encoder" or (
            self.features == "auto" and isinstance(net, NeuralNet)
            and hasattr(net, "module_"))
        if use_encoder:
            if not isinstance(net, NeuralNet):
                raise ValueError(
                    f"`features='encoder'` needs a fitted skorch net (or a Pipeline ending in "
                    f"one) as `estimator`; got {type(net).__name__}. Use features='input'.")
            view = HeadView.from_estimator(estimator, X_pool, self.head, features_only=True)
            rows = self._batch_rows(estimator, X_pool)
            pool = pool_features(estimator, X_pool, view, rows).cpu().numpy()
            labeled = (pool[:0] if X_labeled is None else
                       pool_features(estimator, X_labeled, view, rows, "X_labeled").cpu().numpy())
        else:
            pool = _flat(X_pool.compute() if is_dask(X_pool) else X_pool)
            labeled = pool[:0] if X_labeled is None else _flat(X_labeled)
        return pool.astype(np.float32, copy=False), labeled.astype(np.float32, copy=False)

    def _cluster(self, data, n_clusters, rng):
        """k-means labels of ``data`` (full k-means up to 50 clusters, else mini-batch)."""
        n_clusters = int(min(n_clusters, len(data)))
        seed = rng.randint(2**31 - 1)
        if n_clusters <= FULL_KMEANS_CLUSTERS:
            model = KMeans(n_clusters, n_init=1, random_state=seed)
        else:
            model = MiniBatchKMeans(n_clusters, n_init=3, batch_size=max(1024, 3 * n_clusters),
                                    random_state=seed)
        with warnings.catch_warnings():
            # duplicate rows can leave fewer distinct points than clusters: that is fine here
            warnings.simplefilter("ignore", category=UserWarning)
            return model.fit_predict(data)


class TypiClustQuery(_FeatureSpaceQuery):
    """TypiClust (Hacohen, Dekel and Weinshall, ICML 2022): typical rows of uncovered clusters.

    All rows, labeled and pool, are clustered into ``n_labeled + n`` clusters
    (k-means, at most ``max_clusters``). Each pick takes the cluster holding
    the fewest labeled or already picked rows, the largest first among those,
    skipping clusters smaller than ``min_cluster_size`` while others are
    left, and queries its most *typical* pool row: the one with the highest

        typicality(x) = 1 / mean_{x' in KNN(x)} ||x - x'||,

    its ``k_neighbors`` nearest neighbours taken within its cluster. Label-free
    (``estimator`` may be None) and deterministic given ``random_state``.

    Cost: k-means over ``n_pool + n_labeled`` rows (mini-batch k-means above
    50 clusters), then a nearest-neighbour search inside each cluster picked
    from, about ``O(m^2 d)`` for a cluster of ``m`` rows.

    Parameters
    ----------
    n_clusters : int or None, default=None
        Clusters; None uses ``n_labeled + n`` capped at ``max_clusters``.
    max_clusters : int, default=500
        Cap on the number of clusters when ``n_clusters`` is None (the
        paper's cap).
    k_neighbors : int, default=20
        Neighbours in the typicality estimate (the paper's 20), fewer in
        clusters with fewer rows.
    min_cluster_size : int, default=5
        Clusters smaller than this are used only when no larger cluster
        has pool rows left (the paper ignores them as outliers).
    features : {"auto", "input", "encoder"}, default="auto"
        Space of the clustering. ``"input"``: the rows as given, flattened
        (scale them or pass an embedding, as k-means needs). ``"encoder"``:
        the input of a fitted net's head. ``"auto"``: the encoder when
        ``estimator`` is a fitted skorch net (or a Pipeline ending in one).
    head : str or None, default=None
        The net's head when ``features`` uses the encoder (see
        :class:`~skralif.strategies.CoresetQuery`); None finds it by tracing.
    batch_size : int or None, default=None
        Rows per forward pass of the encoder; None uses the net's own
        inference batch size.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means.

    Notes
    -----
    :meth:`score_samples` returns each pool row's typicality within the
    clusters a query of one row would use (``n_clusters``, else
    ``n_labeled + 1``): higher is more typical. With nothing labeled that is
    a single cluster, a nearest-neighbour search over the whole pool.

    Examples
    --------
    >>> import numpy as np
    >>> from skralif.strategies import TypiClustQuery
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(10, 1, (50, 2))])
    >>> idx = TypiClustQuery(random_state=0).query(None, X, 2)
    >>> sorted(int(i) // 50 for i in idx)  # one row of each blob
    [0, 1]
    """

    _parameter_constraints: dict = {
        "n_clusters": [positive_int(), None],
        "max_clusters": [positive_int()],
        "k_neighbors": [positive_int()],
        "min_cluster_size": [positive_int()],
        **_SHARED,
    }

    def __init__(self, n_clusters=None, max_clusters=500, k_neighbors=20, min_cluster_size=5,
                 features="auto", head=None, batch_size=None, random_state=None):
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.features = features
        self.head = head
        self.batch_size = batch_size
        self.random_state = random_state

    def _clusters(self, estimator, X_pool, X_labeled, n):
        pool, labeled = self._features(estimator, X_pool, X_labeled)
        k = self.n_clusters or min(len(labeled) + n, self.max_clusters)
        data = np.concatenate([labeled, pool])
        labels = self._cluster(data, k, check_random_state(self.random_state))
        return data, labels, len(labeled)

    def _typicality(self, data, members):
        """Typicality of the rows ``members`` of ``data`` among themselves."""
        if len(members) == 1:
            return np.ones(1)
        k = min(self.k_neighbors, len(members) - 1)
        dist, _ = NearestNeighbors(n_neighbors=k).fit(data[members]).kneighbors()
        with np.errstate(divide="ignore"):
            return 1.0 / dist.mean(axis=1)  # duplicates: inf, the most typical

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Typicality of every pool row within its cluster (higher is more typical)."""
        data, labels, n_lab = self._clusters(estimator, X_pool, X_labeled, 1)
        scores = np.empty(len(data))
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            scores[members] = self._typicality(data, members)
        return scores[n_lab:]

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        data, labels, n_lab = self._clusters(estimator, X_pool, X_labeled, n)
        k = labels.max() + 1
        covered = np.bincount(labels[:n_lab], minlength=k)
        sizes = np.bincount(labels, minlength=k)
        free = np.bincount(labels[n_lab:], minlength=k)  # pool rows per cluster
        taken = np.zeros(k, dtype=np.int64)
        ranked, picks = {}, []
        for _ in range(n):
            c = self._next_cluster(covered, sizes, free - taken)
            if c not in ranked:  # typicality only in the clusters picked from
                members = np.flatnonzero(labels == c)
                scores = self._typicality(data, members)
                in_pool = members >= n_lab
                order = np.lexsort((members[in_pool], -scores[in_pool]))
                ranked[c] = members[in_pool][order] - n_lab
            picks.append(int(ranked[c][taken[c]]))
            covered[c] += 1
            taken[c] += 1
        return np.asarray(picks, dtype=np.int64)

    def _next_cluster(self, covered, sizes, free):
        """The least covered cluster with pool rows left, the largest first."""
        usable = free > 0
        if (usable & (sizes >= self.min_cluster_size)).any():
            usable &= sizes >= self.min_cluster_size
        candidates = np.flatnonzero(usable)
        order = np.lexsort((candidates, -sizes[candidates], covered[candidates]))
        return candidates[order[0]]


class ProbCoverQuery(_FeatureSpaceQuery):
    """ProbCover (Yehuda, Dekel, Hacohen and Weinshall, NeurIPS 2022): greedy ball coverage.

    Every row has a ball of radius ``delta``. Rows within ``delta`` of a
    labeled row count as covered; each pick is the pool row whose ball holds
    the most uncovered pool rows, whose ball then counts as covered (greedy
    maximum coverage, ties to the lower index). Once every row is covered the
    rest are drawn at random. Label-free and deterministic given
    ``random_state``.

    ``delta`` is chosen from cluster purity, as in the paper: the rows are
    clustered into ``n_clusters`` with k-means, a ball is *pure* when every
    row in it shares its centre's cluster, and ``delta`` is the largest
    radius at which at least ``purity`` of the balls are pure. A ball of
    radius ``delta`` is pure exactly when the distance from its centre to the
    nearest row of another cluster is at least ``delta``, so that radius is
    the ``1 - purity`` quantile of those distances, computed on a seeded
    sample of ``sample_size`` centres (no grid search).

    Cost: k-means; ``O(sample_size (n_pool + n_labeled) d)`` distances for
    ``delta``; a radius-neighbour graph of the pool (sparse, one entry per
    pair within ``delta``: memory grows with the balls' sizes); then one
    sparse product per pick.

    Parameters
    ----------
    delta : float or None, default=None
        Ball radius; None chooses it from ``purity``.
    purity : float in (0, 1), default=0.95
        Share of pure balls ``delta`` is chosen for (the paper's 0.95).
    n_clusters : int or None, default=None
        Clusters for the purity estimate; the paper uses the number of
        classes. None uses the number of classes when known (distinct
        ``y_labeled``, else the fitted estimator's ``classes_``), else 10.
    sample_size : int, default=5000
        Ball centres sampled to estimate ``delta``.
    max_edges : int, default=10_000_000
        Memory bound of the ball graph (about 12 bytes a pair): a ``delta``
        chosen from ``purity`` is lowered, if needed, until the sampled balls
        hold at most ``max_edges / n_pool`` rows on average. Well-separated
        clusters otherwise give balls as large as the clusters, and a graph
        quadratic in the pool. A ``delta`` given by hand is used as it is.
    features : {"auto", "input", "encoder"}, default="auto"
        Space the balls live in: the rows as given, flattened (``"input"``;
        scale them first), a fitted net's encoder (``"encoder"``), or the
        encoder whenever ``estimator`` is a fitted net (``"auto"``).
    head : str or None, default=None
        The net's head when ``features`` uses the encoder; None finds it by
        tracing.
    batch_size : int or None, default=None
        Rows per forward pass of the encoder; None uses the net's own
        inference batch size.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means, the sample for ``delta`` and the draws once all is
        covered.

    Attributes
    ----------
    delta_ : float
        The radius used by the last call (set by :meth:`query` and
        :meth:`score_samples`).

    Notes
    -----
    :meth:`score_samples` returns, for each pool row, how many uncovered
    pool rows its ball holds before any pick.

    Examples
    --------
    >>> import numpy as np
    >>> from skralif.strategies import ProbCoverQuery
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(10, 1, (40, 2))])
    >>> idx = ProbCoverQuery(n_clusters=2, random_state=0).query(None, X, 2)
    >>> sorted(int(i) // 60 for i in idx)  # one row of each blob
    [0, 1]
    """

    _parameter_constraints: dict = {
        "delta": [Interval(Real, 0, None, closed="neither"), None],
        "purity": [Interval(Real, 0, 1, closed="neither")],
        "n_clusters": [Interval(Integral, 2, None, closed="left"), None],
        "sample_size": [positive_int()],
        "max_edges": [positive_int()],
        **_SHARED,
    }

    def __init__(self, delta=None, purity=0.95, n_clusters=None, sample_size=5000,
                 max_edges=10_000_000, features="auto", head=None, batch_size=None,
                 random_state=None):
        self.delta = delta
        self.purity = purity
        self.n_clusters = n_clusters
        self.sample_size = sample_size
        self.max_edges = max_edges
        self.features = features
        self.head = head
        self.batch_size = batch_size
        self.random_state = random_state

    def _graph(self, estimator, X_pool, X_labeled, y_labeled, rng):
        """The pool's ball graph (CSR, row ``i`` = rows within ``delta`` of row ``i``)
        and which pool rows labeled rows already cover."""
        pool, labeled = self._features(estimator, X_pool, X_labeled)
        self.delta_ = self.delta or self._estimate_delta(
            np.concatenate([labeled, pool]), len(pool), self._n_clusters(estimator, y_labeled),
            rng)
        nn = NearestNeighbors(radius=self.delta_).fit(pool)
        graph = nn.radius_neighbors_graph(pool, mode="connectivity").tocsr()
        covered = np.zeros(len(pool), dtype=bool)
        if len(labeled):
            for rows in nn.radius_neighbors(labeled, return_distance=False):
                covered[rows] = True
        return graph, covered

    def _n_clusters(self, estimator, y_labeled):
        if self.n_clusters is not None:
            return self.n_clusters
        if y_labeled is not None and len(np.unique(y_labeled)) >= 2:
            return len(np.unique(y_labeled))
        classes = getattr(estimator, "classes_", None)
        return len(classes) if classes is not None and len(classes) >= 2 else 10

    def _estimate_delta(self, data, n_pool, n_clusters, rng):
        labels = self._cluster(data, n_clusters, rng)
        centres = rng.choice(len(data), min(self.sample_size, len(data)), replace=False)
        budget = self.max_edges / max(n_pool, 1)  # rows per ball, on average
        keep = int(min(len(data), 2 * max(1, int(budget)) + 1))

        def distances(chunk, start):
            rows = centres[start:start + len(chunk)]
            same = labels[rows][:, None] == labels[None, :]
            nearest = np.partition(chunk, keep - 1, axis=1)[:, :keep]
            return np.where(same, np.inf, chunk).min(axis=1), nearest

        parts = list(pairwise_distances_chunked(data[centres], data, reduce_func=distances,
                                                working_memory=64))
        other = np.sort(np.concatenate([p[0] for p in parts]))
        delta = float(other[int(np.floor((1 - self.purity) * len(other)))])
        delta = min(delta, _radius_within_budget(np.vstack([p[1] for p in parts]), budget))
        if not np.isfinite(delta) or delta <= 0:
            positive = other[np.isfinite(other) & (other > 0)]
            delta = float(positive.min()) if len(positive) else 1.0
            warnings.warn(
                f"ProbCoverQuery could not choose `delta` from purity {self.purity} (rows of "
                f"different clusters coincide, or one cluster holds everything); using "
                f"delta={delta:.3g}. Pass `delta=` or a lower `purity`.",
                UserWarning, stacklevel=5)
        return delta

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Uncovered pool rows in each pool row's ball (higher covers more)."""
        rng = check_random_state(self.random_state)
        graph, covered = self._graph(estimator, X_pool, X_labeled, y_labeled, rng)
        return graph @ (~covered).astype(np.float64)

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        rng = check_random_state(self.random_state)
        graph, covered = self._graph(estimator, X_pool, X_labeled, y_labeled, rng)
        picked = np.zeros(len(covered), dtype=bool)
        picks = []
        for _ in range(n):
            gain = graph @ (~covered).astype(np.float64)
            gain[picked] = -1.0
            best = int(np.argmax(gain))  # ties: the lowest index
            if gain[best] <= 0:  # all covered: the rest at random, as in the paper
                best = int(rng.choice(np.flatnonzero(~picked)))
            picks.append(best)
            picked[best] = True
            covered[graph.indices[graph.indptr[best]:graph.indptr[best + 1]]] = True
        return np.asarray(picks, dtype=np.int64)


def _radius_within_budget(nearest, budget):
    """The largest radius at which the sampled balls hold at most ``budget`` rows on
    average, from each centre's nearest distances (``nearest``, one row per centre,
    sorted here; a ball holding all its kept distances counts as that many)."""
    nearest = np.sort(nearest, axis=1)
    candidates = np.unique(nearest)
    lo, hi = 0, len(candidates) - 1  # the mean count grows with the radius: bisect
    if (nearest <= candidates[hi]).sum(1).mean() <= budget:
        return float("inf")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if (nearest <= candidates[mid]).sum(1).mean() <= budget:
            lo = mid
        else:
            hi = mid - 1
    return float(candidates[lo])


def _flat(X):
    """Rows as flat vectors; an empty ``X`` keeps its width (``reshape(0, -1)`` has none)."""
    X = np.asarray(X)
    return X.reshape(len(X), int(np.prod(X.shape[1:], dtype=np.int64)))
