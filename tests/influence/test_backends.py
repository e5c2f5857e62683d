"""Inverse-HVP backends against numpy.linalg.solve on ridge and logistic problems."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from skralif.exceptions import HessianTooLargeError, LiSSADivergenceError, SkralifError
from skralif.influence import (
    CGInverseHVP,
    ExactInverseHVP,
    HeadObjective,
    InverseHVP,
    LiSSAInverseHVP,
)
from skralif.influence._backends import check_backend


class RidgeObjective:
    """Hessian of ridge regression, ``X^T X / n + lam I``, through the objective protocol."""

    def __init__(self, X, lam):
        self.X, self.lam = torch.as_tensor(X, dtype=torch.float64), lam
        self.n_train, self.n_params = self.X.shape
        self.device = self.X.device

    def hvp(self, v, rows=None):
        X = self.X if rows is None else self.X[rows]
        return X.T @ (X @ v) / len(X) + self.lam * v

    def hessian(self):
        eye = torch.eye(self.n_params, dtype=torch.float64)
        return self.X.T @ self.X / self.n_train + self.lam * eye


def ridge_problem(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(200, 15) @ np.diag(np.linspace(0.2, 2.0, 15))
    return RidgeObjective(X, lam=0.05), rng.randn(15)


def logistic_problem(digits, damping=1e-2):
    """Multinomial logistic Hessian on digits features at a random softmax head."""
    X, _ = digits
    feats = torch.as_tensor(X[:400], dtype=torch.float64)
    W = torch.randn(10, 65, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.3
    Xa = torch.cat([feats, torch.ones(len(feats), 1, dtype=torch.float64)], dim=1)
    obj = HeadObjective(feats, torch.softmax(Xa @ W.T, dim=1), damping=damping)
    v = np.random.RandomState(1).randn(obj.n_params)
    return obj, v


@pytest.fixture(params=["ridge", "logistic"])
def problem(request, digits):
    obj, v = ridge_problem() if request.param == "ridge" else logistic_problem(digits)
    expected = np.linalg.solve(obj.hessian().numpy(), v)
    return obj, torch.as_tensor(v), expected


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)


@pytest.mark.parametrize("backend", [ExactInverseHVP(), CGInverseHVP(tol=1e-12)])
def test_exact_and_cg_match_numpy_solve(problem, backend):
    obj, v, expected = problem
    assert rel_err(backend.inverse_hvp(obj, v).numpy(), expected) < 1e-8


def test_lissa_defaults_within_five_percent_of_exact(problem):
    obj, v, expected = problem
    lissa = LiSSAInverseHVP(random_state=0)
    assert rel_err(lissa.inverse_hvp(obj, v).numpy(), expected) < 0.05
    trace = lissa.residuals_[0]
    assert trace[-1] < lissa.tol and trace[-1] < trace[0]
    assert lissa.scale_ > 0 and lissa.n_iter_[0] == len(trace)


def test_lissa_minibatches_with_repeats_are_close_and_seeded(digits):
    obj, v = logistic_problem(digits, damping=0.1)
    expected = np.linalg.solve(obj.hessian().numpy(), v)
    lissa = LiSSAInverseHVP(batch_size=200, repeats=4, depth=2000, random_state=3)
    # minibatch noise keeps the step residual above tol: reported, not silent
    with pytest.warns(ConvergenceWarning, match="LiSSA stopped at `depth`=2000 steps in 4 of 4"):
        first = lissa.inverse_hvp(obj, torch.as_tensor(v)).numpy()
    assert rel_err(first, expected) < 0.1
    again = LiSSAInverseHVP(batch_size=200, repeats=4, depth=2000, random_state=3)
    with pytest.warns(ConvergenceWarning):
        np.testing.assert_array_equal(again.inverse_hvp(obj, torch.as_tensor(v)).numpy(), first)


def test_lissa_stopping_at_depth_warns_with_the_residual(problem):
    obj, v, _ = problem
    lissa = LiSSAInverseHVP(depth=3)
    with pytest.warns(ConvergenceWarning, match=r"residual up to \d.* > `tol`=1e-05.*depth"):
        lissa.inverse_hvp(obj, v)
    assert lissa.n_iter_ == [3] and lissa.residuals_[0][-1] > 1e-5


@pytest.mark.parametrize("backend, match", [
    (LiSSAInverseHVP(depth=0), "'depth' parameter of LiSSAInverseHVP"),
    (LiSSAInverseHVP(repeats=0), "'repeats' parameter"),
    (LiSSAInverseHVP(repeats=True), "'repeats' parameter .* not a boolean"),
    (LiSSAInverseHVP(scale=-1.0), "'scale' parameter"),
    (LiSSAInverseHVP(damping=float("nan")), "'damping' parameter"),
    (CGInverseHVP(damping=-1e-3), "'damping' parameter of CGInverseHVP"),
    (CGInverseHVP(max_iter=0), "'max_iter' parameter"),
    (ExactInverseHVP(damping=float("inf")), "'damping' parameter of ExactInverseHVP"),
])
def test_backend_parameters_are_validated(problem, backend, match):
    obj, v, _ = problem
    with pytest.raises(ValueError, match=match):
        backend.inverse_hvp(obj, v)


def test_lissa_damping_convention_matches_tikhonov(problem):
    obj, v, _ = problem
    expected = np.linalg.solve(obj.hessian().numpy() + 0.5 * np.eye(obj.n_params), v.numpy())
    got = LiSSAInverseHVP(damping=0.5).inverse_hvp(obj, v).numpy()
    assert rel_err(got, expected) < 1e-3


def test_lissa_divergence_raises_naming_scale(problem):
    obj, v, _ = problem
    with pytest.raises(LiSSADivergenceError, match="`scale`") as info:
        LiSSAInverseHVP(scale=1e-3).inverse_hvp(obj, v)
    assert isinstance(info.value, SkralifError) and isinstance(info.value, ValueError)


def test_exact_falls_back_to_pseudo_inverse_with_warning(digits):
    obj, _ = logistic_problem(digits, damping=0.0)
    # a softmax head's gradient never points along "same shift for every class"
    v = obj.hvp(torch.randn(obj.n_params, dtype=torch.float64))
    with pytest.warns(RuntimeWarning, match="not positive definite"):
        x = ExactInverseHVP().inverse_hvp(obj, v)
    torch.testing.assert_close(obj.hvp(x), v, rtol=1e-6, atol=1e-8)


def test_exact_refuses_huge_hessian_and_suggests_cg(digits):
    obj, v = logistic_problem(digits)
    with pytest.raises(HessianTooLargeError, match="method='cg'"):
        ExactInverseHVP(max_memory=1e-4).inverse_hvp(obj, torch.as_tensor(v))


def test_cg_warns_when_not_converged(problem):
    obj, v, _ = problem
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        CGInverseHVP(max_iter=2).inverse_hvp(obj, v)


def test_check_backend_maps_strings_and_keeps_instances():
    assert isinstance(check_backend("exact"), ExactInverseHVP)
    assert check_backend("lissa", scale=3.0).scale == 3.0
    inst = CGInverseHVP(tol=1e-3)
    assert check_backend(inst) is inst
    with pytest.raises(ValueError, match="`method` must be one of"):
        check_backend("newton")
    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['scale'\]"):
        check_backend("cg", scale=2)
    with pytest.raises(TypeError, match="only apply when `method` is a string"):
        check_backend(inst, tol=1)


def test_backends_are_clonable_estimator_params():
    from sklearn.base import clone

    lissa = LiSSAInverseHVP(scale=7.0, random_state=2)
    assert clone(lissa).get_params() == lissa.get_params()
    with pytest.raises(TypeError):
        InverseHVP()


@pytest.mark.parametrize("make", [ExactInverseHVP, CGInverseHVP,
                                  lambda: LiSSAInverseHVP(random_state=0)],
                         ids=["exact", "cg", "lissa"])
def test_bad_calls_are_named_whatever_the_backend(problem, make):
    """Issue 22: a NaN vector gave all-NaN (exact, CG) or blamed `scale` (LiSSA); a
    vector of the wrong length, a numpy vector or no objective gave torch internals."""
    obj, v, _ = problem
    bad = v.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match=r"`v` holds NaN or infinity in 1 of its entries"):
        make().inverse_hvp(obj, bad)
    with pytest.raises(ValueError, match=rf"`v` must have shape \({obj.n_params},\).*got "
                                         rf"\({obj.n_params - 1},\)"):
        make().inverse_hvp(obj, v[:-1])
    with pytest.raises(TypeError, match="`objective` must be a HeadObjective or "
                                        "ParamObjective .*got NoneType"):
        make().inverse_hvp(None, v)
    with pytest.raises(TypeError, match="`v` must be a vector of numbers"):
        make().inverse_hvp(obj, "abc")
    # a numpy vector is the same vector
    np.testing.assert_allclose(make().inverse_hvp(obj, v.numpy()).numpy(),
                               make().inverse_hvp(obj, v).numpy())


@settings(max_examples=60, deadline=None)
@given(backend=st.sampled_from(["exact", "cg", "lissa"]),
       v=st.one_of(
           arrays(np.float64, st.integers(0, 20),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
           st.lists(st.one_of(st.floats(), st.text(max_size=2)), max_size=16),
           st.none(), st.text(max_size=5)))
def test_any_vector_is_solved_or_refused_by_name(backend, v):
    """Issue 22, as a property: a backend either returns a finite solution of the right
    length or raises a ValueError/TypeError naming `v` (never NaN, never torch's words)."""
    obj, _ = ridge_problem()
    solver = check_backend(backend, random_state=0) if backend == "lissa" else \
        check_backend(backend)
    try:
        out = solver.inverse_hvp(obj, v)
    except (ValueError, TypeError) as err:
        assert "`v`" in str(err), str(err)
        return
    assert out.shape == (obj.n_params,) and torch.isfinite(out).all()


@pytest.mark.parametrize("backend", ["exact", "cg", "lissa"])
@pytest.mark.parametrize("magnitude", [1.47e307, 2.0**1023, 1e-300])
def test_solution_is_linear_in_v_at_any_magnitude(backend, magnitude):
    """Hypothesis found ``v`` = 1.47e307 everywhere: the exact solve overflowed inside and
    returned infinity. The solve is linear in ``v``: it now scales ``v`` first, so a
    huge or tiny ``v`` gives the scaled solution, or a refusal naming `v` when the
    solution itself is beyond float64."""
    obj, v = ridge_problem()
    solver = check_backend(backend, random_state=0) if backend == "lissa" else \
        check_backend(backend)
    unit = solver.inverse_hvp(obj, v / np.abs(v).max())
    try:
        out = solver.inverse_hvp(obj, v / np.abs(v).max() * magnitude)
    except ValueError as err:
        assert "`v`" in str(err) and "float64" in str(err)
        assert (unit.abs().max() * magnitude).item() > np.finfo(np.float64).max / 2
        return
    torch.testing.assert_close(out / magnitude, unit, rtol=1e-6, atol=0)
