"""Influence scores against real leave-one-out retraining (digits, L2 softmax regression).

300 training rows, ``lambda=1e-2`` on every weight (bias included, as ``damping`` is),
fitted to convergence by scikit-learn's ``LogisticRegression`` (lbfgs): an independent
oracle, public API only. The test loss is the mean over 400 held-out rows; the 20 removals
with the largest predicted effect plus 20 spread over the rest are retrained with the row's
sample weight at 0. Prints and records Pearson, Spearman and the slope of actual on
predicted change.
"""

import numpy as np
import torch
from _report import markdown_table, write_section
from scipy.special import log_softmax
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from skorch import NeuralNetClassifier

from skralif.influence import influence_scores

LAM, N_TRAIN = 1e-2, 300


def fit(Xa, y, weights):
    """``argmin (1/n) sum_i w_i CE_i + LAM/2 ||theta||^2`` over ``theta = [W | b]``:
    scikit-learn minimises ``C sum_i w_i CE_i + 1/2 ||W||^2``, the same with
    ``C = 1 / (LAM n)``; the ones column of ``Xa`` makes the bias a penalised weight."""
    model = LogisticRegression(C=1 / (LAM * len(y)), fit_intercept=False, tol=1e-12,
                               max_iter=20000)
    return model.fit(Xa, y, sample_weight=weights).coef_


def eval_loss(W, Xa, y):
    return -log_softmax(Xa @ W.T, axis=1)[np.arange(len(y)), y].mean()


def as_net(W):
    """A skorch softmax regression holding ``W = [weights | bias]``."""
    d = W.shape[1] - 1
    net = NeuralNetClassifier(torch.nn.Linear, module__in_features=d,
                              module__out_features=W.shape[0],
                              criterion=torch.nn.CrossEntropyLoss, train_split=None).initialize()
    with torch.no_grad():
        net.module_.weight.copy_(torch.as_tensor(W[:, :d]))
        net.module_.bias.copy_(torch.as_tensor(W[:, d]))
    return net


def main():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32")
    Xtr, ytr, Xte, yte = X[:N_TRAIN], y[:N_TRAIN], X[1000:1400], y[1000:1400]
    Xa, Xte_a = (np.hstack([A.astype(np.float64), np.ones((len(A), 1))]) for A in (Xtr, Xte))
    W = fit(Xa, ytr, np.ones(N_TRAIN))
    net, base = as_net(W), eval_loss(W, Xte_a, yte)
    rows = []
    for method in ("exact", "cg", "lissa"):
        scores = influence_scores(net, Xtr, ytr, Xte, yte, y_candidates=ytr, damping=LAM,
                                  method=method)
        order = np.argsort(-np.abs(scores))
        picked = np.concatenate([order[:20], order[20::14]])
        actual = []
        for i in picked:
            weights = np.ones(N_TRAIN)
            weights[i] = 0.0
            actual.append(eval_loss(fit(Xa, ytr, weights), Xte_a, yte) - base)
        predicted = -scores[picked] / N_TRAIN
        rows.append([method, len(picked), f"{pearsonr(predicted, actual)[0]:.3f}",
                     f"{spearmanr(predicted, actual)[0]:.3f}",
                     f"{np.polyfit(predicted, actual, 1)[0]:.2f}"])
        print(rows[-1], flush=True)
    write_section("bench_loo", "Predicted (`-score / n`) vs actual change of the test loss "
                  "when one training row is removed and the model retrained (scikit-learn's "
                  "LogisticRegression to convergence, the oracle).\n\n"
                  + markdown_table(["method", "removals", "Pearson", "Spearman", "slope"], rows))


if __name__ == "__main__":
    main()
