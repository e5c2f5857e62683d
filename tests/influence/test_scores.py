"""influence_scores: sign, scale, both paths, leave-one-out ground truth, errors."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax
from scipy.stats import pearsonr, spearmanr
from sklearn.exceptions import NotFittedError
from skorch import NeuralNetClassifier

from skralif.influence import LiSSAInverseHVP, influence_scores
from tests.conftest import assert_close_to_float32, fit_softmax_head, make_net, softmax_net

LAM = 1e-2


def _fit(X, Y, weights, theta0):
    return fit_softmax_head(X, Y, weights, LAM, theta0)


def _eval_loss(theta, X, y):
    W = theta.reshape(10, X.shape[1])
    return -log_softmax(X @ W.T, axis=1)[np.arange(len(y)), y].mean()


@pytest.fixture(scope="module")
def converged_logreg(digits):
    """L2 multinomial logistic regression on 300 digits, trained to convergence."""
    X, y = digits
    Xtr, ytr = X[:300].astype(np.float64), y[:300]
    Xa = np.hstack([Xtr, np.ones((300, 1))])
    theta = _fit(Xa, np.eye(10)[ytr], np.ones(300), np.zeros(650))
    return softmax_net(theta, 64, 10), Xa, ytr, theta


def test_influence_matches_leave_one_out_retraining(converged_logreg, digits):
    net, Xa, ytr, theta = converged_logreg
    X, y = digits
    Xte, yte = X[1000:1400], y[1000:1400]
    scores = influence_scores(net, X[:300], ytr, Xte, yte, y_candidates=ytr, damping=LAM)
    # the removals that matter most, plus a spread of ordinary ones
    order = np.argsort(-np.abs(scores))
    picked = np.concatenate([order[:20], order[20::14]])
    Xte_a = np.hstack([Xte, np.ones((len(Xte), 1))])
    base = _eval_loss(theta, Xte_a, yte)
    actual = []
    for i in picked:
        weights = np.ones(300)
        weights[i] = 0.0
        actual.append(_eval_loss(_fit(Xa, np.eye(10)[ytr], weights, theta), Xte_a, yte) - base)
    predicted = -scores[picked] / 300
    slope = np.polyfit(predicted, actual, 1)[0]
    assert pearsonr(predicted, actual)[0] > 0.95
    assert spearmanr(predicted, actual)[0] > 0.9
    assert 0.8 < slope < 2.0, slope


@pytest.mark.parametrize("criterion,module", [
    ("ce", lambda: torch.nn.Linear(64, 10)),
    ("nll", lambda: torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Softmax(dim=-1))),
])
def test_head_path_agrees_with_torch_func_path(digits, criterion, module):
    X, y = digits
    crit = torch.nn.CrossEntropyLoss if criterion == "ce" else torch.nn.NLLLoss
    net = make_net(module(), criterion=crit, max_epochs=5).fit(X[:200], y[:200])
    kw = dict(X_candidates=X[500:560], damping=1e-2)
    head = influence_scores(net, X[:200], y[:200], X[300:400], **kw)
    full = influence_scores(net, X[:200], y[:200], X[300:400], params="all", **kw)
    np.testing.assert_allclose(head, full, rtol=1e-6, atol=1e-9 * np.abs(head).max())


def test_named_head_parameters_of_an_mlp_equal_the_head_path(mlp_net, digits):
    X, y = digits
    kw = dict(y_eval=y[300:400], X_candidates=X[400:450], damping=1e-2)
    head = influence_scores(mlp_net, X[:300], y[:300], X[300:400], **kw)
    named = influence_scores(mlp_net, X[:300], y[:300], X[300:400],
                             params=["head.weight", "head.bias"], **kw)
    # the head path reads float32 encoder features, the torch.func path a float64 copy
    assert_close_to_float32(head, named)


def test_all_parameters_of_an_mlp_with_every_backend_agree(mlp_net, digits):
    X, y = digits
    args = (mlp_net, X[:100], y[:100], X[100:150])
    # damping above the most negative curvature of this non-convex Hessian
    kw = dict(X_candidates=X[150:160], y_candidates=y[150:160], params="all", damping=0.5)
    exact = influence_scores(*args, **kw)
    cg = influence_scores(*args, method="cg", **kw)
    np.testing.assert_allclose(cg, exact, rtol=1e-5, atol=1e-7 * np.abs(exact).max())
    assert exact.shape == (10,)


def test_gauss_newton_scores_exact_and_cg_agree_at_small_damping(mlp_net, digits):
    """With ``curvature="gauss-newton"`` the matrix is positive definite, so the exact
    solve and CG agree at a damping far below the Hessian's negative curvature (the
    Hessian's own agreement above needs damping 0.5; at 1e-2 it is indefinite)."""
    X, y = digits
    args = (mlp_net, X[:100], y[:100], X[100:150])
    kw = dict(X_candidates=X[150:160], y_candidates=y[150:160], params="all", damping=1e-2,
              curvature="gauss-newton")
    exact = influence_scores(*args, **kw)
    cg = influence_scores(*args, method="cg", **kw)
    np.testing.assert_allclose(cg, exact, rtol=1e-5, atol=1e-6 * np.abs(exact).max())
    head = dict(X_candidates=X[150:160], damping=1e-2)
    np.testing.assert_array_equal(  # a head's Gauss-Newton matrix is its Hessian
        influence_scores(*args, curvature="gauss-newton", **head),
        influence_scores(*args, **head))
    with pytest.warns(RuntimeWarning, match="not positive definite"):
        hessian = influence_scores(*args, **{**kw, "curvature": "hessian"})
    assert not np.allclose(hessian, exact)  # not the same matrix beyond the head


def test_pseudo_labels_default_to_argmax_predictions(mlp_net, digits):
    X, y = digits
    preds = mlp_net.predict(X[300:400])
    a = influence_scores(mlp_net, X[:300], y[:300], X[300:400], damping=1e-2)
    b = influence_scores(mlp_net, X[:300], y[:300], X[300:400], preds, damping=1e-2)
    np.testing.assert_array_equal(a, b)


def test_shapes_labels_and_chunking(mlp_net, digits):
    X, y = digits
    every = influence_scores(mlp_net, X[:300], y[:300], X[300:400], damping=1e-2)
    assert every.shape == (300, 10)
    one = influence_scores(
        mlp_net, X[:300], y[:300], X[300:400], y_candidates=y[:300], damping=1e-2
    )
    np.testing.assert_allclose(one, every[np.arange(300), y[:300]])
    small = influence_scores(mlp_net, X[:300], y[:300], X[300:400], damping=1e-2, batch_size=7)
    # float32 encoder matmuls round differently per batch size; nothing else differs
    assert_close_to_float32(small, every)


def test_sign_lowering_eval_loss_is_negative(converged_logreg, digits):
    """Up-weighting a candidate with a negative score must lower the eval loss."""
    net, Xa, ytr, theta = converged_logreg
    X, y = digits
    Xte_a = np.hstack([X[1000:1400], np.ones((400, 1))])
    scores = influence_scores(net, X[:300], ytr, X[1000:1400], y[1000:1400], y_candidates=ytr,
                              damping=LAM)
    base = _eval_loss(theta, Xte_a, y[1000:1400])
    for i in (np.argmin(scores), np.argmax(scores)):
        weights = np.ones(300)
        weights[i] = 1.0 + 30.0  # eps = 30 / n
        change = _eval_loss(_fit(Xa, np.eye(10)[ytr], weights, theta), Xte_a, y[1000:1400]) - base
        assert np.sign(change) == np.sign(scores[i])


@pytest.mark.parametrize("params", ["head", "all"])
def test_weights_and_modes_unchanged(mlp_net, digits, params):
    X, y = digits
    before = {k: v.clone() for k, v in mlp_net.module_.state_dict().items()}
    mlp_net.module_.train()
    influence_scores(mlp_net, X[:50], y[:50], X[50:80], params=params, damping=0.5,
                     method=LiSSAInverseHVP(random_state=0))
    assert mlp_net.module_.training and mlp_net.module_.head.training
    for k, v in mlp_net.module_.state_dict().items():
        assert torch.equal(v, before[k])


def test_errors_name_the_argument(mlp_net, digits):
    X, y = digits
    args = (X[:50], y[:50], X[50:80])
    unfitted = NeuralNetClassifier(torch.nn.Linear)
    with pytest.raises(NotFittedError, match="`net`"):
        influence_scores(unfitted, *args)
    with pytest.raises(TypeError, match="`net` must be a fitted skorch"):
        influence_scores(object(), *args)
    with pytest.raises(ValueError, match="`params`.*unknown: \\['nope'\\]"):
        influence_scores(mlp_net, *args, params=["nope"])
    with pytest.raises(ValueError, match="`y_train` must hold class indices in \\[0, 9\\]"):
        influence_scores(mlp_net, X[:50], y[:50] + 10, X[50:80])
    with pytest.raises(ValueError, match="`y_eval` has 3 labels for 30 rows"):
        influence_scores(mlp_net, *args, y[:3])
    with pytest.raises(TypeError, match="Unknown option"):
        influence_scores(mlp_net, *args, scale=3)
    with pytest.raises(ValueError, match="`head` must name a submodule"):
        influence_scores(mlp_net, *args, head="missing")
    with pytest.raises(ValueError, match="`curvature` must be one of .*got 'ggn'"):
        influence_scores(mlp_net, *args, curvature="ggn")


def test_head_path_refuses_an_output_it_cannot_model(digits):
    X, y = digits
    module = torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Tanh())
    net = make_net(module, max_epochs=1).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="params='all'"):
        influence_scores(net, X[:50], y[:50], X[50:80])


def test_damping_is_set_in_one_place(linear_net, digits):
    """Issue 21: a backend's own damping was added on top of the objective's."""
    from skralif import RALIFQuery
    from skralif.influence import CGInverseHVP

    X, y = digits
    with pytest.raises(ValueError, match=r"Damping is set twice: .*CGInverseHVP.*0\.1"):
        influence_scores(linear_net, X[:50], y[:50], X[50:60], damping=1e-2,
                         method=CGInverseHVP(damping=0.1))
    with pytest.raises(ValueError, match="Damping is set twice"):
        RALIFQuery(method=CGInverseHVP(damping=0.1)).query(
            linear_net, X[60:90], 3, X_labeled=X[:50], y_labeled=y[:50])
    # the one place: the same damping through the objective equals the backend's
    once = influence_scores(linear_net, X[:50], y[:50], X[50:60], damping=0.1, method="cg")
    assert np.isfinite(once).all()


def test_the_torch_func_path_stays_finite_on_a_confident_net(linear_net, digits):
    """Log-probabilities come from a log-softmax of the logits, not log(softmax): a net
    whose logits differ by hundreds gives finite scores in float32 too."""
    import copy

    X, y = digits
    net = copy.deepcopy(linear_net)
    with torch.no_grad():
        net.module_.weight.mul_(200.0)
    for dtype in (torch.float32, torch.float64):
        scores = influence_scores(net, X[:50], y[:50], X[50:60], params="all", damping=1e-2,
                                  dtype=dtype)
        assert np.isfinite(scores).all()
