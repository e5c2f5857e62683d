"""Binary-logistic heads (skorch's NeuralNetBinaryClassifier): closed forms against
torch.func and against leave-one-out retraining."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier

from skralif._adapter import HeadView
from skralif.influence import influence_scores
from skralif.influence._head import head_gradient, head_proba
from skralif.influence._objectives import HeadObjective
from tests.conftest import assert_close_to_float32

LAM = 1e-2


class Logit(torch.nn.Module):
    """An optional hidden layer, then one logit per row (squeezed, as skorch expects)."""

    def __init__(self, d=30, hidden=0):
        super().__init__()
        self.body = (torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh())
                     if hidden else torch.nn.Identity())
        self.head = torch.nn.Linear(hidden or d, 1)

    def forward(self, X):
        return self.head(self.body(X)).squeeze(-1)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y.astype(np.int64)


def _binary_net(**kw):
    torch.manual_seed(0)
    params = dict(max_epochs=20, lr=0.05, batch_size=64, train_split=None, verbose=0)
    params.update(kw)
    return NeuralNetBinaryClassifier(Logit, **params)


def _objective(theta, Xa, y, weights):
    z = Xa @ theta
    loss = -(weights * (y * log_expit(z) + (1 - y) * log_expit(-z))).sum() / len(y)
    grad = Xa.T @ (weights * (expit(z) - y)) / len(y) + LAM * theta
    return loss + LAM / 2 * theta @ theta, grad


def _fit(Xa, y, weights, theta0):
    return minimize(_objective, theta0, args=(Xa, y, weights), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}).x


def _eval_loss(theta, Xa, y):
    z = Xa @ theta
    return -(y * log_expit(z) + (1 - y) * log_expit(-z)).mean()


def test_binary_influence_matches_leave_one_out_retraining(cancer):
    X, y = cancer
    Xtr, ytr, Xte, yte = X[:200], y[:200], X[300:], y[300:]
    Xa = np.hstack([Xtr, np.ones((200, 1))]).astype(np.float64)
    theta = _fit(Xa, ytr, np.ones(200), np.zeros(31))
    net = _binary_net().initialize()
    with torch.no_grad():
        net.module_.head.weight.copy_(torch.as_tensor(theta[None, :30]))
        net.module_.head.bias.copy_(torch.as_tensor(theta[30:]))
    scores = influence_scores(net, Xtr, ytr, Xte, yte, y_candidates=ytr, damping=LAM)
    order = np.argsort(-np.abs(scores))
    picked = np.concatenate([order[:15], order[15::12]])
    Xte_a = np.hstack([Xte, np.ones((len(Xte), 1))])
    base = _eval_loss(theta, Xte_a, yte)
    actual = []
    for i in picked:
        weights = np.ones(200)
        weights[i] = 0.0
        actual.append(_eval_loss(_fit(Xa, ytr, weights, theta), Xte_a, yte) - base)
    predicted = -scores[picked] / 200
    assert pearsonr(predicted, actual)[0] > 0.95
    assert spearmanr(predicted, actual)[0] > 0.9
    assert 0.8 < np.polyfit(predicted, actual, 1)[0] < 2.0


@pytest.mark.parametrize("hidden", [0, 8])
def test_binary_head_path_agrees_with_torch_func(cancer, hidden):
    X, y = cancer
    net = _binary_net(module__hidden=hidden).fit(X[:200], y[:200].astype(np.float32))
    kw = dict(X_candidates=X[400:460], damping=1e-2)
    head = influence_scores(net, X[:200], y[:200], X[200:300], **kw)
    assert head.shape == (60, 2)
    names = ["head.weight", "head.bias"] if hidden else "all"
    full = influence_scores(net, X[:200], y[:200], X[200:300], params=names, **kw)
    assert_close_to_float32(head, full)
    labels = y[400:460]
    one = influence_scores(net, X[:200], y[:200], X[200:300], y_candidates=labels, **kw)
    np.testing.assert_array_equal(one, head[np.arange(60), labels])


def test_binary_closed_forms_are_the_logistic_ones(cancer):
    X, y = cancer
    net = _binary_net().fit(X[:100], y[:100].astype(np.float32))
    view = HeadView.from_net(net, X[:2])
    assert view.binary and view.n_classes == 2 and view.output == "logit"
    W = view.weights()
    feats = torch.as_tensor(X[:100], dtype=torch.float64)
    Xa = torch.cat([feats, torch.ones(100, 1, dtype=torch.float64)], dim=1)
    p = torch.sigmoid(Xa @ W[0])
    P = head_proba(feats, W)
    torch.testing.assert_close(P[:, 1], p)
    labels = torch.as_tensor(y[:100])
    torch.testing.assert_close(head_gradient(feats, W, labels)[0], Xa.T @ (p - labels))
    H = HeadObjective(feats, P, damping=0.1, binary=True).hessian()
    expected = (Xa.T * (p * (1 - p))) @ Xa / 100 + 0.1 * torch.eye(31, dtype=torch.float64)
    torch.testing.assert_close(H, expected)
