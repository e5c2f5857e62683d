"""The skorch net adapter: everything skralif knows about, and does with, a fitted net.

- :mod:`~skralif._adapter._reading`: reading a net over a pool (the only place a fitted
  module runs forward): locks, batch sizes, chunks, Dask, probabilities, features;
- :mod:`~skralif._adapter._head_view`: what a fitted net is (fitted, its head, how its
  output becomes a loss, its class labels), descriptions only.

Strategies, influence, stopping criteria and the learner import from this package, never
from its modules.
"""

from . import _head_view, _reading
from ._head_view import *  # noqa: F403 (each module's __all__ is its public face)
from ._reading import *  # noqa: F403

__all__ = [*_head_view.__all__, *_reading.__all__]
