"""TypiClust and ProbCover on hand-made pools whose right picks are known."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import pairwise_distances
from sklearn.utils import check_random_state

from skralif.strategies import ProbCoverQuery, TypiClustQuery


def grid(side, centre):
    """A ``side x side`` grid of unit spacing around ``centre``; its centre row is the
    most typical when every other row counts as a neighbour (smallest mean distance).
    Returns rows, centre index."""
    offsets = np.arange(side) - side // 2
    rows = np.array([(a, b) for a in offsets for b in offsets], dtype=float) + centre
    return rows, (side * side) // 2


@pytest.fixture
def blobs():
    """Three grid blobs far apart (49, 25 and 9 rows) and the index of each centre."""
    parts, centres, start = [], [], 0
    for side, centre in ((7, (0, 0)), (5, (100, 0)), (3, (0, 100))):
        rows, mid = grid(side, centre)
        parts.append(rows)
        centres.append(start + mid)
        start += len(rows)
    return np.vstack(parts), centres


def test_typiclust_picks_the_centre_of_each_cluster_largest_first(blobs):
    X, centres = blobs
    idx = TypiClustQuery(n_clusters=3, k_neighbors=100, random_state=0).query(None, X, 3)
    assert idx.tolist() == centres


def test_typiclust_skips_clusters_labeled_already(blobs):
    X, centres = blobs
    idx = TypiClustQuery(n_clusters=3, k_neighbors=100, random_state=0).query(
        None, X, 2, X_labeled=X[[centres[0]]])
    assert idx.tolist() == centres[1:]


@pytest.mark.parametrize("strategy", [TypiClustQuery(n_clusters=3, k_neighbors=100,
                                                   random_state=0),
                                      ProbCoverQuery(delta=4.5, random_state=0)])
def test_an_empty_labeled_set_is_the_same_as_none(blobs, strategy):
    X, _ = blobs
    assert strategy.query(None, X, 3, X_labeled=X[:0]).tolist() == \
        strategy.query(None, X, 3).tolist()


def test_typiclust_leaves_clusters_below_min_size_for_last(blobs):
    X, centres = blobs
    X = np.vstack([X, [[500.0, 500.0], [501.0, 500.0]]])  # a 2-row outlier cluster
    idx = TypiClustQuery(n_clusters=4, k_neighbors=100, random_state=0).query(None, X, 4)
    assert idx[:3].tolist() == centres
    assert idx[3] < 49  # the fourth pick goes back to the largest cluster
    only_outliers_left = TypiClustQuery(n_clusters=4, random_state=0, min_cluster_size=1)
    assert set(only_outliers_left.query(None, X, 4).tolist()) & {len(X) - 2, len(X) - 1}


def test_typiclust_scores_are_typicality_within_clusters(blobs):
    X, centres = blobs
    scores = TypiClustQuery(n_clusters=3, k_neighbors=4, random_state=0).score_samples(None, X)
    # the centre of the 3x3 blob: 4 neighbours at distance 1
    assert scores[centres[2]] == pytest.approx(1.0)
    d = np.sort(pairwise_distances(X[:49]), axis=1)[:, 1:5].mean(1)
    np.testing.assert_allclose(scores[:49], 1 / d)


def line_pool():
    """Rows 0..9 at x = 0..9 and rows 10..14 at x = 100..104."""
    return np.concatenate([np.arange(10.0), 100.0 + np.arange(5.0)])[:, None]


def test_probcover_greedy_max_coverage_with_a_given_delta():
    X = line_pool()
    strategy = ProbCoverQuery(delta=4.5, random_state=0)
    # ball(4) holds rows 0..8 (9 rows; ball(5) ties, lower index first), then each far
    # row's ball holds all 5 far rows (row 10 first), then only row 9 is uncovered:
    # ball(5) is the first to hold it
    assert strategy.query(None, X, 3).tolist() == [4, 10, 5]
    np.testing.assert_array_equal(strategy.score_samples(None, X)[[0, 4, 9, 12]],
                                  [5, 9, 5, 5])


def test_probcover_counts_labeled_rows_as_covering():
    X = line_pool()
    idx = ProbCoverQuery(delta=4.5).query(None, X, 2, X_labeled=np.array([[4.0]]))
    assert idx.tolist() == [10, 5]


def test_probcover_draws_at_random_once_everything_is_covered():
    X = line_pool()
    a = ProbCoverQuery(delta=200.0, random_state=0).query(None, X, 5)
    assert a[0] == 0 and len(set(a.tolist())) == 5
    np.testing.assert_array_equal(a, ProbCoverQuery(delta=200.0, random_state=0)
                                  .query(None, X, 5))


def purity(X, labels, delta):
    """Share of rows whose ball of radius delta (strict) holds only their own cluster."""
    D = pairwise_distances(X)
    impure = ((D < delta) & (labels[:, None] != labels[None, :])).any(axis=1)
    return 1 - impure.mean()


def test_probcover_delta_is_the_largest_radius_with_enough_pure_balls():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(3, 1, (80, 2))])
    strategy = ProbCoverQuery(n_clusters=2, purity=0.9, sample_size=len(X), random_state=0)
    strategy.score_samples(None, X)
    # the clusters the strategy used: its own seeded k-means, run again
    labels = strategy._cluster(X, 2, check_random_state(0))
    assert purity(X, labels, strategy.delta_) >= 0.9
    assert purity(X, labels, strategy.delta_ * 1.001) < 0.9


@pytest.mark.parametrize("strategy", [TypiClustQuery, ProbCoverQuery])
def test_deterministic_given_random_state(strategy, digits):
    X = digits[0][:600]
    a = strategy(random_state=0).query(None, X, 10)
    np.testing.assert_array_equal(a, strategy(random_state=0).query(None, X, 10))
    assert len(set(a.tolist())) == 10


@pytest.mark.parametrize("strategy", [TypiClustQuery(random_state=0),
                                      ProbCoverQuery(random_state=0)])
def test_auto_features_use_a_fitted_nets_encoder(strategy, mlp_net, digits):
    X = digits[0][300:700]
    auto = clone(strategy).query(mlp_net, X, 5)
    encoder = clone(strategy).set_params(features="encoder").query(mlp_net, X, 5)
    np.testing.assert_array_equal(auto, encoder)
    as_input = clone(strategy).set_params(features="input").query(mlp_net, X, 5)
    np.testing.assert_array_equal(as_input, clone(strategy).query(None, X, 5))


@pytest.mark.parametrize("strategy", [TypiClustQuery, ProbCoverQuery])
def test_encoder_features_need_a_net(strategy, digits):
    with pytest.raises(ValueError, match="features='encoder'.*needs a fitted skorch net"):
        strategy(features="encoder").query(None, digits[0][:50], 2)


@pytest.mark.parametrize("strategy, match", [
    (TypiClustQuery(k_neighbors=0), "k_neighbors"),
    (TypiClustQuery(features="pixels"), "features"),
    (ProbCoverQuery(purity=1.0), "purity"),
    (ProbCoverQuery(delta=-1.0), "delta"),
    (ProbCoverQuery(n_clusters=1), "n_clusters"),
])
def test_parameters_are_validated(strategy, match, digits):
    with pytest.raises(ValueError, match=match):
        strategy.query(None, digits[0][:50], 2)


def test_other_strategies_still_need_an_estimator(digits):
    from skralif.strategies import UncertaintyQuery

    with pytest.raises(TypeError, match="needs a fitted classifier as `estimator`; got None"):
        UncertaintyQuery().query(None, digits[0][:50], 2)


@pytest.mark.parametrize("strategy", [TypiClustQuery(random_state=0),
                                      ProbCoverQuery(random_state=0)])
def test_clone_and_pickle(strategy, digits):
    X = digits[0][:300]
    before = strategy.query(None, X, 4)
    again = pickle.loads(pickle.dumps(clone(strategy)))
    np.testing.assert_array_equal(again.query(None, X, 4), before)


@pytest.mark.slow  # about 35 s on 2 cores (ProbCover's radius graph: ~12M pairs)
def test_a_100k_row_pool_is_fine():
    rng = np.random.RandomState(0)
    centres = rng.normal(0, 5, (10, 8))
    X = (centres[rng.randint(0, 10, 100_000)] + rng.normal(0, 1, (100_000, 8)))
    X = X.astype(np.float32)
    for strategy in (TypiClustQuery(random_state=0), ProbCoverQuery(random_state=0)):
        idx = strategy.query(None, X, 20)
        assert len(set(idx.tolist())) == 20
