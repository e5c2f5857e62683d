"""Influence scores against real leave-one-out retraining (digits, L2 softmax regression).

The same setting as ``tests/influence/test_scores.py``: 300 training rows, ``lambda=1e-2``,
L-BFGS to convergence, test loss on 400 held-out rows; the 20 removals with the largest
predicted effect plus 20 spread over the rest. Prints and records Pearson, Spearman and
the slope of actual on predicted change.
"""

import sys
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import markdown_table, write_section  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from tests.influence import test_scores as t  # noqa: E402


def main():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32")
    net, Xa, ytr, theta = t.converged_logreg.__wrapped__((X, y))
    Xte, yte = X[1000:1400], y[1000:1400]
    rows = []
    for method in ("exact", "cg", "lissa"):
        scores = t.influence_scores(net, X[:300], ytr, Xte, yte, y_candidates=ytr,
                                    damping=t.LAM, method=method)
        order = np.argsort(-np.abs(scores))
        picked = np.concatenate([order[:20], order[20::14]])
        Xte_a = np.hstack([Xte, np.ones((len(Xte), 1))])
        base = t._eval_loss(theta, Xte_a, yte)
        actual = []
        for i in picked:
            weights = np.ones(300)
            weights[i] = 0.0
            new = t._fit(Xa, np.eye(10)[ytr], weights, theta)
            actual.append(t._eval_loss(new, Xte_a, yte) - base)
        predicted = -scores[picked] / 300
        rows.append([method, len(picked), f"{pearsonr(predicted, actual)[0]:.3f}",
                     f"{spearmanr(predicted, actual)[0]:.3f}",
                     f"{np.polyfit(predicted, actual, 1)[0]:.2f}"])
        print(rows[-1], flush=True)
    write_section("bench_loo", "Predicted (`-score / n`) vs actual change of the test loss "
                  "when one training row is removed and the model retrained.\n\n"
                  + markdown_table(["method", "removals", "Pearson", "Spearman", "slope"], rows))


if __name__ == "__main__":
    main()
