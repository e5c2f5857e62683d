"""Reading a fitted net over a pool: thread-safe, in chunks, in memory or on Dask.

Every strategy and the influence code read a net the same few ways: its
probabilities, the input of its head (the encoder features), or the raw
module output, chunk by chunk over a pool that may be a numpy array or a
dask array. This module is the only place that runs a fitted module forward.

**Thread safety.** A forward pass switches the module to eval mode and, to
read the head's input, hooks the head. Both change the shared module, so
every pass holds the module's own lock (:func:`reading`) from the mode
switch to the restore: passes over one module from several threads (Dask's
threaded scheduler, ``Client(processes=False)``, joblib's threading backend,
user threads) run one at a time and each sees only its own features.
Different modules never wait for each other.

**Values.** Each chunk is cast to the dtype the net computes in (integer and
boolean arrays included) and checked for NaN and infinity *after* the cast,
so ``1e39`` in a float64 pool is refused rather than read as ``inf`` by a
float32 net. A module whose output is not finite raises a clear error.
"""

from __future__ import annotations

import contextlib
import numbers
import threading
import weakref
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import to_tensor

from .._validation import check_rows
from ..exceptions import InputTypeError

__all__ = [
    "first_output",
    "DEFAULT_BATCH_SIZE",
    "BLOCK_ROWS",
    "batch_rows",
    "block_rows",
    "check_values",
    "reading",
    "forward",
    "trace_linears",
    "check_pool",
    "is_dask",
    "pool_map",
    "pool_features",
    "block_features",
    "block_proba",
    "predict_proba",
    "split_estimator",
    "n_rows",
    "take_rows",
    "iter_chunks",
    "as_input",
    "call_module",
    "all_finite",
    "net_dtype",
]

#: rows per ``predict_proba`` call of a classifier that is not a skorch net
DEFAULT_BATCH_SIZE = 4096
#: rows per block of a pool (a Dask task, a scoring chunk), rounded to whole batches
BLOCK_ROWS = 4096
#: elements (not bytes) per chunk when a pool's values are only checked
CHECK_ELEMENTS = 2**22

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _module_lock(module: torch.nn.Module) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


@contextlib.contextmanager
def reading(module: torch.nn.Module, train=()):
    """Hold ``module`` for one read: its lock, eval mode and ``no_grad``.

    Every submodule is put in eval mode except those in ``train`` (MC
    dropout layers), and each one's own mode is restored on exit. The lock
    is re-entrant and per module, so nested reads of one module are fine and
    reads of different modules run in parallel.
    """
    with _module_lock(module):
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        for m in train:
            m.train()
        try:
            with torch.no_grad():
                yield module
        finally:
            for m, training in modes:
                m.training = training


def split_estimator(estimator):
    """Return ``(final_step, transform)`` where ``transform`` maps raw ``X`` to its input."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        head = estimator[:-1]
        return estimator.steps[-1][1], (head.transform if len(head.steps) else (lambda X: X))
    return estimator, lambda X: X


def net_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype the module computes in (its first floating parameter)."""
    for param in module.parameters():
        if torch.is_floating_point(param):
            return param.dtype
    return torch.get_default_dtype()


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


def as_input(Xb, device, dtype=None, name=None):
    """Convert one chunk to tensors on ``device``.

    With ``dtype`` given, floating, integer and boolean arrays are cast to it.
    With ``name`` given too, the values must be finite after the cast (``name``
    is the argument blamed); rows checked once already, such as an objective's
    training rows read again in every HVP, leave it None.
    """
    if isinstance(Xb, Mapping):
        return {k: as_input(v, device, dtype, name and f"{name}[{k!r}]")
                for k, v in Xb.items()}
    if hasattr(Xb, "to_numpy"):
        Xb = Xb.to_numpy()
    tensor = to_tensor(Xb, device=device)
    if dtype is None or tensor.is_complex():
        return tensor
    tensor = tensor.to(dtype)
    if name is not None and not all_finite(tensor):
        bad = int((~torch.isfinite(tensor)).reshape(len(tensor), -1).any(1).sum())
        raise ValueError(
            f"`{name}` holds NaN or infinity in {bad} row(s) once cast to {dtype} (the "
            f"dtype the net computes in; float32 overflows above about 3.4e38). "
            "Only finite values are allowed: drop, impute or rescale those rows."
        )
    return tensor


def all_finite(tensor) -> bool:
    """Whether every value of ``tensor`` is finite.

    The sum is finite when every value is (NaN and infinity propagate into it), and a
    sum costs a twentieth of ``isfinite(...).all()`` on a CPU (no boolean copy); only a
    sum that overflows, or holds NaN, is checked value by value. Every pool chunk is
    checked this way, so the check is a visible part of a query (issue 26).
    """
    if not tensor.is_floating_point() or bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())


def call_module(module, x):
    """Run ``module`` on ``x``, a tensor or a dict of keyword tensors; a tuple output
    gives its first element (:func:`first_output`), as skorch's ``predict_proba`` reads it."""
    return first_output(module(**x) if isinstance(x, Mapping) else module(x))


def first_output(out):
    """The output of a module that returns a tuple (or list) whose first element is a
    tensor: that element, as skorch's ``predict_proba`` reads it; anything else as it is."""
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return out


def forward(net, Xb, *, head=None, train=(), name="X"):
    """One forward pass of ``net.module_`` on the chunk ``Xb``, thread-safely.

    Parameters
    ----------
    net : skorch.NeuralNet
        Fitted net.
    Xb : array-like
        One chunk of rows, as the module takes them.
    head : torch.nn.Module, default=None
        When given, its input is captured too (it must be called exactly once).
    train : sequence of torch.nn.Module, default=()
        Submodules kept in train mode (MC dropout).
    name : str, default="X"
        Argument named in errors about the values.

    Returns
    -------
    out : torch.Tensor
        The module's output (checked finite).
    captured : list of torch.Tensor or None
        Every input the head received during the pass (one, for a usable
        head), or None without ``head``.
    """
    module = net.module_
    captured = []
    with reading(module, train):
        x = as_input(Xb, _device(module, net), net_dtype(module), name)
        hook = None if head is None else head.register_forward_pre_hook(
            lambda _m, args: captured.append(args[0].detach()))
        try:
            out = call_module(module, x)
        except RuntimeError as err:  # shapes or dtypes the module cannot take
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else "a dict"
            raise ValueError(f"The net {type(module).__name__} cannot run on `{name}` (a chunk "
                             f"of shape {shape}): {err}") from err
        finally:
            if hook is not None:
                hook.remove()
    if not isinstance(out, torch.Tensor):
        raise InputTypeError(
            "The net's module must return a tensor of outputs, or a tuple whose first "
            f"element is that tensor (skorch's convention); got {type(out).__name__}.")
    if not all_finite(out):
        raise ValueError(
            f"The net {type(module).__name__} produced NaN or infinite outputs on finite "
            f"`{name}` rows: its weights have diverged or overflow (check the training "
            "loss and learning rate, or the scale of the inputs). No strategy can rank "
            "rows by such outputs."
        )
    if head is None:
        return out, None
    return out, captured


def trace_linears(net, Xb, name="X"):
    """One forward pass on ``Xb`` that records every ``torch.nn.Linear``'s outputs.

    Returns
    -------
    out : torch.Tensor
        The module's output.
    calls : dict of str to list of torch.Tensor
        For each Linear (by its name in ``net.module_``) the outputs of every
        call during the pass; a Linear the pass never called is absent.
    """
    module = net.module_
    if is_dask(Xb):
        Xb = np.asarray(Xb)
    calls: dict = {}

    def record(key):
        return lambda _m, _args, output: calls.setdefault(key, []).append(output.detach())

    with reading(module):
        hooks = [m.register_forward_hook(record(k)) for k, m in module.named_modules()
                 if isinstance(m, torch.nn.Linear)]
        try:
            out, _ = forward(net, Xb, name=name)
        finally:
            for hook in hooks:
                hook.remove()
    return out, calls


def _device(module, net):
    for param in module.parameters():
        return param.device
    return torch.device(net.device if net.device is not None else "cpu")


# ------------------------------------------------------------------- pools
def is_dask(X) -> bool:
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")


def check_pool(X, name="X_pool"):
    """Validate a pool's container and shape; values are checked chunk by chunk.

    Numpy-convertible input (lists, DataFrames) becomes an array of any
    numeric dtype (no copy for arrays); a dask array is checked for shape
    and dtype now and for values inside each task.
    """
    if is_dask(X):
        if X.ndim < 2 or X.dtype.kind not in "biuf":
            raise ValueError(
                f"A dask `{name}` must be a numeric array with at least 2 dimensions; got "
                f"ndim={X.ndim}, dtype={X.dtype}."
            )
        return X
    X = check_rows(X, name, allow_nd=True, dtype=None)
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"`{name}` must hold numbers (bool, integer or float); got dtype {X.dtype}.")
    return X


def batch_rows(estimator, batch_size=None, n=None) -> int:
    """Rows per forward pass: ``batch_size`` when given, else the net's own.

    A skorch net (or the last step of a Pipeline) reads its pools in batches
    of ``iterator_valid__batch_size``, else ``batch_size``; ``-1`` means the
    whole pool (``n`` rows) in one pass, as in skorch. Any other classifier
    gets :data:`DEFAULT_BATCH_SIZE` rows per ``predict_proba`` call.
    """
    if batch_size is not None:
        return int(batch_size)
    net, _ = split_estimator(estimator)
    if not isinstance(net, NeuralNet):
        return DEFAULT_BATCH_SIZE
    rows = net.get_params_for("iterator_valid").get("batch_size", net.batch_size)
    if rows == -1:
        return max(int(n or 0), 1)
    if isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 1:
        raise ValueError(
            f"The net's inference batch size (`iterator_valid__batch_size`, else "
            f"`batch_size`) must be a positive integer or -1; got {rows!r}. Set it on the "
            "net, or pass the strategy's `batch_size=`."
        )
    return int(rows)


def block_rows(batch_size: int) -> int:
    """Rows per block of a pool: whole forward batches, about :data:`BLOCK_ROWS` in all.

    A block is the unit of :func:`pool_map` (one Dask task, one scoring chunk);
    its forward passes still run ``batch_size`` rows at a time, so the
    activations a pass holds follow the net's batch size while the per-block
    work (scores, tasks) stays coarse.
    """
    return batch_size * max(1, BLOCK_ROWS // batch_size)


def check_values(X, dtype, name):
    """Check, chunk by chunk, that ``X`` is finite once cast to ``dtype``.

    Chunks hold about :data:`CHECK_ELEMENTS` values whatever the row size, so
    checking a pool of large images costs a bounded amount of memory. Dask
    arrays are checked later, in their tasks.
    """
    if is_dask(X):
        return X
    per_row = max(1, int(np.prod(X.shape[1:], dtype=np.int64)))
    for sl in iter_chunks(len(X), max(1, CHECK_ELEMENTS // per_row)):
        as_input(X[sl], "cpu", dtype, name)
    return X


def pool_map(fn, X, batch_size):
    """``[fn(block, start) for each block]``, in row order.

    Blocks hold :func:`block_rows` ``(batch_size)`` rows, so their boundaries
    fall on whole forward batches. For a dask array the pool is rechunked to
    those blocks (the forward batches, and thus every float, match the
    in-memory path) and each call runs as a Dask task on the active scheduler;
    only ``fn``'s results are gathered.
    """
    n, rows = n_rows(X), block_rows(batch_size)
    if not is_dask(X):
        return [fn(take_rows(X, sl), sl.start) for sl in iter_chunks(n, rows)]
    import dask  # optional dependency (skralif[dask]): only reached with a dask input

    blocks = X.rechunk({0: rows, **{i: -1 for i in range(1, X.ndim)}})
    tasks = [dask.delayed(fn)(block, i * rows)
             for i, block in enumerate(blocks.to_delayed().ravel())]
    return list(dask.compute(*tasks))


def block_features(estimator, block, view, batch_size, name="X_pool"):
    """The head's input for one block of raw rows (through a Pipeline's steps).

    The net runs ``batch_size`` rows at a time; only the features of the
    passes are kept. ``view`` is a :class:`~skralif._adapter.HeadView`
    *description* (head name and output kind); the head is looked up again
    here, because in a Dask worker the estimator arrives unpickled with
    modules of its own.
    """
    net, transform = split_estimator(estimator)
    view = view.rebind(net)
    feats = []
    for sl in iter_chunks(n_rows(block), batch_size):
        out, captured = forward(net, transform(take_rows(block, sl)), head=view.head,
                                name=name)
        if len(captured) != 1 or captured[0].ndim != 2:
            raise ValueError(
                f"The head {view.name!r} must be called exactly once per forward pass on a "
                f"2-D batch of features; it was called {len(captured)} time(s). "
                f"{view.fallback}"
            )
        view.check_output(captured[0], out)
        feats.append(captured[0])
    if not feats:
        return torch.zeros(0, view.head.in_features, device=view.device)
    return torch.cat(feats)


def pool_features(estimator, X, view, batch_size, name="X_pool"):
    """The head's input for every row of ``X`` (an array or a dask array), one tensor.

    For an array each block's features are copied into one tensor allocated at the
    first block, so the pool's features are held once, not once in blocks and once
    concatenated (issue 26: twice the features at the peak). A dask pool's blocks come
    back from their tasks and are concatenated.
    """
    if not is_dask(X):
        out = None
        for sl in iter_chunks(n_rows(X), block_rows(batch_size)):
            feats = block_features(estimator, take_rows(X, sl), view, batch_size, name)
            if out is None:
                out = torch.empty((n_rows(X), *feats.shape[1:]), dtype=feats.dtype,
                                  device=feats.device)
            out[sl] = feats
            del feats
        if out is None:
            return torch.zeros(0, view.head.in_features, device=view.device)
        return out
    chunks = pool_map(lambda block, _: block_features(estimator, block, view, batch_size, name),
                      X, batch_size)
    if not chunks:
        return torch.zeros(0, view.head.in_features, device=view.device)
    return torch.cat([torch.as_tensor(c, device=view.device) for c in chunks])


def block_proba(estimator, block, batch_size, name="X_pool") -> np.ndarray:
    """``estimator.predict_proba`` of one block, checked finite.

    For a skorch net (or a Pipeline ending in one) this is one forward pass
    of the module per ``batch_size`` rows followed by the net's own
    prediction nonlinearity: the same numbers as ``net.predict_proba``
    without its per-row data loader.
    """
    final, transform = split_estimator(estimator)
    if not isinstance(final, NeuralNet):
        block = np.asarray(block)
        if block.dtype.kind in "biuf" and not np.isfinite(block).all():  # dask blocks
            raise ValueError(f"`{name}` holds NaN or infinity; only finite values are allowed.")
        proba = np.asarray(estimator.predict_proba(block))
        if not np.isfinite(proba).all():
            raise ValueError(f"The classifier {type(final).__name__} returned NaN or "
                             f"infinite probabilities on `{name}`.")
        return proba
    nonlinearity = final._get_predict_nonlinearity()
    parts = []
    for sl in iter_chunks(n_rows(block), batch_size):
        out, _ = forward(final, transform(take_rows(block, sl)), name=name)
        with torch.no_grad():
            parts.append(nonlinearity(out).cpu().numpy())
    return np.concatenate(parts)


def predict_proba(estimator, X, batch_size=None, name="X_pool") -> np.ndarray:
    """``estimator.predict_proba`` over blocks of ``X`` (bounded memory; dask arrays too).

    ``batch_size`` None reads the net's own inference batch size (:func:`batch_rows`).
    """
    batch_size = batch_rows(estimator, batch_size, n_rows(X))
    return np.concatenate(pool_map(
        lambda block, _: block_proba(estimator, block, batch_size, name), X, batch_size))
