"""Simulated AL runs: every (strategy, seed) from the same start, scored after every round."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from tqdm.auto import tqdm

from .._learner import ActiveLearningClassifier
from ..exceptions import InputTypeError
from ..strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    ProbCoverQuery,
    RALIFQuery,
    RandomQuery,
    TypiClustQuery,
    UncertaintyQuery,
)
from ._results import ALResults

__all__ = ["STRATEGIES", "make_strategy", "run_experiment"]

#: strategy names understood by :func:`make_strategy` and the command line
STRATEGIES = {
    "ralif": lambda: RALIFQuery(),
    "ralif-cg": lambda: RALIFQuery(method="cg"),
    "ralif-lissa": lambda: RALIFQuery(method="lissa"),
    "ralif-reference": lambda: RALIFQuery(score="reference", tau=4.0),  # the released code
    "ralif-nodiversity": lambda: RALIFQuery(diversity=False),
    "ralif-lowmem": lambda: RALIFQuery(keep_features=False),
    "random": lambda: RandomQuery(),
    "entropy": lambda: UncertaintyQuery(measure="entropy"),
    "margin": lambda: UncertaintyQuery(measure="margin"),
    "least_confident": lambda: UncertaintyQuery(measure="least_confident"),
    "coreset": lambda: CoresetQuery(),
    "badge": lambda: BADGEQuery(),
    "bald": lambda: BALDQuery(),
    "typiclust": lambda: TypiClustQuery(),
    "probcover": lambda: ProbCoverQuery(),
}


def make_strategy(name):
    """Return a fresh strategy for a name of :data:`STRATEGIES`.

    Parameters
    ----------
    name : str
        One of ``STRATEGIES``.

    Returns
    -------
    strategy : QueryStrategy
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {sorted(STRATEGIES)}.")
    return STRATEGIES[name]()


def run_experiment(estimator, strategies, X_train, y_train, X_test, y_test, *,
                   initial_size=30, query_size=20, n_rounds=8, seeds=(0, 1, 2),
                   initial_strategy=None, n_jobs=None, verbose=0):
    """Simulated AL for every (strategy, seed), scored on a test set after every round.

    Runs are independent and dispatched with :class:`joblib.Parallel`, so a
    Dask or Ray joblib backend (``joblib.parallel_backend("dask")``) spreads a
    large study over a cluster unchanged.

    Parameters
    ----------
    estimator : estimator
        Passed to :class:`~skralif.ActiveLearningClassifier` (None: the default net).
    strategies : dict of str to QueryStrategy, or list of str
        Strategies by display name, or names of :data:`STRATEGIES`.
    X_train, y_train : array-like
        Pool and oracle labels.
    X_test, y_test : array-like
        Held-out rows for the accuracy curve.
    initial_size : int, default=30
        Labeled rows before the first query (same rows for every strategy of a seed).
    query_size : int, default=20
        Labels per round.
    n_rounds : int, default=8
        Query rounds.
    seeds : sequence of int, default=(0, 1, 2)
        One run per seed and strategy.
    initial_strategy : QueryStrategy or None, default=None
        Chooses the initial labeled rows (see
        :class:`~skralif.ActiveLearningClassifier`); None is the stratified
        draw. Either way every strategy of a seed starts from the same rows.
    n_jobs : int, default=None
        Parallel runs (joblib semantics).
    verbose : int, default=0
        Show a tqdm progress bar over the runs when > 0.

    Returns
    -------
    results : ALResults

    Notes
    -----
    **Reproducibility.** Each run seeds its own draws, so the default
    process-based joblib backend (loky), ``n_jobs=1`` and a Dask cluster with
    process workers give identical curves for identical seeds. The threading
    backend does not: torch's CPU kernels can sum in a different order while
    another thread computes, and the last-digit differences grow over rounds
    of training. A :class:`UserWarning` says so when that backend is active.
    """
    strategies = _check_strategies(strategies)
    seeds = _check_seeds(seeds)
    for name, value, low in (("initial_size", initial_size, 1), ("query_size", query_size, 1),
                             ("n_rounds", n_rounds, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}.")
    budget = initial_size + n_rounds * query_size
    if budget > len(y_train):  # checked before any training, not found after every run
        raise ValueError(f"`initial_size` + `n_rounds` x `query_size` ({budget}) exceeds the "
                         f"{len(y_train)} training rows (`X_train`).")
    _warn_if_threads(n_jobs)
    tasks = [(name, seed) for name in strategies for seed in seeds]
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_run_one)(estimator, strategies[name], seed, X_train, y_train, X_test, y_test,
                          initial_size, query_size, n_rounds, initial_strategy)
        for name, seed in tasks
    )
    curves = list(tqdm(runs, total=len(tasks), disable=not verbose, desc="AL runs"))
    n_labeled = curves[0][0]
    if any(len(c[0]) != len(n_labeled) for c in curves):
        raise ValueError("The pool ran out before the last round; lower `n_rounds`.")
    accuracy = np.array([c[1] for c in curves]).reshape(len(strategies), len(seeds), -1)
    settings = dict(initial_size=initial_size, query_size=query_size, n_rounds=n_rounds)
    if initial_strategy is not None:
        settings["initial_strategy"] = repr(initial_strategy)
    return ALResults(list(strategies), list(seeds), np.asarray(n_labeled), accuracy, settings)


def _check_strategies(strategies):
    """A dict of display name to strategy, from a dict or a list of names."""
    if isinstance(strategies, str):
        raise InputTypeError(
            f"`strategies` must be a list of names or a dict of name to strategy; got the "
            f"string {strategies!r}. Did you mean [{strategies!r}]?")
    if not isinstance(strategies, dict):
        strategies = {name: make_strategy(name) for name in strategies}
    if not strategies:
        raise ValueError(f"`strategies` must name at least one strategy; got none. Choose from "
                         f"{sorted(STRATEGIES)}.")
    return strategies


def _check_seeds(seeds):
    if isinstance(seeds, numbers.Integral) or isinstance(seeds, str):
        raise InputTypeError(
            f"`seeds` must be a sequence of integers, e.g. range(5); got {seeds!r}.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("`seeds` must hold at least one seed; got an empty sequence.")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
    if bad or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct integers; got {seeds!r}.")
    return [int(s) for s in seeds]


def _warn_if_threads(n_jobs):
    from joblib.parallel import ThreadingBackend, get_active_backend

    backend, active_jobs = get_active_backend()
    jobs = active_jobs if n_jobs is None else n_jobs
    if isinstance(backend, ThreadingBackend) and jobs not in (1, None):
        warnings.warn(
            "run_experiment under joblib's threading backend is not reproducible: torch's "
            "CPU kernels can sum in a different order while other threads compute, and "
            "the differences grow over rounds of training. Use the default (loky) backend "
            "or a Dask cluster with process workers for identical curves per seed.",
            UserWarning, stacklevel=3)


def _run_one(estimator, strategy, seed, X_train, y_train, X_test, y_test, initial_size,
             query_size, n_rounds, initial_strategy=None):
    learner = ActiveLearningClassifier(estimator, clone(strategy), initial_size=initial_size,
                                       query_size=query_size, n_queries=n_rounds,
                                       initial_strategy=initial_strategy, random_state=seed)
    scores, n_labeled = [], []
    for fitted in learner.fit_iter(X_train, y_train):
        scores.append(fitted.score(X_test, y_test))
        n_labeled.append(fitted.history_[-1]["n_labeled"])
    return n_labeled, scores
