"""Closed-form head objective and torch.func objective against autograd ground truth."""

import numpy as np
import torch

from skralif.influence import HeadObjective, ParamObjective


def _ce_head_loss(theta, feats, labels, damping, shape):
    W = theta.reshape(shape)
    X = torch.cat([feats, torch.ones(len(feats), 1, dtype=feats.dtype)], dim=1)
    loss = torch.nn.functional.cross_entropy(X @ W.T, labels)
    return loss + damping / 2 * theta @ theta


def _random_head(seed=0, n=40, d=5, C=4):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    W = torch.randn(C, d + 1, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, (n,), generator=g)
    return feats, W, labels


def test_head_hessian_matches_autograd():
    feats, W, labels = _random_head()
    X = torch.cat([feats, torch.ones(len(feats), 1, dtype=torch.float64)], dim=1)
    obj = HeadObjective(feats, torch.softmax(X @ W.T, dim=1), damping=0.3, batch_size=7)
    expected = torch.autograd.functional.hessian(
        lambda t: _ce_head_loss(t, feats, labels, 0.3, W.shape), W.reshape(-1)
    )
    torch.testing.assert_close(obj.hessian(), expected, rtol=1e-10, atol=1e-12)


def test_head_hvp_matches_dense_hessian_on_all_and_on_rows():
    feats, W, _ = _random_head(1)
    X = torch.cat([feats, torch.ones(len(feats), 1, dtype=torch.float64)], dim=1)
    P = torch.softmax(X @ W.T, dim=1)
    obj = HeadObjective(feats, P, damping=0.1)
    v = torch.randn(obj.n_params, dtype=torch.float64)
    torch.testing.assert_close(obj.hvp(v), obj.hessian() @ v)
    rows = torch.tensor([0, 3, 5])
    sub = HeadObjective(feats[rows], P[rows], damping=0.1)
    torch.testing.assert_close(obj.hvp(v, rows), sub.hessian() @ v)


def test_param_per_sample_grads_match_a_loop(mlp_net, digits):
    X, y = digits
    names = [k for k, _ in mlp_net.module_.named_parameters()]
    obj = ParamObjective(mlp_net, names, X[:20], y[:20])
    xb, yb = obj.batch(X, y, slice(0, 6))
    batched = obj.per_sample_grads(xb, yb)
    for i in range(6):
        theta = obj.theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(obj.loss(theta, xb[i : i + 1], yb[i : i + 1]), theta)
        torch.testing.assert_close(batched[i], g, rtol=1e-10, atol=1e-12)


def test_param_hvp_and_hessian_match_explicit_hessian(mlp_net, digits):
    X, y = digits
    obj = ParamObjective(mlp_net, ["head.weight", "head.bias", "body.0.bias"], X[:50], y[:50],
                         damping=0.05, batch_size=16)
    xb, yb = obj.batch(X, y, slice(0, 50))
    expected = torch.autograd.functional.hessian(lambda t: obj.loss(t, xb, yb), obj.theta)
    expected += 0.05 * torch.eye(obj.n_params, dtype=torch.float64)
    v = torch.randn(obj.n_params, dtype=torch.float64)
    torch.testing.assert_close(obj.hvp(v), expected @ v, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(obj.hessian(), expected, rtol=1e-9, atol=1e-11)


def test_param_objective_leaves_live_module_untouched(mlp_net, digits):
    X, y = digits
    before = {k: v.clone() for k, v in mlp_net.module_.state_dict().items()}
    obj = ParamObjective(mlp_net, ["head.weight"], X[:30], y[:30])
    obj.hvp(torch.ones(obj.n_params, dtype=torch.float64))
    for k, v in mlp_net.module_.state_dict().items():
        assert torch.equal(v, before[k]) and v.dtype == torch.float32
    assert np.isfinite(obj.theta.numpy()).all()
