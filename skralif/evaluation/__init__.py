"""Does active learning pay off on this data? Learning curves over strategies and seeds.

:func:`run_experiment` runs simulated AL for several strategies and seeds on a
train/test split: for a given seed every strategy starts from the same labeled
rows, trains the same estimator settings with the same torch seeds, and is
scored on the test set after every round. :class:`ALResults` summarises the
curves and :class:`ALCurveDisplay` plots them. :func:`estimate_accuracy` is the
audit's estimate of a model's accuracy on the unlabeled rows from labels drawn
at random (``ActiveLearningClassifier(audit_size=...)``, ``skralif query``).
"""

import importlib

from .._audit import (
    AccuracyEstimate,
    choose_temperature,
    draw_audit,
    estimate_accuracy,
    fit_temperature,
    scale_temperature,
)
from ._display import ALCurveDisplay
from ._report import write_report
from ._results import ALResults
from ._statistics import across_settings, paired_bootstrap, penalty_matrix

__all__ = ["STRATEGIES", "make_strategy", "run_experiment", "ALResults", "ALCurveDisplay",
           "paired_bootstrap", "penalty_matrix", "across_settings", "write_report",
           "AccuracyEstimate", "draw_audit", "estimate_accuracy", "fit_temperature",
           "choose_temperature", "scale_temperature"]

#: names that import the learner and torch, loaded on first use (PEP 562): `skralif report`
#: reads results files without torch
_LAZY = {"STRATEGIES", "make_strategy", "run_experiment"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'skralif.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module("._experiment", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
