"""Influence functions for skorch classifiers: inverse-HVP backends and scores.

Backends return ``(H + damping I)^{-1} v`` for the Hessian ``H`` of a training
objective; :func:`influence_scores` turns one such solve into the predicted
effect of every candidate (and every label) on an evaluation loss.
"""

from ._backends import CGInverseHVP, ExactInverseHVP, InverseHVP, LiSSAInverseHVP
from ._objectives import HeadObjective, ParamObjective
from ._scores import influence_scores

__all__ = [
    "InverseHVP",
    "ExactInverseHVP",
    "LiSSAInverseHVP",
    "CGInverseHVP",
    "HeadObjective",
    "ParamObjective",
    "influence_scores",
]
