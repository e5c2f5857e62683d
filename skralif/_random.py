"""Reproducible use of torch's global random generator, under threads too.

torch draws weight initialisations, shuffles and dropout masks from one
process-wide generator. skralif seeds it for a fit or an MC-dropout pass
inside :func:`seeded_torch`, which forks the generator (the caller's stream
is left as it was) and holds a process-wide lock meanwhile: two threads that
seed at once would otherwise draw from each other's streams, and their
results would depend on timing. Seeded work in threads is therefore
reproducible and runs one at a time; unseeded torch work is not affected.
"""

from __future__ import annotations

import contextlib
import threading

import torch
from sklearn.base import clone

__all__ = ["seeded_torch", "seeded_clone"]

_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_torch(seed: int, devices=None):
    """Run the block with torch's global generator (and ``devices``' CUDA ones) at ``seed``.

    ``devices`` None forks every visible CUDA device, as :func:`torch.random.fork_rng`.
    """
    with _RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed) % (2**63 - 1))
        yield


def seeded_clone(strategy, rng):
    """A clone of ``strategy`` whose ``random_state``, if None, is seeded from ``rng``
    (a seed is drawn either way, so later draws do not depend on the strategy); None
    stays None, drawing nothing."""
    if strategy is None:
        return None
    strategy = clone(strategy)
    seed = int(rng.randint(2**31 - 1))
    if "random_state" in strategy.get_params() and strategy.random_state is None:
        strategy.set_params(random_state=seed)
    return strategy
