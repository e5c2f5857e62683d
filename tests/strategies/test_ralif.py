"""RALIFQuery against brute-force retraining, the released formula, and its edge cases."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skralif import RALIFQuery
from skralif.influence import HeadParameters, influence_scores
from tests.conftest import MLP, assert_close_to_float32, fit_softmax_head, make_net, softmax_net

LAM = 0.05


@pytest.fixture(scope="module")
def convex(digits):
    """A softmax head trained to convergence on 40 digits; a 150-row pool."""
    X, y = digits
    XL, yL, XU = X[:40].astype(np.float64), y[:40], X[200:350].astype(np.float64)
    aug = lambda A: np.hstack([A, np.ones((len(A), 1))])  # noqa: E731
    theta = fit_softmax_head(aug(XL), np.eye(10)[yL], np.ones(40), LAM, np.zeros(650))
    return softmax_net(theta, 64, 10), XL.astype(np.float32), yL, XU.astype(np.float32), theta, aug


def _pool_loss(theta, XU_aug, pseudo):
    logp = log_softmax(XU_aug @ theta.reshape(10, 65).T, axis=1)
    return -logp[np.arange(len(pseudo)), pseudo].sum()


def _retrained_changes(convex, rows, target_loss, eps=1.0, score="influence"):
    """Change of ``target_loss(theta)`` over the plausible classes (tau=2) of each pool row
    when ``(u, k)`` joins the labeled set with weight ``eps`` (in a sum still divided by the
    old n = 40) and the head is retrained, divided by ``eps``: its expectation under the
    renormalised ``p`` (``score="influence"``) or its minimum (``"optimistic"``)."""
    net, XL, yL, XU, theta, aug = convex
    proba = net.predict_proba(XU)
    base = target_loss(theta)
    out = []
    for u in rows:
        keep = np.flatnonzero(proba[u] > 2.0 / 10)
        weights = proba[u, keep] / proba[u, keep].sum()
        changes = []
        for k in keep:
            X = np.vstack([aug(XL), aug(XU[u : u + 1])])
            new = fit_softmax_head(X, np.eye(10)[np.append(yL, k)],
                                   np.append(np.ones(40), eps) * 41 / 40, LAM, theta)
            changes.append((target_loss(new) - base) / eps)
        out.append(weights @ changes if score == "influence" else min(changes))
    return np.asarray(out)


@pytest.mark.parametrize("score", ["influence", "optimistic"])
def test_influence_score_matches_brute_force_retraining(convex, score):
    net, XL, yL, XU, theta, aug = convex
    strategy = RALIFQuery(tau=2.0, damping=LAM, pseudo_labels="hard", score=score)
    S = -strategy.score_samples(net, XU, X_labeled=XL, y_labeled=yL)
    pseudo = net.predict_proba(XU).argmax(1)
    rows = np.flatnonzero(~np.isnan(S))[::4]
    # the minimum over classes is less linear in a whole unit of weight than the mean
    # (Spearman 0.89 at eps=1): compare it with the derivative, as the soft loss test does
    actual = _retrained_changes(convex, rows, lambda t: _pool_loss(t, aug(XU), pseudo),
                                eps=1.0 if score == "influence" else 0.01, score=score)
    assert spearmanr(S[rows], actual)[0] > 0.9
    assert np.mean(np.sign(S[rows]) == np.sign(actual)) > 0.9


def test_scores_agree_with_public_influence_scores(convex):
    net, XL, yL, XU, _, _ = convex
    S = -RALIFQuery(tau=2.0, damping=LAM, refit_head=False, pseudo_labels="hard",
                    score="influence").score_samples(net, XU, X_labeled=XL)
    # influence_scores averages the eval loss over the pool: delta = score * |U| / n
    delta = influence_scores(net, XL, yL, XU, X_candidates=XU, damping=LAM) * len(XU) / len(XL)
    proba = net.predict_proba(XU).astype(np.float64)
    weights = np.where(proba > 0.2, proba, 0.0)
    with np.errstate(invalid="ignore"):
        expected = (weights * delta).sum(1) / weights.sum(1)
    assert_close_to_float32(S, expected)


def test_untruncated_expectation_is_zero(convex):
    """E_p[g_{u,k}] = (p - E_p[e_k]) x~^T = 0: without truncation nothing is ranked."""
    net, XL, _, XU, _, _ = convex
    S = RALIFQuery(tau=0.0, damping=LAM, refit_head=False, score="influence").score_samples(
        net, XU, X_labeled=XL)
    np.testing.assert_allclose(S, 0.0, atol=1e-10)


def test_expectation_reproduces_influence_and_reference_formulas():
    proba = np.array([[0.7, 0.2, 0.1], [0.34, 0.33, 0.33], [0.5, 0.45, 0.05]])
    values = np.array([[-1.0, 2.0, 5.0], [1.0, 1.0, 1.0], [3.0, -4.0, 9.0]])
    ralif = RALIFQuery(tau=1.2, score="influence")  # plausible: p > 0.4
    expected = [-1.0, np.nan, (1.5 - 1.8) / 0.95]
    np.testing.assert_allclose(ralif._over_plausible(proba, values), expected)
    ref = RALIFQuery(tau=1.2, score="reference")
    R = 100.0
    expected = [0.7 * (R - 1.0), np.nan, (0.5 * (R + 3.0) + 0.45 * (R - 4.0)) / 2]
    np.testing.assert_allclose(ref._over_plausible(proba, values + R), expected)
    # optimistic: the most helpful (lowest) change among the plausible classes only
    optimistic = RALIFQuery(tau=1.2, score="optimistic")
    np.testing.assert_allclose(optimistic._over_plausible(proba, values), [-1.0, np.nan, -4.0])


def test_threshold_is_capped_for_few_classes():
    """With C <= tau the paper's tau / C >= 1 would exclude every row."""
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.5, 0.5]])
    values = np.array([[-1.0, 3.0], [2.0, 5.0], [1.0, 1.0]])
    capped = RALIFQuery(tau=4)._over_plausible(proba, values)
    np.testing.assert_allclose(capped, [-1.0, 2.0, np.nan])


def test_reference_score_ranks_by_low_confidence(convex):
    net, XL, _, XU, _, _ = convex
    scores = RALIFQuery(score="reference", damping=LAM, refit_head=False).score_samples(
        net, XU, X_labeled=XL)
    valid = ~np.isnan(scores)
    top = net.predict_proba(XU).max(1)[valid]
    assert spearmanr(scores[valid], top)[0] < -0.9  # higher score = lower confidence


def _entropy_sum(theta, XU_aug):
    logp = log_softmax(XU_aug @ theta.reshape(10, 65).T, axis=1)
    return -(np.exp(logp) * logp).sum()


@pytest.mark.parametrize("score", ["influence", "optimistic"])
def test_soft_pool_loss_matches_brute_force_retraining(convex, score):
    """``pseudo_labels="soft"`` predicts the change of the pool's total entropy.

    An influence function is the derivative in the new row's weight: (u, k) joins with
    weight ``eps`` and the retrained change, divided by ``eps``, is what RALIF predicts.
    (With a whole unit of weight the entropy is far from linear: Spearman 0.78.)
    """
    net, XL, yL, XU, theta, aug = convex
    S = -RALIFQuery(tau=2.0, damping=LAM, pseudo_labels="soft", refit_head=False,
                    score=score).score_samples(net, XU, X_labeled=XL)
    rows = np.flatnonzero(~np.isnan(S))[::5]
    actual = _retrained_changes(convex, rows, lambda t: _entropy_sum(t, aug(XU)), eps=0.01,
                                score=score)
    np.testing.assert_allclose(S[rows], actual, rtol=0.05, atol=0.02 * np.abs(actual).max())


@pytest.mark.parametrize("n_outputs", [10, 1])
def test_soft_pool_gradient_is_the_entropy_gradient(n_outputs):
    """The closed-form gradient of ``sum_u H(p_u)`` equals autograd's, binary head too."""
    rng = np.random.default_rng(0)
    feats = torch.as_tensor(rng.normal(size=(30, 6)))
    W = torch.as_tensor(rng.normal(size=(n_outputs, 7)), dtype=torch.float64).requires_grad_()
    space = HeadParameters(feats, W.detach(), 0.0, 30, binary=n_outputs == 1)
    G, total = space.target_gradient(feats, soft=True)
    logits = torch.cat([feats, torch.ones(30, 1, dtype=torch.float64)], 1) @ W.T
    if n_outputs == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], 1)
    logp = torch.log_softmax(logits, 1)
    entropy = -(logp.exp() * logp).sum()
    entropy.backward()
    np.testing.assert_allclose(total, float(entropy.detach()), rtol=1e-10)
    np.testing.assert_allclose(G.numpy(), W.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_refit_head_reaches_the_damped_optimum(convex):
    """From a perturbed head, ``refit_head`` gives the scores of the optimal head."""
    net, XL, yL, XU, theta, _ = convex
    rng = np.random.default_rng(0)
    off = softmax_net(theta + rng.normal(scale=0.05, size=theta.shape), 64, 10)
    weight = off.module_.weight.detach().numpy().copy()
    kw = dict(X_labeled=XL, y_labeled=yL)
    at_optimum = RALIFQuery(tau=2.0, damping=LAM, refit_head=False).score_samples(net, XU, **kw)
    before = RALIFQuery(tau=2.0, damping=LAM, refit_head=False).score_samples(off, XU, **kw)
    refitted = RALIFQuery(tau=2.0, damping=LAM, refit_head=True).score_samples(off, XU, **kw)
    # also at the optimum, where it changes nothing but float32 rounding
    again = RALIFQuery(tau=2.0, damping=LAM, refit_head=True).score_samples(net, XU, **kw)
    scale = np.nanmax(np.abs(at_optimum))
    for got in (refitted, again):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(at_optimum))
        np.testing.assert_allclose(got, at_optimum, atol=1e-4 * scale)
    assert np.nanmax(np.abs(before - at_optimum)) > 1e-2 * scale
    # the live net is not touched
    np.testing.assert_array_equal(off.module_.weight.detach().numpy(), weight)


def test_candidates_per_query_of_one_is_the_top_n(mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    top = RALIFQuery(diversity=False).query(mlp, X[100:900], 12, **kw)
    one = RALIFQuery(candidates_per_query=1, random_state=0).query(mlp, X[100:900], 12, **kw)
    wide = RALIFQuery(candidates_per_query=30, random_state=0).query(mlp, X[100:900], 12, **kw)
    assert sorted(one) == sorted(top)
    assert sorted(wide) != sorted(top) and wide[0] == top[0]


@pytest.fixture(scope="module")
def mlp(digits):
    X, y = digits
    return make_net(MLP, max_epochs=80).fit(X[:100], y[:100])


@pytest.mark.parametrize("params", [
    {}, {"diversity": False}, {"score": "reference"}, {"score": "optimistic"},
    {"method": "cg"}, {"target": "all"},
    {"method": "lissa"}, {"pseudo_labels": "soft"}, {"refit_head": True},
    {"candidates_per_query": 3},
])
def test_query_is_deterministic_distinct_and_leaves_net_untouched(mlp, digits, params):
    X, y = digits
    before = {k: v.clone() for k, v in mlp.module_.state_dict().items()}
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    a = RALIFQuery(random_state=3, **params).query(mlp, X[100:600], 25, **kw)
    b = RALIFQuery(random_state=3, **params).query(mlp, X[100:600], 25, **kw)
    np.testing.assert_array_equal(a, b)
    assert len(set(a)) == 25 and a.min() >= 0 and a.max() < 500 and a.dtype == np.int64
    for k, v in mlp.module_.state_dict().items():
        assert torch.equal(v, before[k])


def test_diversity_starts_with_the_best_candidate(mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    best = RALIFQuery(diversity=False).query(mlp, X[100:600], 5, **kw)
    diverse = RALIFQuery(random_state=0).query(mlp, X[100:600], 5, **kw)
    scores = RALIFQuery().score_samples(mlp, X[100:600], **kw)
    assert diverse[0] == best[0] == np.nanargmax(scores)
    np.testing.assert_array_equal(best, np.argsort(-np.nan_to_num(scores, nan=-np.inf),
                                                   kind="stable")[:5])


def test_too_few_plausible_rows_are_filled_by_confidence(mlp, digits):
    X, y = digits
    # the trained head (refit_head=False): the test reads its probabilities
    strategy = RALIFQuery(tau=5.0, random_state=0, refit_head=False)  # plausible: p > 0.5
    scores = strategy.score_samples(mlp, X[100:400], X_labeled=X[:100], y_labeled=y[:100])
    valid = np.flatnonzero(~np.isnan(scores))
    n = len(valid) + 4
    with pytest.warns(UserWarning, match=f"{300 - len(valid)} of 300 pool rows have no plaus"):
        picks = strategy.query(mlp, X[100:400], n, X_labeled=X[:100], y_labeled=y[:100])
    assert set(picks[: len(valid)]) == set(valid)
    rest = np.setdiff1d(np.arange(300), valid)
    confidence = mlp.predict_proba(X[100:400])[rest].max(1)
    by_confidence = rest[np.argsort(-confidence, kind="stable")[:4]]
    np.testing.assert_array_equal(picks[len(valid) :], by_confidence)
    nothing = RALIFQuery(tau=10.0).query(mlp, X[100:110], 3, X_labeled=X[:100], y_labeled=y[:100])
    assert len(set(nothing)) == 3


def test_a_pool_with_no_plausible_row_warns(digits):
    from tests.conftest import softmax_net

    X, _ = digits
    flat = softmax_net(np.zeros(10 * 65), 64, 10)  # every probability is 0.1 < tau / C
    with pytest.warns(UserWarning, match="10 of 10 pool rows .* only 0 of the 3 rows"):
        picks = RALIFQuery(random_state=0, refit_head=False).query(flat, X[100:110], 3,
                                                                   X_labeled=X[:20])
    np.testing.assert_array_equal(picks, [0, 1, 2])  # equal confidence: index order


def test_pool_of_exactly_n_and_too_small_pool(mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    picks = RALIFQuery(random_state=0).query(mlp, X[100:130], 30, **kw)
    assert sorted(picks) == list(range(30))
    with pytest.raises(ValueError, match=r"no larger than the pool \(30 rows\); got 31"):
        RALIFQuery().query(mlp, X[100:130], 31, **kw)


@pytest.mark.parametrize("classes", [[0, 1, 2], [4]])
def test_labeled_sets_missing_classes(digits, classes):
    X, y = digits
    mask = np.isin(y, classes)
    net = make_net(MLP, max_epochs=20).fit(X[mask][:60], y[mask][:60])
    picks = RALIFQuery(random_state=0).query(net, X[:300], 10, X_labeled=X[mask][:60],
                                             y_labeled=y[mask][:60])
    assert len(set(picks)) == 10


def test_clone_and_set_params():
    strategy = RALIFQuery(tau=2.0, method="cg")
    twin = clone(strategy).set_params(tau=6.0)
    assert twin.tau == 6.0 and strategy.tau == 2.0 and twin.method == "cg"


def test_pipeline_estimator_transforms_the_pool(digits):
    X, y = digits
    pipe = Pipeline([("scale", StandardScaler()),
                     ("net", make_net(MLP, max_epochs=20))]).fit(X[:100], y[:100])
    Z = pipe[:-1].transform(X)
    a = RALIFQuery(random_state=1).query(pipe, X[100:400], 8, X_labeled=X[:100],
                                         y_labeled=y[:100])
    b = RALIFQuery(random_state=1).query(pipe[-1], Z[100:400].astype(np.float32), 8,
                                         X_labeled=Z[:100].astype(np.float32),
                                         y_labeled=y[:100])
    np.testing.assert_array_equal(a, b)


def test_errors(mlp, digits):
    X, y = digits
    with pytest.raises(ValueError, match="non-empty `X_labeled`"):
        RALIFQuery().query(mlp, X[:50], 5)
    with pytest.raises(ValueError, match="'tau' parameter of RALIFQuery .* Got -1"):
        RALIFQuery(tau=-1).query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match=r"'candidate_fraction' parameter .*\(0.0, 1.0\]. Got 2"):
        RALIFQuery(candidate_fraction=2).query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match="'score' parameter of RALIFQuery must be a str among"):
        RALIFQuery(score="loss").query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match="`target='all'` needs `y_labeled`"):
        RALIFQuery(target="all").query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match=r"refits the head .*\(`refit_head=True`, the "
                                         r"default\), so it needs `y_labeled`"):
        RALIFQuery().query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match=r"'candidates_per_query' parameter .*\[1.0, inf\)"):
        RALIFQuery(candidates_per_query=0.5).query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match="'pseudo_labels' parameter of RALIFQuery must be a"):
        RALIFQuery(pseudo_labels="expected").query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match="`params` needs `y_labeled`"):
        RALIFQuery(params=[]).query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match=r"`params` names .*got \['body.9.weight'\]"):
        RALIFQuery(params=["body.9.weight"]).query(mlp, X[:50], 5, X_labeled=X[50:60],
                                                   y_labeled=np.arange(10))
    with pytest.raises(ValueError, match="'method' parameter of RALIFQuery"):
        RALIFQuery(method="newton").query(mlp, X[:50], 5, X_labeled=X[50:60])
    with pytest.raises(ValueError, match="'curvature' parameter of RALIFQuery must be a str"):
        RALIFQuery(curvature="ggn").query(mlp, X[:50], 5, X_labeled=X[50:60])
    clf = LogisticRegression().fit(X[:50], np.arange(50) % 2)
    with pytest.raises(TypeError, match="must be a fitted skorch NeuralNetClassifier"):
        RALIFQuery().query(clf, X[:50], 5, X_labeled=X[50:60])


def test_recomputing_features_gives_the_same_query(mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    kept = RALIFQuery(batch_size=200, random_state=2).query(mlp, X[100:900], 12, **kw)
    lean = RALIFQuery(batch_size=200, keep_features=False, random_state=2).query(
        mlp, X[100:900], 12, **kw)
    np.testing.assert_array_equal(kept, lean)


@pytest.mark.parametrize("options", [
    {},
    dict(target="all"),  # issue 21: the params path never read `target`
    dict(pseudo_labels="hard"),
    dict(score="reference", pseudo_labels="hard"),
], ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_params_empty_is_the_head_closed_form(mlp, digits, options):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    head = RALIFQuery(**options).score_samples(mlp, X[100:400], **kw)
    for method in ("exact", "cg"):
        generic = RALIFQuery(params=[], method=method, **options).score_samples(
            mlp, X[100:400], **kw)
        assert_close_to_float32(generic, head)


def test_gauss_newton_over_a_hidden_layer(mlp, digits):
    """Over the head alone both curvatures give the head's scores; over the layer below,
    the Gauss-Newton scores differ from the Hessian's, and its exact solve and CG agree."""
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    head = RALIFQuery().score_samples(mlp, X[100:400], **kw)
    assert_close_to_float32(
        RALIFQuery(params=[], curvature="gauss-newton").score_samples(mlp, X[100:400], **kw),
        head)
    layer = ["body.0.weight", "body.0.bias"]
    exact, cg = (RALIFQuery(params=layer, curvature="gauss-newton", method=m).score_samples(
        mlp, X[100:400], **kw) for m in ("exact", "cg"))
    np.testing.assert_allclose(cg, exact, rtol=1e-4, atol=1e-6 * np.nanmax(np.abs(exact)))
    with pytest.warns(RuntimeWarning, match="not positive definite"):  # why it is offered
        full = RALIFQuery(params=layer).score_samples(mlp, X[100:400], **kw)
    assert not np.allclose(full, exact, equal_nan=True)


class _TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten())
        self.head = torch.nn.Linear(24, 10)

    def forward(self, X):
        return self.head(self.body(X))


def test_gauss_newton_over_a_convolution(digits):
    """Influence over the last convolution of a CNN (per-row Jacobians through conv and
    pooling layers): the exact Gauss-Newton solve and CG on the same matrix agree, and
    a query returns distinct rows."""
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    cnn = make_net(_TinyCNN, max_epochs=40, optimizer=torch.optim.Adam, lr=1e-2).fit(
        images[:80], y[:80])
    kw = dict(X_labeled=images[:80], y_labeled=y[:80])
    conv = ["body.3.weight", "body.3.bias"]
    exact, cg = (RALIFQuery(params=conv, curvature="gauss-newton", method=m).score_samples(
        cnn, images[80:300], **kw) for m in ("exact", "cg"))
    assert np.isfinite(exact).sum() > 150  # most rows have a plausible class and a score
    np.testing.assert_allclose(cg, exact, rtol=1e-4, atol=1e-6 * np.nanmax(np.abs(exact)))
    picks = RALIFQuery(params=conv, curvature="gauss-newton", random_state=0).query(
        cnn, images[80:300], 8, **kw)
    assert len(set(picks)) == 8


def test_target_all_changes_the_params_scores(mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    pool = RALIFQuery(params=[]).score_samples(mlp, X[100:400], **kw)
    every = RALIFQuery(params=[], target="all").score_samples(mlp, X[100:400], **kw)
    assert not np.allclose(pool, every, equal_nan=True)


def test_params_runs_the_net_over_the_pool_twice_and_encodes_it_only_for_diversity(
        mlp, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    sizes = []
    hook = mlp.module_.body[0].register_forward_hook(lambda m, i, o: sizes.append(len(o)))
    try:  # 997 pool rows in batches of 200: the last batch of every pool pass has 197
        for diversity, passes in [(False, 2), (True, 3)]:
            sizes.clear()
            RALIFQuery(params=[], batch_size=200, diversity=diversity).query(
                mlp, X[100:1097], 10, **kw)
            assert sizes.count(197) == passes
    finally:
        hook.remove()


class _TwoLayerTop(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                                        torch.nn.Linear(6, 6), torch.nn.Tanh())
        self.head = torch.nn.Linear(6, 3)

    def forward(self, X):
        return self.head(self.body(X))


def test_params_beyond_the_head_match_retraining_with_an_eps_weighted_row():
    """Influence over the last two layers (a non-convex objective) against retraining
    those layers to the damped optimum with ``(u, k)`` added at weight ``eps``."""
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    XL, XU = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    yL = (XL[:, 0] + XL[:, 1] > 0).astype(np.int64) + (XL[:, 2] > 0.8)
    net = NeuralNetClassifier(_TwoLayerTop, criterion=torch.nn.CrossEntropyLoss,
                              train_split=None).initialize()
    net.module_.double()
    names = ["body.2.weight", "body.2.bias", "head.weight", "head.bias"]
    top = [dict(net.module_.named_parameters())[k] for k in names]
    lam = 0.05

    def fit(weights, extra=None):
        X, y = torch.as_tensor(XL), torch.as_tensor(yL)
        if extra is not None:
            X, y = torch.cat([X, torch.as_tensor(XU[extra[0]])[None]]), torch.cat(
                [y, torch.tensor([extra[1]])])
        opt = torch.optim.LBFGS(top, lr=1, max_iter=2000, tolerance_grad=1e-13,
                                tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net.module_(X), y, reduction="none")
            loss = (loss * weights).sum() / 30 + lam / 2 * sum((p * p).sum() for p in top)
            loss.backward()
            return loss

        opt.step(closure)

    fit(torch.ones(30))
    optimum = [p.detach().clone() for p in top]
    S = -RALIFQuery(tau=2.0, damping=lam, params=names[:2], method="cg", refit_head=False,
                    pseudo_labels="hard").score_samples(
        net, XU, X_labeled=XL, y_labeled=yL)
    proba = net.predict_proba(XU)
    pseudo = torch.as_tensor(proba.argmax(1))

    def pool_loss():
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(net.module_(torch.as_tensor(XU)),
                                                           pseudo, reduction="sum"))

    base, eps, rows = pool_loss(), 1e-3, np.flatnonzero(~np.isnan(S))[:8]
    actual = []
    for u in rows:  # with C = 3 and tau = 2 only the majority class is plausible
        fit(torch.cat([torch.ones(30), torch.tensor([eps])]), (u, int(proba[u].argmax())))
        actual.append((pool_loss() - base) / eps)
        with torch.no_grad():
            for p, q in zip(top, optimum, strict=True):
                p.copy_(q)
    np.testing.assert_allclose(S[rows], actual, rtol=0.05, atol=0.02 * np.abs(actual).max())
    # at this optimum refitting the head changes nothing (and writes it where it belongs)
    refit = -RALIFQuery(tau=2.0, damping=lam, params=names[:2], method="cg",
                        pseudo_labels="hard").score_samples(
        net, XU, X_labeled=XL, y_labeled=yL)
    np.testing.assert_allclose(refit, S, rtol=1e-4, atol=1e-6 * np.nanmax(np.abs(S)))
    # the head alone predicts something else: the layer below matters here
    head_only = -RALIFQuery(tau=2.0, damping=lam, refit_head=False,
                            pseudo_labels="hard").score_samples(
        net, XU, X_labeled=XL)
    assert np.abs(head_only[rows] - actual).max() > 0.2 * np.abs(actual).max()


def test_keep_features_auto_keeps_small_pools_and_recomputes_large_ones(monkeypatch, digits):
    """Issue 26: kept features made RALIF's peak memory 8x predict_proba's on a 1M-row pool;
    "auto" keeps them up to KEEP_FEATURES_BYTES and gives the same picks either way."""
    import skralif.strategies._ralif as ralif_module

    X, y = digits
    net = make_net(MLP, max_epochs=3).fit(X[:100], y[:100])
    passes = []

    def counting(*args, **kwargs):
        passes.append(1)
        return real(*args, **kwargs)

    real = ralif_module.block_features
    monkeypatch.setattr(ralif_module, "block_features", counting)

    def query(**kw):
        passes.clear()
        picks = RALIFQuery(random_state=0, **kw).query(net, X[100:600], 10,
                                                        X_labeled=X[:100], y_labeled=y[:100])
        return picks, len(passes)

    kept, kept_passes = query(keep_features="auto")  # 500 x 16 floats: kept
    _, recomputed_passes = query(keep_features=False)
    assert kept_passes < recomputed_passes
    monkeypatch.setattr(ralif_module, "KEEP_FEATURES_BYTES", 100)  # now too large to keep
    large, large_passes = query(keep_features="auto")
    assert large_passes == recomputed_passes
    np.testing.assert_array_equal(kept, large)
