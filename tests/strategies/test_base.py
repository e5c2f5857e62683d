"""Measures against hand-computed tables, selectors against hand-made cases."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from skralif import RALIFQuery
from skralif._validation import check_n
from skralif.strategies import (
    BADGEQuery,
    CoresetQuery,
    ProbCoverQuery,
    RandomQuery,
    TypiClustQuery,
    UncertaintyQuery,
    uncertainty,
)
from skralif.strategies._base import euclidean_to, kmeans_pp, top_n

TABLE = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0]])


def test_measures_match_hand_computed_values():
    np.testing.assert_allclose(
        uncertainty(TABLE, "entropy"),
        [np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.05)),
         -(0.4 * np.log(0.4) + 0.35 * np.log(0.35) + 0.25 * np.log(0.25)), 0.0],
    )
    np.testing.assert_allclose(uncertainty(TABLE, "margin"), [0.0, -0.85, -0.05, -1.0])
    np.testing.assert_allclose(uncertainty(TABLE, "least_confident"), [0.5, 0.1, 0.6, 0.0])
    with pytest.raises(ValueError, match="`measure` must be"):
        uncertainty(TABLE, "variance")


def test_top_n_breaks_ties_by_index_and_puts_nan_last():
    scores = np.array([1.0, np.nan, 3.0, 3.0, -np.inf, 0.5])
    np.testing.assert_array_equal(top_n(scores, 6), [2, 3, 0, 5, 4, 1])


def test_kmeans_pp_avoids_duplicates_and_labeled_points():
    # rows 0-2 sit on a labeled point; rows 3-4 are duplicates far away; row 5 is elsewhere
    feats = torch.tensor([[0.0], [0.0], [0.0], [10.0], [10.0], [5.0]])
    min_dist = torch.tensor([0.0, 0.0, 0.0, 10.0, 10.0, 5.0])
    picks = kmeans_pp(euclidean_to(feats), 6, 3, np.random.RandomState(0), 3, min_dist)
    # after row 3, row 5 is the only one with positive D^2 (row 4 duplicates row 3)
    assert list(picks[:2]) == [3, 5]
    # then every distance is zero: the last pick is uniform over the unpicked rows
    assert picks[2] in {0, 1, 2, 4}


def test_check_n_messages():
    assert check_n(np.int64(3), 5) == 3
    with pytest.raises(ValueError, match=r"no larger than the pool \(5 rows\); got 6"):
        check_n(6, 5)
    with pytest.raises(ValueError, match="got 0"):
        check_n(0, 5)
    with pytest.raises(TypeError, match="`n` must be a positive integer; got 2.5"):
        check_n(2.5, 5)
    with pytest.raises(TypeError, match="got True"):
        check_n(True, 5)


def test_probability_strategies_accept_any_classifier():
    X = np.array([[-3.0], [-0.1], [0.05], [4.0]])
    clf = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [0, 0, 1, 1])
    assert list(UncertaintyQuery().query(clf, X, 2)) == [2, 1]
    assert list(UncertaintyQuery(measure="margin").query(clf, X, 1)) == [2]
    first = RandomQuery(random_state=4).query(clf, X, 4)
    np.testing.assert_array_equal(RandomQuery(random_state=4).query(clf, X, 4), first)
    assert sorted(first) == [0, 1, 2, 3]


def test_inputs_are_checked():
    clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="X_pool"):
        UncertaintyQuery().query(clf, np.array([[np.nan]]), 1)
    with pytest.raises(ValueError, match="`X_labeled` rows have shape"):
        UncertaintyQuery().query(clf, np.zeros((3, 1)), 1, X_labeled=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="`y_labeled` has 1 labels for 2 rows"):
        UncertaintyQuery().query(clf, np.zeros((3, 1)), 1, X_labeled=np.zeros((2, 1)),
                                 y_labeled=[0])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        UncertaintyQuery().query(LogisticRegression(), np.zeros((3, 1)), 1)


def test_fast_predict_proba_matches_skorch(mlp_net, digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skralif._adapter import predict_proba
    from tests.conftest import MLP, make_net

    X, y = digits
    np.testing.assert_allclose(predict_proba(mlp_net, X[:500], batch_size=64),
                               mlp_net.predict_proba(X[:500]), atol=1e-6)
    pipe = make_pipeline(StandardScaler(), make_net(MLP, max_epochs=2)).fit(X[:100], y[:100])
    np.testing.assert_allclose(predict_proba(pipe, X[:300].astype(np.float32)),
                               pipe.predict_proba(X[:300].astype(np.float32)), atol=1e-6)


@pytest.mark.parametrize("strategy", [
    RandomQuery(random_state=0), UncertaintyQuery(measure="entropy"),
    UncertaintyQuery(measure="margin"), CoresetQuery(random_state=0),
    BADGEQuery(random_state=0), TypiClustQuery(random_state=0),
    ProbCoverQuery(random_state=0), RALIFQuery(random_state=0),
], ids=lambda s: type(s).__name__ + getattr(s, "measure", ""))
@pytest.mark.parametrize("y_labeled, match", [
    (["a", "b"], r"must hold class indices .*got \['a', 'b'\]"),
    ([-1, 0], "must hold class indices"),
    ([0.5, 1.0], "must hold class indices"),
])
def test_every_strategy_checks_the_y_labeled_it_is_given(mlp_net, digits, strategy,
                                                         y_labeled, match):
    """Issue 22: strategies that do not read ``y_labeled`` ignored whatever it held."""
    X, _ = digits
    with pytest.raises(ValueError, match=f"`y_labeled` {match}"):
        strategy.query(mlp_net, X[300:360], 3, X_labeled=X[:2], y_labeled=y_labeled)
