"""Full-pool influence scoring: head closed forms vs a per-sample autograd loop, and
exact vs LiSSA vs CG.

For every pool row ``u`` and class ``k`` the score is ``-g_{u,k}^T H^{-1} G`` (see
``skralif.influence.influence_scores``), with ``H`` from 1,000 labeled rows and ``G`` the
pseudo-labelled pool gradient. The per-sample loop is what the RALIF research code does
(one backward pass per pool row and class); it is timed on a subset of rows and its
per-row cost extrapolated to the whole pool, and its scores are compared with ours on
that subset.
"""

import argparse
import time

import numpy as np
import torch
from _report import markdown_table, write_section
from skorch import NeuralNetClassifier

from skralif.influence import (
    CGInverseHVP,
    ExactInverseHVP,
    HeadParameters,
    LiSSAInverseHVP,
    head_features,
    influence_scores,
    solve,
)


class Encoder(torch.nn.Module):
    """in -> d (tanh) -> C: features of bounded norm, so LiSSA's conditioning is sane."""

    def __init__(self, in_features=64, d=64, C=10):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(in_features, d), torch.nn.Tanh())
        self.head = torch.nn.Linear(d, C)

    def forward(self, X):
        return self.head(self.body(X) / self.body[0].out_features ** 0.5)


def make_problem(d, C, n_pool, n_labeled=1000, in_features=64, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(C, in_features) * 1.5
    y = rng.randint(0, C, n_labeled + n_pool)
    X = (centers[y] + rng.randn(len(y), in_features)).astype(np.float32)
    torch.manual_seed(seed)
    net = NeuralNetClassifier(Encoder, module__in_features=in_features, module__d=d,
                              module__C=C, criterion=torch.nn.CrossEntropyLoss, max_epochs=3,
                              lr=0.5, train_split=None, verbose=0)
    net.fit(X[:n_labeled], y[:n_labeled])
    return net, X[:n_labeled], y[:n_labeled], X[n_labeled:]


def loop_scores(net, X_pool, rows, solution):
    """Research-code style: one autograd backward pass per (row, class)."""
    head = net.module_.head
    solution = solution[1]
    s_W, s_b = solution[:, :-1].float(), solution[:, -1].float()
    out = np.zeros((len(rows), head.out_features))
    with torch.no_grad():
        body = net.module_.body
        feats = body(torch.as_tensor(X_pool[rows])) / body[0].out_features ** 0.5
    for i in range(len(rows)):
        for k in range(head.out_features):
            loss = torch.nn.functional.cross_entropy(head(feats[i : i + 1]), torch.tensor([k]))
            gW, gb = torch.autograd.grad(loss, (head.weight, head.bias))
            out[i, k] = -float((gW * s_W).sum() + (gb * s_b).sum())
    return out


def backend_for(d, C):
    """Exact where the dense Hessian fits in the default 4 GiB, CG beyond."""
    return ExactInverseHVP() if 8 * ((d + 1) * C) ** 2 < 4 * 2**30 else CGInverseHVP()


def solution_of(net, X_lab, X_pool, damping, backend):
    """The same ``s = H^{-1} G`` the head path uses (the public influence steps), for the
    loop to score with."""
    space = HeadParameters.from_estimator(net, X_lab, damping)
    feats = head_features(net, X_pool)
    G = space.target_gradient(feats)[0] / len(feats)
    return space, solve(space.objective, G, backend)


def head_scoring(net, X_pool, solved):
    """Our scoring given ``s``: one encoder pass and one matrix product per chunk."""
    space, solution = solved
    return torch.cat([space.pair_scores(head_features(net, X_pool[i:i + 4096]), solution)[0]
                      for i in range(0, len(X_pool), 4096)])


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_loop(pools, d, C, damping, loop_rows):
    rows = []
    for n_pool in pools:
        net, X_lab, y_lab, X_pool = make_problem(d, C, n_pool)
        backend = backend_for(d, C)
        ours, t_ours = timed(influence_scores, net, X_lab, y_lab, X_pool, method=backend,
                             X_candidates=X_pool, damping=damping)
        sub = np.arange(min(loop_rows, n_pool))
        sol, t_solve = timed(solution_of, net, X_lab, X_pool, damping, backend)
        _, t_score = timed(head_scoring, net, X_pool, sol)
        ref, t_loop = timed(loop_scores, net, X_pool, sub, sol)
        t_loop_full = t_loop / len(sub) * n_pool
        err = np.abs(ours[sub] - ref).max() / np.abs(ref).max()
        method = type(backend).__name__.removesuffix("InverseHVP").lower()
        rows.append([f"{n_pool:,}", d, C, method, f"{t_solve:.3f}", f"{t_score:.3f}",
                     f"{t_loop_full:.1f}", f"{t_loop_full / t_score:.0f}x",
                     f"{(t_solve + t_loop_full) / t_ours:.0f}x", f"{err:.1e}"])
        print(rows[-1], flush=True)
    return rows


def bench_backends(n_pool, heads, damping):
    rows = []
    for d, C in heads:
        net, X_lab, y_lab, X_pool = make_problem(d, C, n_pool)
        args = (net, X_lab, y_lab, X_pool)
        kw = dict(X_candidates=X_pool, damping=damping)
        p = (d + 1) * C
        ref_name = "exact" if 8 * p * p < 4 * 2**30 else "cg"
        results = {}
        for name, backend in [("exact", ExactInverseHVP()), ("cg", CGInverseHVP()),
                              ("lissa", LiSSAInverseHVP(random_state=0))]:
            if name == "exact" and ref_name != "exact":
                results[name] = None
                continue
            results[name] = timed(influence_scores, *args, method=backend, **kw)
            if name == "lissa":
                lissa_iters = backend.n_iter_[0]
        ref = results[ref_name][0]
        cells = []
        for name in ("exact", "cg", "lissa"):
            if results[name] is None:
                cells.append("n/a (dense H > 4 GiB)")
                continue
            scores, t = results[name]
            err = np.linalg.norm(scores - ref) / np.linalg.norm(ref)
            cells.append(f"{t:.2f} s, err {err:.1e}")
        rows.append([d, C, f"{p:,}", *cells, lissa_iters])
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--loop-rows", type=int, default=100)
    parser.add_argument("--damping", type=float, default=1e-2)
    parser.add_argument("--backend-pool", type=int, default=10000)
    args = parser.parse_args()
    torch.manual_seed(0)
    loop = []
    for d, C in [(64, 10), (512, 10), (256, 100)]:
        loop += bench_loop(args.pools if (d, C) == (512, 10) else args.pools[-1:], d, C,
                           args.damping, args.loop_rows)
    heads = [(64, 10), (256, 10), (512, 10), (64, 100), (256, 100), (512, 100)]
    backends = bench_backends(args.backend_pool, heads, args.damping)
    body = (
        "### Head closed forms vs a per-sample autograd loop (every pool row x every class)\n\n"
        "1,000 labeled rows; exact solve (CG where the dense Hessian exceeds 4 GiB); `damping` "
        f"{args.damping}. *solve*: features of the labeled rows and the pool, `G` and "
        "`s = H^{-1} G`, which both approaches need. *scoring*: every pool row x class "
        "given `s`: ours is one encoder pass plus a matrix product per chunk; the loop (one "
        f"backward pass per row and class) runs on the first {args.loop_rows} pool rows and "
        "is extrapolated linearly. *End to end*: (solve + loop) over one "
        "`influence_scores` call. The error column is the largest absolute difference of "
        "scores on the looped rows over the largest score.\n\n"
        + markdown_table(["pool", "d", "C", "solve", "solve (s)", "our scoring (s)",
                          "loop scoring (s)", "scoring speed-up", "end-to-end speed-up",
                          "max rel. error"], loop)
        + f"\n\n### Inverse-HVP backends (pool {args.backend_pool:,}, 1,000 labeled rows)\n\n"
        "Time of the whole `influence_scores` call (features, solve, scoring) and relative "
        "error (2-norm) of the scores against exact (CG where the dense Hessian is too big). "
        "Backends at their defaults.\n\n"
        + markdown_table(["d", "C", "params", "exact", "cg", "lissa", "lissa steps"], backends)
    )
    write_section("bench_influence", body)


if __name__ == "__main__":
    main()
