"""ActiveLearningClassifier: both modes, the sklearn ecosystem, and bad input."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.nets import default_net
from skralif.strategies import RandomQuery, UncertaintyQuery

FAST = dict(max_epochs=30)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    return X[order], y[order]


def interactive(iris, n_labeled=30, **kw):
    X, y = iris
    y_missing = np.full(len(y), -1)
    y_missing[:n_labeled] = y[:n_labeled]
    params = dict(random_state=0)
    params.update(kw)
    return ActiveLearningClassifier(default_net(**FAST), **params).fit(X, y_missing)


def state(clf):
    """Everything a failed call must leave untouched."""
    return (clf.X_labeled_.copy(), clf.y_labeled_.copy(), clf.X_pool_.copy(),
            clf.labeled_iter_.copy(), clf.n_iter_, len(clf.history_), clf.classes_.copy(),
            clf.estimator_)


def assert_same_state(before, clf):
    after = state(clf)
    for a, b in zip(before[:4], after[:4], strict=True):
        np.testing.assert_array_equal(a, b)
    assert before[4:6] == after[4:6] and before[7] is after[7]
    np.testing.assert_array_equal(before[6], after[6])


def test_modal_style_loop(iris):
    X, y = iris
    clf = interactive(iris)
    assert clf.X_pool_.shape == (120, 4) and clf.n_iter_ == 0
    for round_ in (1, 2):
        idx = clf.query(clf.X_pool_, n=10)
        assert len(set(idx)) == 10
        rows = clf.X_pool_[idx]
        labels = y[30:][np.flatnonzero(clf.labeled_iter_[30:] == -1)[idx]]
        clf.teach(rows, labels)
        assert clf.n_iter_ == round_ and (clf.labeled_iter_ == round_).sum() == 10
    assert clf.X_pool_.shape == (100, 4) and len(clf.y_labeled_) == 50
    assert [r["n_labeled"] for r in clf.history_] == [30, 40, 50]
    assert clf.score(X, y) > 0.8


def test_query_defaults_to_stored_pool_and_query_size(iris):
    clf = interactive(iris, query_size=7)
    idx = clf.query()
    assert idx.shape == (7,) and idx.max() < len(clf.X_pool_)
    np.testing.assert_array_equal(clf.query(clf.X_pool_), idx)


def test_teach_rows_from_elsewhere_leave_the_pool_alone(iris):
    X, y = iris
    clf = interactive(iris)
    clf.teach(X[:3] + 100.0, y[:3])
    assert len(clf.X_pool_) == 120 and len(clf.y_labeled_) == 33


def test_simulated_mode_reveals_labels_round_by_round(iris):
    X, y = iris
    clf = ActiveLearningClassifier(default_net(**FAST), RandomQuery(), initial_size=12,
                                   query_size=8, n_queries=3, random_state=0).fit(X, y)
    assert [r["n_labeled"] for r in clf.history_] == [12, 20, 28, 36]
    assert clf.n_iter_ == 3 and clf.termination_condition_ == "max_queries"
    assert np.bincount(clf.labeled_iter_ + 1).tolist() == [150 - 36, 12, 8, 8, 8]
    assert set(np.unique(y[clf.labeled_iter_ == 0])) == {0, 1, 2}  # stratified draw
    assert np.isnan(clf.history_[-1]["query_seconds"])
    assert all(0 <= r["pool_accuracy"] <= 1 for r in clf.history_)
    # the labeled set is the revealed rows with their oracle labels, initial ones first
    order = np.argsort(clf.labeled_iter_, kind="stable")[-36:]
    np.testing.assert_array_equal(np.sort(clf.y_labeled_[:12]), np.sort(y[clf.labeled_iter_ == 0]))
    np.testing.assert_array_equal(np.sort(clf.y_labeled_), np.sort(y[order]))
    assert len(clf.X_pool_) == 150 - 36


def test_simulation_stops_when_the_pool_is_exhausted(iris):
    X, y = iris
    clf = ActiveLearningClassifier(default_net(**FAST), RandomQuery(), initial_size=20,
                                   query_size=10, n_queries=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "mean of empty slice"
        clf.fit(X[:40], y[:40])
    assert clf.termination_condition_ == "pool_exhausted"
    assert [r["n_labeled"] for r in clf.history_] == [20, 30, 40]
    assert np.isnan(clf.history_[-1]["pool_accuracy"])  # nothing left to measure on


def test_missing_rows_are_ignored_in_simulation(iris):
    X, y = iris
    y_missing = y.copy()
    y_missing[::3] = -1
    clf = ActiveLearningClassifier(default_net(**FAST), RandomQuery(), initial_size=10,
                                   query_size=10, n_queries=2, random_state=0)
    clf.fit(X, y_missing)
    assert (clf.labeled_iter_[::3] == -1).all() and len(clf.y_labeled_) == 30


def test_same_random_state_same_experiment(iris):
    X, y = iris
    make = lambda: ActiveLearningClassifier(default_net(**FAST), initial_size=10,  # noqa: E731
                                            query_size=5, n_queries=2, random_state=3)
    a, b = make().fit(X, y), make().fit(X, y)
    np.testing.assert_array_equal(a.labeled_iter_, b.labeled_iter_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_string_labels_and_classes_first_seen_in_teach(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    labels = np.where(np.arange(150) < 40, names, "?")
    labels[y == 2] = "?"
    clf = ActiveLearningClassifier(default_net(**FAST), missing_label="?", random_state=0)
    clf.fit(X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor"]
    rows = np.flatnonzero(y == 2)[:10]
    clf.teach(X[rows], names[rows])
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.predict_proba(X).shape == (150, 3)
    assert set(clf.predict(X)) <= set(names) and clf.score(X, names) > 0.6


@pytest.mark.parametrize("marker", [None, np.nan])
def test_other_missing_markers(iris, marker):
    X, y = iris
    labels = y.astype(object) if marker is None else y.astype(float)
    labels[40:] = marker
    clf = ActiveLearningClassifier(default_net(**FAST), missing_label=marker, random_state=0)
    assert len(clf.fit(X, labels).X_pool_) == 110


def test_grid_search_over_al_settings(iris):
    X, y = iris
    learner = ActiveLearningClassifier(default_net(max_epochs=15), RALIFQuery(), initial_size=12,
                                       query_size=5, n_queries=2, random_state=0)
    grid = GridSearchCV(learner, {"query_strategy__tau": [2, 4], "query_size": [5, 10]}, cv=3)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.n_iter_ == 2


def test_grid_search_in_parallel_matches_sequential(iris):
    X, y = iris
    learner = ActiveLearningClassifier(default_net(max_epochs=10), UncertaintyQuery(),
                                       initial_size=12, query_size=5, n_queries=1,
                                       random_state=0)
    params = {"query_size": [5, 10]}
    seq = GridSearchCV(learner, params, cv=2).fit(X, y).cv_results_["mean_test_score"]
    par = GridSearchCV(learner, params, cv=2, n_jobs=2).fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_allclose(seq, par)


def test_nested_params_and_clone():
    learner = ActiveLearningClassifier(default_net(), RALIFQuery(tau=2))
    learner.set_params(query_strategy__tau=6, estimator__max_epochs=3)
    assert learner.get_params()["query_strategy__tau"] == 6
    assert learner.get_params()["estimator__max_epochs"] == 3
    twin = clone(learner)
    assert twin.query_strategy.tau == 6 and twin.query_strategy is not learner.query_strategy


def test_pickle_mid_session(iris):
    X, y = iris
    clf = interactive(iris)
    clf.teach(clf.X_pool_[:5], y[30:35])
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.query(n=6), clf.query(n=6))
    np.testing.assert_array_equal(twin.predict(X), clf.predict(X))


def test_as_last_step_of_a_pipeline_and_wrapping_one(iris):
    X, y = iris
    outer = make_pipeline(StandardScaler(), ActiveLearningClassifier(
        default_net(**FAST), initial_size=15, query_size=5, n_queries=1, random_state=0))
    assert outer.fit(X * 100, y).score(X * 100, y) > 0.8
    inner = Pipeline([("scale", StandardScaler()), ("net", default_net(**FAST))])
    clf = ActiveLearningClassifier(inner, initial_size=15, query_size=5, n_queries=2,
                                   random_state=0).fit(X * 100, y)
    assert clf.score(X * 100, y) > 0.8 and len(clf.query(n=3)) == 3


def test_any_classifier_with_probability_strategies(iris):
    X, y = iris
    clf = ActiveLearningClassifier(LogisticRegression(), UncertaintyQuery(), initial_size=6,
                                   query_size=3, n_queries=2, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (150, 3)
    with pytest.raises(TypeError, match="needs a skorch net"):
        ActiveLearningClassifier(LogisticRegression(), n_queries=1).fit(X, y)


def test_warm_start_continues_training(iris):
    X, y = iris
    clf = interactive(iris, warm_start=True)
    net = clf.estimator_
    clf.teach(clf.X_pool_[:5], y[30:35])
    # training continued on a copy (so a failing refit could not touch ``net``)
    assert len(clf.estimator_.history_) == 2 * FAST["max_epochs"]
    assert len(net.history_) == FAST["max_epochs"]


def test_verbose_shows_a_progress_bar(iris, capsys):
    X, y = iris
    ActiveLearningClassifier(default_net(max_epochs=5), RandomQuery(), initial_size=10,
                             query_size=5, n_queries=2, verbose=1).fit(X, y)
    assert "AL rounds" in capsys.readouterr().err


def test_bad_input_names_the_argument_and_loses_nothing(iris):
    X, y = iris
    clf = interactive(iris)
    before = state(clf)
    bad = [
        (lambda: clf.teach(np.full((2, 4), np.nan), [0, 1]), ValueError, "`X` holds NaN"),
        (lambda: clf.teach(X[:2, :3], [0, 1]), ValueError, "3 features"),
        (lambda: clf.teach(X[:2], [0]), ValueError, "`y` has 1 labels for 2 rows"),
        (lambda: clf.teach(X[:2], [0, -1]), ValueError, "must hold real labels"),
        (lambda: clf.teach(X[:2], ["a", "b"]), TypeError, "same kind"),
        (lambda: clf.query(n=0), ValueError, r"`n` must be a positive integer .* got 0"),
        (lambda: clf.query(n=1000), ValueError, r"pool \(120 rows\); got 1,000"),
        (lambda: clf.query(np.full((3, 4), np.inf)), ValueError, "`X_pool` holds NaN or inf"),
        (lambda: clf.query(X[:5, :2]), ValueError, "2 features"),
    ]
    for call, error, message in bad:
        with pytest.raises(error, match=message):
            call()
        assert_same_state(before, clf)


def test_errors_before_fit_and_of_settings(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        ActiveLearningClassifier().query(X)
    with pytest.raises(ValueError, match="'query_size' parameter .* Got 0"):
        ActiveLearningClassifier(query_size=0).fit(X, y)
    too_many = r"`initial_size` must be at most the number of labelable rows \(150\); got 500"
    with pytest.raises(ValueError, match=too_many):
        ActiveLearningClassifier(initial_size=500, n_queries=1).fit(X, y)
    with pytest.raises(ValueError, match="no labeled row"):
        ActiveLearningClassifier().fit(X, np.full(150, -1))


@pytest.mark.parametrize("strategy", [RALIFQuery(), RandomQuery()])
def test_a_simulation_whose_oracle_knows_one_class_is_refused_by_name(iris, strategy):
    """Before, RALIF failed inside the query naming its head (a fix that does not help),
    and a label-free strategy trained a one-class net."""
    X, y = iris
    clf = ActiveLearningClassifier(default_net(max_epochs=2), strategy, initial_size=10,
                                   query_size=5, n_queries=1, random_state=0)
    one = np.where(y == 2, -1, 0)  # 100 rows of class 0, the others unlabeled
    with pytest.raises(ValueError, match=r"`y`, the oracle of simulated mode.* one class "
                                         r"\(0\).*at least two"):
        clf.fit(X, one)
    assert not hasattr(clf, "history_") and not hasattr(clf, "classes_")
    net = default_net(max_epochs=2, classes=[0, 1])  # the net knows both: allowed
    clf.set_params(estimator=net).fit(X, one)
    assert clf.classes_.tolist() == [0, 1]


def test_skorch_pitfalls_are_explained(iris):
    X, y = iris
    labels = np.full(150, -1)
    labels[:9] = y[:9]
    net = NeuralNetClassifier(torch.nn.Linear, module__in_features=4, module__out_features=3,
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=2)
    with pytest.raises(ValueError, match="train_split=None"):
        ActiveLearningClassifier(net).fit(X, labels)
    wide = clone(net).set_params(train_split=None, module__out_features=5)
    with pytest.raises(ValueError, match="outputs 5 columns but the labels hold 3 classes"):
        ActiveLearningClassifier(wide).fit(X, y)


def test_fit_iter_yields_after_every_round_and_ends_like_fit(iris):
    X, y = iris
    make = lambda: ActiveLearningClassifier(default_net(**FAST), RandomQuery(),  # noqa: E731
                                            initial_size=10, query_size=5, n_queries=2,
                                            random_state=0)
    seen = [(learner.n_iter_, len(learner.y_labeled_)) for learner in make().fit_iter(X, y)]
    assert seen == [(0, 10), (1, 15), (2, 20)]
    stepped = make()
    for _ in stepped.fit_iter(X, y):
        pass
    np.testing.assert_array_equal(stepped.predict_proba(X), make().fit(X, y).predict_proba(X))


def test_module_instances_are_explained(iris):
    X, y = iris
    net = NeuralNetClassifier(torch.nn.Linear(4, 3), criterion=torch.nn.CrossEntropyLoss,
                              train_split=None, max_epochs=2)
    with pytest.warns(UserWarning, match="module` is an instance"):
        ActiveLearningClassifier(net, UncertaintyQuery(), random_state=0).fit(X, y)


def test_a_bad_default_n_names_query_size(iris):
    """Issue 22: `set_params(query_size=0)` then `query()` blamed an `n` never passed."""
    clf = interactive(iris)
    before = state(clf)
    clf.set_params(query_size=0)
    with pytest.raises(ValueError, match="'query_size' parameter"):
        clf.query()
    clf.set_params(query_size=500)
    with pytest.raises(ValueError, match=r"fewer than `query_size`=500 \(the default `n`\)"):
        clf.query()
    assert_same_state(before, clf)


def test_score_names_y_not_y_true(iris):
    """Issue 22: score's errors came from accuracy_score and named `y_true`."""
    X, y = iris
    clf = interactive(iris)
    with pytest.raises(ValueError, match=r"`y` has 3 labels for 150 rows of `X`"):
        clf.score(X, y[:3])
    with pytest.raises(TypeError, match=r"`y` must hold labels of the learner's kind"):
        clf.score(X, np.array(["a"] * len(y)))
    assert 0 <= clf.score(X, y) <= 1
