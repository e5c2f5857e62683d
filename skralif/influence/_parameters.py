"""The steps every influence computation takes, over the parameters it is computed on.

Influence of a (row, label) pair on a target loss ``R`` is
``delta = -g^T H^{-1} G`` with ``g`` the pair's loss gradient, ``G`` the gradient of
``R`` and ``H`` the Hessian of the damped training objective. Both
:func:`~skralif.influence.influence_scores` and :class:`~skralif.RALIFQuery` take the
same four steps, the way torch-influence splits ``stest`` from ``influences``:

1. :meth:`target_gradient` of ``R`` (true labels, argmax pseudo labels, or the
   expected loss under the model's own probabilities) summed over chunks of rows;
2. :func:`solve`: ``s = H^{-1} G`` by an inverse-HVP backend on :attr:`objective`;
3. :meth:`pair_scores`: ``-g_{u,k}^T s`` for every row ``u`` and class ``k`` of a chunk,
   with the chunk's probabilities;
4. (optionally first) :func:`~skralif.influence.refit_head`: the head moved to the
   optimum of the damped objective, since the expansion assumes one.

Two parameterisations share these methods:

:class:`HeadParameters`
    ``theta`` is the head ``[W | b]`` on frozen encoder features: closed forms
    (:mod:`skralif.influence._head`), chunks are feature tensors.
:class:`ModuleParameters`
    ``theta`` is the head plus named parameters of the module: :mod:`torch.func` on a
    float64 copy, chunks are input tensors; every ``g_{u,k}^T s`` of a chunk comes
    from one forward-mode pass along ``s`` (``p_u^T a_u - a_uk`` with ``a_u`` the
    change of the log-probabilities).

Damping lives in the objective, and only there (a backend given with its own
``damping`` is refused by :func:`solve`).
"""

from __future__ import annotations

import torch
from torch.func import jvp

from .._adapter import (
    HeadView,
    as_input,
    augment,
    batch_rows,
    first_output,
    iter_chunks,
    n_rows,
    pool_features,
    take_rows,
)
from ._head import head_gradient, head_pair_scores, head_proba
from ._objectives import HeadObjective, ParamObjective

__all__ = ["HeadParameters", "ModuleParameters", "head_features", "solve", "target_loss"]


def head_features(estimator, X, *, head=None, batch_size=None) -> torch.Tensor:
    """The input of a fitted net's head for every row of ``X``: its encoder features.

    Parameters
    ----------
    estimator : skorch.NeuralNetClassifier or Pipeline ending in one
        Fitted; never modified.
    X : array-like or dask array of shape (n, ...)
        Raw rows (they go through a Pipeline's steps).
    head : str, default=None
        Name of the head; None finds it by tracing one forward pass.
    batch_size : int, default=None
        Rows per forward pass; None uses the net's own inference batch size.

    Returns
    -------
    torch.Tensor of shape (n, d)
    """
    view = HeadView.from_estimator(estimator, X, head, features_only=True)
    return pool_features(estimator, X, view, batch_rows(estimator, batch_size, n_rows(X)))


def solve(objective, G, backend) -> torch.Tensor:
    """``s = H^{-1} G`` for the objective's damped Hessian, shaped like ``G``.

    Parameters
    ----------
    objective : HeadObjective or ParamObjective
        Holds the Hessian and its damping.
    G : torch.Tensor
        Target gradient, any shape holding ``n_params`` values.
    backend : InverseHVP
        The solver; its own ``damping`` must be 0 (the objective's is the one).

    Returns
    -------
    torch.Tensor
    """
    extra = float(getattr(backend, "damping", 0.0) or 0.0)
    if extra:
        raise ValueError(
            f"Damping is set twice: the backend {type(backend).__name__} has "
            f"`damping={extra!r}` and the objective `damping={objective.damping!r}`. Set it "
            "once, as the `damping` of influence_scores or RALIFQuery, and leave the "
            "backend's at 0.")
    return backend.inverse_hvp(objective, G.reshape(-1)).reshape(G.shape).to(G.dtype)


def target_loss(log_p, labels=None, soft=False):
    """The target loss ``R`` of one chunk from its log-probabilities.

    True ``labels``: ``sum_u l(u, y_u)``; None: the argmax pseudo labels,
    ``-sum_u log max_k p_uk``, or with ``soft`` the expected loss under the model's
    own probabilities, the entropy ``sum_u H(p_u)``.

    Parameters
    ----------
    log_p : torch.Tensor of shape (b, C)
        Log class probabilities.
    labels : torch.Tensor of shape (b,), default=None
        True class indices, or None for pseudo labels.
    soft : bool, default=False
        Expected loss (entropy) instead of argmax pseudo labels.

    Returns
    -------
    torch.Tensor (scalar)
    """
    if labels is not None:
        return -log_p[torch.arange(len(log_p)), labels].sum()
    if soft:
        return -(log_p.exp() * log_p).sum()
    return -log_p.max(dim=1).values.sum()


class HeadParameters:
    """Influence over a net's head ``[W | b]`` on frozen features: the closed forms.

    Parameters
    ----------
    feats : torch.Tensor of shape (n, d)
        Encoder features of the training (labeled) rows: the Hessian's rows.
    weights : torch.Tensor of shape (C, d + 1), or (C, d) without a bias
        The head ``[W | b]`` at which everything is evaluated (one row for a
        binary head).
    damping : float
        Tikhonov term of the objective.
    batch_size : int
        Rows per chunk of the dense Hessian.
    bias : bool, default=True
        Whether the head has a bias column.
    binary : bool, default=False
        A binary-logistic head (one output, two classes).
    """

    def __init__(self, feats, weights, damping, batch_size, *, bias=True, binary=False):
        self.feats, self.weights = feats, weights
        self.damping, self.batch_size = float(damping), batch_size
        self.bias, self.binary = bias, binary

    @classmethod
    def from_view(cls, view, feats, damping, batch_size):
        """The net's own head, as located by a head view, on the features ``feats``.

        Parameters
        ----------
        view : HeadView
            The located head (weights, bias, binary or not).
        feats : torch.Tensor of shape (n, d)
            Encoder features of the training rows.
        damping : float
            Tikhonov term of the objective.
        batch_size : int
            Rows per chunk of the dense Hessian.

        Returns
        -------
        HeadParameters
        """
        return cls(feats, view.weights(), damping, batch_size, bias=view.bias,
                   binary=view.binary)

    @classmethod
    def from_estimator(cls, estimator, X_train, damping, *, head=None, batch_size=None):
        """A fitted net's head on the features of its training rows ``X_train``.

        Parameters
        ----------
        estimator : skorch.NeuralNetClassifier or Pipeline ending in one
            Fitted; its criterion must fit the head's closed forms.
        X_train : array-like of shape (n, ...)
            Training (labeled) rows, raw.
        damping : float
            Tikhonov term of the objective.
        head : str, default=None
            As in :func:`head_features`.
        batch_size : int, default=None
            As in :func:`head_features`; also the rows per chunk of the Hessian.

        Returns
        -------
        HeadParameters
        """
        view = HeadView.from_estimator(estimator, X_train, head, data_name="X_train")
        rows = batch_rows(estimator, batch_size, n_rows(X_train))
        feats = pool_features(estimator, X_train, view, rows, "X_train")
        return cls.from_view(view, feats, damping, rows)

    @property
    def n_classes(self) -> int:
        return 2 if self.binary else self.weights.shape[0]

    @property
    def objective(self) -> HeadObjective:
        """The damped mean training loss at :attr:`weights`, closed-form Hessian."""
        return HeadObjective(self.feats, head_proba(self.feats, self.weights), self.damping,
                             self.batch_size, bias=self.bias, binary=self.binary)

    def with_weights(self, weights) -> HeadParameters:
        """The same rows and damping at another head (a refitted one).

        Parameters
        ----------
        weights : torch.Tensor
            The head ``[W | b]``, shaped like :attr:`weights`.

        Returns
        -------
        HeadParameters
        """
        return HeadParameters(self.feats, weights, self.damping, self.batch_size,
                              bias=self.bias, binary=self.binary)

    def target_gradient(self, feats, labels=None, soft=False):
        """The gradient of the target loss ``R`` over one chunk, and ``R``.

        Parameters
        ----------
        feats : torch.Tensor of shape (b, d)
            Encoder features of the chunk's rows.
        labels : array-like of shape (b,), default=None
            True class indices; None uses pseudo labels (see :func:`target_loss`).
        soft : bool, default=False
            With ``labels`` None: the expected loss under the head's probabilities
            (the entropy) instead of the argmax pseudo labels.

        Returns
        -------
        G : torch.Tensor of shape (C, d + 1)
            ``grad R`` in the head's layout (summed over the chunk, not averaged).
        R : float
        """
        W = self.weights
        proba = head_proba(feats, W)
        if labels is not None or not soft:
            labels = proba.argmax(dim=1) if labels is None else torch.as_tensor(
                labels, device=proba.device)
            loss = -torch.log(proba[torch.arange(len(proba)), labels]).sum()
            return head_gradient(feats, W, labels, proba=proba), float(loss)
        # soft: R = sum_u H(p_u); its gradient in the logits is -p_u (log p_u + H(p_u))
        log_p = torch.log(proba.clamp_min(torch.finfo(proba.dtype).tiny))
        entropy = -(proba * log_p).sum(dim=1, keepdim=True)
        residuals = -proba * (log_p + entropy)
        if self.binary:  # only the second logit is a parameter
            residuals = residuals[:, 1:]
        return residuals.T @ augment(feats, W), float(entropy.sum())

    def pair_scores(self, feats, s):
        """``-g_{u,k}^T s`` for every row and class of one chunk, by one matrix product.

        Parameters
        ----------
        feats : torch.Tensor of shape (b, d)
            Encoder features of the chunk's rows.
        s : torch.Tensor of shape (C, d + 1)
            The solution of :func:`solve`.

        Returns
        -------
        scores : torch.Tensor of shape (b, C)
            ``-g_{u,k}^T s``: adding ``(u, k)`` with weight ``eps`` changes ``R`` by
            about ``eps`` times it.
        proba : torch.Tensor of shape (b, C)
            The head's probabilities on the chunk.
        """
        proba = head_proba(feats, self.weights)
        return head_pair_scores(feats, self.weights, s, proba), proba


class ModuleParameters:
    """Influence over the head plus named parameters of the module, via torch.func.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
        Fitted net; a float64 copy of its module is used, never the module.
    names : list of str
        The parameters that form ``theta``, the head's (if any) first.
    X : array-like of shape (n, ...)
        Training rows (after a Pipeline's steps).
    y : array-like of shape (n,)
        Their class indices.
    damping : float
        Tikhonov term of the objective.
    batch_size : int
        Rows per chunk.
    dtype : torch.dtype, default=torch.float64
        Precision of every computation.
    head : torch.Tensor of shape (C, d + 1) or (C, d), default=None
        A head ``[W | b]`` (a refitted one) written over the first parameters of
        ``theta`` (``names`` then starts with the head's weight, and its bias).
    head_bias : bool, default=True
        Whether ``head`` ends with a bias column.
    curvature : {"hessian", "gauss-newton"}, default="hessian"
        The objective's ``H`` (see :class:`~skralif.influence._objectives.ParamObjective`).
    """

    def __init__(self, net, names, X, y, damping, batch_size, dtype=torch.float64, head=None,
                 head_bias=True, curvature="hessian"):
        self.objective = ParamObjective(net, names, X, y, damping, batch_size, dtype,
                                        curvature)
        self.batch_size = batch_size
        self._to_proba = net._get_predict_nonlinearity()
        # logits (cross-entropy) and a binary logit get a log-softmax, stable however
        # confident the net; other outputs are probabilities, as the net's predict_proba
        self._output = ("logits" if isinstance(net.criterion_, torch.nn.CrossEntropyLoss) else
                        "logit" if isinstance(net.criterion_, torch.nn.BCEWithLogitsLoss) else
                        "proba")
        if head is not None:
            d = head.shape[1] - (1 if head_bias else 0)
            flat = torch.cat([head[:, :d].reshape(-1)] + ([head[:, d]] if head_bias else []))
            self.objective.theta[: flat.numel()] = flat.to(self.objective.theta)

    @property
    def theta(self) -> torch.Tensor:
        return self.objective.theta

    def chunks(self, X, name="X"):
        """``X`` as input tensors, ``batch_size`` rows each, converted chunk by chunk
        (never the whole array in float64).

        Parameters
        ----------
        X : array-like of shape (n, ...)
            Rows, after a Pipeline's steps.
        name : str, default="X"
            The argument named by errors.

        Yields
        ------
        torch.Tensor or dict of torch.Tensor
        """
        obj = self.objective
        for sl in iter_chunks(n_rows(X), self.batch_size):
            yield as_input(take_rows(X, sl), obj.device, obj.dtype, name)

    def log_proba(self, theta, xb):
        """Log class probabilities, the net's own ``predict_proba`` at ``theta``.

        Parameters
        ----------
        theta : torch.Tensor of shape (n_params,)
            Values of the chosen parameters.
        xb : torch.Tensor or dict of torch.Tensor
            One chunk of inputs.

        Returns
        -------
        torch.Tensor of shape (b, C)
        """
        out = first_output(self.objective.outputs(theta, xb))
        out = out.reshape(len(out), -1)
        if self._output == "logits":
            return torch.log_softmax(out, dim=1)
        if self._output == "logit":  # the binary logit z is the logits [0, z]
            return torch.log_softmax(torch.cat([torch.zeros_like(out), out], dim=1), dim=1)
        return torch.log(self._to_proba(out))

    def target_gradient(self, xb, labels=None, soft=False):
        """The gradient of the target loss ``R`` over one chunk (one backward pass).

        Parameters
        ----------
        xb : torch.Tensor or dict of torch.Tensor
            One chunk of inputs (from :meth:`chunks`).
        labels : array-like of shape (b,), default=None
            True class indices; None uses pseudo labels (see :func:`target_loss`).
        soft : bool, default=False
            With ``labels`` None: the expected loss instead of the argmax labels.

        Returns
        -------
        G : torch.Tensor of shape (n_params,)
            ``grad R`` over ``theta``, summed over the chunk.
        R : float
        """
        theta = self.theta.detach().clone().requires_grad_()
        if labels is not None:
            labels = torch.as_tensor(labels, device=theta.device)
        loss = target_loss(self.log_proba(theta, xb), labels, soft)
        return torch.autograd.grad(loss, theta)[0], float(loss.detach())

    def pair_scores(self, xb, s):
        """``-g_{u,k}^T s`` for every row and class of one chunk, from one forward-mode
        pass along ``s``.

        Parameters
        ----------
        xb : torch.Tensor or dict of torch.Tensor
            One chunk of inputs (from :meth:`chunks`).
        s : torch.Tensor of shape (n_params,)
            The solution of :func:`solve`.

        Returns
        -------
        scores : torch.Tensor of shape (b, C)
        proba : torch.Tensor of shape (b, C)
        """
        log_p, A = jvp(lambda t: self.log_proba(t, xb), (self.theta,), (s.to(self.theta),))
        proba = log_p.exp()
        # with l(u, k) = -log p_uk: g_{u,k}^T s = -A_uk, so -g^T s = A_uk; A sums to 0
        # under p because the log-probabilities are normalised
        return (A - (proba * A).sum(dim=1, keepdim=True)).detach(), proba.detach()
