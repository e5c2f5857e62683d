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
    With ``curvature="gauss-newton"`` its ``H`` is the generalised Gauss-Newton matrix
    ``(1/n) sum_i J_i^T A_i J_i + damping I`` (``J_i`` the Jacobian of row ``i``'s
    output in ``theta``, ``A_i`` the Hessian of its loss in that output): positive
    definite whatever the net, and equal to the Hessian when the output is linear in
    ``theta`` (a head alone).
"""

from __future__ import annotations

import copy
import io

import torch
from torch.func import functional_call, grad, jacrev, jvp, vjp, vmap

from .._adapter import (
    as_input,
    augment,
    call_module,
    first_output,
    iter_chunks,
    n_rows,
    reading,
    take_rows,
)

#: the curvatures :class:`ParamObjective` can invert
CURVATURES = ("hessian", "gauss-newton")
#: bytes of per-row Jacobians held at once while building a dense Gauss-Newton matrix
JACOBIAN_BYTES = 256 * 2**20


def check_curvature(curvature):
    """``curvature`` if it is one of :data:`CURVATURES`, else a ValueError naming it."""
    if not isinstance(curvature, str) or curvature not in CURVATURES:
        raise ValueError(f"`curvature` must be one of {CURVATURES}; got {curvature!r}.")
    return curvature


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
    curvature : {"hessian", "gauss-newton"}, default="hessian"
        ``H`` is the Hessian of ``J``, or its generalised Gauss-Newton matrix: the
        Hessian with the second derivatives of the module's (first) output dropped.
        Its dense form is built from per-row Jacobians, ``n C`` backward passes
        instead of one HVP per parameter, and it is never indefinite.
    """

    def __init__(self, net, names, X, y, damping=0.0, batch_size=4096, dtype=torch.float64,
                 curvature="hessian"):
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
        self.curvature = check_curvature(curvature)

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
        """``H v`` of the mean loss over one batch (no damping)."""
        v = v.to(self.dtype)
        if self.curvature == "hessian":
            return jvp(lambda t: grad(self.loss)(t, xb, yb), (self.theta,), (v,))[1]
        # Gauss-Newton: J^T A J v, by a forward pass along v, A on the outputs, a pullback
        out, pullback = vjp(lambda t: self.outputs(t, xb), self.theta)
        Jv = jvp(lambda t: first_output(self.outputs(t, xb)), (self.theta,), (v,))[1]
        total = self._output_loss(out, yb)
        AJv = jvp(grad(total), (first_output(out).detach(),), (Jv,))[1]
        return pullback(_with_first(out, AJv, zeros=True))[0] / len(yb)

    def _output_loss(self, out, yb):
        """The batch's summed loss as a function of its (first) output alone, the other
        elements of a tuple output held at their values."""
        rest = out[1:] if isinstance(out, tuple | list) else None

        def total(z):
            y_pred = z if rest is None else type(out)((z, *(r.detach() for r in rest)))
            return self.net.get_loss(y_pred, yb.to(self.label_dtype)) * len(yb)

        return total

    def _output_hessians(self, out, yb):
        """``(b, K, K)``: each row's Hessian of its loss in its ``K`` outputs, one
        forward-over-reverse pass per output coordinate (the summed loss is separable
        over rows, so every pass gives one column of every row's block)."""
        z = first_output(out).detach()
        flat = z.reshape(len(z), -1)
        total = self._output_loss(out, yb)

        def grad_flat(q):
            return grad(total)(q.reshape(z.shape)).reshape(len(z), -1)

        eye = torch.eye(flat.shape[1], dtype=z.dtype, device=z.device)
        cols = [jvp(grad_flat, (flat,), (e.expand_as(flat),))[1] for e in eye]
        return torch.stack(cols, dim=2)

    def _gauss_newton(self):
        """Dense ``sum_i J_i^T A_i J_i`` from per-row Jacobians, rows chunked to keep
        each chunk's Jacobians near :data:`JACOBIAN_BYTES`."""
        p = self.n_params
        total = torch.zeros(p, p, dtype=self.dtype, device=self.device)

        def row_output(theta, x):
            return first_output(self.outputs(theta, _unsqueeze(x))).reshape(-1)

        first = first_output(self.outputs(self.theta, self.batch(self.X, self.y, slice(0, 1))[0]))
        k = first[0].numel()  # outputs of one row
        itemsize = torch.empty(0, dtype=self.dtype).element_size()
        rows = max(1, min(self.batch_size, JACOBIAN_BYTES // (k * p * itemsize)))
        for sl in iter_chunks(self.n_train, rows):
            xb, yb = self.batch(self.X, self.y, sl)
            J = vmap(jacrev(row_output), in_dims=(None, 0))(self.theta, xb)  # (b, K, p)
            A = self._output_hessians(self.outputs(self.theta, xb), yb)
            total += J.reshape(-1, p).T @ (A @ J).reshape(-1, p)
        return total

    def hessian(self) -> torch.Tensor:
        """Dense ``H``, float64: the Hessian by one ``vmap``-ed HVP per block of basis
        vectors, the Gauss-Newton matrix from per-row Jacobians."""
        if self.curvature == "gauss-newton":
            H = self._gauss_newton().to(torch.float64) / self.n_train
            H = (H + H.T) / 2
            return H + self.damping * torch.eye(len(H), dtype=H.dtype, device=H.device)
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


def _with_first(out, z, zeros=False):
    """``out`` with its first output replaced by ``z`` (the other elements of a tuple
    output zeroed with ``zeros``: a cotangent that reads the first output only)."""
    if not isinstance(out, tuple | list):
        return z
    rest = (torch.zeros_like(r) if zeros else r for r in out[1:])
    return type(out)((z, *rest))


def _unsqueeze(x):
    if isinstance(x, dict):
        return {k: v.unsqueeze(0) for k, v in x.items()}
    return x.unsqueeze(0)


def _as_index(rows):
    return rows.cpu().numpy() if isinstance(rows, torch.Tensor) else rows
