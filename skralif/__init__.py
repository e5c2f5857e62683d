"""skralif: reliable active learning for skorch classifiers via influence functions."""

from . import exceptions, influence
from .influence import influence_scores

__version__ = "0.1.0"

__all__ = ["exceptions", "influence", "influence_scores", "__version__"]
