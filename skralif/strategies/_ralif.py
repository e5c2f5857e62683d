"""RALIF: Reliable Active Learning via Influence Functions (Xia & Henao, TMLR 2023)."""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from torch.func import jvp

from .._nets import HeadView, augment, check_class_labels
from .._pool import (
    as_input,
    block_features,
    block_rows,
    encode,
    is_dask,
    iter_chunks,
    n_rows,
    pool_map,
    split_estimator,
    take_rows,
)
from .._validation import non_negative_real, positive_int
from ..influence._backends import CGInverseHVP, check_backend
from ..influence._head import head_gradient, head_pair_scores, head_proba
from ..influence._objectives import HeadObjective, ParamObjective
from ._base import QueryStrategy, euclidean_to, kmeans_pp, nearest_distance

__all__ = ["RALIFQuery"]


class RALIFQuery(QueryStrategy):
    r"""Query the pool rows whose labels are predicted to most reduce the loss on the pool.

    One query round, on the fitted net (influence over its head, on the frozen
    encoder ``f``):

    0. the head is refitted to the optimum of the damped labeled loss
       (``refit_head``), and every later step uses it;
    1. pool probabilities ``p_u``;
    2. the target loss, the pool's expected loss under ``p`` (its entropy,
       ``R = sum_u H(p_u)``; ``pseudo_labels="hard"`` uses the argmax pseudo
       labels, ``R = sum_u l(u, yhat_u)``, and ``target="all"`` adds the
       labeled rows with their true labels) and its gradient ``G``;
    3. one inverse-HVP ``s = H^{-1} G`` with ``H`` the Hessian of the mean
       labeled loss plus ``damping/2 ||theta||^2``;
    4. for every row and class, the predicted change of ``R`` when ``(u, k)``
       joins the ``n`` labeled rows, ``delta(u, k) = -(1/n) g_{u,k}^T s``
       (negative: the target loss goes down), all by matrix products;
    5. the expected change over the plausible classes
       ``K_u = {k : p_uk > min(tau / C, 1/2)}`` with ``p`` renormalised on ``K_u``:
       ``S(u) = sum_{k in K_u} p~_uk delta(u, k)``; rows with empty ``K_u`` are
       excluded;
    6. candidates: the ``candidate_fraction`` of the pool with the lowest
       ``S`` (at least ``n``);
    7. diversity: k-means++ seeding in encoder space, starting from the best
       candidate, with each row's initial distance the one to its *nearest*
       labeled row.

    Parameters
    ----------
    tau : float, default=4.0
        Plausibility threshold: class ``k`` counts for row ``u`` when
        ``p_uk > min(tau / C, 1/2)``. Larger ``tau`` keeps fewer classes and
        excludes more uncertain rows; ``tau < 1`` keeps at least the argmax
        class. The paper's ``tau / C`` alone reaches 1 when ``C <= tau``
        (binary or 3-class problems with ``tau=4``), which would exclude every
        row; the cap at 1/2 keeps a class that holds the majority plausible.
    candidate_fraction : float in (0, 1], default=0.1
        Share of the pool kept as candidates for the diversity step.
    candidates_per_query : float >= 1 or None, default=None
        When set, the candidate set holds ``candidates_per_query * n`` rows
        (at most the pool) instead of ``candidate_fraction`` of the pool: the
        diversity step then chooses among a number of rows that scales with
        the batch, whatever the pool size. ``1`` takes the ``n`` best rows.
    method : {"exact", "lissa", "cg"} or InverseHVP, default="exact"
        Inverse-HVP backend (:mod:`skralif.influence`). ``"exact"`` builds
        the ``(d+1)C`` square Hessian; prefer ``"cg"`` for large heads.
    damping : float, default=1e-3
        Tikhonov term of the training objective. A net trained with
        ``optimizer__weight_decay=lam`` (torch adds ``lam * theta`` to the
        gradient) minimises ``loss + lam/2 ||theta||^2``: set
        ``damping=lam`` to match. Some damping is needed anyway: a softmax
        head's Hessian is singular without it.
    score : {"influence", "reference"}, default="influence"
        ``"influence"`` is ``S(u)`` above. ``"reference"`` is the released
        research code's formula, ``mean_{k in K_u} p_uk (R + delta(u, k))``
        (no renormalisation, the constant ``R`` inside): with ``R`` far
        larger than ``delta`` it ranks almost exactly by low confidence among
        rows with a plausible class. For comparisons only.
    diversity : bool, default=True
        k-means++ over the candidates; False takes the ``n`` best candidates.
    target : {"pool", "all"}, default="pool"
        Loss to reduce: the pseudo-labelled pool, or pool plus the labeled
        rows with their true labels.
    pseudo_labels : {"soft", "hard"}, default="soft"
        How the pool's loss is measured. ``"soft"``: the expected loss under
        the net's own probabilities, ``sum_u sum_k p_uk l(u, k)``, which is
        the pool's total entropy ``sum_u H(p_u)``; its gradient is taken
        through ``p`` too (with ``p`` held fixed as targets it would be exactly
        zero at the current weights), ``-p_u (log p_u + H(p_u))`` in the
        logits. ``"hard"``: the cross-entropy of the argmax pseudo labels,
        ``sum_u l(u, yhat_u)``, as in the paper.
    refit_head : bool, default=True
        Before computing influence, move the head to the optimum of the
        objective the Hessian describes, ``(1/n) sum_i l(x_i, y_i) +
        damping/2 ||theta||^2`` on the frozen features (Newton's method, its
        steps by conjugate gradients on the closed-form HVPs, with a
        backtracking line search; a fraction of a second for the benchmark
        MLPs). Influence functions are a first-order expansion around an
        optimum, and a net trained for a fixed number of Adam epochs is not at
        one. Every step of the query (probabilities, pseudo labels,
        gradients) then uses the refitted head; the net itself is not
        changed. Needs ``y_labeled`` (the learner passes it); set False to
        score with the trained head as it is.
    params : list of str or None, default=None
        Parameters of the net's module beyond the head over which influence
        is computed too, by name (``net.module_.named_parameters()``; for
        :class:`~skralif.nets.MLPModule` with two hidden layers,
        ``["body.3.weight", "body.3.bias"]`` is the layer before the head).
        None uses the head alone with its closed forms. With parameters,
        ``theta`` is the head plus these: the pool gradient is one backward
        pass, the inverse-HVP runs on the Hessian of the labeled loss over
        ``theta`` (:mod:`torch.func` on a float64 copy of the module; use
        ``method="cg"`` unless ``theta`` is small) and every ``delta(u, k)``
        of a row comes from one forward-mode pass along ``s``
        (``g_{u,k}^T s = p_u^T a_u - a_uk`` with ``a_u`` the change of the
        logits along ``s``). Needs ``y_labeled`` and arrays (not Dask) as the
        pool. With ``refit_head`` the head alone is refitted (on the frozen
        features) first, and the other parameters keep their trained values.
    head : str or None, default=None
        Name of the head, a ``torch.nn.Linear`` of the net's module. None
        finds it by tracing one forward pass on two pool rows: the Linear,
        called once, whose output is the module's output (possibly through
        a final softmax, log-softmax or sigmoid). An error lists the
        candidates when none or several qualify.
    batch_size : int or None, default=None
        Rows per forward pass. None uses the net's own inference batch size
        (skorch's ``iterator_valid__batch_size``, else ``batch_size``), so a
        query holds the activations of no more rows than the net's own
        ``predict_proba``.
    keep_features : bool, default=True
        Keep the pool's encoder features (``pool x d`` float32) between the
        passes of a query, so the encoder runs once. False recomputes them in
        each of the three passes (gradient, scores, candidates): peak memory
        is then the pool array plus the candidate set plus a constant, for
        three encoder passes. Dask pools always recompute, in the workers.
    random_state : int, RandomState instance or None, default=None
        Seeds the diversity step (and a LiSSA backend given by name).

    Notes
    -----
    ``score_samples`` returns ``-S(u)`` (for ``score="reference"``,
    ``-S_code(u)``): the predicted *decrease* of the target loss, so that
    higher is queried first like every strategy; excluded rows are ``NaN``.

    The truncation is what makes the score informative: over *all* classes the
    expectation is exactly zero, since ``sum_k p_uk g_{u,k} = (p_u - p_u) x~^T``.

    **Edge cases.** When fewer rows than ``n`` have a plausible class, the
    excluded rows fill the remaining places in order of decreasing maximum
    probability (ties by index), after the diversity step. A pool of exactly
    ``n`` rows returns all of them. A labeled set missing classes, or holding
    one class only, is fine: the Hessian covers every output of the head and
    ``damping`` keeps it invertible. ``X_labeled`` is required (the Hessian
    is built on it); ``y_labeled`` only with ``target="all"``.

    Cost: one encoder pass over the pool and the labeled rows, ``O(n (dC)^2)``
    for the exact Hessian plus ``O((dC)^3)`` for its factorisation (or a few
    hundred ``O(n d C)`` HVPs for CG and LiSSA), ``O(n_pool d C)`` for the
    scores, and ``O(n n_candidates d)`` for the diversity step.

    References
    ----------
    M. Xia and R. Henao, "Reliable Active Learning via Influence Functions",
    Transactions on Machine Learning Research, 2023.
    """

    needs_net = True

    _parameter_constraints: dict = {
        "tau": [non_negative_real()],
        "candidate_fraction": [Interval(Real, 0, 1, closed="right")],
        "candidates_per_query": [Interval(Real, 1, None, closed="left"), None],
        "method": [StrOptions({"exact", "lissa", "cg"}), HasMethods(["inverse_hvp"])],
        "damping": [non_negative_real()],
        "score": [StrOptions({"influence", "reference"})],
        "diversity": ["boolean"],
        "target": [StrOptions({"pool", "all"})],
        "pseudo_labels": [StrOptions({"hard", "soft"})],
        "refit_head": ["boolean"],
        "params": [list, None],
        "head": [str, None],
        "batch_size": [positive_int(), None],
        "keep_features": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        tau=4.0,
        candidate_fraction=0.1,
        candidates_per_query=None,
        method="exact",
        damping=1e-3,
        score="influence",
        diversity=True,
        target="pool",
        pseudo_labels="soft",
        refit_head=True,
        params=None,
        head=None,
        batch_size=None,
        keep_features=True,
        random_state=None,
    ):
        self.tau = tau
        self.candidate_fraction = candidate_fraction
        self.candidates_per_query = candidates_per_query
        self.method = method
        self.damping = damping
        self.score = score
        self.diversity = diversity
        self.target = target
        self.pseudo_labels = pseudo_labels
        self.refit_head = refit_head
        self.params = params
        self.head = head
        self.batch_size = batch_size
        self.keep_features = keep_features
        self.random_state = random_state

    def _scores(self, estimator, X_pool, X_labeled, y_labeled):
        """Predicted decrease of the target loss per pool row (``-S(u)``); ``NaN`` excluded."""
        return -self._expected_change(estimator, X_pool, X_labeled, y_labeled)[0]

    def _select(self, estimator, X_pool, n, X_labeled, y_labeled):
        S, top_proba, feats_lab, over_pool = self._expected_change(estimator, X_pool, X_labeled,
                                                                   y_labeled)
        valid = np.flatnonzero(~np.isnan(S))
        valid = valid[np.lexsort((valid, S[valid]))]  # lowest S first, ties by index
        size = min(len(valid), max(n, self._n_candidates(len(S), n)))
        candidates = valid[:size]
        picks = candidates[: min(n, size)]
        if self.diversity and len(picks) > 1:
            feats = _rows_of(over_pool, candidates)  # only the candidates' features
            picks = self._diverse(feats, feats_lab, len(picks), candidates)
        if len(picks) < n < len(S):  # (a pool of exactly n rows is returned whole)
            warnings.warn(
                f"RALIFQuery: {len(S) - len(valid):,} of {len(S):,} pool rows have no "
                f"plausible class (no probability above min(tau / C, 1/2) with "
                f"tau={self.tau}), so only {len(picks)} of the {n} rows were ranked by "
                f"influence; the other {n - len(picks)} are the excluded rows with the "
                "highest maximum probability. Lower `tau` to rank more rows.",
                UserWarning,
                stacklevel=3,
            )
        return np.concatenate([picks, self._fill(top_proba, picks, n)]).astype(np.int64)

    def _n_candidates(self, n_pool, n):
        if self.candidates_per_query is not None:
            return math.ceil(self.candidates_per_query * n)
        return math.ceil(self.candidate_fraction * n_pool)

    def _diverse(self, feats_cand, feats_lab, n, candidates):
        rng = check_random_state(self.random_state)
        min_dist = nearest_distance(feats_cand, feats_lab)
        chosen = kmeans_pp(euclidean_to(feats_cand), len(candidates), n, rng, 0, min_dist)
        return candidates[chosen]

    @staticmethod
    def _fill(top_proba, picks, n):
        """Excluded rows by decreasing max probability, ties by index, to reach ``n``."""
        if len(picks) >= n:
            return np.empty(0, dtype=np.int64)
        rest = np.setdiff1d(np.arange(len(top_proba)), picks)
        confidence = top_proba[rest]
        return rest[np.lexsort((rest, -confidence))][: n - len(picks)]

    def _expected_change(self, estimator, X_pool, X_labeled, y_labeled):
        """Return ``(S, top pool probabilities, labeled features, over_pool)``.

        ``over_pool(fn)`` applies ``fn(features, start)`` to every pool chunk, in row
        order: on features kept in memory for an array pool, or as Dask tasks that
        recompute them for a dask pool (nothing pool-sized is then gathered but
        ``S`` and the probabilities).
        """
        self._check_labeled(X_labeled, y_labeled)
        backend = self._backend()
        view = HeadView.from_estimator(estimator, X_pool, self.head)
        rows = self._batch_rows(estimator, X_pool)
        feats_lab = encode(estimator, X_labeled, view, rows, "X_labeled")
        over_pool = self._pool_mapper(estimator, X_pool, view, rows)
        W = view.weights()
        if self.refit_head:
            W = self._refit(W, feats_lab, self._labels(y_labeled, view.n_classes),
                            block_rows(rows), view)
        if self.params is not None:
            S, top = self._param_scores(estimator, X_pool, X_labeled, y_labeled, view, rows,
                                        backend, W)
            return S, top, feats_lab, over_pool
        soft = self.pseudo_labels == "soft"
        first = over_pool(lambda f, _: _gradient_and_loss(f, W, soft))
        G = sum(g for g, _ in first)
        total = sum(r for _, r in first) if self.score == "reference" else 0.0
        if self.target == "all":
            G = G + head_gradient(feats_lab, W, self._labels(y_labeled, view.n_classes))
        objective = HeadObjective(feats_lab, head_proba(feats_lab, W), self.damping,
                                  block_rows(rows), bias=view.bias, binary=view.binary)
        solution = backend.inverse_hvp(objective, G.reshape(-1)).reshape(W.shape).to(W)
        n_labeled = len(feats_lab)
        # per chunk only S and the top probability come back: 16 bytes a row
        parts = over_pool(lambda f, _: self._chunk_scores(f, W, solution, n_labeled, total))
        S = np.concatenate([s for s, _ in parts])
        return S, np.concatenate([c for _, c in parts]), feats_lab, over_pool

    def _refit(self, W, feats, labels, rows, view, max_steps=50):
        """The head at the optimum of the damped labeled loss, by Newton's method.

        ``J(theta) = (1/n) sum_i l(x_i, y_i) + damping/2 ||theta||^2`` on the frozen
        features, from the trained head. Each step solves ``H step = grad J`` by
        conjugate gradients (closed-form HVPs, whatever the strategy's backend: a
        Newton direction need not be exact, and a dense factorisation per step would
        cost several times the query) and halves it until ``J`` decreases enough
        (Armijo). Stops when ``||grad J||`` is below ``1e-8`` times its start, or
        when no step decreases ``J``.
        """
        n = len(feats)
        labels = labels.to(feats.device)
        rows_n = torch.arange(n, device=feats.device)

        def objective(W):
            P = head_proba(feats, W)
            loss = -torch.log(P[rows_n, labels].clamp_min(1e-300)).mean()
            return float(loss + self.damping / 2 * (W * W).sum()), P

        J, P = objective(W)
        first, newton = None, CGInverseHVP(tol=1e-10, max_iter=500)
        for _ in range(max_steps):
            grad = head_gradient(feats, W, labels, proba=P) / n + self.damping * W
            size = float(torch.linalg.vector_norm(grad))
            first = size if first is None else first
            if size <= 1e-8 * first or size == 0.0:
                break
            hessian = HeadObjective(feats, P, self.damping, rows, bias=view.bias,
                                    binary=view.binary)
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

    def _param_scores(self, estimator, X_pool, X_labeled, y_labeled, view, rows, backend, W):
        """``(S, top pool probabilities)`` with influence over the head and ``params``,
        at the head ``W`` (``[W | b]``, refitted or not) and the net's other weights."""
        if is_dask(X_pool):
            raise ValueError("`params` needs the pool as an array: a Dask pool is scored "
                             "with the head's closed forms only (params=None).")
        net, transform = split_estimator(estimator)
        names = self._param_names(net, view)
        labels = check_class_labels(y_labeled, view.n_classes, "y_labeled")
        objective = ParamObjective(net, names, transform(X_labeled), labels, self.damping,
                                   rows)
        # the head leads theta: its weight, then its bias (the [W | b] columns)
        d = W.shape[1] - (1 if view.bias else 0)
        head = torch.cat([W[:, :d].reshape(-1)] + ([W[:, d]] if view.bias else []))
        objective.theta[: head.numel()] = head.to(objective.theta)
        X_pool = transform(X_pool)
        device, theta = objective.device, objective.theta

        def logits(t, xb):
            out = objective.outputs(t, xb).reshape(len(xb), -1)
            if view.output == "logit":  # binary: the logits [0, z]
                return torch.cat([torch.zeros_like(out), out], dim=1)
            return torch.log(out) if view.output == "proba" else out

        def chunks():  # converted again in each pass: never the whole pool in float64
            for sl in iter_chunks(n_rows(X_pool), rows):
                yield as_input(take_rows(X_pool, sl), device, objective.dtype, "X_pool")

        soft = self.pseudo_labels == "soft"
        G, total = torch.zeros_like(theta), 0.0
        for xb in chunks():
            t = theta.detach().clone().requires_grad_()
            loss = _target_loss(torch.log_softmax(logits(t, xb), dim=1), soft)
            G += torch.autograd.grad(loss, t)[0]
            total += float(loss.detach())
        if self.target == "all":  # the labeled rows' loss with their true labels
            G = G + objective.grad_mean(transform(X_labeled), labels) * len(labels)
        solution = backend.inverse_hvp(objective, G).to(theta)
        S, top = [], []
        for xb in chunks():
            z, A = jvp(lambda t, xb=xb: logits(t, xb), (theta,), (solution,))
            proba = torch.softmax(z, dim=1)
            delta = (A - (proba * A).sum(dim=1, keepdim=True)) / len(labels)
            proba = proba.detach().cpu().numpy()
            S.append(self._expectation(proba, delta.detach().cpu().numpy()
                                       + (total if self.score == "reference" else 0.0)))
            top.append(proba.max(axis=1))
        return np.concatenate(S), np.concatenate(top)

    def _param_names(self, net, view):
        named = dict(net.module_.named_parameters())
        head = [f"{view.name}.weight"] + ([f"{view.name}.bias"] if view.bias else [])
        unknown = [p for p in self.params if not isinstance(p, str) or p not in named]
        if unknown:
            raise ValueError(
                f"`params` names parameters of the net's module; got {unknown!r}, not among "
                f"{sorted(named)}.")
        return head + [p for p in dict.fromkeys(self.params) if p not in head]

    def _chunk_scores(self, feats, W, solution, n_labeled, total):
        """``(S, max_k p_uk)`` of one chunk; ``total`` is ``R`` for the reference score."""
        proba = head_proba(feats, W)
        # delta(u, k) = -(1/n) g_{u,k}^T s
        delta = head_pair_scores(feats, W, solution, proba) / n_labeled
        proba = proba.cpu().numpy()
        return self._expectation(proba, delta.cpu().numpy() + total), proba.max(axis=1)

    def _pool_mapper(self, estimator, X_pool, view, rows):
        def features(block, _):
            return block_features(estimator, block, view, rows)

        if is_dask(X_pool) or not self.keep_features:
            return lambda fn: pool_map(lambda b, s: fn(features(b, s), s), X_pool, rows)
        kept = []  # encoded on first use: a query with `params` may never need them

        def over_kept(fn):
            if not kept:
                kept.extend(pool_map(lambda b, s: (features(b, s), s), X_pool, rows))
            return [fn(f, s) for f, s in kept]

        return over_kept

    def _expectation(self, proba, values):
        """Expectation of ``values`` over the plausible classes (``NaN`` when none)."""
        keep = proba > min(self.tau / proba.shape[1], 0.5)
        weights = np.where(keep, proba, 0.0)
        count = keep.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.score == "influence":
                out = (weights * values).sum(axis=1) / weights.sum(axis=1)
            else:
                out = (weights * values).sum(axis=1) / count
        out[count == 0] = np.nan
        return out

    def _labels(self, y_labeled, n_classes):
        return torch.as_tensor(check_class_labels(y_labeled, n_classes, "y_labeled"))

    def _backend(self):
        if isinstance(self.method, str) and self.method == "lissa":
            return check_backend("lissa", random_state=self.random_state)
        return check_backend(self.method)

    def _check_labeled(self, X_labeled, y_labeled):
        if X_labeled is None or len(X_labeled) == 0:
            raise ValueError(
                "RALIFQuery needs the labeled rows the net was trained on: pass a "
                "non-empty `X_labeled` (the Hessian is built on it)."
            )
        if self.target == "all" and y_labeled is None:
            raise ValueError("`target='all'` needs `y_labeled` (the labeled rows' classes).")
        if self.params is not None and y_labeled is None:
            raise ValueError("`params` needs `y_labeled` (the labeled rows' classes): the "
                             "Hessian beyond the head depends on them.")
        if self.refit_head and y_labeled is None:
            raise ValueError("RALIFQuery refits the head on the labeled rows "
                             "(`refit_head=True`, the default), so it needs `y_labeled`, "
                             "their classes; pass it, or set `refit_head=False`.")


def _target_loss(log_p, soft):
    """``R`` of one chunk from its log-probabilities: hard pseudo labels or entropy."""
    if soft:
        return -(log_p.exp() * log_p).sum()
    return -log_p.max(dim=1).values.sum()


def _gradient_and_loss(feats, W, soft=False):
    """Chunk's part of ``G`` and of ``R``.

    Hard pseudo labels: ``R = sum_u l(u, yhat_u) = -sum_u log max_k p_uk``. Soft:
    the expected loss under the model's own probabilities, ``R = sum_u H(p_u)`` (the
    entropy), whose gradient in the logits is ``-p_u (log p_u + H(p_u))`` (with the
    probabilities held fixed as targets the gradient would be exactly zero).
    """
    proba = head_proba(feats, W)
    if not soft:
        loss = float(-torch.log(proba.max(dim=1).values).sum())
        return head_gradient(feats, W, proba=proba), loss
    log_p = torch.log(proba.clamp_min(torch.finfo(proba.dtype).tiny))
    entropy = -(proba * log_p).sum(dim=1, keepdim=True)
    residuals = -proba * (log_p + entropy)
    if W.shape[0] == 1:  # binary head: only the second logit is a parameter
        residuals = residuals[:, 1:]
    return residuals.T @ augment(feats, W), float(entropy.sum())


def _rows_of(over_pool, rows):
    """Features of pool ``rows`` (in the order given), gathered chunk by chunk."""
    order = np.argsort(rows)
    sorted_rows = rows[order]

    def pick(feats, start):
        inside = sorted_rows[(sorted_rows >= start) & (sorted_rows < start + len(feats))]
        return feats[torch.as_tensor(inside - start, device=feats.device)]

    gathered = torch.cat(over_pool(pick))
    out = torch.empty_like(gathered)
    out[torch.as_tensor(order, device=gathered.device)] = gathered
    return out

