"""Influence of training candidates on an evaluation loss (Koh & Liang, 2017)."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .._adapter import (
    INFLUENCE_FALLBACK,
    HeadView,
    batch_rows,
    check_class_labels,
    check_fitted_net,
    check_values,
    forward,
    iter_chunks,
    n_rows,
    net_dtype,
    pool_features,
    take_rows,
)
from .._validation import check_rows
from ._backends import check_backend
from ._objectives import check_curvature
from ._parameters import HeadParameters, ModuleParameters, solve

__all__ = ["influence_scores"]


def influence_scores(
    net,
    X_train,
    y_train,
    X_eval,
    y_eval=None,
    *,
    X_candidates=None,
    y_candidates=None,
    params="head",
    method="exact",
    damping=0.0,
    curvature="hessian",
    **options,
):
    r"""Predicted effect of up-weighting each candidate on the evaluation loss.

    Let ``J(theta) = (1/n) sum_i loss(x_i, y_i) + damping/2 ||theta||^2`` over
    ``(X_train, y_train)`` and the chosen parameters ``theta``, ``H`` its
    Hessian at the net's current weights, and ``L_eval`` the mean loss over
    ``X_eval``. Then

    .. math:: \mathrm{score}_i = -\nabla L_{eval}^\top H^{-1} \nabla \mathrm{loss}(z_i)

    **Sign and normalisation.** Adding ``eps * loss(z_i)`` to ``J`` changes
    ``L_eval`` by about ``eps * score_i``. A negative score means the
    candidate, added with that label, lowers the evaluation loss. Adding one
    new sample to ``n`` training rows is ``eps = 1/n`` (changes by about
    ``score_i / n``); removing training row ``i`` changes ``L_eval`` by about
    ``-score_i / n``.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
        Fitted net. Its loss is its own criterion: logits with
        ``CrossEntropyLoss`` and probabilities with skorch's default
        ``NLLLoss`` both work. Never modified.
    X_train : array-like of shape (n, ...)
        Rows whose mean loss defines the Hessian.
    y_train : array-like of shape (n,)
        Their class indices (``0..C-1``, as the net was trained on).
    X_eval : array-like of shape (m, ...)
        Rows of the evaluation loss.
    y_eval : array-like of shape (m,), default=None
        Their labels; None uses the net's own argmax predictions (pseudo
        labels).
    X_candidates : array-like of shape (k, ...), default=None
        Rows to score; None scores the training rows.
    y_candidates : array-like of shape (k,), default=None
        Their labels. None scores every possible label.
    params : {"head", "all"} or list of str, default="head"
        Parameters ``theta``. ``"head"`` is the ``torch.nn.Linear`` of
        ``net.module_`` whose output is the module's output (found by tracing
        one forward pass on two training rows; or the module named by the
        ``head`` option) with
        closed-form gradients and Hessian: ``O((n + m + k) C d)`` plus the
        solve, no per-sample autograd. ``"all"`` is every trainable parameter
        and a list names a subset; both use :mod:`torch.func` on a float64
        copy of the module.
    method : {"exact", "lissa", "cg"} or InverseHVP, default="exact"
        Inverse-HVP backend (see :mod:`skralif.influence`). ``"exact"`` is
        best up to a few thousand parameters (a softmax head of ``d=512,
        C=10`` is 5,130), ``"cg"`` beyond.
    damping : float, default=0.0
        Tikhonov term of ``J`` (like weight decay; include the net's weight
        decay here for consistency). With 0, a softmax head's Hessian is
        singular along "add a constant to every class" and the exact backend
        falls back to a pseudo-inverse with a warning.
    curvature : {"hessian", "gauss-newton"}, default="hessian"
        ``H`` beyond the head: the Hessian of ``J``, or its generalised
        Gauss-Newton matrix ``(1/n) sum_i J_i^T A_i J_i + damping I`` (``J_i``
        the Jacobian of row ``i``'s output in ``theta``, ``A_i`` the Hessian of
        its loss in that output), which drops the output's own curvature. The
        Gauss-Newton matrix is positive definite whatever the net (the Hessian
        of a hidden layer often is not, and conjugate gradients then stall),
        and ``"exact"`` builds it from ``n C`` per-row Jacobian rows instead of
        one HVP per parameter. For ``params="head"`` both are the same matrix
        (the output is linear in the head).
    **options
        ``batch_size`` (int, default None): rows per forward pass and per
        chunk of per-sample gradients; None uses the net's own inference
        batch size (``iterator_valid__batch_size``, else ``batch_size``).
        ``head`` (str): name of the head module for ``params="head"``.
        ``dtype`` (torch.dtype, default float64): precision of the
        ``torch.func`` path. Any other option is passed to the backend when
        ``method`` is a string, e.g. ``method="lissa", scale=50``.

    Returns
    -------
    scores : ndarray of shape (k,) or (k, C)
        ``(k,)`` when ``y_candidates`` is given, else one column per class.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from skralif.influence import influence_scores
    >>> X = np.random.RandomState(0).randn(60, 4).astype("float32")
    >>> y = (X[:, 0] > 0).astype("int64")
    >>> net = NeuralNetClassifier(torch.nn.Linear, module__in_features=4,
    ...     module__out_features=2, criterion=torch.nn.CrossEntropyLoss,
    ...     max_epochs=5, train_split=None, verbose=0).fit(X, y)
    >>> influence_scores(net, X, y, X, y, damping=1e-2).shape
    (60, 2)
    """
    check_fitted_net(net)
    batch_size = options.pop("batch_size", None)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size < 1):
        raise ValueError(
            f"`batch_size` must be a positive integer or None; got {batch_size!r}.")
    head = options.pop("head", None)
    dtype = options.pop("dtype", torch.float64)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"`dtype` must be torch.float32 or torch.float64; got {dtype!r}.")
    if isinstance(damping, bool) or not isinstance(damping, numbers.Real) or not (
            np.isfinite(damping) and damping >= 0):
        raise ValueError(f"`damping` must be a finite number >= 0; got {damping!r}.")
    check_curvature(curvature)  # the head path never builds the objective that checks it
    backend = check_backend(method, **options)
    compute = net_dtype(net.module_)
    same_eval = X_eval is X_train
    same_cand = X_candidates is None or X_candidates is X_train
    X_train = _check_rows(X_train, "X_train", compute)
    X_eval = X_train if same_eval else _check_rows(X_eval, "X_eval", compute)
    X_candidates = X_train if same_cand else _check_rows(X_candidates, "X_candidates", compute)
    for name, X in (("X_eval", X_eval), ("X_candidates", X_candidates)):
        if X.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"`{name}` rows have shape {X.shape[1:]} but `X_train` rows have "
                             f"shape {X_train.shape[1:]}; they must match.")
    batch_size = batch_rows(net, batch_size, n_rows(X_train))
    args = (X_train, y_train, X_eval, y_eval, X_candidates, y_candidates)
    if isinstance(params, str) and params == "head":
        return _head_scores(net, *args, damping, backend, batch_size, head)
    names = _check_param_names(net, params)
    return _param_scores(net, names, *args, damping, backend, batch_size, dtype, curvature)


def _check_rows(X, name, dtype):
    """An array of numbers, finite once cast to the net's ``dtype`` (checked in chunks)."""
    X = check_rows(X, name, allow_nd=True, dtype=None)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must hold numbers; got dtype {X.dtype}.")
    return check_values(X, dtype, name)


def _check_param_names(net, params):
    trainable = [k for k, p in net.module_.named_parameters() if p.requires_grad]
    if isinstance(params, str):
        if params != "all":
            raise ValueError(
                f"`params` must be 'head', 'all' or a list of parameter names; got {params!r}."
            )
        return trainable
    names = list(params)
    unknown = [k for k in names if k not in trainable]
    if unknown or not names:
        raise ValueError(
            f"`params` must name trainable parameters of the net; unknown: {unknown}. "
            f"Available: {trainable}."
        )
    return names


def _labels(y, n, n_classes, name):
    labels = check_class_labels(y, n_classes, name)
    if len(labels) != n:
        raise ValueError(f"`{name}` has {len(labels)} labels for {n} rows.")
    return labels


# --------------------------------------------------- the shared steps, twice
def _head_scores(net, X_tr, y_tr, X_ev, y_ev, X_c, y_c, damping, backend, batch_size, head):
    view = HeadView.from_net(net, take_rows(X_tr, slice(0, 2)), head,
                             fallback=INFLUENCE_FALLBACK, data_name="X_train")
    C = view.n_classes
    feats_tr = pool_features(net, X_tr, view, batch_size, "X_train")
    _labels(y_tr, len(feats_tr), C, "y_train")
    space = HeadParameters.from_view(view, feats_tr, damping, batch_size)
    feats_ev = feats_tr if X_ev is X_tr else pool_features(net, X_ev, view, batch_size, "X_eval")
    y_ev = None if y_ev is None else _labels(y_ev, len(feats_ev), C, "y_eval")
    G = space.target_gradient(feats_ev, y_ev)[0] / max(len(feats_ev), 1)
    s = solve(space.objective, G, backend)
    feats_c = feats_tr if X_c is X_tr else pool_features(net, X_c, view, batch_size, "X_candidates")
    scores = torch.cat([space.pair_scores(feats_c[sl], s)[0]
                        for sl in iter_chunks(len(feats_c), batch_size)]).cpu().numpy()
    return _select_labels(scores, y_c, C)


def _param_scores(
    net, names, X_tr, y_tr, X_ev, y_ev, X_c, y_c, damping, backend, batch_size, dtype, curvature
):
    n_classes = _n_outputs(net, X_tr)
    y_tr = _labels(y_tr, n_rows(X_tr), n_classes, "y_train")
    space = ModuleParameters(net, names, X_tr, y_tr, damping, batch_size, dtype,
                             curvature=curvature)
    if y_ev is None:
        y_ev = space.objective.predicted_labels(X_ev).cpu().numpy()
    y_ev = _labels(y_ev, n_rows(X_ev), n_classes, "y_eval")
    G = sum(space.target_gradient(xb, y_ev[sl])[0]
            for xb, sl in zip(space.chunks(X_ev, "X_eval"),
                              iter_chunks(n_rows(X_ev), batch_size), strict=True))
    s = solve(space.objective, G / n_rows(X_ev), backend)
    scores = torch.cat([space.pair_scores(xb, s)[0]
                        for xb in space.chunks(X_c, "X_candidates")]).cpu().numpy()
    return _select_labels(scores, y_c, n_classes)


def _select_labels(scores, y_c, n_classes):
    if y_c is None:
        return scores
    labels = _labels(y_c, len(scores), n_classes, "y_candidates")
    return scores[np.arange(len(scores)), labels]


def _n_outputs(net, X):
    """Number of classes: the width of the net's ``predict_proba`` on one row (two
    for a binary net, whose module returns one logit)."""
    out, _ = forward(net, take_rows(X, slice(0, 1)), name="X_train")
    with torch.no_grad():
        return int(net._get_predict_nonlinearity()(out).shape[1])
