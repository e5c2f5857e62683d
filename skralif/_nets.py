"""Read what skralif needs out of a fitted skorch net, without changing it.

The influence backend and the query strategies both need the same few things
from a :class:`skorch.NeuralNetClassifier`: its head (the last
:class:`torch.nn.Linear`), the head's input (the encoder features), the
probabilities, and chunked forward passes on the net's device. They live here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from skorch.utils import to_tensor

DEFAULT_BATCH_SIZE = 4096


def check_fitted_net(net, name: str = "net"):
    """Return ``net`` if it is an initialized skorch net, else raise a clear error."""
    module = getattr(net, "module_", None)
    if not isinstance(module, torch.nn.Module):
        if hasattr(net, "module") and hasattr(net, "initialize"):
            raise NotFittedError(
                f"`{name}` is a skorch net that has not been fitted or initialized; "
                "call `fit` (or `initialize`) first."
            )
        raise TypeError(
            f"`{name}` must be a fitted skorch NeuralNetClassifier; "
            f"got {type(net).__name__}."
        )
    return net


def net_device(net) -> torch.device:
    """The device the net's parameters live on (CPU for a parameterless net)."""
    for param in net.module_.parameters():
        return param.device
    return torch.device(net.device if net.device is not None else "cpu")


def find_head(module: torch.nn.Module, name: str | None = None):
    """Return ``(name, linear)`` for the net's head.

    The head is the module called ``name``, or the last :class:`torch.nn.Linear`
    in registration order when ``name`` is None.
    """
    modules = dict(module.named_modules())
    if name is not None:
        if name not in modules:
            raise ValueError(
                f"`head` must name a submodule of the net; got {name!r}. "
                f"Submodules: {sorted(k for k in modules if k)}."
            )
        head = modules[name]
        if not isinstance(head, torch.nn.Linear):
            raise TypeError(
                f"`head` must name a torch.nn.Linear; {name!r} is {type(head).__name__}."
            )
        return name, head
    linears = [(k, m) for k, m in modules.items() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(
            "The net has no torch.nn.Linear layer to use as its head; pass "
            "`params='all'` (or a list of parameter names) instead of 'head'."
        )
    return linears[-1]


# Dask's threaded scheduler runs chunks of one query in threads that share the
# module: switching modes (and forking torch's RNG for MC dropout) must not interleave.
_MODE_LOCK = threading.RLock()


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """Put every submodule in eval mode, then restore each one's own mode.

    Holds a process-wide lock meanwhile, so that threads sharing the module
    never see each other's mode switches.
    """
    with _MODE_LOCK:
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            yield module
        finally:
            for m, training in modes:
                m.training = training


def n_rows(X) -> int:
    """Number of rows of an array, tensor, DataFrame or dict of those."""
    if isinstance(X, Mapping):
        return n_rows(next(iter(X.values())))
    return int(X.shape[0])


def take_rows(X, index):
    """Rows ``index`` (a slice or integer array) of ``X``, whatever its container."""
    if isinstance(X, Mapping):
        return {k: take_rows(v, index) for k, v in X.items()}
    if hasattr(X, "iloc"):
        return X.iloc[index]
    return X[index]


def iter_chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` rows covering ``range(n)``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def as_input(Xb, device, dtype=None):
    """Convert one chunk to tensors on ``device``; floats are cast to ``dtype``."""
    if isinstance(Xb, Mapping):
        return {k: as_input(v, device, dtype) for k, v in Xb.items()}
    if hasattr(Xb, "to_numpy"):
        Xb = Xb.to_numpy()
    tensor = to_tensor(Xb, device=device)
    if dtype is not None and torch.is_floating_point(tensor):
        tensor = tensor.to(dtype)
    return tensor


def call_module(module, x):
    """Run ``module`` on ``x``, a tensor or a dict of keyword tensors."""
    return module(**x) if isinstance(x, Mapping) else module(x)


@dataclass
class HeadView:
    """The head of a fitted classifier net and how its output becomes a loss.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
        Fitted net. Nothing of it is modified; a forward pre-hook is attached
        to the head only for the duration of a forward pass.
    name : str
        Name of the head inside ``net.module_``.
    head : torch.nn.Linear
        The head module itself.
    output : {"logits", "proba"} or None
        What the module returns: the head's output (with a cross-entropy
        criterion) or its softmax (with skorch's default ``NLLLoss``). None
        when only the features are needed (no check of the output).
    """

    net: object
    name: str
    head: torch.nn.Linear
    output: str

    @classmethod
    def from_net(cls, net, name=None, features_only=False):
        """Locate the head of ``net`` and check its criterion fits the closed forms
        (unless ``features_only``: then any criterion and output are accepted)."""
        check_fitted_net(net)
        name, head = find_head(net.module_, name)
        return cls(net, name, head, None if features_only else output_kind(net))

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def weights(self, dtype=torch.float64) -> torch.Tensor:
        """``[W | b]`` as one ``(C, d + 1)`` matrix (a copy), the layout of all
        head gradients: ``grad l(x, k) = (p - e_k) [f(x); 1]^T``."""
        W = self.head.weight.detach().to(dtype)
        if self.head.bias is None:
            raise ValueError(
                f"The head {self.name!r} has no bias; the head fast path assumes one. "
                "Use `params='all'`."
            )
        return torch.cat([W, self.head.bias.detach().to(dtype)[:, None]], dim=1)

    def features(self, X, batch_size=DEFAULT_BATCH_SIZE) -> Iterator[torch.Tensor]:
        """Yield the head's input ``f(x)`` for consecutive chunks of ``X``.

        The first chunk is also checked against the module's own output, so
        a net whose output is not ``head(f)`` or ``softmax(head(f))`` is
        refused instead of silently scored wrong.
        """
        checked = False
        for sl in iter_chunks(n_rows(X), batch_size):
            feats, out = self._forward(take_rows(X, sl))
            if not checked and self.output is not None:
                self._check_output(feats, out)
                checked = True
            yield feats

    def _forward(self, Xb):
        captured = []
        hook = self.head.register_forward_pre_hook(
            lambda _m, args: captured.append(args[0].detach())
        )
        module = self.net.module_
        try:
            with torch.no_grad(), eval_mode(module):
                out = call_module(module, as_input(Xb, self.device, self.head.weight.dtype))
        finally:
            hook.remove()
        if len(captured) != 1 or captured[0].ndim != 2:
            raise ValueError(
                f"The head {self.name!r} must be called exactly once per forward pass "
                "on a 2-D batch of features; use `params='all'` for this net."
            )
        return captured[0], out

    def _check_output(self, feats, out):
        logits = feats @ self.head.weight.detach().T + self.head.bias.detach()
        expected = logits if self.output == "logits" else torch.softmax(logits, dim=1)
        if not isinstance(out, torch.Tensor) or out.shape != expected.shape or not (
            torch.allclose(out, expected, rtol=1e-3, atol=1e-5)
        ):
            what = "the" if self.output == "logits" else "the softmax of the"
            raise ValueError(
                f"The net's output is not {what} output of its head {self.name!r}, "
                "so the head closed forms do not apply. "
                "Use `params='all'`, or name the right layer with the `head` option."
            )


def augment(feats: torch.Tensor, dtype=torch.float64) -> torch.Tensor:
    """``[f(x); 1]`` for each row: features with a constant column for the bias."""
    feats = feats.to(dtype)
    return torch.cat([feats, feats.new_ones(feats.shape[0], 1)], dim=1)


def output_kind(net) -> str:
    criterion = getattr(net, "criterion_", None)
    if isinstance(criterion, torch.nn.CrossEntropyLoss):
        if criterion.weight is not None or criterion.label_smoothing != 0:
            raise ValueError(
                "The head fast path needs a plain CrossEntropyLoss (no `weight`, no "
                "`label_smoothing`); use `params='all'` for this criterion."
            )
        return "logits"
    if isinstance(criterion, torch.nn.NLLLoss) and criterion.weight is None:
        return "proba"
    raise ValueError(
        "The head fast path needs the net's criterion to be CrossEntropyLoss or "
        f"skorch's default NLLLoss; got {type(criterion).__name__}. "
        "Use `params='all'` to differentiate the criterion itself."
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
