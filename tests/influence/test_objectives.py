"""Closed-form head objective and torch.func objective against autograd ground truth."""

import numpy as np
import pytest
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


def _explicit_gauss_newton(obj, X, y, damping):
    """``(1/n) sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i + damping I`` row by row, with
    autograd's Jacobian: the ground truth for a softmax cross-entropy net."""
    total = torch.zeros(obj.n_params, obj.n_params, dtype=torch.float64)
    for i in range(len(X)):
        x = torch.as_tensor(X[i : i + 1], dtype=torch.float64)
        J = torch.autograd.functional.jacobian(lambda t, x=x: obj.outputs(t, x)[0], obj.theta)
        p = torch.softmax(obj.outputs(obj.theta, x)[0], dim=0)
        total += J.T @ (torch.diag(p) - torch.outer(p, p)) @ J
    return total / len(X) + damping * torch.eye(obj.n_params, dtype=torch.float64)


def test_gauss_newton_matches_explicit_jacobians(mlp_net, digits):
    """Both the dense matrix (per-row Jacobians, rows chunked) and the matrix-free product
    equal J^T A J built row by row; a hidden layer's Hessian is indefinite, the
    Gauss-Newton matrix is not."""
    X, y = digits
    names = [k for k, _ in mlp_net.module_.named_parameters()]
    obj = ParamObjective(mlp_net, names, X[:40], y[:40], damping=0.01, batch_size=16,
                         curvature="gauss-newton")
    expected = _explicit_gauss_newton(obj, X[:40], y[:40], 0.01)
    torch.testing.assert_close(obj.hessian(), expected, rtol=1e-9, atol=1e-11)
    v = torch.randn(obj.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(obj.hvp(v), expected @ v, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(obj.hvp(v, np.arange(5, 9)),
                               _explicit_gauss_newton(obj, X[5:9], y[5:9], 0.01) @ v,
                               rtol=1e-9, atol=1e-11)
    assert torch.linalg.eigvalsh(obj.hessian())[0] >= 0.01 - 1e-9
    full = ParamObjective(mlp_net, names, X[:40], y[:40], damping=0.01, batch_size=16)
    assert torch.linalg.eigvalsh(full.hessian())[0] < 0  # why Gauss-Newton is offered


def test_gauss_newton_is_the_hessian_of_a_head(mlp_net, digits):
    """The output is linear in the head, so its Gauss-Newton matrix is its Hessian."""
    X, y = digits
    args = (mlp_net, ["head.weight", "head.bias"], X[:30], y[:30], 0.05, 8)
    torch.testing.assert_close(ParamObjective(*args, curvature="gauss-newton").hessian(),
                               ParamObjective(*args).hessian(), rtol=1e-10, atol=1e-12)


def test_gauss_newton_chunks_the_jacobians(mlp_net, digits, monkeypatch):
    """Rows are chunked to keep the Jacobians near JACOBIAN_BYTES: one row a chunk
    gives the same matrix."""
    import skralif.influence._objectives as objectives

    X, y = digits
    names = [k for k, _ in mlp_net.module_.named_parameters()]
    obj = ParamObjective(mlp_net, names, X[:12], y[:12], 0.01, 64, curvature="gauss-newton")
    whole = obj.hessian()
    monkeypatch.setattr(objectives, "JACOBIAN_BYTES", 1)
    torch.testing.assert_close(obj.hessian(), whole, rtol=1e-10, atol=1e-12)


def test_unknown_curvature_is_refused(mlp_net, digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"`curvature` must be one of .*'newton'"):
        ParamObjective(mlp_net, ["head.weight"], X[:5], y[:5], curvature="newton")
