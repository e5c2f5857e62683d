"""skralif: reliable active learning for skorch classifiers via influence functions."""

from . import exceptions, influence, strategies
from .influence import influence_scores
from .strategies import RALIFQuery

__version__ = "0.1.0"

__all__ = ["RALIFQuery", "exceptions", "influence", "influence_scores", "strategies", "__version__"]
