"""Influence beyond the head on the benchmark CNN: the Hessian against the Gauss-Newton matrix.

One RALIF query on ``mnist_cnn`` (``bench_learning_curves.py``'s split, net and training),
after training on ``--labeled`` random rows, with influence over the head and the last
convolution (``params=["body.3.weight", "body.3.bias"]``, 5,930 parameters in all):

- ``curvature="hessian"`` with conjugate gradients (the dense Hessian would take one HVP
  per parameter): CG's residual when it stops tells whether it solved anything;
- ``curvature="gauss-newton"`` with the exact solve (dense, from per-row Jacobians) and
  with CG, which must agree with it;
- the default query (the head's closed forms) for scale.

Each query is timed alone, in one process, at ``--threads`` torch threads; times are
compared as ratios to the default query measured in the same run. The Hessian's and the
Gauss-Newton matrix's smallest and largest eigenvalues come from dense matrices built once
(the Hessian's takes one HVP per parameter, so only with ``--spectrum``).

    python benchmarks/bench_curvature.py --threads 2
"""

import argparse
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_learning_curves import prepare
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning

from skralif import RALIFQuery
from skralif.influence import ParamObjective

BLOCK = ["body.3.weight", "body.3.bias"]


def timed_scores(strategy, net, X_pool, X_lab, y_lab):
    """``(scores, seconds, CG's last warning or "")`` of one ``score_samples`` call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        scores = strategy.score_samples(net, X_pool, X_labeled=X_lab, y_labeled=y_lab)
        seconds = time.perf_counter() - start
    stalled = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    return scores, seconds, stalled[-1] if stalled else ""


def _cg(name, stalled):
    """What CG did: converged, or where it stopped (from its ConvergenceWarning)."""
    if "CG" not in name:
        return ""
    if not stalled:
        return "converged (tol 1e-8)"
    found = re.search(r"after `max_iter`=(\d+) iterations at relative residual ([^ ]+)",
                      stalled)
    return f"stopped at {found[1]} iterations, residual {found[2]}" if found else stalled


def spectrum(net, X_lab, y_lab, damping, curvature):
    """Smallest and largest eigenvalue of the damped matrix over head + block."""
    names = ["head.weight", "head.bias", *BLOCK]
    obj = ParamObjective(net, names, X_lab, y_lab, damping, 256, curvature=curvature)
    eig = torch.linalg.eigvalsh(obj.hessian())
    return float(eig[0]), float(eig[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2]
                                                / "shared" / "data" / "mnist-t10k"))
    parser.add_argument("--labeled", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spectrum", action="store_true",
                        help="also the dense Hessian's eigenvalues (one HVP per parameter)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    setting = argparse.Namespace(mnist=args.mnist, seeds=1, rounds=1, n_jobs=1)
    make_net, (X_tr, y_tr, _, _), _ = prepare("mnist_cnn", "cold", setting)
    rng = np.random.default_rng(0)
    lab = np.sort(rng.choice(len(X_tr), args.labeled, replace=False))
    pool = np.setdiff1d(np.arange(len(X_tr)), lab)
    net = make_net().fit(X_tr[lab], y_tr[lab])
    data = (net, X_tr[pool], X_tr[lab], y_tr[lab])

    runs = {
        "head only (the default)": RALIFQuery(),
        "Hessian, CG": RALIFQuery(params=BLOCK, method="cg"),
        "Gauss-Newton, exact": RALIFQuery(params=BLOCK, curvature="gauss-newton"),
        "Gauss-Newton, CG": RALIFQuery(params=BLOCK, curvature="gauss-newton", method="cg"),
    }
    out = {name: timed_scores(q, *data) for name, q in runs.items()}
    base = out["head only (the default)"][1]
    exact = out["Gauss-Newton, exact"][0]
    rows = []
    for name, (scores, seconds, stalled) in out.items():
        ok = ~np.isnan(scores) & ~np.isnan(exact)
        rho = spearmanr(scores[ok], exact[ok]).statistic
        rows.append([name, f"{seconds:.1f}", f"{seconds / base:.0f}x", _cg(name, stalled),
                     f"{rho:.3f}"])
    damping = runs["Gauss-Newton, exact"].damping
    curvatures = ["gauss-newton"] + (["hessian"] if args.spectrum else [])
    eig = {c: spectrum(net, X_lab=X_tr[lab], y_lab=y_tr[lab], damping=damping, curvature=c)
           for c in curvatures}
    body = (
        f"The benchmark CNN trained on {args.labeled} random MNIST rows, a pool of "
        f"{len(pool):,}; influence over the head and the last convolution (5,930 "
        f"parameters), damping {damping}. Times are one `score_samples` call each, "
        f"{args.threads} torch threads; the ratio is to the default (head-only) query of "
        "the same run. Rank agreement is Spearman's rho with the Gauss-Newton exact "
        "scores over rows both score.\n\n"
        + markdown_table(["query", "seconds", "time / default", "CG", "rank agreement"],
                         rows)
        + "\n\nEigenvalues of the damped matrix over head and block (smallest, largest): "
        + "; ".join(f"{c}: {lo:+.4g}, {hi:.4g}" for c, (lo, hi) in eig.items()) + ".")
    write_section("bench_curvature", body)


if __name__ == "__main__":
    main()
