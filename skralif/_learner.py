"""ActiveLearningClassifier: a scikit-learn meta-estimator for pool-based active learning."""

from __future__ import annotations

import contextlib
import copy
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._audit import Audit
from ._initial import fitted_preprocessing, initial_draw, initial_query, initial_scores
from ._labels import check_score_labels, check_teach_labels, encode_labels
from ._pool_rows import (
    check_fit_input,
    check_like_fit,
    check_not_taught,
    last_proposals,
    match_rows,
    remember_proposals,
    revealed_rows,
    started_rows,
    taught_rows,
)
from ._random import seeded_clone
from ._training import (
    check_strategies_fit,
    net_classes,
    predict_proba_full,
    train,
    warn_module_instance,
)
from ._validation import DefaultComponentsMixin, check_n, default_n
from .nets import default_net
from .strategies import RALIFQuery

__all__ = ["ActiveLearningClassifier"]


class ActiveLearningClassifier(DefaultComponentsMixin, ClassifierMixin, MetaEstimatorMixin,
                               BaseEstimator):
    """Pool-based active learning around a skorch classifier, as one sklearn estimator.

    **Interactive mode** (``n_queries=0``): :meth:`fit` trains on the labeled
    rows and keeps the others as the pool; :meth:`query` proposes rows to label,
    :meth:`teach` adds their labels and refits. **Simulated mode**
    (``n_queries > 0``): ``y`` is the oracle; :meth:`fit` draws ``initial_size``
    rows, reveals ``query_size`` more in each of ``n_queries`` rounds and ends
    fitted on them, so ``GridSearchCV`` compares AL settings at a fixed budget.

    Parameters
    ----------
    estimator : estimator, default=None
        A skorch ``NeuralNetClassifier``, or a ``Pipeline`` ending in one (any
        classifier with ``predict_proba`` works with strategies that need only
        probabilities). Cloned before every fit. None uses
        :func:`skralif.nets.default_net`. A :class:`skralif.nets.MLPModule` net
        gets its widths from the data; any other must output one column per class.
    query_strategy : QueryStrategy, default=None
        See :mod:`skralif.strategies`; None is :class:`~skralif.RALIFQuery`.
        Cloned at fit; its ``random_state``, if None, is seeded from this one's.
    initial_size : int or float, default=20
        Simulated mode: labeled rows chosen before the first query (a float
        in (0, 1) is a share of the labelable rows), by ``initial_strategy``.
    query_size : int, default=10
        Rows per query (the default ``n`` of :meth:`query`).
    n_queries : int, default=0
        Simulated rounds; 0 selects interactive mode.
    initial_strategy : QueryStrategy or None, default=None
        A label-free strategy (e.g. :class:`~skralif.strategies.TypiClustQuery`)
        that picks rows before any model exists, on ``X`` through a Pipeline's
        preprocessing fitted without labels. Simulated mode: the initial rows.
        Interactive mode: while fewer than two classes are labeled no model is
        trained and it proposes; the :meth:`teach` that brings a second class
        trains the first model. None: a draw stratified by the oracle's labels
        where possible (which *peeks at them*; ``RandomQuery()`` does not).
    stopping_criterion : StoppingCriterion or None, default=None
        See :mod:`skralif.stopping`. Updated after every fit; a simulated
        :meth:`fit` ends when it says stop.
    missing_label : scalar, default=-1
        Marks unlabeled rows in ``y`` (``None`` and ``np.nan`` too); the
        oracle of simulated mode cannot label them.
    warm_start : bool, default=False
        Continue training the current estimator (``partial_fit``) after each
        round instead of a fresh clone (the safer default for deep AL). A new
        class always trains from scratch.
    audit_size : int, default=0
        Simulated mode: rows drawn uniformly at random from the unlabeled rows
        every round, whose labels only estimate the accuracy on the unlabeled
        rows (see ``history_``); the strategy may still pick them.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial draw, the strategy (when its own is None) and torch
        during every fit (on a forked generator: torch's global stream is kept).
    verbose : int, default=0
        Show a tqdm progress bar over simulated rounds when > 0.

    Attributes
    ----------
    estimator_ : estimator
        The estimator fitted on the labeled rows ``X_labeled_``, ``y_labeled_``.
    query_strategy_, initial_strategy_, stopping_criterion_ : object
        The fitted clones in use (None where not given); the criterion is updated
        after every fit and ``should_stop_`` (bool) holds its last decision.
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the user's own values.
    n_features_in_ : int
        Number of features seen at fit.
    X_labeled_, y_labeled_ : ndarray of shape (n_labeled, ...)
        The labeled rows and their labels.
    X_pool_ : ndarray of shape (n_pool, ...)
        The unlabeled rows: the stored pool minus rows taught since
        (interactive), the labelable rows never revealed (simulated).
    labeled_iter_ : ndarray of shape (n_samples,)
        For each row of :meth:`fit`: the round it was labeled in (0 at the
        start, revealed or taught from the stored pool), -1 if never.
    n_iter_ : int
        Query rounds completed (interactive: calls of :meth:`teach`).
    termination_condition_ : {"max_queries", "pool_exhausted", \
            "stopping_criterion", "interactive"}
        Why simulation stopped, or ``"interactive"``.
    history_ : list of dict
        One record per fitted model: ``round``, ``n_labeled``, ``fit_seconds``,
        ``query_seconds`` (of the query that followed, else NaN),
        ``pool_accuracy`` (simulated: accuracy on the labelable rows not yet
        revealed, else NaN) and ``stopping_value`` (NaN without a criterion).
        With ``audit_size``: ``accuracy_estimate`` of ``pool_accuracy`` from the
        audit draws, its 95% interval ``accuracy_low`` to ``accuracy_high``,
        ``n_audit`` draws used (``audit_correct`` predicted right) and
        ``audit_labels`` (labels spent on the audit alone).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skralif import ActiveLearningClassifier
    >>> from skralif.nets import default_net
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ActiveLearningClassifier(default_net(max_epochs=20), initial_size=15,
    ...                                query_size=5, n_queries=2, random_state=0)
    >>> clf.fit(X, y).y_labeled_.shape
    (25,)
    >>> [record["n_labeled"] for record in clf.history_]
    [15, 20, 25]
    """

    _default_components = {"query_strategy": RALIFQuery, "estimator": default_net}
    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "query_strategy": [HasMethods(["query", "score_samples"]), None],
        "initial_size": [Interval(Integral, 1, None, closed="left"),
                         Interval(Real, 0, 1, closed="neither")],
        "query_size": [Interval(Integral, 1, None, closed="left")],
        "n_queries": [Interval(Integral, 0, None, closed="left")],
        "initial_strategy": [HasMethods(["query", "score_samples"]), None],
        "stopping_criterion": [HasMethods(["update"]), None],
        "missing_label": "no_validation",
        "warm_start": ["boolean"],
        "audit_size": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        query_strategy=None,
        *,
        initial_size=20,
        query_size=10,
        n_queries=0,
        initial_strategy=None,
        stopping_criterion=None,
        missing_label=-1,
        warm_start=False,
        audit_size=0,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.initial_size = initial_size
        self.query_size = query_size
        self.n_queries = n_queries
        self.initial_strategy = initial_strategy
        self.stopping_criterion = stopping_criterion
        self.missing_label = missing_label
        self.warm_start = warm_start
        self.audit_size = audit_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit in interactive mode, or run a whole simulated AL experiment.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            All rows: labeled and pool.
        y : array-like of shape (n_samples,)
            Labels; ``missing_label`` marks unlabeled rows. In simulated mode
            ``y`` is the oracle.

        Returns
        -------
        self : ActiveLearningClassifier
        """
        with _rollback_on_error(self):
            for _ in self._fit_rounds(X, y):
                pass
        return self

    def fit_iter(self, X, y):
        """Like :meth:`fit`, but yield ``self`` fitted after every round (once in
        interactive mode), described by ``history_[-1]``, to measure before the next query.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            All rows: labeled and pool.
        y : array-like of shape (n_samples,)
            Labels; ``missing_label`` marks unlabeled rows.

        Yields
        ------
        self : ActiveLearningClassifier
        """
        with _rollback_on_error(self):
            self._validate_params()
            yield from self._fit_rounds(X, y)

    def _fit_rounds(self, X, y):
        X, y, missing = check_fit_input(self, X, y)
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(2**31 - 1))
        self.query_strategy_ = seeded_clone(
            RALIFQuery() if self.query_strategy is None else self.query_strategy, rng)
        self.initial_strategy_ = seeded_clone(self.initial_strategy, rng)
        self.stopping_criterion_ = (None if self.stopping_criterion is None
                                    else clone(self.stopping_criterion))
        self.should_stop_ = False
        check_strategies_fit(self.estimator, query_strategy=self.query_strategy_,
                             stopping_criterion=self.stopping_criterion_)
        warn_module_instance(self.estimator)
        user = net_classes(self.estimator)
        self.classes_ = np.unique(y[~missing]) if user is None else user
        if self.n_queries == 0:
            self._fit_interactive(X, y, missing)
            yield self
        else:
            yield from self._fit_simulated(X, y, missing, rng)

    def _commit(self, estimator, rows, classes, n_iter, record):
        """Commit a fit's state (``rows``: a :class:`~skralif._pool_rows.Rows`), all of it
        and only here, by assignment; then update a copy of the stopping criterion (the
        one committed before is left as it was) and record its value and decision."""
        if estimator is None:
            self.__dict__.pop("estimator_", None)
        else:
            self.estimator_ = estimator
        self._rows, self.classes_, self.n_iter_ = rows, classes, n_iter
        self.X_labeled_, self.y_labeled_, self.X_pool_ = rows.X_labeled, rows.y_labeled, rows.X_pool
        self.labeled_iter_ = rows.labeled_iter
        self.history_ = self.__dict__.get("history_", []) + ([record] if record else [])
        if self.stopping_criterion_ is not None and estimator is not None:
            criterion = copy.deepcopy(self.stopping_criterion_)
            self.history_[-1]["stopping_value"] = criterion.update(
                estimator, rows.X_pool, X_labeled=rows.X_labeled,
                y_labeled=encode_labels(rows.y_labeled, classes),
                n=min(self.query_size, max(len(rows.X_pool), 1)))
            self.stopping_criterion_, self.should_stop_ = criterion, criterion.stop_

    def _fit_interactive(self, X, y, missing):
        """The session's first fit; without a model while the labels are cold (the initial
        strategy proposes until :meth:`teach` brings a second class)."""
        rows = started_rows(X, y, missing)
        cold = self._is_cold(rows.y_labeled)
        if cold:
            self._cold_steps = fitted_preprocessing(self.estimator, X)
        estimator, record = (None, None) if cold else self._train(rows, self.classes_, 0)
        self.termination_condition_, self.history_ = "interactive", []
        self._commit(estimator, rows, self.classes_, 0, record)

    def _is_cold(self, y_labeled):
        """No model can rank a pool yet: labels of fewer than two classes, with an
        ``initial_strategy`` to propose."""
        return self.initial_strategy is not None and len(np.unique(y_labeled)) < 2

    def _fit_simulated(self, X, y, missing, rng):
        labelable = np.flatnonzero(~missing)
        labeled = initial_draw(X, y, labelable, self.initial_size, rng,
                               self.initial_strategy_, self.estimator)
        labeled_iter = np.full(len(X), -1)
        labeled_iter[labeled] = 0
        self.history_, self.termination_condition_ = [], "max_queries"
        audit = Audit(self.audit_size, rng.randint(2**31 - 1))  # drawn after the start
        bar = tqdm(total=self.n_queries + 1, disable=not self.verbose, desc="AL rounds")
        for round_ in range(self.n_queries + 1):
            self._fit_round(X, y, labelable, labeled, labeled_iter, round_, audit)
            pool = self._rows.pool_index
            last = round_ == self.n_queries or len(pool) == 0 or self.should_stop_
            bar.update(1)
            if last:
                bar.close()  # before the last yield: the caller's output follows the bar
            yield self
            if last:
                if round_ < self.n_queries:  # else the final fit: nothing more to reveal
                    self.termination_condition_ = ("pool_exhausted" if len(pool) == 0
                                                   else "stopping_criterion")
                break
            picks, self.history_[-1]["query_seconds"] = _timed(
                self._rank, X[pool], min(self.query_size, len(pool)))
            labeled = np.concatenate([labeled, pool[picks]])
            labeled_iter = labeled_iter.copy()
            labeled_iter[pool[picks]] = round_ + 1

    def _fit_round(self, X, y, labelable, labeled, labeled_iter, round_, audit):
        """Fit on ``labeled``, record the round (with the audit's estimate) and commit it."""
        rows = revealed_rows(X, y, labeled, labeled_iter, labelable)
        estimator, record = self._train(rows, self.classes_, round_,
                                        self.__dict__.get("estimator_"))
        pool = rows.pool_index
        proba = (predict_proba_full(estimator, rows.X_pool, len(self.classes_)) if len(pool)
                 else np.empty((0, len(self.classes_))))
        if len(pool):  # else NaN: the pool is exhausted
            record["pool_accuracy"] = float(np.mean(self.classes_[proba.argmax(axis=1)] == y[pool]))
        if self.audit_size:
            record.update(audit.round(pool, proba, y, self.classes_, labeled))
        self._commit(estimator, rows, self.classes_, round_, record)

    # ------------------------------------------------------------ interactive
    def query(self, X_pool=None, n=None):
        """Indices of the rows to label next, best first.

        Parameters
        ----------
        X_pool : array-like or dask array of shape (n_pool, n_features), default=None
            Candidate rows; None uses the stored pool :attr:`X_pool_`. A dask
            array is scored chunk by chunk as Dask tasks, with the same result.
        n : int, default=None
            How many; None uses ``query_size``.

        Returns
        -------
        indices : ndarray of shape (n,)
            Into ``X_pool`` (or :attr:`X_pool_`); chosen by ``initial_strategy``
            until a model exists.
        """
        X, stored = self._candidates(X_pool), self.X_pool_
        if n is None:
            self._validate_params()  # set_params after fit may have set a bad one
        n = default_n(self.query_size, len(X)) if n is None else check_n(n, len(X))
        picks = self._rank(X, n)
        if X_pool is None:  # teach matches equal rows of the stored pool to these first
            remember_proposals(self, stored, picks)
        return picks

    def query_scores(self, X_pool=None):
        """The strategy's score of every pool row (higher is queried first).

        What :meth:`query` ranks by before any batch diversity step (RALIF,
        BADGE and core-set pick a diverse batch). Not ``score_samples``: a
        row's score depends on the other pool rows, which that contract forbids.

        Parameters
        ----------
        X_pool : array-like or dask array of shape (n_pool, n_features), default=None
            Candidate rows; None uses the stored pool :attr:`X_pool_`.

        Returns
        -------
        scores : ndarray of shape (n_pool,)
            ``NaN`` marks rows the strategy excludes (RALIF: rows with no
            plausible class).
        """
        return self._rank(self._candidates(X_pool))

    def teach(self, X, y):
        """Add labeled rows, refit, and return ``self``.

        A row equal to a stored pool row is taken from the pool (those the last
        :meth:`query` proposed first) and marked in :attr:`labeled_iter_`;
        other rows are new samples, equal values or not. A row taken by an
        earlier teach with no equal row left in the pool is refused. On any
        error the learner is left exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)
            The newly labeled rows.
        y : array-like of shape (n_new,)
            Their labels (new classes are allowed).

        Returns
        -------
        self : ActiveLearningClassifier
        """
        self._check_started()
        X = check_like_fit(self, X, "X")
        user_classes = net_classes(self.estimator)
        y = check_teach_labels(y, len(X), self.missing_label, self.y_labeled_, user_classes)
        taken = match_rows(self.X_pool_, X, prefer=last_proposals(self))
        check_not_taught(X, taken, self.X_labeled_[self._rows.from_pool])
        with _rollback_on_error(self):
            round_ = self.n_iter_ + 1
            rows = taught_rows(self._rows, X, y, taken, round_)
            classes = user_classes
            if classes is None:  # a session started with no label takes the new ones' kind
                classes = np.union1d(self.classes_, y) if len(self.y_labeled_) else np.unique(y)
            estimator, record = (None, None) if self._is_cold(rows.y_labeled) else self._train(
                rows, classes, round_, self.__dict__.get("estimator_"))
            self._commit(estimator, rows, classes, round_, record)
        return self

    # ------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities of the fitted estimator, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        self._check_started()
        if not hasattr(self, "estimator_"):
            raise NotFittedError(
                "This ActiveLearningClassifier has no model yet (its labels hold fewer than "
                "two classes): label the rows `query()` proposes and `teach()` them first.")
        return predict_proba_full(self.estimator_, check_like_fit(self, X, "X"), len(self.classes_))

    def predict(self, X):
        """Most probable class of each row, in the user's own labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)``, ``y`` in the user's labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels, of the same kind (strings or numbers) as ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        y = check_score_labels(y, len(X), self.classes_)
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    # ------------------------------------------------------------ internals
    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimator_")

    def _check_started(self):
        """``fit`` was called (a session without a model counts: it can query and teach)."""
        if not hasattr(self, "X_pool_"):
            check_is_fitted(self)  # sklearn's own NotFittedError and message

    def _train(self, rows, classes, round_, previous=None):
        """An estimator fitted on ``rows``' labeled rows, and its ``history_`` record;
        never touches ``self``'s state."""
        # before a commit, ``self.classes_`` still holds the classes ``previous`` knows
        reuse = self.warm_start and previous is not None and len(classes) == len(self.classes_)
        estimator, seconds = _timed(
            train, self.estimator, rows.X_labeled, encode_labels(rows.y_labeled, classes),
            len(classes), self._seed + round_, previous if reuse else None)
        return estimator, _record(round_, len(rows.y_labeled), seconds)

    def _candidates(self, X_pool):
        """The rows ``query`` and ``query_scores`` rank: ``X_pool`` checked, or the stored pool."""
        self._check_started()
        return self.X_pool_ if X_pool is None else check_like_fit(self, X_pool, "X_pool")

    def _rank(self, X, n=None):
        """The ``n`` rows of ``X`` to label next, best first (``n`` None: every row's
        score), from the initial strategy while there is no model."""
        if not hasattr(self, "estimator_"):
            return (initial_scores(self.initial_strategy_, X, self._cold_steps, self.X_labeled_)
                    if n is None else initial_query(self.initial_strategy_, X, n,
                                                    self._cold_steps, self.X_labeled_))
        _check_can_rank(self.query_strategy_, self.classes_)
        labeled = dict(X_labeled=self.X_labeled_,
                       y_labeled=encode_labels(self.y_labeled_, self.classes_))
        return (self.query_strategy_.score_samples(self.estimator_, X, **labeled) if n is None
                else self.query_strategy_.query(self.estimator_, X, n, **labeled))


def _record(round_, n_labeled, fit_seconds):
    return {"round": round_, "n_labeled": int(n_labeled), "fit_seconds": fit_seconds,
            "query_seconds": float("nan"), "pool_accuracy": float("nan"),
            "stopping_value": float("nan")}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _check_can_rank(strategy, classes):
    """A model of one class cannot rank the pool (only label-free strategies can)."""
    if len(classes) < 2 and not strategy.label_free:
        raise ValueError(
            f"The labeled rows hold a single class ({classes.tolist()[0]!r}), so "
            f"{type(strategy).__name__} has no model to rank the pool with. Teach rows of "
            "another class first (for instance rows proposed by a label-free strategy: "
            "TypiClustQuery().query(None, X_pool, n)).")


@contextlib.contextmanager
def _rollback_on_error(learner):
    """Restore every attribute of ``learner`` if the block raises (Ctrl-C included).

    Work happens on new objects and is committed by ``_commit``, never by changing
    fitted objects in place, so a shallow copy of ``__dict__`` is the whole state. A
    ``fit_iter`` its caller stopped early (``GeneratorExit``) keeps the round it saw.
    """
    saved = dict(learner.__dict__)
    try:
        yield
    except GeneratorExit:
        raise
    except BaseException:
        learner.__dict__.clear()
        learner.__dict__.update(saved)
        raise
