"""skralif: reliable active learning for skorch classifiers via influence functions."""

from . import exceptions, influence, nets, strategies
from ._learner import ActiveLearningClassifier
from .influence import influence_scores
from .strategies import RALIFQuery

__version__ = "0.1.0"

__all__ = [
    "ActiveLearningClassifier",
    "RALIFQuery",
    "exceptions",
    "influence",
    "influence_scores",
    "nets",
    "strategies",
    "__version__",
]
