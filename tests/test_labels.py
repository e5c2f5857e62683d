"""Labels as users hold them: strings with None or NaN, pandas columns, mixed kinds."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skralif import ActiveLearningClassifier
from skralif.nets import default_net
from skralif.strategies import RandomQuery

pd = pytest.importorskip("pandas")


@pytest.fixture
def data(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    keep = np.isin(y, [0, 1, 2])
    return X[keep], y[keep]


def learner(**kw):
    return ActiveLearningClassifier(default_net(max_epochs=5), RandomQuery(random_state=0),
                                    random_state=0, **kw)


@pytest.mark.parametrize("marker", [None, np.nan])
def test_string_labels_with_none_or_nan_are_missing_whatever_missing_label(data, marker):
    X, y = data
    names = np.array(["zero", "one", "two"], dtype=object)[y]
    names[20:] = marker
    clf = learner().fit(X, pd.Series(names))  # default missing_label=-1
    assert sorted(clf.classes_) == ["one", "two", "zero"]
    assert len(clf.y_labeled_) == 20 and len(clf.X_pool_) == len(X) - 20


def test_integer_column_with_nan_keeps_integer_classes(data):
    X, y = data
    column = pd.Series(y.astype(float))
    column[30:] = np.nan
    clf = learner().fit(X, column)
    assert clf.classes_.dtype.kind == "i" and list(clf.classes_) == [0, 1, 2]


def test_mixed_string_and_number_labels_are_refused(data):
    X, y = data
    mixed = y.astype(object)
    mixed[:5] = "zero"
    with pytest.raises(TypeError, match=r"`y` mixes strings \(\['zero'.*\) and numbers"):
        learner().fit(X, mixed)


def test_teaching_integral_floats_keeps_integer_classes(data):
    X, y = data
    y_known = np.where(np.arange(len(y)) < 30, y, -1)
    clf = learner().fit(X, y_known)
    clf.teach(clf.X_pool_[:4], y[30:34].astype(float))
    assert clf.classes_.dtype.kind == "i" and clf.y_labeled_.dtype.kind == "i"
    with pytest.raises(ValueError, match="`y` must hold integer labels like the learner's"):
        clf.teach(clf.X_pool_[:2], np.array([0.5, 1.0]))


def test_teaching_the_same_pool_row_twice_is_refused(data):
    X, y = data
    y_known = np.where(np.arange(len(y)) < 30, y, -1)
    clf = learner().fit(X, y_known)
    rows = clf.X_pool_[:3].copy()
    clf.teach(rows, y[30:33])
    n_labeled = len(clf.y_labeled_)
    with pytest.raises(ValueError, match=r"Rows \[0, 1, 2\] of `X` are already labeled"):
        clf.teach(rows, y[30:33])
    assert len(clf.y_labeled_) == n_labeled


def test_tuning_tau_with_the_default_strategy(data):
    X, y = data
    clf = ActiveLearningClassifier(default_net(max_epochs=3), initial_size=10, query_size=5,
                                   n_queries=1, random_state=0)
    search = GridSearchCV(clf, {"query_strategy__tau": [2.0, 4.0],
                                "estimator__max_epochs": [2]}, cv=2).fit(X, y)
    assert search.best_estimator_.query_strategy_.tau in (2.0, 4.0)


@pytest.mark.parametrize("params, match", [
    (dict(n_queries=True), "'n_queries' parameter .* not a boolean"),
    (dict(query_size=True), "'query_size' parameter"),
    (dict(initial_size=0), "'initial_size' parameter"),
    (dict(warm_start="yes"), "'warm_start' parameter"),
])
def test_learner_parameters_are_validated(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        learner(**params).fit(X, y)
