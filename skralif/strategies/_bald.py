"""BALD with Monte-Carlo dropout (Gal, Islam & Ghahramani, 2017)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._adapter import forward, iter_chunks, n_rows, pool_map, reading, split_estimator, take_rows
from .._random import seeded_torch
from .._validation import positive_int
from ._base import QueryStrategy
from ._uncertainty import uncertainty

__all__ = ["BALDQuery"]


class BALDQuery(QueryStrategy):
    """Mutual information between the label and the weights, under MC dropout.

    ``score(u) = H(mean_t p_t(u)) - mean_t H(p_t(u))`` over ``n_samples``
    forward passes with dropout active (every other layer, batch norm
    included, stays in eval mode). Top-``n``, no diversity. Cost:
    ``n_samples`` forward passes over the pool.

    Parameters
    ----------
    n_samples : int, default=20
        Dropout masks per row.
    batch_size : int or None, default=None
        Rows per forward pass. None uses the net's own inference batch size
        (skorch's ``iterator_valid__batch_size``, else ``batch_size``), so a
        query holds the activations of no more rows than the net's own
        ``predict_proba``.
    random_state : int, RandomState instance or None, default=None
        Seeds the dropout masks (torch's global generator is forked and
        restored, so the caller's random stream is untouched).
    """

    needs_net = True

    _parameter_constraints: dict = {
        "n_samples": [positive_int()],
        "batch_size": [positive_int(), None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_samples=20, batch_size=None, random_state=None):
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.random_state = random_state

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Mutual information of each pool row (nats); higher is queried first."""
        net, transform = split_estimator(estimator)
        dropouts = [m for m in net.module_.modules()
                    if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
        if not dropouts:
            raise ValueError(
                "BALDQuery needs MC dropout, but the net's module has no dropout layer "
                "with p > 0; add torch.nn.Dropout to the module (skralif's default net: "
                "`module__dropout=0.2`) or use another strategy."
            )
        # the net's own nonlinearity (softmax, identity, sigmoid for binary nets):
        # each pass gives the class probabilities predict_proba would
        to_proba = net._get_predict_nonlinearity()
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))

        rows = self._batch_rows(estimator, X_pool)

        def block(rows_block, start):
            # one seed per block, from its first row: the same masks whether the
            # blocks run here in order or as Dask tasks anywhere
            return self._block(net, transform, rows_block, rows, to_proba, seed + start)

        return np.concatenate(pool_map(block, X_pool, rows))

    def _block(self, net, transform, block, rows, to_proba, seed):
        module = net.module_
        dropouts = [m for m in module.modules()  # this copy's own (Dask workers unpickle)
                    if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
        device = next(module.parameters()).device
        forked = [device] if device.type == "cuda" else []
        scores = []
        # one seeded stream per block, held (with the module) for all its passes
        with seeded_torch(seed, forked), reading(module, train=dropouts):
            for sl in iter_chunks(n_rows(block), rows):
                Xb = transform(take_rows(block, sl))
                probs = []
                for _ in range(int(self.n_samples)):
                    out, _ = forward(net, Xb, train=dropouts, name="X_pool")
                    probs.append(to_proba(out).double().cpu().numpy())
                probs = np.stack(probs)
                expected = np.mean([uncertainty(p, "entropy") for p in probs], axis=0)
                scores.append(uncertainty(probs.mean(axis=0), "entropy") - expected)
        return np.concatenate(scores)
