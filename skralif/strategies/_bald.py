"""BALD with Monte-Carlo dropout (Gal, Islam & Ghahramani, 2017)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._nets import as_input, call_module, eval_mode, output_kind
from ._base import QueryStrategy, pool_map, scores_doc, split_estimator
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
    batch_size : int, default=4096
        Rows per forward pass.
    random_state : int, RandomState instance or None, default=None
        Seeds the dropout masks (torch's global generator is forked and
        restored, so the caller's random stream is untouched).
    """

    needs_net = True

    def __init__(self, n_samples=20, batch_size=4096, random_state=None):
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.random_state = random_state

    @scores_doc
    def score_samples(self, estimator, X_pool, *, X_labeled=None, y_labeled=None):
        """Mutual information of each pool row (nats); higher is queried first."""
        net, transform = split_estimator(estimator)
        module = net.module_
        dropouts = [m for m in module.modules()
                    if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
        if not dropouts:
            raise ValueError(
                "BALDQuery needs MC dropout, but the net's module has no dropout layer "
                "with p > 0; add torch.nn.Dropout to the module or use another strategy."
            )
        softmax = output_kind(net) == "logits"
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))

        def chunk(block, start):
            # one seed per chunk, from its first row: the same masks whether the
            # chunks run here in order or as Dask tasks anywhere
            return self._chunk(module, dropouts, transform(block), softmax, seed + start)

        return np.concatenate(pool_map(chunk, X_pool, self.batch_size))

    def _chunk(self, module, dropouts, Xb, softmax, seed):
        device = next(module.parameters()).device
        forked = [device] if device.type == "cuda" else []
        with torch.no_grad(), eval_mode(module), torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed % (2**63 - 1))
            for m in dropouts:
                m.train()
            x = as_input(Xb, device, next(module.parameters()).dtype)
            return self._mutual_information(module, x, softmax)

    def _mutual_information(self, module, x, softmax):
        probs = []
        for _ in range(int(self.n_samples)):
            out = call_module(module, x)
            probs.append((torch.softmax(out, dim=1) if softmax else out).double().cpu().numpy())
        probs = np.stack(probs)
        expected = np.mean([uncertainty(p, "entropy") for p in probs], axis=0)
        return uncertainty(probs.mean(axis=0), "entropy") - expected
