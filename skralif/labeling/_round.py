"""One labeling round on real data: train on the labels so far, rank the unlabeled rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score

from .._learner import ActiveLearningClassifier
from ..evaluation import STRATEGIES, make_strategy
from ..nets import scaled_mlp
from ..strategies import TypiClustQuery

__all__ = ["Proposal", "Round", "run_round", "propose", "cross_validated_accuracy",
           "check_options"]

#: the largest seed numpy's RandomState (and so scikit-learn's random_state) takes
MAX_SEED = 2**32 - 1
#: dropout of the net for strategies that sample it (BALD's MC dropout)
MC_DROPOUT = 0.2
#: the cold-start strategy, used until two classes have labels
COLD_STRATEGY = "typiclust"


@dataclass
class Proposal:
    """What one round proposes.

    Attributes
    ----------
    picks : ndarray of int
        The rows (indices into the data) to label next, best first.
    rows : ndarray of int
        Every unlabeled row, in order; the arrays below are aligned with it.
    scores : ndarray of shape (n_unlabeled,)
        The strategy's score (higher first; NaN for rows it excludes).
    predicted : ndarray of shape (n_unlabeled,) or None
        The model's predicted label (None before any model).
    probability : ndarray of shape (n_unlabeled,) or None
        Its probability.
    strategy : str
        The strategy that ranked them (``"typiclust"`` until two classes have labels).
    learner : ActiveLearningClassifier or None
        The learner fitted on the labeled rows (None before any model).
    """

    picks: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray | None
    probability: np.ndarray | None
    strategy: str
    learner: ActiveLearningClassifier | None


@dataclass
class Round:
    """One labeling round, the same for a file project and a Label Studio project.

    Attributes
    ----------
    proposal : Proposal
        What the round proposes.
    n_labeled : int
        Labeled rows (or tasks).
    labeled_per_class : dict
        Their count per class, the labels as strings.
    cv_accuracy : float
        Cross-validated accuracy on the labeled rows (NaN when n/a).
    cv_folds : int
        Its folds (0 when n/a).
    """

    proposal: Proposal
    n_labeled: int
    labeled_per_class: dict
    cv_accuracy: float
    cv_folds: int

    def model_lines(self, rows="rows", classes="classes"):
        """The summary's lines about the model, with the workflow's nouns.

        Parameters
        ----------
        rows : str, default="rows"
            What is labeled ("rows", "tasks").
        classes : str, default="classes"
            What a label is ("classes", "choices").

        Returns
        -------
        list of str
        """
        if self.proposal.learner is None:
            return [f"Fewer than two {classes} have labels, so no model is trained yet: "
                    f"TypiClust (label-free) picked typical {rows} of uncovered clusters."]
        if not np.isfinite(self.cv_accuracy):
            return [f"Cross-validated accuracy: n/a (a {classes[:-1]} has a single label)."]
        return [f"Cross-validated accuracy on the labeled {rows}: {self.cv_accuracy:.3f} "
                f"({self.cv_folds}-fold; biased, often low: the strategy picked these {rows} "
                "because they are hard)."]


def run_round(X, y, n, *, pending=(), strategy="ralif", seed=0, epochs=60):
    """:func:`propose` (same parameters), then the accuracy of the round's model on the
    labeled rows: the one round a file project and a Label Studio project both run."""
    proposal = propose(X, y, n, pending=pending, strategy=strategy, seed=seed, epochs=epochs)
    labeled = np.flatnonzero([v is not None for v in y])
    values, counts = np.unique(np.array([str(v) for v in y[labeled]]), return_counts=True)
    per_class = dict(zip(values.tolist(), counts.tolist(), strict=True))
    cv, folds = float("nan"), 0
    if proposal.learner is not None:
        cv, folds = cross_validated_accuracy(X[labeled], y[labeled].tolist(), seed=seed,
                                             epochs=epochs)
    return Round(proposal, len(labeled), per_class, cv, folds)


def propose(X, y, n, *, pending=(), strategy="ralif", seed=0, epochs=60):
    """Train on the labeled rows of ``X``, score the unlabeled ones and pick ``n``.

    One :class:`~skralif.ActiveLearningClassifier` session: with labels of
    fewer than two classes it has no model, its ``initial_strategy``
    (:class:`~skralif.strategies.TypiClustQuery`, on standardised features,
    counting the labeled rows as covered) proposes, and nothing is predicted.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    y : ndarray of shape (n_rows,), object
        Labels, ``None`` where missing.
    n : int
        Rows to pick (fewer if fewer can be).
    pending : array-like of int, default=()
        Unlabeled rows proposed before and not labeled yet: scored and
        predicted, never picked again.
    strategy : str, default="ralif"
        A name of :data:`skralif.evaluation.STRATEGIES`.
    seed : int, default=0
        Seeds training and the strategy.
    epochs : int, default=60
        Training epochs of the net.

    Returns
    -------
    proposal : Proposal
    """
    rows = np.flatnonzero([v is None for v in y])
    candidates = np.setdiff1d(rows, np.asarray(pending, dtype=np.int64))
    n = min(n, len(candidates))
    # the learner's own session: TypiClust while no model can rank (labels of fewer than
    # two classes), on the Pipeline's scaler fitted without labels; the strategy after
    # BALD samples the net's dropout: without it, it could not rank anything (issue 22)
    dropout = MC_DROPOUT if strategy == "bald" else 0.0
    learner = ActiveLearningClassifier(scaled_mlp(max_epochs=epochs, dropout=dropout),
                                       query_strategy=make_strategy(strategy),
                                       initial_strategy=TypiClustQuery(random_state=seed),
                                       missing_label=None, random_state=seed).fit(X, y)
    picks = learner.query(X[candidates], n) if n else np.empty(0, dtype=np.int64)
    # every row labeled: nothing to score or predict, the model is still the round's
    scores = learner.query_scores(X[rows]) if len(rows) else np.empty(0)
    if not hasattr(learner, "estimator_"):
        return Proposal(candidates[picks], rows, scores, None, None, COLD_STRATEGY, None)
    proba = (learner.predict_proba(X[rows]) if len(rows)
             else np.empty((0, len(learner.classes_))))
    return Proposal(candidates[picks], rows, scores, learner.classes_[proba.argmax(axis=1)],
                    proba.max(axis=1), strategy, learner)


def cross_validated_accuracy(X, y, *, seed=0, epochs=60, folds=5):
    """Accuracy of the round's net on the labeled rows, by stratified k-fold.

    Parameters
    ----------
    X : ndarray of shape (n_labeled, n_features)
    y : ndarray of shape (n_labeled,)
        Labels (none missing).
    seed : int, default=0
    epochs : int, default=60
    folds : int, default=5
        At most; fewer when the rarest class has fewer rows.

    Returns
    -------
    accuracy : float
        Mean accuracy over the folds; NaN when a class has a single row (or
        only one class is labeled), as no stratified split then exists.
    folds : int
        Folds used (0 when none).
    """
    _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    k = min(folds, int(counts.min())) if len(counts) >= 2 else 0
    if k < 2:
        return float("nan"), 0
    learner = ActiveLearningClassifier(scaled_mlp(max_epochs=epochs), missing_label=None,
                                       random_state=seed)
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    return float(cross_val_score(learner, X, y, cv=cv).mean()), k


def check_options(*, positive=(), non_negative=(), strategy=None):
    """Raise a ValueError naming the first bad option.

    Parameters
    ----------
    positive : sequence of (str, object)
        ``(name, value)`` pairs that must be integers >= 1.
    non_negative : sequence of (str, object)
        Pairs that must be integers from 0 to :data:`MAX_SEED` (seeds).
    strategy : (str, object), default=None
        A pair whose value must be a name of :data:`skralif.evaluation.STRATEGIES`.
    """
    for name, value in positive:
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    for name, value in non_negative:  # seeds: numpy's RandomState takes 32 bits
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or \
                not 0 <= value <= MAX_SEED:
            raise ValueError(f"{name} must be an integer from 0 to {MAX_SEED}; got {value!r}.")
    if strategy is not None and strategy[1] not in STRATEGIES:
        raise ValueError(f"{strategy[0]} {strategy[1]!r} is not a strategy; choose from "
                         f"{', '.join(sorted(STRATEGIES))}.")
