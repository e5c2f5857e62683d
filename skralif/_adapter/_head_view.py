"""What skralif knows about a fitted skorch net: is it fitted, where is its head,
how does its output become a loss, and what are its classes.

Descriptions only; running the net over a pool lives in :mod:`skralif._adapter._reading`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import NotFittedError

from ..exceptions import InputTypeError
from ._reading import is_dask, split_estimator, take_rows, trace_linears

__all__ = ["check_fitted_net", "STRATEGY_FALLBACK", "INFLUENCE_FALLBACK", "find_head",
           "HeadView", "augment", "output_kind", "check_class_labels"]


def check_fitted_net(net, name: str = "net"):
    """Return ``net`` if it is an initialized skorch net, else raise a clear error."""
    module = getattr(net, "module_", None)
    if not isinstance(module, torch.nn.Module):
        if hasattr(net, "module") and hasattr(net, "initialize"):
            raise NotFittedError(
                f"`{name}` is a skorch net that has not been fitted or initialized; "
                "call `fit` (or `initialize`) first."
            )
        raise InputTypeError(
            f"`{name}` must be a fitted skorch NeuralNetClassifier; "
            f"got {type(net).__name__}."
        )
    return net


#: what a strategy's user can do when the head cannot be found or used
STRATEGY_FALLBACK = ("Name the head, the torch.nn.Linear whose output is the net's output, "
                     "with the strategy's `head=` option.")
#: the same for :func:`skralif.influence.influence_scores`
INFLUENCE_FALLBACK = ("Name the head, the torch.nn.Linear whose output is the net's output, "
                      "with `head=`, or differentiate other parameters with `params='all'` "
                      "or `params=[names]`.")

#: what a module may do to its head's output before returning it
_FINAL_MAPS = {
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=-1),
    "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
    "sigmoid": torch.sigmoid,
}


def find_head(net, probe, name=None, fallback=STRATEGY_FALLBACK, data_name="X"):
    """Return ``(name, linear)``: the head of ``net.module_``.

    The head is the submodule called ``name``, which must be a
    :class:`torch.nn.Linear`. Without a name it is found by what the forward
    pass does: one pass on the ``probe`` rows (a couple of rows the module
    takes) records every Linear's output, and the head is the one Linear,
    called once, whose output *is* the module's output, possibly through a
    final softmax, log-softmax or sigmoid (and a reshape, as binary nets
    squeeze their single logit). ``data_name`` names the argument the probe
    rows come from in the error raised when the module cannot run on them.
    No such Linear, or several, is an error
    that lists the candidates; ``fallback`` tells the user how to name one.
    """
    modules = dict(net.module_.named_modules())
    if name is not None:
        if not isinstance(name, str) or name not in modules:
            raise ValueError(
                f"`head` must name a submodule of the net; got {name!r}. "
                f"Submodules: {sorted(k for k in modules if k)}."
            )
        head = modules[name]
        if not isinstance(head, torch.nn.Linear):
            raise InputTypeError(
                f"`head` must name a torch.nn.Linear; {name!r} is {type(head).__name__}."
            )
        return name, head
    linears = [k for k, m in modules.items() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"The net has no torch.nn.Linear layer to use as its head. {fallback}")
    out, calls = trace_linears(net, probe, name=data_name)
    found = [k for k in linears if _final_map(calls.get(k, []), out) is not None]
    if len(found) == 1:
        return found[0], modules[found[0]]
    described = ", ".join(f"{k!r} ({_describe(calls.get(k, []), out)})" for k in linears)
    if not found:
        raise ValueError(
            "Cannot find the net's head: no torch.nn.Linear called once in the forward pass "
            "returns the module's output (as it is, or through a final softmax, log-softmax "
            f"or sigmoid). Linear layers: {described}. {fallback}"
        )
    raise ValueError(
        f"Cannot tell the net's head: the outputs of {found} all equal the module's output. "
        f"{fallback}"
    )


def _final_map(outputs, out):
    """How ``out`` is made from a Linear's ``outputs`` (one call), or None."""
    if len(outputs) != 1 or outputs[0].numel() != out.numel() or outputs[0].ndim != 2:
        return None
    z = outputs[0]
    if z is out:
        return "identity"
    z, target = z.to(torch.float64), out.reshape(z.shape).to(torch.float64)
    for kind, fn in _FINAL_MAPS.items():
        if torch.allclose(target, fn(z), rtol=1e-4, atol=1e-6):
            return kind
    return None


def _describe(outputs, out):
    if not outputs:
        return "not called"
    if len(outputs) > 1:
        return f"called {len(outputs)} times"
    return f"output {tuple(outputs[0].shape)}, not the module's output {tuple(out.shape)}"


@dataclass
class HeadView:
    """The head of a fitted classifier net and how its output becomes a loss.

    A description only: forward passes over a pool live in :mod:`skralif._adapter._reading`.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
        Fitted net. Never modified.
    name : str
        Name of the head inside ``net.module_``.
    head : torch.nn.Linear
        The head module itself (with or without a bias).
    output : {"logits", "proba", "logit"} or None
        What the module returns: the head's output (``"logits"``, with a
        cross-entropy criterion), its softmax (``"proba"``, with skorch's
        default ``NLLLoss``) or the one logit of a binary head (``"logit"``,
        with ``BCEWithLogitsLoss``, as skorch's ``NeuralNetBinaryClassifier``;
        any shape holding one value per row). None when only the features are
        needed (no check of the output).
    fallback : str
        What the user can do when the closed forms do not apply.
    """

    net: object
    name: str
    head: torch.nn.Linear
    output: str | None
    fallback: str = STRATEGY_FALLBACK

    @classmethod
    def from_net(cls, net, probe, name=None, features_only=False, fallback=STRATEGY_FALLBACK,
                 data_name="X"):
        """Locate the head of ``net`` (:func:`find_head`, tracing one pass on the
        ``probe`` rows) and check its criterion fits the closed forms (unless
        ``features_only``: then any criterion and output are accepted)."""
        check_fitted_net(net)
        name, head = find_head(net, probe, name, fallback, data_name)
        output = None if features_only else output_kind(net, fallback)
        if output is not None and (output == "logit") != (head.out_features == 1):
            raise ValueError(
                f"The head {name!r} has {head.out_features} output(s), but the net's "
                f"criterion {type(net.criterion_).__name__} needs "
                f"{'one (a binary logit)' if output == 'logit' else 'one per class (>= 2)'}."
                f" {fallback}"
            )
        return cls(net, name, head, output, fallback)

    @classmethod
    def from_estimator(cls, estimator, X, name=None, features_only=False,
                       fallback=STRATEGY_FALLBACK, data_name="X_pool"):
        """:meth:`from_net` for a net or a Pipeline ending in one, probed with the
        first rows of ``X`` (raw rows: they go through the Pipeline's steps)."""
        net, transform = split_estimator(estimator)
        probe = take_rows(X, slice(0, 2))
        probe = transform(np.asarray(probe) if is_dask(probe) else probe)
        return cls.from_net(net, probe, name, features_only, fallback, data_name)

    def rebind(self, net):
        """The same view on ``net``, which may be an unpickled copy (Dask workers)."""
        head = dict(net.module_.named_modules())[self.name]
        if net is self.net and head is self.head:
            return self
        return HeadView(net, self.name, head, self.output, self.fallback)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def binary(self) -> bool:
        """Whether the head is binary-logistic (one output, two classes)."""
        return self.head.out_features == 1

    @property
    def n_classes(self) -> int:
        return 2 if self.binary else self.head.out_features

    @property
    def bias(self) -> bool:
        return self.head.bias is not None

    def weights(self, dtype=torch.float64) -> torch.Tensor:
        """``[W | b]`` as one ``(C, d + 1)`` matrix (a copy), the layout of all
        head gradients: ``grad l(x, k) = (p - e_k) [f(x); 1]^T``. A head without
        a bias gives ``W`` alone, ``(C, d)``, and gradients ``(p - e_k) f(x)^T``.
        A binary head has one row (see :mod:`skralif.influence._head`)."""
        W = self.head.weight.detach().to(dtype)
        if self.head.bias is None:
            return W.clone()
        return torch.cat([W, self.head.bias.detach().to(dtype)[:, None]], dim=1)

    def check_output(self, feats, out):
        """Refuse a net whose output is not ``head(f)`` (or its log-softmax, with a
        cross-entropy criterion: the same distribution and the same loss) or, with
        ``NLLLoss``, ``softmax(head(f))``."""
        if self.output is None:
            return
        W = self.weights(feats.dtype)
        logits = augment(feats, W) @ W.T
        expected = torch.softmax(logits, dim=1) if self.output == "proba" else logits
        if self.output == "logit" and out.numel() == expected.numel():
            out = out.reshape(expected.shape)  # one logit per row, squeezed or not

        # float32 sums of large terms can cancel to a small logit: the tolerance grows
        # with the terms' magnitude (issue 25: USPS with 4,000-sized features failed here)
        terms = augment(feats.abs(), W) @ W.abs().T
        slack = 1e-5 + 1e-4 * (terms if self.output != "proba" else 0.0)

        def close(target):
            if out.shape != target.shape:
                return False
            gap = (out.to(target.dtype) - target).abs()
            return bool((gap <= slack + 1e-3 * target.abs()).all())

        if close(expected):
            return
        log_p = torch.log_softmax(logits, dim=1)
        if self.output == "logits" and close(log_p):
            return  # cross-entropy of log-probabilities is that of the logits
        if self.output == "proba" and close(log_p):
            raise ValueError(
                f"The net's module returns log-probabilities (a log_softmax of its head "
                f"{self.name!r}) but its criterion is NLLLoss, which skorch's "
                "NeuralNetClassifier feeds the log of the module's output (it expects "
                "probabilities). Train it with criterion=torch.nn.CrossEntropyLoss, or end "
                "the module in softmax."
            )
        what = "the softmax of the" if self.output == "proba" else "the"
        raise ValueError(
            f"The net's output is not {what} output of its head {self.name!r}, "
            f"so the head closed forms do not apply. {self.fallback}"
        )


def augment(feats: torch.Tensor, weights: torch.Tensor | None = None, *, bias: bool = True,
            dtype=torch.float64) -> torch.Tensor:
    """The head's design rows: ``[f(x); 1]`` for a head with a bias, ``f(x)`` without.

    With ``weights`` (``(C, d + 1)`` or ``(C, d)``) the bias and the dtype are
    read off it; otherwise ``bias`` and ``dtype`` say them.
    """
    if weights is not None:
        bias, dtype = weights.shape[1] == feats.shape[1] + 1, weights.dtype
    feats = feats.to(dtype)
    if not bias:
        return feats
    return torch.cat([feats, feats.new_ones(feats.shape[0], 1)], dim=1)


def output_kind(net, fallback: str = STRATEGY_FALLBACK) -> str:
    """What the module returns, as the closed forms need it: ``"logits"``
    (``CrossEntropyLoss``), ``"proba"`` (``NLLLoss`` on probabilities, skorch's
    default) or ``"logit"`` (``BCEWithLogitsLoss``: one logit, binary)."""
    criterion = getattr(net, "criterion_", None)
    if isinstance(criterion, torch.nn.BCEWithLogitsLoss):
        if criterion.weight is not None or criterion.pos_weight is not None:
            raise ValueError(
                "The head fast path needs a plain BCEWithLogitsLoss (no `weight`, no "
                f"`pos_weight`). {fallback}"
            )
        return "logit"
    if isinstance(criterion, torch.nn.CrossEntropyLoss):
        if criterion.weight is not None or criterion.label_smoothing != 0:
            raise ValueError(
                "The head fast path needs a plain CrossEntropyLoss (no `weight`, no "
                f"`label_smoothing`). {fallback}"
            )
        return "logits"
    if isinstance(criterion, torch.nn.NLLLoss) and criterion.weight is None:
        return "proba"
    raise ValueError(
        "The head fast path needs the net's criterion to be CrossEntropyLoss, skorch's "
        f"default NLLLoss or BCEWithLogitsLoss (binary nets); got "
        f"{type(criterion).__name__}. {fallback}"
    )


def check_class_labels(y, n_classes: int, name: str) -> np.ndarray:
    """Return ``y`` as int64 class indices in ``[0, n_classes)`` or raise."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D; got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.mod(y, 1) == 0):
            raise ValueError(
                f"`{name}` must hold integer class indices 0..{n_classes - 1} as the "
                f"net was trained on; got dtype {y.dtype}."
            )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"`{name}` must hold class indices in [0, {n_classes - 1}]; "
            f"got values from {y.min()} to {y.max()}."
        )
    return y.astype(np.int64)
