"""Stopping criteria: when has labeling paid off?

Each criterion is a scikit-learn parameter object. Give one to
:class:`~skralif.ActiveLearningClassifier` as ``stopping_criterion``: after
every fit the learner calls its ``update``, records the round's value in
``history_`` and exposes the decision as ``should_stop_``; a simulated
``fit`` ends when it fires (``termination_condition_ = "stopping_criterion"``).
They can also be driven by hand in any loop: ``criterion.update(net, X_pool)``
after each refit, then read ``criterion.stop_``.
"""

from ._criteria import (
    ClassificationChange,
    OverallUncertainty,
    PredictedLossReduction,
    StabilizingPredictions,
    StoppingCriterion,
)

__all__ = [
    "StoppingCriterion",
    "StabilizingPredictions",
    "OverallUncertainty",
    "ClassificationChange",
    "PredictedLossReduction",
]
