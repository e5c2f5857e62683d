"""Training objectives whose Hessian the inverse-HVP backends invert.

An objective is ``J(theta) = (1/n) sum_i loss(x_i, y_i; theta) + damping/2 ||theta||^2``
over a chosen set of parameters ``theta`` (flattened to one vector of length
``n_params``), evaluated at the net's current weights. Backends only ever call

- ``hvp(v, rows=None)``: ``H v``, with ``H`` the Hessian of ``J`` restricted to
  the training rows ``rows`` (all of them when None), and
- ``hessian()``: the dense ``(n_params, n_params)`` float64 Hessian.

Two objectives exist:

:class:`HeadObjective`
    ``theta`` is the head ``[W | b]`` of a softmax (or binary-logistic) classifier. With
    ``x~ = [f(x); 1]`` and ``A_i = diag(p_i) - p_i p_i^T`` the closed form is
    ``H = (1/n) sum_i A_i (kron) x~_i x~_i^T + damping I``: no autograd at all.
:class:`ParamObjective`
    ``theta`` is any subset of the module's parameters; gradients come from
    :mod:`torch.func` (``vmap`` of ``grad`` per sample, ``jvp`` of ``grad`` for
    HVPs) on a float64 copy of the module, so the live module is never touched.
"""

from __future__ import annotations

import copy
import io

import torch
from torch.func import functional_call, grad, jvp, vmap

from .._adapter import (
    as_input,
    augment,
    call_module,
    iter_chunks,
    n_rows,
    reading,
    take_rows,
)


class HeadObjective:
    """Cross-entropy objective of a softmax head on fixed features (closed forms).

    Parameters
    ----------
    feats : torch.Tensor of shape (n, d)
        Encoder features of the training rows.
    proba : torch.Tensor of shape (n, C)
        Softmax probabilities of the head on those rows.
    damping : float
        Tikhonov term added to the Hessian.
    batch_size : int
        Rows per chunk when building the dense Hessian.
    bias : bool, default=True
        Whether the head has a bias (a head built with ``bias=False`` has
        ``C x d`` parameters, and ``x~ = f(x)``).
    binary : bool, default=False
        A binary-logistic head (one output): ``proba`` holds the two class
        probabilities ``(1 - p, p)``, the parameters are one row, and the
        Hessian is ``(1/n) sum_i p_i (1 - p_i) x~_i x~_i^T + damping I``
        (see :mod:`skralif.influence._head`).

    Notes
    -----
    Parameters are laid out as the row-major flattening of ``[W | b]``
    (``C x (d + 1)``), or of ``W`` alone without a bias. The labels do not
    enter the Hessian of cross-entropy.
    """

    def __init__(self, feats, proba, damping=0.0, batch_size=4096, bias=True, binary=False):
        self.X = augment(feats, bias=bias)
        # diag(p) - p p^T of a binary head's one output is p (1 - p): the softmax
        # formulas below hold unchanged with the single column p
        self.P = proba.to(torch.float64)[:, 1:] if binary else proba.to(torch.float64)
        self.damping = float(damping)
        self.batch_size = batch_size
        self.n_train, self.dim = self.X.shape
        self.n_classes = self.P.shape[1]
        self.n_params = self.n_classes * self.dim

    @property
    def device(self):
        return self.X.device

    def hvp(self, v: torch.Tensor, rows=None) -> torch.Tensor:
        """``H v`` in ``O(|rows| C d)``: ``(1/n) sum_i x~_i (A_i V x~_i)^T + damping V``.

        Parameters
        ----------
        v : torch.Tensor of shape (n_params,)
            Vector, in the ``[W | b]`` layout.
        rows : index array, default=None
            Training rows of a minibatch Hessian (all rows when None).

        Returns
        -------
        torch.Tensor of shape (n_params,)
        """
        X, P = (self.X, self.P) if rows is None else (self.X[rows], self.P[rows])
        V = v.reshape(self.n_classes, self.dim)
        A = X @ V.T
        R = P * A - P * (P * A).sum(dim=1, keepdim=True)
        return ((R.T @ X) / X.shape[0] + self.damping * V).reshape(-1)

    def hessian(self) -> torch.Tensor:
        """Dense Hessian, float64, in ``O(n C^2 d^2 / 2)``.

        With ``z_ic = p_ic x~_i``, block ``(c, c')`` of ``A_i (kron) x~_i x~_i^T`` is
        ``[c = c'] z_ic x~_i^T - z_ic z_ic'^T``. Only blocks ``c' >= c`` are computed
        (one matrix product per class and chunk); the rest is copied by symmetry.
        """
        C, D = self.n_classes, self.dim
        H = torch.zeros(C * D, C * D, dtype=torch.float64, device=self.device)
        blocks = H.view(C, D, C, D)
        rows = max(1, min(self.batch_size, 2**24 // (C * D)))  # bounds Z to 128 MiB
        for sl in iter_chunks(self.n_train, rows):
            X, P = self.X[sl], self.P[sl]
            Z = P[:, :, None] * X[:, None, :]
            for c in range(C):
                upper = Z[:, c, :].T @ Z[:, c:, :].reshape(len(X), -1)
                blocks[c, :, c:, :] -= upper.view(D, C - c, D)
                blocks[c, :, c, :] += Z[:, c, :].T @ X
        for c in range(C - 1):
            blocks[c + 1 :, :, c, :] = blocks[c, :, c + 1 :, :].permute(1, 2, 0)
        H /= self.n_train
        H.diagonal().add_(self.damping)
        return H


class ParamObjective:
    """Mean criterion loss of a skorch net over chosen parameters, via torch.func.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
        Fitted net; its module is deep-copied to ``dtype`` and put in eval mode.
    names : list of str
        Names of the parameters that form ``theta``; the others stay fixed.
    X : array-like of shape (n, ...)
        Training rows.
    y : array-like of shape (n,)
        Their class indices.
    damping : float
        Tikhonov term added to the Hessian.
    batch_size : int
        Rows per chunk for HVPs and per-sample gradients.
    dtype : torch.dtype
        Precision of every computation (float64 by default, for exact solves).
    """

    def __init__(self, net, names, X, y, damping=0.0, batch_size=4096, dtype=torch.float64):
        self.net = net
        with reading(net.module_):  # a consistent copy, even while other threads read
            self.module = _private_copy(net.module_).to(dtype).eval()
        self.dtype = dtype
        named = dict(self.module.named_parameters())
        self.names = list(names)
        self.shapes = [named[k].shape for k in self.names]
        self.theta = torch.cat([named[k].detach().reshape(-1) for k in self.names])
        self.fixed = {k: p.detach() for k, p in named.items() if k not in self.names}
        self.fixed.update(dict(self.module.named_buffers()))
        self.X, self.y = X, y
        # binary criteria (skorch's NeuralNetBinaryClassifier) take float targets
        binary = isinstance(net.criterion_, (torch.nn.BCEWithLogitsLoss, torch.nn.BCELoss))
        self.label_dtype = dtype if binary else torch.int64
        self.damping = float(damping)
        self.batch_size = batch_size
        self.n_train = n_rows(X)
        self.n_params = self.theta.numel()

    @property
    def device(self):
        return self.theta.device

    def outputs(self, theta, x):
        """Module output with ``theta`` substituted for the chosen parameters.

        Parameters
        ----------
        theta : torch.Tensor of shape (n_params,)
            Values of the chosen parameters, flattened.
        x : torch.Tensor or dict of torch.Tensor
            One batch of inputs.

        Returns
        -------
        torch.Tensor
        """
        params = dict(self.fixed)
        chunks = self.theta_split(theta)
        for name, chunk, shape in zip(self.names, chunks, self.shapes, strict=True):
            params[name] = chunk.reshape(shape)
        if isinstance(x, dict):
            return functional_call(self.module, params, (), x)
        return functional_call(self.module, params, (x,))

    def theta_split(self, theta):
        """Split flat ``theta`` into one flat tensor per chosen parameter.

        Parameters
        ----------
        theta : torch.Tensor of shape (n_params,)

        Returns
        -------
        tuple of torch.Tensor
        """
        return torch.split(theta, [s.numel() for s in self.shapes])

    def loss(self, theta, x, y):
        """Mean criterion loss on one batch, as the net computes it in training.

        Parameters
        ----------
        theta : torch.Tensor of shape (n_params,)
            Values of the chosen parameters.
        x : torch.Tensor or dict of torch.Tensor
            Inputs.
        y : torch.Tensor
            Class indices.

        Returns
        -------
        torch.Tensor (scalar)
        """
        return self.net.get_loss(self.outputs(theta, x), y.to(self.label_dtype))

    def batch(self, X, y, sl):
        """Rows ``sl`` of ``(X, y)`` as tensors of this objective's device and dtype.

        Parameters
        ----------
        X : array-like
            Inputs.
        y : array-like
            Class indices.
        sl : slice or index array
            Rows to take.

        Returns
        -------
        (torch.Tensor or dict, torch.Tensor)
        """
        xb = as_input(take_rows(X, sl), self.device, self.dtype)
        return xb, torch.as_tensor(y[sl], device=self.device)

    def grad_mean(self, X, y) -> torch.Tensor:
        """Gradient of the mean loss over ``(X, y)``, accumulated over chunks.

        Parameters
        ----------
        X : array-like
            Inputs.
        y : array-like
            Class indices.

        Returns
        -------
        torch.Tensor of shape (n_params,)
        """
        total = torch.zeros_like(self.theta)
        n = n_rows(X)
        for sl in iter_chunks(n, self.batch_size):
            xb, yb = self.batch(X, y, sl)
            total += grad(self.loss)(self.theta, xb, yb) * (sl.stop - sl.start)
        return total / n

    def per_sample_grads(self, xb, yb) -> torch.Tensor:
        """``(b, n_params)`` per-sample gradients of one chunk via ``vmap(grad)``.

        Parameters
        ----------
        xb : torch.Tensor or dict of torch.Tensor
            A chunk of ``b`` inputs.
        yb : torch.Tensor of shape (b,)
            Their class indices.

        Returns
        -------
        torch.Tensor of shape (b, n_params)
        """

        def single(theta, x, y):
            return self.loss(theta, _unsqueeze(x), y.unsqueeze(0))

        return vmap(grad(single), in_dims=(None, 0, 0))(self.theta, xb, yb)

    def hvp(self, v: torch.Tensor, rows=None) -> torch.Tensor:
        """``H v`` as ``jvp`` of ``grad`` (forward-over-reverse), chunk by chunk.

        Parameters
        ----------
        v : torch.Tensor of shape (n_params,)
            Vector.
        rows : index array, default=None
            Training rows of a minibatch Hessian (all rows when None).

        Returns
        -------
        torch.Tensor of shape (n_params,)
        """
        if rows is not None:
            return self._hvp_batch(v, *self.batch(self.X, self.y, _as_index(rows))) + (
                self.damping * v
            )
        total = 0.0  # out of place, so that ``vmap`` can batch over ``v``
        for sl in iter_chunks(self.n_train, self.batch_size):
            xb, yb = self.batch(self.X, self.y, sl)
            total = total + self._hvp_batch(v, xb, yb) * (sl.stop - sl.start)
        return total / self.n_train + self.damping * v

    def _hvp_batch(self, v, xb, yb):
        return jvp(lambda t: grad(self.loss)(t, xb, yb), (self.theta,), (v.to(self.dtype),))[1]

    def hessian(self) -> torch.Tensor:
        """Dense Hessian, float64, one ``vmap``-ed HVP per block of basis vectors."""
        p = self.n_params
        eye = torch.eye(p, dtype=self.dtype, device=self.device)
        cols = [vmap(self.hvp)(eye[sl]) for sl in iter_chunks(p, 256)]
        H = torch.cat(cols).to(torch.float64)
        return (H + H.T) / 2

    def predicted_labels(self, X) -> torch.Tensor:
        """The class the net predicts for every row: the argmax of its
        ``predict_proba`` (its own nonlinearity on the module output).

        Parameters
        ----------
        X : array-like
            Inputs.

        Returns
        -------
        torch.Tensor of shape (n_rows,)
        """
        preds = []
        to_proba = self.net._get_predict_nonlinearity()
        with reading(self.module):
            for sl in iter_chunks(n_rows(X), self.batch_size):
                xb = as_input(take_rows(X, sl), self.device, self.dtype)
                preds.append(to_proba(call_module(self.module, xb)).argmax(dim=1))
        return torch.cat(preds)


def _private_copy(module):
    """A copy of ``module`` that shares no parameter with it.

    ``copy.deepcopy`` is enough unless a submodule shares itself on copy
    (:class:`skralif.nets.FrozenEncoder`); casting that copy to float64 would
    cast the live encoder, so such modules are copied through serialization.
    """
    copied = copy.deepcopy(module)
    live = {p.data_ptr() for p in module.parameters()}
    if not any(p.data_ptr() in live for p in copied.parameters()):
        return copied
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _unsqueeze(x):
    if isinstance(x, dict):
        return {k: v.unsqueeze(0) for k, v in x.items()}
    return x.unsqueeze(0)


def _as_index(rows):
    return rows.cpu().numpy() if isinstance(rows, torch.Tensor) else rows
