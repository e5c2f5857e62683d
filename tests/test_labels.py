"""Labels as users hold them: strings with None or NaN, pandas columns, mixed kinds."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skralif import ActiveLearningClassifier
from skralif.nets import default_net
from skralif.strategies import QueryStrategy, RandomQuery

pd = pytest.importorskip("pandas")


@pytest.fixture
def data(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    keep = np.isin(y, [0, 1, 2])
    return X[keep], y[keep]


class PickPosition(QueryStrategy):
    """Proposes pool position ``position`` first: a stand-in for any strategy's pick."""

    label_free = True

    def __init__(self, position=0):
        self.position = position

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        return -np.abs(np.arange(len(X_pool)) - self.position).astype(float)


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
    with pytest.raises(ValueError, match=r"Rows \[0, 1, 2\] of `X` were taken from the stored"):
        clf.teach(rows, y[30:33])
    assert len(clf.y_labeled_) == n_labeled


def test_teaching_pool_rows_equal_to_labeled_rows_from_outside_is_accepted(data):
    """Issue 22: identical values do not make the same sample (UCI Letter's integer features
    repeat across samples). A user fits on the labeled rows alone and teaches rows of their
    own pool, some equal to labeled rows."""
    X, y = data
    X = X.copy()
    X[45:50] = X[:5]  # distinct samples, equal values (their labels may differ)
    X_lab, y_lab, X_out, y_out = X[:40], y[:40], X[40:], y[40:]
    equal = [5, 6, 7, 8, 9]
    clf = learner().fit(X_lab, y_lab)
    clf.teach(X_out[equal], y_out[equal])
    assert len(clf.y_labeled_) == 45
    clf.teach(X_lab[:3], y_lab[:3])  # equal values again, from outside the stored pool
    assert len(clf.y_labeled_) == 48


def test_duplicated_rows_inside_the_stored_pool_are_taught_by_position(data):
    X, y = data
    X = X.copy()
    X[50] = X[60] = X[70] = X[10]  # three pool copies of a labeled row, distinct samples
    y_known = np.where(np.arange(len(y)) < 30, y, -1)
    clf = learner().fit(X, y_known)
    pool_rows = np.flatnonzero(clf.labeled_iter_ == -1)
    second = int(np.flatnonzero(pool_rows == 60)[0])  # the second copy in the pool
    clf.set_params(query_strategy=PickPosition(second)).fit(X, y_known)
    idx = clf.query(n=1)
    assert idx.tolist() == [second]
    clf.teach(clf.X_pool_[idx], y[pool_rows[idx]])
    # the row the annotator labeled is the one marked, not the first equal row of the pool
    assert clf.labeled_iter_[60] == 1 and clf.labeled_iter_[50] == -1
    assert len(clf.X_pool_) == len(X) - 31
    copies = np.flatnonzero((clf.X_pool_ == X[10]).all(axis=1))
    assert len(copies) == 2
    clf.teach(clf.X_pool_[copies], y[[50, 70]])
    assert (clf.labeled_iter_[[50, 70]] == 2).all()
    n_labeled = len(clf.y_labeled_)
    # every copy the pool held is labeled now: a fourth is a stored pool row taught again
    with pytest.raises(ValueError, match=r"Rows \[0\] of `X` were taken from the stored pool"):
        clf.teach(X[[70]], y[[70]])
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


def test_date_columns_are_refused_not_read_as_nanoseconds(data):
    """Issue 22: a pandas datetime column became features of about 1e18."""
    X, y = data
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    frame["taken"] = pd.date_range("2020-01-01", periods=len(frame), freq="D")
    with pytest.raises(TypeError, match=r"`X` holds dates or durations \(columns \['taken'\]\)"):
        learner().fit(frame, y)
    clf = learner().fit(X[:, :3], np.where(np.arange(len(y)) < 30, y, -1))
    with pytest.raises(TypeError, match="`X_pool` holds dates"):
        clf.query(np.full((5, 3), np.datetime64("2020-01-01")), 2)


def test_a_string_missing_label_with_numeric_labels_is_refused(data):
    """Issue 22: missing_label="x" with -1-marked labels made -1 a class and emptied the
    pool."""
    X, y = data
    y_known = np.where(np.arange(len(y)) < 30, y, -1)
    with pytest.raises(ValueError, match=r"`missing_label`='x' is a string but `y` holds "
                                         r"numbers"):
        learner(missing_label="x").fit(X, y_known)
    for bad in ([1, 2], {"a": 1}, np.array([-1, -2])):
        with pytest.raises(TypeError, match="`missing_label` must be one value"):
            learner(missing_label=bad).fit(X, y_known)


def test_boolean_labels_are_not_taught_to_an_integer_learner(data):
    """Issue 22: True and False became classes 1 and 0 of an integer learner."""
    X, y = data
    clf = learner().fit(X, np.where(np.arange(len(y)) < 30, y, -1))
    n_labeled = len(clf.y_labeled_)
    with pytest.raises(TypeError, match="`y` must hold labels of the same kind as before"):
        clf.teach(clf.X_pool_[:2], np.array([True, False]))
    assert len(clf.y_labeled_) == n_labeled
