"""Closed forms of a linear head under its loss: softmax cross-entropy or binary logistic.

The head maps encoder features ``f(x)`` to logits through ``theta = [W | b]``
(``W`` alone for a head without a bias), acting on ``x~ = [f(x); 1]``. With
``p`` the class probabilities and ``y`` the label, every per-sample gradient
is ``(p - e_y) x~^T`` and the Hessian of the mean loss is
``(1/n) sum_i (diag(p_i) - p_i p_i^T) (kron) x~_i x~_i^T``: no autograd.

**Binary heads.** A head with one output trained with ``BCEWithLogitsLoss``
(skorch's ``NeuralNetBinaryClassifier``) is exactly a two-class softmax whose
first logit is fixed at 0: the class probabilities are ``(1 - p, p)`` with
``p = sigmoid(z)``. So every formula here is the softmax one on the logits
``[0, z]``, restricted to the head's single row of parameters: the gradient
becomes ``(p - y) x~^T`` and the Hessian ``(1/n) sum_i p_i (1 - p_i) x~_i x~_i^T``.
A head is binary exactly when its weights have one row.
"""

from __future__ import annotations

import warnings

import torch
from sklearn.exceptions import ConvergenceWarning

from .._adapter import augment
from ._backends import CGInverseHVP
from ._objectives import HeadObjective

__all__ = ["head_proba", "head_residuals", "head_gradient", "head_pair_scores", "refit_head"]


def _is_binary(weights) -> bool:
    return weights.shape[0] == 1


def _with_zero_logit(A: torch.Tensor) -> torch.Tensor:
    """``[0, a]`` per row: a binary head's one column as the second of two classes."""
    return torch.cat([torch.zeros_like(A), A], dim=1)


def head_proba(feats, weights) -> torch.Tensor:
    """Class probabilities ``softmax(W f(x) + b)`` (binary: ``(1 - p, p)``), shape
    ``(n, C)``, in the dtype of ``weights``."""
    logits = augment(feats, weights) @ weights.T
    if _is_binary(weights):
        logits = _with_zero_logit(logits)
    return torch.softmax(logits, dim=1)


def head_residuals(proba, labels, binary=False) -> torch.Tensor:
    """The gradient of each row's loss with respect to the head's outputs.

    ``p - e_y`` for a softmax head, shape ``(n, C)``; ``p - y``, shape
    ``(n, 1)``, for a binary head (``proba`` still holds both classes).
    """
    R = proba.clone()
    R[torch.arange(len(R)), torch.as_tensor(labels, device=R.device)] -= 1.0
    return R[:, 1:] if binary else R


def head_gradient(feats, weights, labels=None, proba=None) -> torch.Tensor:
    """Sum over rows of ``grad l(x, y) = (p - e_y) [f(x); 1]^T``, shaped like ``weights``.

    ``labels`` None uses the argmax of ``p`` (pseudo labels); ``proba`` is ``p``
    when the caller already has it.
    """
    P = head_proba(feats, weights) if proba is None else proba
    if labels is None:
        labels = P.argmax(dim=1)
    return head_residuals(P, labels, _is_binary(weights)).T @ augment(feats, weights)


def head_pair_scores(feats, weights, solution, proba=None) -> torch.Tensor:
    """``-g_{u,k}^T s`` for every row ``u`` and class ``k``, shape ``(b, C)``.

    With ``a_u = S [f(u); 1]`` (``S`` is ``s`` shaped like ``weights``),
    ``g_{u,k}^T s = p_u^T a_u - a_uk``: one matrix product per chunk (for a
    binary head, ``a_u`` is ``[0, a_u]``). ``proba`` is ``p`` when the caller
    already has it.
    """
    P = head_proba(feats, weights) if proba is None else proba
    A = augment(feats, weights) @ solution.T
    if _is_binary(weights):
        A = _with_zero_logit(A)
    return A - (P * A).sum(dim=1, keepdim=True)


def refit_head(feats, labels, weights, damping, *, bias=True, binary=False, batch_size=4096,
               max_steps=50) -> torch.Tensor:
    """The head at the optimum of the damped labeled loss, by Newton's method.

    ``J(theta) = (1/n) sum_i l(x_i, y_i) + damping/2 ||theta||^2`` on the frozen
    features, from ``weights``. Influence functions are a first-order expansion around
    an optimum of ``J``; a net trained for a fixed number of epochs is not at one.
    Each Newton step solves ``H step = grad J`` by conjugate gradients on the
    closed-form HVPs, to a relative residual of ``min(0.1, sqrt(||g|| / ||g_0||))``
    (inexact Newton: a direction need not be exact, and a dense factorisation per step
    would cost several times a query), and is halved until ``J`` decreases enough
    (Armijo). Stops when ``||grad J||`` is below ``1e-8`` times its start, or when no
    step decreases ``J``. Cost: per step ``O(n d C)`` per CG iteration.

    Parameters
    ----------
    feats : torch.Tensor of shape (n, d)
        Encoder features of the labeled rows.
    labels : array-like of shape (n,)
        Their class indices.
    weights : torch.Tensor of shape (C, d + 1), or (C, d) without a bias
        The starting head ``[W | b]`` (one row for a binary head).
    damping : float
        Tikhonov term of ``J``.
    bias : bool, default=True
        Whether the head has a bias column.
    binary : bool, default=False
        A binary-logistic head (one output).
    batch_size : int, default=4096
        Rows per chunk of the Hessian's HVPs.
    max_steps : int, default=50
        Newton steps at most.

    Returns
    -------
    torch.Tensor
        The refitted head, shaped like ``weights``.
    """
    n, W = len(feats), weights
    labels = torch.as_tensor(labels, device=feats.device)
    rows_n = torch.arange(n, device=feats.device)

    def objective(W):
        P = head_proba(feats, W)
        loss = -torch.log(P[rows_n, labels].clamp_min(1e-300)).mean()
        return float(loss + damping / 2 * (W * W).sum()), P

    J, P = objective(W)
    first = None
    for _ in range(max_steps):
        grad = head_gradient(feats, W, labels, proba=P) / n + damping * W
        size = float(torch.linalg.vector_norm(grad))
        first = size if first is None else first
        if size <= 1e-8 * first or size == 0.0:
            break
        # inexact Newton (Eisenstat and Walker's forcing terms): a direction solved to
        # min(0.1, sqrt(||g|| / ||g_0||)) is enough far from the optimum and tightens as
        # it nears it, so the convergence stays superlinear for a fraction of the CG
        # iterations of solving every direction to 1e-10 (issue 26)
        newton = CGInverseHVP(tol=max(min(0.1, (size / first) ** 0.5), 1e-10), max_iter=500)
        hessian = HeadObjective(feats, P, damping, batch_size, bias=bias, binary=binary)
        with warnings.catch_warnings():  # an inexact direction still descends
            warnings.simplefilter("ignore", ConvergenceWarning)
            step = newton.inverse_hvp(hessian, grad.reshape(-1)).reshape(W.shape).to(W)
        slope, t = float((grad * step).sum()), 1.0
        while t > 1e-6:
            J_new, P_new = objective(W - t * step)
            if J_new <= J - 1e-4 * t * slope:
                break
            t /= 2
        else:
            break
        W, J, P = W - t * step, J_new, P_new
    return W
