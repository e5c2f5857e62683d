"""Influence functions for skorch classifiers: inverse-HVP backends and scores.

Backends return ``(H + damping I)^{-1} v`` for the Hessian ``H`` of a training
objective; :func:`influence_scores` turns one such solve into the predicted
effect of every candidate (and every label) on an evaluation loss. The steps in
between (target gradient, :func:`solve`, pair scores, :func:`refit_head`) are public
on :class:`HeadParameters` and :class:`ModuleParameters`, which
:func:`influence_scores` and :class:`~skralif.RALIFQuery` both call.
"""

from ._backends import CGInverseHVP, ExactInverseHVP, InverseHVP, LiSSAInverseHVP
from ._head import refit_head
from ._objectives import HeadObjective, ParamObjective
from ._parameters import HeadParameters, ModuleParameters, head_features, solve, target_loss
from ._scores import influence_scores

__all__ = [
    "InverseHVP",
    "ExactInverseHVP",
    "LiSSAInverseHVP",
    "CGInverseHVP",
    "HeadObjective",
    "ParamObjective",
    "HeadParameters",
    "ModuleParameters",
    "head_features",
    "solve",
    "target_loss",
    "refit_head",
    "influence_scores",
]
