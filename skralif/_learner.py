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
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from tqdm.auto import tqdm

from ._adapter import check_pool, is_dask
from ._initial import fitted_preprocessing, initial_draw, initial_query, initial_scores
from ._labels import check_fit_labels, check_teach_labels, encode_labels
from ._pool_rows import check_not_taught, match_rows
from ._training import (
    check_strategies_fit,
    net_classes,
    predict_proba_full,
    train,
    warn_module_instance,
)
from ._validation import as_float32, check_n, check_rows, validate_params
from .exceptions import InputTypeError, PoolChangedError
from .nets import default_net
from .strategies import RALIFQuery

__all__ = ["ActiveLearningClassifier"]


class ActiveLearningClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Pool-based active learning around a skorch classifier, as one sklearn estimator.

    **Interactive mode** (``n_queries=0``): :meth:`fit` trains on the rows
    whose label is not ``missing_label`` and keeps the others as the pool;
    :meth:`query` proposes rows to label and :meth:`teach` adds their labels and
    refits. **Simulated mode** (``n_queries > 0``): :meth:`fit` treats ``y`` as
    the oracle, draws ``initial_size`` labeled rows, runs ``n_queries`` rounds
    of ``query_size`` labels revealed from ``y`` and ends fitted on the final
    labeled set, so :class:`~sklearn.model_selection.GridSearchCV` can compare
    AL settings at a fixed label budget.

    Parameters
    ----------
    estimator : estimator, default=None
        A skorch ``NeuralNetClassifier``, or a ``Pipeline`` ending in one; any
        sklearn classifier with ``predict_proba`` works with strategies that
        need only probabilities. Cloned before every fit. None uses
        :func:`skralif.nets.default_net`. Nets whose module is
        :class:`skralif.nets.MLPModule` (the default net, tuned or not) get
        their input and output widths from the data; any other net is used
        as given, and its output width must equal the number of classes.
    query_strategy : QueryStrategy, default=None
        See :mod:`skralif.strategies`. None means :class:`~skralif.RALIFQuery`.
        Cloned at fit; a ``random_state`` left None is seeded from this
        learner's ``random_state``.
    initial_size : int or float, default=20
        Simulated mode: labeled rows chosen before the first query (a float
        in (0, 1) is a share of the labelable rows), by ``initial_strategy``.
    query_size : int, default=10
        Rows per query (the default ``n`` of :meth:`query`).
    n_queries : int, default=0
        Simulated rounds; 0 selects interactive mode.
    initial_strategy : QueryStrategy or None, default=None
        Chooses the first rows to label, before any model exists: a
        label-free strategy such as :class:`~skralif.strategies.TypiClustQuery`,
        :class:`~skralif.strategies.ProbCoverQuery` or
        :class:`~skralif.strategies.RandomQuery` (a plain random draw). It
        sees ``X`` through the preprocessing steps of a Pipeline
        ``estimator``, fitted on all of ``X`` (no label is used). Simulated
        mode: it picks the ``initial_size`` initial rows. Interactive mode:
        while the labels hold fewer than two classes (none at all
        included) no model is trained, :meth:`query` proposes with it
        (the labeled rows count as covered), and the :meth:`teach` that
        brings a second class trains the first model; from then on
        ``query_strategy`` queries.
        None keeps the stratified draw of simulated mode: stratified when
        every class has at least two rows and ``initial_size`` is at least
        the number of classes, which *peeks at the oracle's labels* (a real
        project cannot stratify what it has not labeled; use
        ``RandomQuery()`` for an honest random start).
    stopping_criterion : StoppingCriterion or None, default=None
        See :mod:`skralif.stopping`. Cloned at fit and updated after every
        fit; its value is recorded in ``history_``, its decision in
        ``should_stop_``, and a simulated :meth:`fit` ends when it says stop.
    missing_label : scalar, default=-1
        Marks unlabeled rows in ``y`` (``None`` and ``np.nan`` work too). In
        simulated mode such rows are ignored: the oracle cannot label them.
    warm_start : bool, default=False
        Refit after each round by continuing to train the current estimator
        (``partial_fit``) instead of training a clone from scratch. Retraining
        from scratch is the safer default for deep AL (DISTIL). A new class
        always triggers training from scratch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial draw, the strategy (when its own is None) and torch
        during every fit (through a forked generator: the global torch stream
        is left as it was).
    verbose : int, default=0
        Show a tqdm progress bar over simulated rounds when > 0.

    Attributes
    ----------
    estimator_ : estimator
        The estimator fitted on the current labeled set.
    query_strategy_ : QueryStrategy
        The strategy in use.
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the user's own values.
    n_features_in_ : int
        Number of features seen at fit.
    X_labeled_ : ndarray of shape (n_labeled, ...)
        The rows ``estimator_`` was fit on.
    y_labeled_ : ndarray of shape (n_labeled,)
        Their labels.
    X_pool_ : ndarray of shape (n_pool, ...)
        Interactive mode: the stored pool, minus rows taught since.
        Simulated mode: the labelable rows never revealed.
    labeled_iter_ : ndarray of shape (n_samples,)
        For each row given to :meth:`fit`: 0 if labeled at the start, ``k`` if
        labeled in round ``k`` (revealed, or taught from the stored pool),
        -1 if never labeled.
    initial_strategy_ : QueryStrategy or None
        The initial strategy in use.
    stopping_criterion_ : StoppingCriterion or None
        The criterion, updated after every fit.
    should_stop_ : bool
        Whether the stopping criterion said stop after the last fit (False
        without one).
    n_iter_ : int
        Query rounds completed (interactive: calls of :meth:`teach`).
    termination_condition_ : {"max_queries", "pool_exhausted", \
            "stopping_criterion", "interactive"}
        Why simulation stopped, or ``"interactive"``.
    history_ : list of dict
        One record per fit: ``round``, ``n_labeled``, ``fit_seconds``,
        ``query_seconds`` (the query that followed; NaN for the last round and
        in interactive mode), ``pool_accuracy`` (simulated mode: accuracy
        on the labelable rows not yet revealed; NaN otherwise) and
        ``stopping_value`` (the stopping criterion's value; NaN without one).
        An interactive session has no record until its first model (labels of
        two classes, with an ``initial_strategy``).

    Examples
    --------
    >>> import numpy as np
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
        with self._rollback_on_error():
            for _ in self._fit_rounds(X, y):
                pass
        return self

    def fit_iter(self, X, y):
        """Like :meth:`fit`, but yield ``self`` after every round's fit.

        Between two yields the learner is a fitted estimator on the labeled
        set of that round (``history_[-1]`` describes it), so experiments can
        measure it, e.g. on a test set, before the next query. Interactive
        mode yields once.

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
        with self._rollback_on_error():
            self._validate_params()
            yield from self._fit_rounds(X, y)

    def _validate_params(self):
        validate_params(self)

    @contextlib.contextmanager
    def _rollback_on_error(self):
        """Restore every attribute if the block raises (Ctrl-C included).

        Work happens on new objects and is committed by :meth:`_commit`, never by
        changing fitted objects in place, so a shallow copy of ``__dict__`` is the
        whole state. A :meth:`fit_iter` its caller stopped early (``GeneratorExit``)
        keeps the round it last saw.
        """
        saved = dict(self.__dict__)
        try:
            yield
        except GeneratorExit:
            raise
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def set_params(self, **params):
        """Set parameters; nested ones work on the defaults too.

        ``query_strategy__tau`` with ``query_strategy=None`` sets ``tau`` on
        :class:`~skralif.RALIFQuery` (the default), and ``estimator__max_epochs``
        with ``estimator=None`` sets it on :func:`skralif.nets.default_net`, so
        ``GridSearchCV`` can tune them without spelling out the defaults.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``component__parameter``.

        Returns
        -------
        self : ActiveLearningClassifier
        """
        for name, default in (("query_strategy", RALIFQuery), ("estimator", default_net)):
            nested = any(key.startswith(f"{name}__") for key in params)
            if nested and name not in params and getattr(self, name) is None:
                setattr(self, name, default())
        return super().set_params(**params)

    def _fit_rounds(self, X, y):
        X, y, missing = self._check_fit_data(X, y)
        if missing.all() and (self.n_queries > 0 or self.initial_strategy is None):
            raise ValueError(
                f"`y` has no labeled row: every label is `missing_label`="
                f"{self.missing_label!r}, None or NaN; label at least one row per class "
                "you expect, or pass `initial_strategy` (e.g. TypiClustQuery()) to start "
                "an interactive session from zero labels."
            )
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(2**31 - 1))
        self.query_strategy_ = self._make_strategy(
            RALIFQuery() if self.query_strategy is None else self.query_strategy, rng)
        self.initial_strategy_ = (None if self.initial_strategy is None
                                  else self._make_strategy(self.initial_strategy, rng))
        self.stopping_criterion_ = (None if self.stopping_criterion is None
                                    else clone(self.stopping_criterion))
        self.should_stop_ = False
        check_strategies_fit(self.estimator, query_strategy=self.query_strategy_,
                             stopping_criterion=self.stopping_criterion_)
        warn_module_instance(self.estimator)
        user = net_classes(self.estimator)
        self.classes_ = np.unique(y[~missing]) if user is None else user
        if self.n_queries == 0 and self._is_cold(y[~missing]):
            self._start_cold(X, y, missing)
            yield self
        elif self.n_queries == 0:
            self._fit_interactive(X, y, missing)
            yield self
        else:
            yield from self._fit_simulated(X, y, missing, rng)

    def _commit(self, *, estimator, X_labeled, y_labeled, from_pool, pool_index, X_pool,
                labeled_iter, classes, n_iter, record, stopping):
        """Commit a fit's state, all of it and only here, by assignment; then update
        the stopping criterion (a copy: the one committed before is left as it was)."""
        if estimator is None:
            self.__dict__.pop("estimator_", None)
        else:
            self.estimator_ = estimator
        self.X_labeled_, self.y_labeled_, self._from_pool = X_labeled, y_labeled, from_pool
        self._pool_index, self.X_pool_, self.labeled_iter_ = pool_index, X_pool, labeled_iter
        self.classes_, self.n_iter_ = classes, n_iter
        self.history_ = self.__dict__.get("history_", []) + ([record] if record else [])
        if stopping is not None and estimator is not None:
            self._update_stopping(copy.deepcopy(stopping))

    def _fit_interactive(self, X, y, missing):
        labeled = np.flatnonzero(~missing)
        estimator, seconds = _timed(self._train, X[labeled], y[labeled], self.classes_, 0, None)
        self.termination_condition_, self.history_ = "interactive", []
        self._commit(estimator=estimator, X_labeled=X[labeled], y_labeled=y[labeled],
                     from_pool=np.zeros(len(labeled), dtype=bool),
                     pool_index=np.flatnonzero(missing), X_pool=X[missing],
                     labeled_iter=np.where(missing, -1, 0), classes=self.classes_, n_iter=0,
                     record=_record(0, len(labeled), seconds), stopping=self.stopping_criterion_)

    def _is_cold(self, y_labeled):
        """Whether no model can rank a pool yet and the initial strategy proposes: labels
        of fewer than two classes, with an ``initial_strategy`` given."""
        return self.initial_strategy is not None and len(np.unique(y_labeled)) < 2

    def _start_cold(self, X, y, missing):
        """An interactive session without a model: labels of fewer than two classes.
        The initial strategy proposes until :meth:`teach` brings a second class."""
        labeled = np.flatnonzero(~missing)
        self._cold_steps = fitted_preprocessing(self.estimator, X)
        self.termination_condition_, self.history_ = "interactive", []
        self._commit(estimator=None, X_labeled=X[labeled], y_labeled=y[labeled],
                     from_pool=np.zeros(len(labeled), dtype=bool),
                     pool_index=np.flatnonzero(missing), X_pool=X[missing],
                     labeled_iter=np.where(missing, -1, 0), classes=self.classes_,
                     n_iter=0, record=None, stopping=None)

    def _fit_simulated(self, X, y, missing, rng):
        labelable = np.flatnonzero(~missing)
        labeled = initial_draw(X, y, labelable, self.initial_size, rng,
                               self.initial_strategy_, self.estimator)
        labeled_iter = np.full(len(X), -1)
        labeled_iter[labeled] = 0
        self.history_, self.termination_condition_ = [], "max_queries"
        bar = tqdm(total=self.n_queries + 1, disable=not self.verbose, desc="AL rounds")
        for round_ in range(self.n_queries + 1):
            self._fit_round(X, y, labelable, labeled, labeled_iter, round_)
            pool = self._pool_index
            bar.update(1)
            if round_ == self.n_queries or len(pool) == 0 or self.should_stop_:
                bar.close()
            yield self
            if round_ == self.n_queries:
                break  # the final fit: nothing more to reveal
            if len(pool) == 0:
                self.termination_condition_ = "pool_exhausted"
                break
            if self.should_stop_:
                self.termination_condition_ = "stopping_criterion"
                break
            picks, self.history_[-1]["query_seconds"] = _timed(
                self._query_rows, self.estimator_, X[pool], min(self.query_size, len(pool)),
                X[labeled], y[labeled], self.classes_)
            labeled = np.concatenate([labeled, pool[picks]])
            labeled_iter = labeled_iter.copy()
            labeled_iter[pool[picks]] = round_ + 1

    def _fit_round(self, X, y, labelable, labeled, labeled_iter, round_):
        """Fit on ``labeled``, record the round and commit it."""
        estimator, seconds = _timed(self._train, X[labeled], y[labeled], self.classes_,
                                    round_, self.__dict__.get("estimator_"))
        pool = labelable[labeled_iter[labelable] == -1]
        accuracy = self._accuracy(estimator, X[pool], y[pool])
        self._commit(estimator=estimator, X_labeled=X[labeled], y_labeled=y[labeled],
                     from_pool=np.ones(len(labeled), dtype=bool),  # revealed by the oracle
                     pool_index=pool, X_pool=X[pool], labeled_iter=labeled_iter,
                     classes=self.classes_, n_iter=round_,
                     record=_record(round_, len(labeled), seconds, accuracy),
                     stopping=self.stopping_criterion_)

    def _update_stopping(self, criterion):
        """Update ``criterion`` (this fit's) and record its value and decision."""
        value = criterion.update(self.estimator_, self.X_pool_, X_labeled=self.X_labeled_,
                                 y_labeled=encode_labels(self.y_labeled_, self.classes_),
                                 n=min(self.query_size, max(len(self.X_pool_), 1)))
        self.history_[-1]["stopping_value"] = value
        self.stopping_criterion_, self.should_stop_ = criterion, criterion.stop_

    # ------------------------------------------------------------ interactive
    def query(self, X_pool=None, n=None):
        """Indices of the rows to label next, best first.

        Parameters
        ----------
        X_pool : array-like or dask array of shape (n_pool, n_features), default=None
            Candidate rows; None uses the stored pool :attr:`X_pool_`. With a
            dask array, per-chunk scoring runs as Dask tasks on the active
            scheduler and gives the same indices as the same rows in memory.
        n : int, default=None
            How many; None uses ``query_size``.

        Returns
        -------
        indices : ndarray of shape (n,)
            Row indices into ``X_pool`` (or into :attr:`X_pool_`). Until a
            model exists (labels of two classes), ``initial_strategy``
            chooses them.
        """
        self._check_started()
        X = self.X_pool_ if X_pool is None else self._check_X(X_pool, "X_pool")
        n = self._default_n(len(X)) if n is None else check_n(n, len(X))
        stored = self.X_pool_
        if not hasattr(self, "estimator_"):  # no model yet: the initial strategy proposes
            picks = initial_query(self.initial_strategy_, X, n, self._cold_steps,
                                  self.X_labeled_)
        else:
            self._check_two_classes()
            picks = self._query_rows(self.estimator_, X, n, self.X_labeled_, self.y_labeled_,
                                     self.classes_)
        if X_pool is None:
            if self.X_pool_ is not stored:  # a teach committed while this query ran
                raise PoolChangedError(
                    "The stored pool changed while this query ran (a `teach` in another "
                    "thread committed); its indices would point into a pool that no longer "
                    "exists. Query again, or query and teach from one thread.")
            # teach matches equal rows of the stored pool to these first
            self._proposed = (id(self.X_pool_), picks.copy())
        return picks

    def query_scores(self, X_pool=None):
        """The strategy's score of every pool row (higher is queried first).

        The scores :meth:`query` ranks by, before any batch diversity step
        (RALIF, BADGE and core-set pick a diverse batch, not simply the top
        scores). Until a model exists, ``initial_strategy`` scores. Not
        named ``score_samples``:
        a row's score depends on the other pool rows (RALIF's target is the
        pool's loss), which scikit-learn's ``score_samples`` contract forbids.

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
        self._check_started()
        X = self.X_pool_ if X_pool is None else self._check_X(X_pool, "X_pool")
        if not hasattr(self, "estimator_"):
            return initial_scores(self.initial_strategy_, X, self._cold_steps, self.X_labeled_)
        self._check_two_classes()
        return self.query_strategy_.score_samples(
            self.estimator_, X, X_labeled=self.X_labeled_,
            y_labeled=encode_labels(self.y_labeled_, self.classes_))

    def teach(self, X, y):
        """Add labeled rows, refit, and return ``self``.

        Rows equal to rows of the stored pool are taken from it (and marked in
        :attr:`labeled_iter_`); among equal pool rows, those the last
        :meth:`query` of the stored pool proposed are taken first. Other rows
        are new samples, even when their values equal a labeled row's: only a
        row taken from the stored pool by an earlier ``teach``, with no equal
        row left in the pool, is refused as taught twice. If anything is wrong
        with the input, or the refit fails, the learner is left exactly as it
        was.

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
        X = self._check_X(X, "X")
        y = check_teach_labels(y, len(X), self.missing_label, self.y_labeled_,
                               net_classes(self.estimator))
        taken = match_rows(self.X_pool_, X, prefer=self._last_proposals())
        check_not_taught(X, taken, self.X_labeled_[self._from_pool])
        with self._rollback_on_error():
            first = len(self.y_labeled_) == 0  # a session started with no label
            classes = net_classes(self.estimator)
            if classes is None:
                classes = np.unique(y) if first else np.union1d(self.classes_, y)
            X_lab = np.concatenate([self.X_labeled_, X.astype(self.X_labeled_.dtype)])
            y_lab = y if first else np.concatenate([self.y_labeled_, y])
            estimator, seconds = (None, 0.0) if self._is_cold(y_lab) else _timed(
                self._train, X_lab, y_lab, classes, self.n_iter_ + 1,
                self.__dict__.get("estimator_"))
            keep = np.ones(len(self.X_pool_), dtype=bool)
            keep[taken[taken >= 0]] = False
            labeled_iter = self.labeled_iter_.copy()
            labeled_iter[self._pool_index[taken[taken >= 0]]] = self.n_iter_ + 1
            self._commit(estimator=estimator, X_labeled=X_lab, y_labeled=y_lab,
                         from_pool=np.concatenate([self._from_pool, taken >= 0]),
                         pool_index=self._pool_index[keep], X_pool=self.X_pool_[keep],
                         labeled_iter=labeled_iter, classes=classes, n_iter=self.n_iter_ + 1,
                         record=None if estimator is None else _record(
                             self.n_iter_ + 1, len(y_lab), seconds),
                         stopping=self.stopping_criterion_)
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
                "two classes), so nothing to predict with: label the rows `query()` proposes "
                "and pass them to `teach()` first.")
        return predict_proba_full(self.estimator_, self._check_X(X, "X"), len(self.classes_))

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
        y = column_or_1d(np.asarray(y), warn=True)
        if len(y) != len(X):
            raise ValueError(f"`y` has {len(y)} labels for {len(X)} rows of `X`.")
        strings = y.dtype.kind in "US" or (y.dtype.kind == "O" and len(y) and all(
            isinstance(v, str) for v in y))
        if bool(strings) != (self.classes_.dtype.kind in "US"):
            raise InputTypeError(
                f"`y` must hold labels of the learner's kind ({self.classes_.dtype}, e.g. "
                f"{self.classes_[0]!r}); got {y[:3].tolist()} (dtype {y.dtype}).")
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    # ------------------------------------------------------------ internals
    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimator_")

    def _check_started(self):
        """``fit`` was called (a session without a model counts: it can query and teach)."""
        if not hasattr(self, "X_pool_"):
            check_is_fitted(self)  # sklearn's own NotFittedError and message

    def _check_two_classes(self):
        """A model of one class cannot rank the pool (only label-free strategies can)."""
        if len(self.classes_) < 2 and not self.query_strategy_.label_free:
            raise ValueError(
                f"The labeled rows hold a single class ({self.classes_.tolist()[0]!r}), so "
                f"{type(self.query_strategy_).__name__} has no model to rank the pool with. "
                "Teach rows of another class first (for instance rows proposed by a "
                "label-free strategy: TypiClustQuery().query(None, X_pool, n)).")

    def _train(self, X, y, classes, round_, previous):
        """An estimator fitted on ``(X, y)``; never touches ``self``'s state."""
        # before a commit, ``self.classes_`` still holds the classes ``previous`` knows
        reuse = self.warm_start and previous is not None and len(classes) == len(self.classes_)
        return train(self.estimator, X, encode_labels(y, classes), len(classes),
                     self._seed + round_, previous if reuse else None)

    def _query_rows(self, estimator, X_pool, n, X_labeled, y_labeled, classes):
        return self.query_strategy_.query(estimator, X_pool, n, X_labeled=X_labeled,
                                          y_labeled=encode_labels(y_labeled, classes))

    def _accuracy(self, estimator, X, y):
        if len(X) == 0:
            return float("nan")
        proba = predict_proba_full(estimator, X, len(self.classes_))
        return float(np.mean(self.classes_[proba.argmax(axis=1)] == y))

    @staticmethod
    def _make_strategy(strategy, rng):
        """A clone of ``strategy`` whose ``random_state``, if None, is seeded from ``rng``."""
        strategy = clone(strategy)
        seed = int(rng.randint(2**31 - 1))
        if "random_state" in strategy.get_params() and strategy.random_state is None:
            strategy.set_params(random_state=seed)
        return strategy

    def _check_fit_data(self, X, y):
        check_rows(X, "X", allow_nd=True, dtype=[np.float32, np.float64])  # named errors
        X = validate_data(self, X, reset=True, allow_nd=True, dtype=[np.float32, np.float64],
                          ensure_all_finite=False)
        y, missing = check_fit_labels(y, len(X), self.missing_label)
        return as_float32(X, "X"), y, missing

    def _check_X(self, X, name):
        if is_dask(X):  # values are checked chunk by chunk, inside the Dask tasks
            X = check_pool(X, name)
            if X.shape[1:] != self.X_labeled_.shape[1:]:
                raise ValueError(f"`{name}` has {X.shape[1]} features, but "
                                 f"ActiveLearningClassifier is expecting {self.n_features_in_}.")
            return X.astype(np.float32)
        checked = check_rows(X, name, allow_nd=True, dtype=[np.float32, np.float64])
        if checked.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {checked.shape[1]} features, but "
                             f"ActiveLearningClassifier is expecting {self.n_features_in_} "
                             f"features as input (argument `{name}`).")
        validate_data(self, X, reset=False, skip_check_array=True)  # feature names
        if checked.shape[1:] != self.X_labeled_.shape[1:]:
            raise ValueError(f"`{name}` rows have shape {checked.shape[1:]}, but "
                             f"ActiveLearningClassifier was fitted on {self.X_labeled_.shape[1:]}.")
        return as_float32(checked, name)

    def _default_n(self, n_pool):
        """``query_size``, the default ``n``, when the pool has that many rows."""
        self._validate_params()  # set_params after fit may have set a bad one
        if n_pool < self.query_size:
            raise ValueError(
                f"The pool has {n_pool:,} rows, fewer than `query_size`={self.query_size} "
                f"(the default `n`); pass `n` between 1 and {n_pool:,}, or lower "
                "`query_size`.")
        return self.query_size

    def _last_proposals(self):
        """Pool positions the last :meth:`query` of the stored pool proposed (if the pool
        is still the one it saw): among equal pool rows, these are the ones taught."""
        pool_id, picks = getattr(self, "_proposed", (None, None))
        return picks if pool_id == id(self.X_pool_) else None

def _record(round_, n_labeled, fit_seconds, pool_accuracy=float("nan")):
    return {"round": round_, "n_labeled": int(n_labeled), "fit_seconds": fit_seconds,
            "query_seconds": float("nan"), "pool_accuracy": pool_accuracy,
            "stopping_value": float("nan")}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start
