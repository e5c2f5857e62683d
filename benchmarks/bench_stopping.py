"""Stopping criteria on six datasets: labels used and test accuracy at the stop.

RALIF runs a long budget on digits, breast_cancer, wine and MNIST-t10k (the nets and the
warm-start sizes of ``bench_learning_curves``), then on two settings no default was chosen
on: MNIST as images with the small CNN, and USPS (validation data, the digits net). After
every round each criterion of :mod:`skralif.stopping` is updated with the round's model
(the same models for all of them) and the test accuracy is recorded. A criterion's stop is
the first round at which it says stop; compared with the full budget: labels saved and
test accuracy lost. Writes its section of ``benchmarks/RESULTS.md``.
"""

import time

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_estimate import data, run_arguments
from bench_learning_curves import SmallCNN
from joblib import Parallel, delayed
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.nets import default_net
from skralif.stopping import (
    ClassificationChange,
    OverallUncertainty,
    PredictedLossReduction,
    StabilizingPredictions,
)

#: dataset -> (initial labels, labels per round, rounds): budgets reaching a plateau
BUDGETS = {"digits": (30, 20, 20), "breast_cancer": (20, 10, 20), "wine": (9, 6, 15),
           "mnist": (50, 50, 20), "mnist_cnn": (50, 50, 12), "usps": (30, 20, 20)}
#: the defaults were chosen on these; the others only check them
TUNED = ["digits", "breast_cancer", "wine", "mnist"]


def criteria(seed):
    return {
        "StabilizingPredictions": StabilizingPredictions(random_state=seed),
        "ClassificationChange": ClassificationChange(random_state=seed),
        "OverallUncertainty": OverallUncertainty(),
        "PredictedLossReduction": PredictedLossReduction(),
        # the default's neighbours (it was 0.1 until issue 23): its sensitivity
        "PredictedLossReduction(threshold=1e-3)": PredictedLossReduction(threshold=1e-3),
        "PredictedLossReduction(threshold=1e-4)": PredictedLossReduction(threshold=1e-4),
    }


def run_seed(name, seed, args):
    """Accuracy, labels and each criterion's decision after every round of one run."""
    torch.set_num_threads(args.threads)
    X_tr, X_te, y_tr, y_te, net_params, scale = data(name, args)
    if name == "mnist_cnn":
        net = default_net(module=SmallCNN, batch_size=64, iterator_valid__batch_size=256,
                          **net_params)
    else:
        net = default_net(batch_size=64, **net_params)
    initial, query, rounds = BUDGETS[name]
    learner = ActiveLearningClassifier(make_pipeline(StandardScaler(), net) if scale else net,
                                       RALIFQuery(), initial_size=initial, query_size=query,
                                       n_queries=rounds, random_state=seed)
    watch = criteria(seed)
    accuracy, labels, stops = [], [], {k: [] for k in watch}
    for fitted in learner.fit_iter(X_tr, y_tr):
        accuracy.append(fitted.score(X_te, y_te))
        labels.append(fitted.history_[-1]["n_labeled"])
        y_enc = np.searchsorted(fitted.classes_, fitted.y_labeled_)
        for key, criterion in watch.items():
            criterion.update(fitted.estimator_, fitted.X_pool_, X_labeled=fitted.X_labeled_,
                             y_labeled=y_enc, n=query)
            stops[key].append(criterion.stop_)
    return (np.array(accuracy), np.array(labels), {k: np.array(v) for k, v in stops.items()},
            np.array(watch["PredictedLossReduction"].values_, dtype=float))


def sweep(runs, thresholds=(1e-1, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4), patiences=(1, 2, 3)):
    """PredictedLossReduction's rule for every (threshold, patience) of the grid (0.1 was
    its default until issue 23), from the relative values the runs recorded:
    ``{(threshold, patience): (labels, lost)}``."""
    full_acc = np.mean([run[0][-1] for run in runs])
    out = {}
    for th in thresholds:
        for p in patiences:
            at = []
            for *_, values in runs:
                below = np.nan_to_num(values, nan=np.inf) < th
                run_ends = [r for r in range(p - 1, len(values)) if below[r - p + 1:r + 1].all()]
                at.append(run_ends[0] if run_ends else len(values) - 1)
            acc = np.mean([run[0][r] for run, r in zip(runs, at, strict=True)])
            labels = np.mean([run[1][r] for run, r in zip(runs, at, strict=True)])
            out[th, p] = (labels, 100 * (full_acc - acc))
    return out


def summarise(runs):
    """One row per criterion: mean labels and accuracy at the stop, over seeds."""
    rows = []
    full_acc = np.mean([run[0][-1] for run in runs])
    budget = runs[0][1][-1]
    for key in runs[0][2]:
        at, acc, never = [], [], 0
        for accuracy, labels, stops, _ in runs:
            hit = np.flatnonzero(stops[key])
            r = hit[0] if len(hit) else len(labels) - 1
            never += not len(hit)
            at.append(labels[r])
            acc.append(accuracy[r])
        lost = 100 * (full_acc - np.mean(acc))
        rows.append([key, f"{np.mean(at):.0f} ({100 * (1 - np.mean(at) / budget):.0f}%)",
                     f"{np.mean(acc):.4f}", f"{lost:+.2f}",
                     f"{never} of {len(runs)}",
                     "yes" if lost <= 1.0 and np.mean(at) < budget else "no"])
    return full_acc, budget, rows


def main():
    parser = run_arguments(__doc__.splitlines()[0], BUDGETS, seeds=3)
    parser.add_argument("--sweep", action="store_true",
                        help="score PredictedLossReduction's rule over a grid of thresholds "
                             "and patiences instead (how its default was chosen)")
    args = parser.parse_args()
    sections, sweeps, start = [], {}, time.perf_counter()
    for name in args.datasets:
        runs = Parallel(n_jobs=args.n_jobs)(
            delayed(run_seed)(name, seed, args) for seed in range(args.seeds))
        full_acc, budget, rows = summarise(runs)
        sweeps[name] = (budget, sweep(runs))
        initial, query, rounds = BUDGETS[name]
        print(name, f"{time.perf_counter() - start:.0f} s", rows, flush=True)
        sections.append(
            f"#### {name}{'' if name in TUNED else ' (checked, not tuned on)'}: {initial} + "
            f"{rounds} x {query} labels, full-budget accuracy "
            f"{full_acc:.4f}\n\n" + markdown_table(
                ["criterion", "labels at the stop (saved)", "test acc. at the stop",
                 "points lost vs full budget", "never fired", "goal met"], rows))
    if args.sweep:
        write_sweep(sweeps, args, start)
        return
    body = (
        f"{args.seeds} seeds; RALIF queries; nets retrained from scratch each round. Every "
        "criterion at its default settings (and PredictedLossReduction at the thresholds "
        "either side of its default) watches the same models. A criterion that never "
        "fires stops at the full budget (counted in *never fired*). *Goal met*: at most 1 "
        "point of test accuracy lost while saving labels. Total time "
        f"{time.perf_counter() - start:.0f} s with {args.n_jobs} jobs.\n\n"
        + "\n\n".join(sections))
    write_section("bench_stopping", body)


def write_sweep(sweeps, args, start):
    """The grid's table: labels at the stop and points lost per dataset, and on how many
    datasets each rule meets the goal."""
    names = list(sweeps)
    rows = []
    for key in next(iter(sweeps.values()))[1]:
        cells = [sweeps[n][1][key] for n in names]
        met = sum(lost <= 1.0 and labels < sweeps[n][0]
                  for n, (labels, lost) in zip(names, cells, strict=True))
        rows.append([f"{key[0]:g}", key[1],
                     *[f"{labels:.0f} ({lost:+.2f})" for labels, lost in cells], met])
    body = (
        f"PredictedLossReduction's rule (stop once the value, relative to the first round's, "
        f"stays below *threshold* for *patience* rounds) scored on the same runs for every "
        f"cell of the grid: labels at the stop and points of test accuracy lost (mean of "
        f"{args.seeds} seeds), and the number of datasets where it meets the goal (at most 1 "
        f"point lost, labels saved). The default (3e-4, patience 2) is, of the rules "
        f"meeting it on the most datasets, the one with the widest margin on digits. Total "
        f"time {time.perf_counter() - start:.0f} s.\n\n"
        + markdown_table(["threshold", "patience", *names, "goal met on"], rows))
    write_section("bench_stopping_sweep", body)


if __name__ == "__main__":
    main()
