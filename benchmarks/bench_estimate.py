"""The audit's accuracy estimate against the truth: coverage and error over seeds.

Simulated RALIF runs with ``ActiveLearningClassifier(audit_size=...)`` on digits, MNIST-t10k
and USPS (validation data: nothing here was chosen on it). After every round the learner's
``history_`` holds the estimate of its accuracy on the unlabeled rows (the difference
estimator, its 95% interval and the draws used) beside the truth, ``pool_accuracy``. The
proportion estimator (Wilson interval) is computed from the same draws (``audit_correct`` of
``n_audit``) with :func:`skralif.evaluation.estimate_accuracy`. Reported from 100 training
labels on, as the goal of issue 23 asks: how often the interval covers the truth, the mean
absolute error, the mean interval width, and the labels the audit cost. Then calibration:
the expected calibration error (15 bins) of the probability ``skralif query`` prints, on the
unlabeled rows, raw and temperature-scaled on a uniform sample of them as large as the
audit's (what the audit labels are; the temperature only where cross-validation on the
sample says it helps, as ``skralif query`` does), and the share of rows reading 1.0000. Writes its
section of ``benchmarks/RESULTS.md``.
"""

import argparse
import time

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_learning_curves import SETTINGS, data_arguments, split
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.datasets import load_usps
from skralif.evaluation import choose_temperature, estimate_accuracy, scale_temperature
from skralif.nets import default_net

#: dataset -> (initial labels, labels per round, rounds, audit rows per round)
BUDGETS = {"digits": (30, 20, 15, 5), "mnist": (50, 50, 8, 10), "usps": (30, 20, 15, 5)}
#: USPS (validation only): the digits net, as it would be used unchanged
USPS = (500, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True)
#: the goal counts rounds from this many training labels on
FROM_LABELS = 100


def data(name, args):
    if name != "usps":
        test_rows, net_params, scale, _ = SETTINGS[name]
        return (*split(name, args, test_rows), net_params, scale)
    test_rows, net_params, scale = USPS
    X, y = load_usps(args.usps)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_rows, stratify=y,
                                              random_state=0)
    return X_tr, X_te, y_tr, y_te, net_params, scale


def run_seed(name, seed, args):
    """Per round: training labels, truth, both estimates, test accuracy, audit cost."""
    torch.set_num_threads(args.threads)
    X_tr, X_te, y_tr, y_te, net_params, scale = data(name, args)
    initial, query, rounds, audit = BUDGETS[name]
    audit = args.audit or audit
    net = default_net(batch_size=64, **net_params)
    learner = ActiveLearningClassifier(make_pipeline(StandardScaler(), net) if scale else net,
                                       RALIFQuery(), initial_size=initial, query_size=query,
                                       n_queries=rounds, audit_size=audit, random_state=seed)
    rows, rng = [], np.random.default_rng(seed)
    for fitted in learner.fit_iter(X_tr, y_tr):
        r = fitted.history_[-1]
        k, n = r["audit_correct"], r["n_audit"]
        wilson = estimate_accuracy(np.arange(n) < k, estimator="proportion")
        rows.append((r["n_labeled"], r["pool_accuracy"],
                     (r["accuracy_estimate"], r["accuracy_low"], r["accuracy_high"]),
                     (wilson.estimate, wilson.low, wilson.high),
                     fitted.score(X_te, y_te), r["audit_labels"], n,
                     calibration(fitted, y_tr, n, rng)))
    return rows


def calibration(fitted, y_tr, n, rng):
    """ECE and share reading 1.0000 on the unlabeled rows: raw, and temperature-scaled on a
    uniform sample of ``n`` of them (NaN below 10, where skralif query does not scale)."""
    pool = np.flatnonzero(fitted.labeled_iter_ == -1)  # the rows of X_pool_, in order
    proba = fitted.predict_proba(fitted.X_pool_)
    y_index = np.searchsorted(fitted.classes_, y_tr[pool])
    raw = (ece(proba, y_index), np.mean(proba.max(axis=1) >= 0.99995))
    if n < 10:
        return raw + (np.nan, np.nan)
    sample = rng.choice(len(pool), n, replace=False)
    scaled = scale_temperature(proba, choose_temperature(proba[sample], y_index[sample]))
    return raw + (ece(scaled, y_index), np.mean(scaled.max(axis=1) >= 0.99995))


def ece(proba, y_index, bins=15):
    """Expected calibration error of the top-class probability."""
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y_index
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return sum(abs(correct[which == b].mean() - confidence[which == b].mean())
               * np.mean(which == b) for b in range(bins) if np.any(which == b))


def summarise(runs):
    """One row per estimator over the rounds with at least FROM_LABELS training labels."""
    kept = [row for run in runs for row in run if row[0] >= FROM_LABELS]
    truth = np.array([row[1] for row in kept])
    test = np.array([row[4] for row in kept])
    out = []
    for j, name in ((2, "difference (default)"), (3, "proportion (Wilson)")):
        est = np.array([row[j] for row in kept])
        covered = (est[:, 1] <= truth) & (truth <= est[:, 2])
        out.append([name, len(kept), f"{100 * covered.mean():.1f}%",
                    f"{100 * np.abs(est[:, 0] - truth).mean():.2f}",
                    f"{100 * (est[:, 2] - est[:, 1]).mean():.1f}",
                    f"{100 * np.abs(est[:, 0] - test).mean():.2f}",
                    "yes" if covered.mean() >= 0.9 and
                    100 * np.abs(est[:, 0] - truth).mean() <= 3 else "no"])
    cal = np.array([row[7] for row in kept])
    calibrated = [f"{100 * np.nanmean(cal[:, 0]):.1f} -> {100 * np.nanmean(cal[:, 2]):.1f}",
                  f"{100 * np.nanmean(cal[:, 1]):.1f}% -> {100 * np.nanmean(cal[:, 3]):.1f}%"]
    last = [run[-1] for run in runs]
    cost = (np.mean([r[5] for r in last]), np.mean([r[0] for r in last]),
            np.mean([r[6] for r in last]))
    return out, cost, calibrated


def run_arguments(description, budgets, seeds):
    """The arguments every simulated-runs benchmark takes: datasets (the keys of
    ``budgets``), where the data files lie (those of ``bench_learning_curves.split``,
    which :func:`data` calls), seeds, jobs and torch threads per run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", nargs="+", default=list(budgets), choices=list(budgets))
    data_arguments(parser)
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    return parser


def main():
    parser = run_arguments(__doc__.splitlines()[0], BUDGETS, seeds=10)
    parser.add_argument("--audit", type=int, default=0,
                        help="audit rows per round for every dataset (default: each one's own)")
    args = parser.parse_args()
    sections, start = [], time.perf_counter()
    for name in args.datasets:
        runs = Parallel(n_jobs=args.n_jobs)(
            delayed(run_seed)(name, seed, args) for seed in range(args.seeds))
        rows, (spent, trained, draws), (ece_text, ones) = summarise(runs)
        initial, query, rounds, audit = BUDGETS[name]
        audit = args.audit or audit
        print(name, f"{time.perf_counter() - start:.0f} s", rows, flush=True)
        sections.append(
            f"#### {name}: {initial} + {rounds} x {query} training labels, {audit} audit "
            f"draws a round\n\nAt the end the audit had cost {spent:.0f} labels beside "
            f"{trained:.0f} training labels ({100 * spent / trained:.0f}% more), and "
            f"{draws:.0f} draws were still unlabeled and in the estimate. Calibration on the "
            f"unlabeled rows (raw -> temperature-scaled on the audit-sized sample): ECE "
            f"{ece_text} points; probabilities reading 1.0000: {ones}.\n\n"
            + markdown_table(["estimator", "rounds (>= 100 labels)", "95% interval covers",
                              "MAE (points)", "mean width (points)",
                              "MAE vs test acc. (points)", "goal met"], rows))
    body = (
        f"{args.seeds} seeds; RALIF queries; nets retrained from scratch each round; audit rows "
        "drawn uniformly from the unlabeled rows every round and never trained on (the "
        "strategy may still pick them). Truth: accuracy on the unlabeled rows "
        "(`pool_accuracy`). Goal (issue 23): the interval covers the truth in at least 90% "
        "of rounds and the mean absolute error is at most 3 points, from 100 training "
        f"labels on. Total time {time.perf_counter() - start:.0f} s with {args.n_jobs} jobs, "
        f"{args.threads} torch thread(s) each.\n\n" + "\n\n".join(sections))
    write_section("bench_estimate" + (f"_audit{args.audit}" if args.audit else ""), body)


if __name__ == "__main__":
    main()
