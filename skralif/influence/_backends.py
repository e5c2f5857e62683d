"""Inverse-Hessian-vector-product backends: exact, LiSSA and conjugate gradients.

Each backend is a small scikit-learn-style parameter object with one abstract
method, :meth:`InverseHVP.inverse_hvp`, that returns ``(H + damping I)^{-1} v``
for the Hessian ``H`` of an objective (see :mod:`skralif.influence._objectives`).
"""

from __future__ import annotations

import functools
import math
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from .._validation import non_negative_real, positive_int, validate_params
from ..exceptions import HessianTooLargeError, InputTypeError, LiSSADivergenceError


def _positive_real():
    return Interval(Real, 0, None, closed="neither")

__all__ = ["InverseHVP", "ExactInverseHVP", "LiSSAInverseHVP", "CGInverseHVP", "check_backend"]


def _solver(method):
    """Wrap a backend's ``inverse_hvp``: the base class's documentation, the call checked
    (:meth:`InverseHVP._check_call`), and ``v`` scaled to a largest entry in [1, 2) by a
    power of two (exact), the solution scaled back. The solve is linear in ``v``, so a
    finite ``v`` never overflows inside the solver; a solution beyond float64's range is
    refused by name instead of returned as infinity."""

    @functools.wraps(method)
    def inverse_hvp(self, objective, v):
        v = self._check_call(objective, v)
        largest = float(v.abs().max()) if v.numel() else 0.0
        # 2**(e-1) <= largest < 2**e; 2**e itself may be beyond float64 (e = 1024)
        scale = math.ldexp(1.0, math.frexp(largest)[1] - 1) if largest > 0 else 1.0
        solution = method(self, objective, v / scale) * scale
        if not torch.isfinite(solution).all():
            raise ValueError(
                f"`v` (largest entry {largest:.3g}) has an inverse-HVP beyond float64's "
                "range; scale `v` down (the solution is linear in it) or raise `damping`.")
        return solution

    inverse_hvp.__doc__ = InverseHVP.inverse_hvp.__doc__
    return inverse_hvp


class InverseHVP(BaseEstimator, metaclass=ABCMeta):
    """Base class of inverse-HVP backends.

    Subclasses implement only :meth:`inverse_hvp`. Parameters are stored by
    ``__init__`` unchanged, so backends clone, compare and grid-search like any
    scikit-learn object (``query_strategy__method__scale``). Attributes ending
    in ``_`` describe the last call.
    """

    @abstractmethod
    def inverse_hvp(self, objective, v: torch.Tensor) -> torch.Tensor:
        """Return ``(H + damping I)^{-1} v``.

        Parameters
        ----------
        objective : HeadObjective or ParamObjective
            Provides ``hvp(v, rows=None)``, ``hessian()``, ``n_params``,
            ``n_train`` and ``device``; ``H`` is its Hessian, Tikhonov term
            included.
        v : torch.Tensor of shape (n_params,)
            Right-hand side.

        Returns
        -------
        torch.Tensor of shape (n_params,), float64
        """


    def _check_call(self, objective, v) -> torch.Tensor:
        """Validate the parameters and the call; ``v`` as a float64 tensor on the
        objective's device (a numpy array or list is accepted)."""
        validate_params(self)
        if not all(hasattr(objective, a) for a in ("hvp", "n_params", "n_train")):
            raise InputTypeError(
                f"`objective` must be a HeadObjective or ParamObjective (anything with "
                f"`hvp`, `n_params` and `n_train`); got {type(objective).__name__}.")
        if not isinstance(v, torch.Tensor):
            try:
                v = torch.as_tensor(np.asarray(v, dtype=np.float64))
            except (TypeError, ValueError) as err:
                raise InputTypeError(f"`v` must be a vector of numbers; got "
                                     f"{type(v).__name__}.") from err
        if v.ndim != 1 or v.numel() != objective.n_params:
            raise ValueError(f"`v` must have shape ({objective.n_params},), one value per "
                             f"parameter of the objective; got {tuple(v.shape)}.")
        v = v.to(device=getattr(objective, "device", v.device), dtype=torch.float64)
        if not torch.isfinite(v).all():
            raise ValueError(f"`v` holds NaN or infinity in {int((~torch.isfinite(v)).sum())} "
                             "of its entries; only finite values have an inverse-HVP.")
        return v


class ExactInverseHVP(InverseHVP):
    """Dense Hessian in float64 and a Cholesky solve.

    Cost: building ``H`` (``O(n p^2)`` for a head, ``p`` HVPs in general), then
    ``O(p^3 / 3)`` for the factorisation, with ``8 p^2`` bytes of memory.

    Parameters
    ----------
    damping : float, default=0.0
        Added to the diagonal of ``H`` before the solve.
    max_memory : float, default=4.0
        Largest dense Hessian allowed, in GiB. Beyond it a
        :class:`~skralif.exceptions.HessianTooLargeError` suggests ``"cg"``
        or ``"lissa"``.
    rtol : float, default=1e-10
        When ``H`` is not positive definite (a softmax head with no damping
        always has a null direction), the solve falls back, with a warning,
        to the pseudo-inverse over eigenvalues above ``rtol * max eigenvalue``.
        Directions of negative curvature are dropped too.

    Attributes
    ----------
    fallback_ : bool
        Whether the last solve used the eigendecomposition fallback.
    """

    _parameter_constraints: dict = {
        "damping": [non_negative_real()],
        "max_memory": [_positive_real()],
        "rtol": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, damping=0.0, max_memory=4.0, rtol=1e-10):
        self.damping = damping
        self.max_memory = max_memory
        self.rtol = rtol

    @_solver
    def inverse_hvp(self, objective, v):
        p = objective.n_params
        need = 8 * p * p / 2**30
        if need > self.max_memory:
            raise HessianTooLargeError(
                f"`method='exact'` needs a dense {p:,} x {p:,} float64 Hessian "
                f"({need:.1f} GiB), more than `max_memory`={self.max_memory} GiB. "
                "Use method='cg' or method='lissa', or raise `max_memory`."
            )
        H = objective.hessian()
        H.diagonal().add_(float(self.damping))
        v = v.to(H)
        L, info = torch.linalg.cholesky_ex(H)
        self.fallback_ = bool(info.item() != 0)
        if not self.fallback_:
            return torch.cholesky_solve(v[:, None], L)[:, 0]
        return self._pseudo_solve(H, v)

    def _pseudo_solve(self, H, v):
        evals, evecs = torch.linalg.eigh(H)
        keep = evals > self.rtol * evals.abs().max()
        warnings.warn(
            f"The Hessian is not positive definite (smallest eigenvalue "
            f"{evals[0].item():.3g}); solving with the pseudo-inverse over its "
            f"{int(keep.sum())} of {len(evals)} positive eigenvalues. Set `damping` "
            f"> 0 (e.g. {max(1e-3, -evals[0].item()):.1g}) for a well-posed solve.",
            RuntimeWarning,
            stacklevel=3,
        )
        evecs = evecs[:, keep]
        return evecs @ ((evecs.T @ v) / evals[keep])


class LiSSAInverseHVP(InverseHVP):
    """LiSSA: the stochastic Neumann series for ``(H + damping I)^{-1} v``.

    Each repeat runs, from ``h_0 = v``, with a fresh minibatch ``B_t`` of
    training rows per step,

        h_{t+1} = v + h_t - (H_{B_t} + damping I) h_t / scale,

    and returns ``h_T / scale``; repeats are averaged. The fixed point is
    exactly ``(H + damping I)^{-1} v``: here ``damping`` is Tikhonov damping
    added to ``H`` (torch-influence's convention).

    **Converting the other convention.** Koh & Liang, dattri and the RALIF
    research code iterate ``h <- v + (1 - d) h - H h / s`` and often return
    ``h`` without dividing by ``s``. Its fixed point is ``s (H + d s I)^{-1} v``:
    use ``damping = d * s`` and ``scale = s`` here, and multiply by ``s`` if
    you need their unnormalised output (RALIF code: ``d=0.01, s=25`` is
    ``damping=0.25``).

    The recursion converges when ``scale`` exceeds half the largest eigenvalue
    of every minibatch Hessian, and fastest near the largest eigenvalue; it
    needs about ``(lambda_max / lambda_min) log(1 / tol)`` steps, so it is slow
    on ill-conditioned problems (prefer ``"cg"`` or ``"exact"`` there).

    Parameters
    ----------
    damping : float, default=0.0
        Tikhonov damping added to ``H`` (see above).
    scale : float or None, default=None
        When None, ``1.1 x`` (full batch) or ``2 x`` (minibatches) a
        power-iteration estimate of the largest eigenvalue of ``H``; if the
        recursion then diverges, the scale is doubled and the repeat restarted
        (at most 4 times). A given scale that diverges raises
        :class:`~skralif.exceptions.LiSSADivergenceError`.
    depth : int, default=10000
        Maximum number of steps per repeat.
    tol : float, default=1e-5
        A repeat stops when ``||v - (H_B + damping I) h_t / scale|| / ||v||``,
        the relative residual of the step, falls below ``tol``.
    repeats : int, default=1
        Independent repeats averaged (useful with minibatches only).
    batch_size : int or None, default=1024
        Training rows per step, drawn without replacement each step; None
        or a value of at least the training size uses them all
        (deterministic).
    power_iterations : int, default=30
        Power-iteration steps of the scale estimate.
    random_state : int, RandomState instance or None, default=None
        Seeds the minibatch draws and the power iteration start.

    Attributes
    ----------
    scale_ : float
        Scale used by the last call.
    residuals_ : list of ndarray
        Relative residual at every step, one array per repeat.
    n_iter_ : list of int
        Steps run by each repeat.
    """

    _parameter_constraints: dict = {
        "damping": [non_negative_real()],
        "scale": [_positive_real(), None],
        "depth": [positive_int()],
        "tol": [_positive_real()],
        "repeats": [positive_int()],
        "batch_size": [positive_int(), None],
        "power_iterations": [positive_int()],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        damping=0.0,
        scale=None,
        depth=10000,
        tol=1e-5,
        repeats=1,
        batch_size=1024,
        power_iterations=30,
        random_state=None,
    ):
        self.damping = damping
        self.scale = scale
        self.depth = depth
        self.tol = tol
        self.repeats = repeats
        self.batch_size = batch_size
        self.power_iterations = power_iterations
        self.random_state = random_state

    @_solver
    def inverse_hvp(self, objective, v):
        rng = check_random_state(self.random_state)
        n = objective.n_train
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        auto = self.scale is None
        scale = float(self.scale) if not auto else self._auto_scale(objective, v, rng, batch < n)
        self.residuals_, self.n_iter_, results = [], [], []
        for _ in range(int(self.repeats)):
            h, scale = self._repeat_until_stable(objective, v, scale, auto, batch, rng)
            results.append(h / scale)
        self.scale_ = scale
        unconverged = [r[-1] for r in self.residuals_ if r[-1] >= self.tol]
        if unconverged:
            warnings.warn(
                f"LiSSA stopped at `depth`={self.depth} steps in {len(unconverged)} of "
                f"{len(self.residuals_)} repeat(s) with relative residual up to "
                f"{max(unconverged):.2g} > `tol`={self.tol}, so the solution is inexact. "
                "Raise `depth` or `damping`, raise `batch_size` (minibatch noise keeps the "
                "residual up), or use method='cg' or 'exact'.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return torch.stack(results).mean(dim=0)

    def _hvp(self, objective, h, rows):
        return objective.hvp(h, rows).to(torch.float64) + float(self.damping) * h

    def _auto_scale(self, objective, v, rng, minibatch):
        x = torch.as_tensor(rng.standard_normal(v.shape[0]), dtype=torch.float64, device=v.device)
        lam = 0.0
        for _ in range(int(self.power_iterations)):
            x = x / torch.linalg.vector_norm(x)
            y = self._hvp(objective, x, None)
            lam = float(x @ y)
            x = y
        return (2.0 if minibatch else 1.1) * max(lam, 1e-12)

    def _repeat_until_stable(self, objective, v, scale, auto, batch, rng):
        for _attempt in range(5):
            h, residuals = self._recursion(objective, v, scale, batch, rng)
            if h is not None:
                self.residuals_.append(residuals)
                self.n_iter_.append(len(residuals))
                return h, scale
            if not auto:
                break
            scale *= 2.0
        raise LiSSADivergenceError(
            f"LiSSA diverged with `scale`={scale:.4g} (residual went from "
            f"{residuals[0]:.3g} to {residuals[-1]:.3g}). `scale` must exceed half "
            "the largest eigenvalue of every minibatch Hessian: raise `scale` (try "
            "10x), leave it None to estimate it, raise `batch_size`, or add `damping`."
        )

    def _recursion(self, objective, v, scale, batch, rng):
        """One repeat; returns ``(h, residuals)``, or ``(None, residuals)`` on divergence."""
        n, h, residuals = objective.n_train, v.clone(), []
        v_norm = float(torch.linalg.vector_norm(v)) or 1.0
        for _ in range(int(self.depth)):
            rows = None if batch >= n else torch.as_tensor(rng.choice(n, batch, replace=False))
            step = v - self._hvp(objective, h, rows) / scale
            residuals.append(float(torch.linalg.vector_norm(step)) / v_norm)
            if not math.isfinite(residuals[-1]) or residuals[-1] > 100 * max(residuals[0], 1):
                return None, np.asarray(residuals)
            h = h + step
            if residuals[-1] < self.tol:
                break
        return h, np.asarray(residuals)


class CGInverseHVP(InverseHVP):
    """Matrix-free conjugate gradients on ``(H + damping I) x = v`` in float64.

    Needs only HVPs (``O(n p)`` each for a head), so it works when a dense
    Hessian would not fit. Converges in about ``sqrt(lambda_max / lambda_min)
    log(1 / tol)`` HVPs on a positive-definite ``H``.

    Parameters
    ----------
    damping : float, default=0.0
        Added to ``H``.
    tol : float, default=1e-8
        Stop when ``||v - (H + damping I) x|| <= tol ||v||``.
    max_iter : int, default=1000
        Maximum number of HVPs; a :class:`~sklearn.exceptions.ConvergenceWarning`
        is raised when it is reached before ``tol``.

    Attributes
    ----------
    n_iter_ : int
        Iterations run by the last call.
    residuals_ : ndarray
        Relative residual after every iteration.
    """

    _parameter_constraints: dict = {
        "damping": [non_negative_real()],
        "tol": [_positive_real()],
        "max_iter": [positive_int()],
    }

    def __init__(self, damping=0.0, tol=1e-8, max_iter=1000):
        self.damping = damping
        self.tol = tol
        self.max_iter = max_iter

    @_solver
    def inverse_hvp(self, objective, v):
        x = torch.zeros_like(v)
        r, d = v.clone(), v.clone()
        rr, v_norm = float(r @ r), float(torch.linalg.vector_norm(v)) or 1.0
        residuals = []
        for _ in range(int(self.max_iter)):
            if math.sqrt(rr) <= self.tol * v_norm:
                break
            Hd = objective.hvp(d).to(torch.float64) + float(self.damping) * d
            alpha = rr / float(d @ Hd)
            x, r = x + alpha * d, r - alpha * Hd
            rr_new = float(r @ r)
            d, rr = r + (rr_new / rr) * d, rr_new
            residuals.append(math.sqrt(rr) / v_norm)
        self.n_iter_, self.residuals_ = len(residuals), np.asarray(residuals)
        if math.sqrt(rr) > self.tol * v_norm:
            warnings.warn(
                f"CG stopped after `max_iter`={self.max_iter} iterations at relative "
                f"residual {math.sqrt(rr) / v_norm:.2g} > `tol`={self.tol}; raise "
                "`max_iter` or `damping`, or use method='exact'.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return x


_BACKENDS = {"exact": ExactInverseHVP, "lissa": LiSSAInverseHVP, "cg": CGInverseHVP}


def check_backend(method, **options) -> InverseHVP:
    """Return a backend instance for ``method``: a name in ``{"exact", "lissa",
    "cg"}`` (built with ``options``) or an :class:`InverseHVP` instance (used as
    given; ``options`` must then be empty)."""
    if isinstance(method, InverseHVP):
        if options:
            raise InputTypeError(
                f"Options {sorted(options)} only apply when `method` is a string; "
                f"set them on the {type(method).__name__} instance instead."
            )
        return method
    if isinstance(method, str) and method in _BACKENDS:
        cls = _BACKENDS[method]
        allowed = cls().get_params()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise InputTypeError(
                f"Unknown option(s) {unknown} for method={method!r}; "
                f"allowed: {sorted(allowed)}."
            )
        return cls(**options)
    raise ValueError(
        f"`method` must be one of {sorted(_BACKENDS)} or an InverseHVP instance; "
        f"got {method!r}."
    )
