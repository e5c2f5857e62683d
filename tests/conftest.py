"""Shared fixtures: small real data and small fitted skorch nets."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier


@pytest.fixture(scope="session")
def digits():
    """``load_digits`` scaled to [0, 1], float32 features and int64 labels."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


class MLP(torch.nn.Module):
    """64 -> hidden -> 10 MLP returning logits, with optional dropout."""

    def __init__(self, in_features=64, hidden=16, n_classes=10, dropout=0.0):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(in_features, hidden), torch.nn.Tanh(), torch.nn.Dropout(dropout)
        )
        self.head = torch.nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


def make_net(module, criterion=torch.nn.CrossEntropyLoss, **kwargs):
    torch.manual_seed(0)
    params = dict(max_epochs=15, lr=0.1, batch_size=64, train_split=None, verbose=0)
    params.update(kwargs)
    return NeuralNetClassifier(module, criterion=criterion, **params)


@pytest.fixture(scope="session")
def linear_net(digits):
    """A fitted softmax regression (only parameters: the head), logits output."""
    X, y = digits
    return make_net(torch.nn.Linear, module__in_features=64, module__out_features=10).fit(
        X[:300], y[:300]
    )


@pytest.fixture(scope="session")
def mlp_net(digits):
    """A fitted 64-16-10 MLP with logits output."""
    X, y = digits
    return make_net(MLP).fit(X[:300], y[:300])


def _head_objective(theta, X, Y, weights, lam):
    """sum_i w_i CE_i / n + lam/2 ||theta||^2 for a softmax head, with its gradient."""
    n, d1 = X.shape
    W = theta.reshape(Y.shape[1], d1)
    logp = log_softmax(X @ W.T, axis=1)
    loss = -(weights * (Y * logp).sum(1)).sum() / n + lam / 2 * theta @ theta
    grad = ((softmax(X @ W.T, axis=1) - Y) * weights[:, None]).T @ X / n + lam * W
    return loss, grad.ravel()


def fit_softmax_head(X, Y, weights, lam, theta0):
    """Minimise the weighted, L2-regularised softmax objective to convergence (L-BFGS).

    ``X`` has a trailing column of ones; ``Y`` is one-hot; returns ``[W | b]`` flattened.
    """
    res = minimize(_head_objective, theta0, args=(X, Y, weights, lam), jac=True,
                   method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000})
    return res.x


def softmax_net(theta, d, C):
    """A skorch net whose module is one Linear(d, C) holding ``theta = [W | b]``."""
    net = NeuralNetClassifier(torch.nn.Linear, module__in_features=d, module__out_features=C,
                              criterion=torch.nn.CrossEntropyLoss, train_split=None).initialize()
    W = np.asarray(theta).reshape(C, d + 1)
    with torch.no_grad():
        net.module_.weight.copy_(torch.as_tensor(W[:, :d]))
        net.module_.bias.copy_(torch.as_tensor(W[:, d]))
    return net


#: float32's machine epsilon: the unit of rounding error of every float32 path.
EPS32 = float(np.finfo(np.float32).eps)


def assert_close_to_float32(actual, desired, ulps=64):
    """Assert ``|actual - desired| <= ulps * eps32 * max|desired|`` entrywise.

    For comparing a path that computes in float32 (encoder features, a CPU kernel whose
    summation order depends on the BLAS build) with a float64 one. Rounding errors of float32
    scale with the magnitude of the whole computation, not with each entry: influence scores
    are differences of products, so an entry near zero carries the absolute error of its large
    neighbours, and an entrywise ``rtol`` fails on it whenever another CPU rounds otherwise.
    ``ulps`` is the number of float32 roundings the comparison tolerates, relative to the
    largest entry.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    scale = np.nanmax(np.abs(desired)) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=0, atol=ulps * EPS32 * scale)


@pytest.fixture(scope="session")
def label_studio_url(tmp_path_factory):
    """One real Label Studio server on 127.0.0.1 for the session's Label Studio tests
    (``$SKRALIF_LABEL_STUDIO`` or ``label-studio`` on PATH; CI's step fails without it)."""
    import os
    import shutil

    from .labelstudio_server import label_studio

    exe = os.environ.get("SKRALIF_LABEL_STUDIO") or shutil.which("label-studio")
    if os.environ.get("SKRALIF_LABEL_STUDIO") and not os.access(exe, os.X_OK):
        pytest.fail(f"SKRALIF_LABEL_STUDIO={exe} is not an executable")
    if not exe:
        pytest.skip("no label-studio executable: pip install label-studio (in a virtual "
                    "environment of its own) and set SKRALIF_LABEL_STUDIO to it")
    with label_studio(exe, tmp_path_factory.mktemp("label-studio")) as url:
        yield url
