"""The learner from zero labels: initial strategies in interactive and simulated mode."""

import pickle

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif import ActiveLearningClassifier
from skralif.nets import default_net
from skralif.strategies import ProbCoverQuery, RandomQuery, TypiClustQuery

FAST = dict(max_epochs=10, lr=1e-2)


@pytest.fixture
def data(digits):
    return digits[0][:500], digits[1][:500]


def cold(**kwargs):
    kwargs.setdefault("initial_strategy", TypiClustQuery(random_state=0))
    return ActiveLearningClassifier(default_net(**FAST), random_state=0, **kwargs)


def test_zero_labels_need_an_initial_strategy(data):
    X, y = data
    with pytest.raises(ValueError, match="no labeled row.*pass `initial_strategy`"):
        ActiveLearningClassifier(default_net(**FAST)).fit(X, np.full(len(y), -1))


def test_a_session_from_zero_labels(data):
    X, y = data
    clf = cold().fit(X, np.full(len(y), -1))
    assert clf.history_ == [] and clf.n_iter_ == 0 and len(clf.X_pool_) == len(X)
    with pytest.raises(NotFittedError, match="no model yet.*teach"):
        clf.predict(X[:3])
    idx = clf.query(n=12)
    np.testing.assert_array_equal(idx, TypiClustQuery(random_state=0).query(None, X, 12))
    clf.teach(X[idx], y[idx])
    np.testing.assert_array_equal(clf.classes_, np.unique(y[idx]))
    assert clf.n_iter_ == 1 and clf.history_[0]["n_labeled"] == 12
    assert (clf.labeled_iter_[idx] == 1).all() and len(clf.X_pool_) == len(X) - 12
    assert clf.predict(X[:3]).dtype == y.dtype
    # from now on the query strategy (RALIF) queries
    nxt = clf.query(n=5)
    assert len(set(nxt.tolist())) == 5


def test_labels_of_one_class_stay_with_the_initial_strategy(data):
    """A model of one class cannot rank a pool: the initial strategy proposes (the labeled
    rows counted as covered) until a second class is taught (issue 21: the labeling
    workflow had its own cold start for this)."""
    X, y = data
    zeros = np.flatnonzero(y == 0)
    y_known = np.full(len(y), -1)
    y_known[zeros[:3]] = 0
    clf = cold().fit(X, y_known)
    assert not hasattr(clf, "estimator_") and clf.history_ == []
    pool = np.flatnonzero(y_known == -1)
    expected = TypiClustQuery(random_state=0).query(None, X[pool], 6, X_labeled=X[zeros[:3]])
    np.testing.assert_array_equal(clf.query(n=6), expected)
    clf.teach(X[zeros[3:5]], y[zeros[3:5]])  # still one class: still no model
    assert not hasattr(clf, "estimator_") and clf.n_iter_ == 1 and clf.history_ == []
    ones = np.flatnonzero(y == 1)[:2]
    clf.teach(X[ones], y[ones])
    assert clf.history_[0]["n_labeled"] == 7 and list(clf.classes_) == [0, 1]
    assert set(clf.predict(X[:10])) <= {0, 1}


def test_string_labels_from_zero(data):
    X, y = data
    names = np.array([f"digit {k}" for k in y], dtype=object)
    clf = cold(missing_label=None).fit(X, np.full(len(y), None, dtype=object))
    idx = clf.query(n=15)
    clf.teach(X[idx], names[idx])
    assert set(clf.predict(X[:20])) <= set(names[idx])


def test_pipeline_preprocessing_is_fitted_without_labels_for_the_first_batch(data):
    X, y = data
    X = X * 16 + 3  # unscaled
    clf = ActiveLearningClassifier(make_pipeline(StandardScaler(), default_net(**FAST)),
                                   initial_strategy=ProbCoverQuery(random_state=0),
                                   random_state=0).fit(X, np.full(len(y), -1))
    expected = ProbCoverQuery(random_state=0).query(None, StandardScaler().fit_transform(X), 8)
    np.testing.assert_array_equal(clf.query(n=8), expected)


def test_pickle_and_rollback_in_a_cold_session(data):
    X, y = data
    clf = cold().fit(X, np.full(len(y), -1))
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.query(n=4), clf.query(n=4))
    with pytest.raises(ValueError, match="teach must hold real labels"):
        clf.teach(X[:2], [-1, 3])
    assert len(clf.y_labeled_) == 0 and not hasattr(clf, "estimator_")


@pytest.mark.parametrize("initial", [TypiClustQuery(random_state=0),
                                     ProbCoverQuery(random_state=0), RandomQuery(random_state=0)])
def test_simulated_initial_set_comes_from_the_initial_strategy(initial, data):
    X, y = data
    y = y.copy()
    y[::7] = -1  # unlabelable rows are never chosen
    clf = ActiveLearningClassifier(default_net(**FAST), initial_size=20, query_size=10,
                                   n_queries=1, initial_strategy=initial,
                                   random_state=0).fit(X, y)
    labelable = np.flatnonzero(y != -1)
    expected = labelable[initial.query(None, X[labelable], 20)]
    np.testing.assert_array_equal(np.sort(np.flatnonzero(clf.labeled_iter_ == 0)),
                                  np.sort(expected))


def test_default_initial_draw_is_unchanged_and_stratified(data):
    X, y = data
    clf = ActiveLearningClassifier(default_net(**FAST), initial_size=20, n_queries=1,
                                   random_state=0).fit(X, y)
    first = y[clf.labeled_iter_ == 0]
    assert np.bincount(first).min() == 2  # stratified: it peeks at the oracle


def test_initial_strategy_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="initial_strategy"):
        ActiveLearningClassifier(initial_strategy="typiclust").fit(X, y)


def test_query_scores_are_what_query_ranks_by(data):
    from skralif.strategies import UncertaintyQuery

    X, y = data
    clf = cold(query_strategy=UncertaintyQuery()).fit(X, np.full(len(y), -1))
    np.testing.assert_array_equal(  # no label yet: the initial strategy's scores
        clf.query_scores(), TypiClustQuery(random_state=0).score_samples(None, X))
    idx = clf.query(n=20)
    clf.teach(X[idx], y[idx])
    scores = clf.query_scores()
    assert scores.shape == (len(clf.X_pool_),)
    np.testing.assert_array_equal(np.sort(clf.query(n=5)), np.sort(np.argsort(-scores)[:5]))
    np.testing.assert_allclose(clf.query_scores(X[:7]), UncertaintyQuery().score_samples(
        clf.estimator_, X[:7]))


def test_one_labeled_class_gets_a_clear_error_at_query_and_teach_fixes_it(data):
    X, y = data
    one = np.where(y == 3, 3, -1)  # only digit 3 is labeled
    clf = ActiveLearningClassifier(default_net(**FAST), random_state=0).fit(X, one)
    for call in (lambda: clf.query(n=5), clf.query_scores):
        with pytest.raises(ValueError, match=r"single class \(3\)"):
            call()
    assert len(ActiveLearningClassifier(default_net(**FAST), RandomQuery(random_state=0),
                                        random_state=0).fit(X, one).query(n=5)) == 5
    other = np.flatnonzero(y == 5)[:3]
    clf.teach(X[other], y[other])
    assert len(clf.query(n=5)) == 5
