"""The first rows to label, before any model can rank a pool.

A label-free strategy (TypiClust, ProbCover, random) sees the rows through the
preprocessing steps of the learner's Pipeline, fitted on all rows without labels;
without one, a simulated run draws its initial rows at random, stratified by the
oracle's labels when it can be.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

__all__ = ["fitted_preprocessing", "initial_query", "initial_scores", "initial_draw"]


def fitted_preprocessing(template, X):
    """The Pipeline ``template``'s steps before the classifier, fitted on ``X`` without
    labels (None without a Pipeline): the space the initial strategy sees."""
    if not isinstance(template, Pipeline) or len(template.steps) < 2:
        return None
    return clone(template[:-1]).fit(X)


def _space(X, steps, X_labeled):
    """``X`` and ``X_labeled`` (None when empty) through ``steps``."""
    Xt = X if steps is None else steps.transform(X)
    if X_labeled is None or len(X_labeled) == 0:
        return Xt, None
    return Xt, (X_labeled if steps is None else steps.transform(X_labeled))


def initial_query(strategy, X, n, steps, X_labeled=None):
    """``n`` rows of ``X`` chosen by the label-free ``strategy`` in the preprocessed
    space; rows ``X_labeled`` (labeled already) count as covered."""
    Xt, covered = _space(X, steps, X_labeled)
    return strategy.query(None, Xt, n, X_labeled=covered)


def initial_scores(strategy, X, steps, X_labeled=None):
    """The label-free ``strategy``'s scores of ``X``, as :func:`initial_query` ranks."""
    Xt, covered = _space(X, steps, X_labeled)
    return strategy.score_samples(None, Xt, X_labeled=covered)


def initial_draw(X, y, labelable, size, rng, strategy=None, template=None):
    """The simulated run's initial rows: ``size`` (an int, or a share in (0, 1)) of
    the ``labelable`` rows, chosen by ``strategy`` when given, else drawn by ``rng``
    (stratified by ``y``, the oracle, when every class has two rows and ``size`` is at
    least the number of classes)."""
    if isinstance(size, Real) and not isinstance(size, Integral):
        size = max(1, int(round(size * len(labelable))))
    if size > len(labelable):
        raise ValueError(
            f"`initial_size` must be at most the number of labelable rows "
            f"({len(labelable):,}); got {size:,}."
        )
    if size == len(labelable):
        return labelable.copy()
    if strategy is not None:
        steps = fitted_preprocessing(template, X)
        return labelable[initial_query(strategy, X[labelable], size, steps)]
    classes, counts = np.unique(y[labelable], return_counts=True)
    if size >= len(classes) and counts.min() >= 2:
        from sklearn.model_selection import train_test_split

        return train_test_split(labelable, train_size=size, stratify=y[labelable],
                                random_state=rng)[0]
    return rng.choice(labelable, size, replace=False)
