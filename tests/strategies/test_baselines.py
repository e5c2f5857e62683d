"""Core-set, BADGE and BALD on hand-made cases and against explicit computations."""

import numpy as np
import pytest
import torch

from skralif.strategies import BADGEQuery, BALDQuery, CoresetQuery
from skralif.strategies._base import euclidean_to, kmeans_pp
from tests.conftest import MLP, make_net, softmax_net


@pytest.fixture(scope="module")
def identity_net():
    """Only a head, so the encoder features are the inputs themselves."""
    return softmax_net(np.random.RandomState(0).randn(3 * 3), 2, 3)


def test_coreset_is_k_center_greedy(identity_net):
    pool = np.array([[0, 0], [1, 0], [5, 0], [9, 0]], dtype=np.float32)
    labeled = np.zeros((1, 2), dtype=np.float32)
    picks = CoresetQuery().query(identity_net, pool, 3, X_labeled=labeled)
    np.testing.assert_array_equal(picks, [3, 2, 1])
    np.testing.assert_allclose(CoresetQuery().score_samples(identity_net, pool, X_labeled=labeled),
                               [0, 1, 5, 9])
    cold = CoresetQuery(random_state=0).query(identity_net, pool, 2)
    np.testing.assert_array_equal(cold, CoresetQuery(random_state=0).query(identity_net, pool, 2))


def test_badge_matches_explicit_gradient_embeddings(mlp_net, digits):
    X, _ = digits
    pool = X[300:500]
    proba = mlp_net.predict_proba(pool).astype(np.float64)
    with torch.no_grad():
        feats = mlp_net.module_.body(torch.as_tensor(pool)).double().numpy()
    a = proba - np.eye(10)[proba.argmax(1)]
    emb = (a[:, :, None] * np.hstack([feats, np.ones((200, 1))])[:, None, :]).reshape(200, -1)
    scores = BADGEQuery().score_samples(mlp_net, pool)
    np.testing.assert_allclose(scores, np.linalg.norm(emb, axis=1), rtol=1e-5)
    picks = BADGEQuery(random_state=5).query(mlp_net, pool, 12)
    explicit = kmeans_pp(euclidean_to(torch.as_tensor(emb)), 200, 12, np.random.RandomState(5),
                         int(np.argmax(scores)))
    np.testing.assert_array_equal(picks, explicit)


def test_bald_needs_dropout(mlp_net, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="no dropout layer"):
        BALDQuery().query(mlp_net, X[:20], 2)


def test_bald_is_seeded_nonnegative_and_leaves_torch_rng_alone(digits):
    X, y = digits
    net = make_net(MLP, module__dropout=0.3).fit(X[:100], y[:100])
    state = torch.get_rng_state()
    modes = [m.training for m in net.module_.modules()]
    a = BALDQuery(n_samples=8, random_state=0).score_samples(net, X[100:300])
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(a, BALDQuery(n_samples=8, random_state=0).score_samples(
        net, X[100:300]))
    assert a.min() > -1e-9 and a.max() > 1e-3
    assert [m.training for m in net.module_.modules()] == modes


@pytest.mark.parametrize("strategy", [CoresetQuery, BADGEQuery])
def test_max_candidates_bounds_the_rows_read(strategy, mlp_net, digits):
    """Issue 26: core-set and BADGE hold the features of every row they read; with
    ``max_candidates`` they read a uniform, seeded draw of that many pool rows."""
    X, _ = digits
    pool, labeled = X[300:], X[:300]
    whole = strategy(random_state=0).query(mlp_net, pool, 10, X_labeled=labeled)
    # a cap at or above the pool changes nothing
    same = strategy(max_candidates=len(pool), random_state=0).query(
        mlp_net, pool, 10, X_labeled=labeled)
    np.testing.assert_array_equal(whole, same)
    capped = strategy(max_candidates=200, random_state=0)
    picks = capped.query(mlp_net, pool, 10, X_labeled=labeled)
    assert len(set(picks.tolist())) == 10 and picks.max() < len(pool)
    np.testing.assert_array_equal(picks, capped.query(mlp_net, pool, 10, X_labeled=labeled))
    # the capped query is the whole-pool query of its candidates, mapped back
    rows = np.sort(np.random.RandomState(
        np.random.RandomState(0).randint(2**31 - 1)).choice(len(pool), 200, replace=False))
    inner = strategy(random_state=0).query(mlp_net, pool[rows], 10, X_labeled=labeled)
    np.testing.assert_array_equal(picks, rows[inner])
    # never fewer candidates than picks
    assert len(set(strategy(max_candidates=3, random_state=0).query(
        mlp_net, pool, 10, X_labeled=labeled).tolist())) == 10


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_max_candidates_is_validated(bad, mlp_net, digits):
    X, _ = digits
    with pytest.raises((ValueError, TypeError), match="max_candidates"):
        CoresetQuery(max_candidates=bad).query(mlp_net, X[:50], 5)
