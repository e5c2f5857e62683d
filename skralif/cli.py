"""Command line: ``skralif run`` compares AL strategies on a dataset and saves the evidence."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .datasets import load_dataset
from .evaluation import STRATEGIES, ALCurveDisplay, run_experiment
from .nets import default_net

__all__ = ["build_parser", "main"]

DEFAULT_STRATEGIES = ["ralif", "random", "entropy", "margin", "coreset", "badge"]


def build_parser() -> argparse.ArgumentParser:
    """The ``skralif`` argument parser."""
    parser = argparse.ArgumentParser(prog="skralif", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="compare AL strategies on a dataset",
        description="Simulated active learning for several strategies and seeds; prints a "
                    "summary and writes results.json, results.csv and learning_curves.png.")
    run.add_argument("--dataset", default="digits",
                     help="digits, breast_cancer, wine, a CSV file (with --target) or a "
                          "folder of IDX files (default: digits)")
    run.add_argument("--target", help="label column of a CSV dataset")
    run.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES,
                     choices=sorted(STRATEGIES), metavar="NAME",
                     help=f"any of {', '.join(sorted(STRATEGIES))} "
                          f"(default: {' '.join(DEFAULT_STRATEGIES)})")
    run.add_argument("--seeds", type=_positive, default=3, help="number of seeds (default: 3)")
    run.add_argument("--rounds", type=_positive, default=8, help="query rounds (default: 8)")
    run.add_argument("--initial-size", type=_positive, default=30,
                     help="labels before the first query (default: 30)")
    run.add_argument("--query-size", type=_positive, default=20,
                     help="labels per round (default: 20)")
    run.add_argument("--test-size", type=float, default=0.33,
                     help="held-out share (< 1) or row count (default: 0.33)")
    run.add_argument("--epochs", type=_positive, default=60,
                     help="training epochs of the MLP every round (default: 60)")
    run.add_argument("--output", type=Path, default=Path("skralif-results"),
                     help="folder for the results (default: skralif-results)")
    run.add_argument("--n-jobs", type=int, default=1, help="parallel runs (default: 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def run(args) -> int:
    """Run the experiment described by parsed ``args``; return the exit status."""
    X, y = load_dataset(args.dataset, target=args.target)
    test_size = int(args.test_size) if args.test_size >= 1 else args.test_size
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size,
                                                        stratify=y, random_state=0)
    budget = args.initial_size + args.rounds * args.query_size
    if budget > len(X_train):
        raise ValueError(f"--initial-size + --rounds x --query-size ({budget}) exceeds the "
                         f"{len(X_train)} training rows of {args.dataset}.")
    estimator = make_pipeline(StandardScaler(), default_net(
        module__hidden_units=(128, 128), max_epochs=args.epochs, batch_size=64))
    print(f"skralif run: {args.dataset} ({len(X_train)} train / {len(X_test)} test rows), "
          f"{args.initial_size} + {args.rounds} x {args.query_size} labels, "
          f"{args.seeds} seeds, strategies: {' '.join(args.strategies)}")
    start = time.perf_counter()
    results = run_experiment(estimator, args.strategies, X_train, y_train, X_test, y_test,
                             initial_size=args.initial_size, query_size=args.query_size,
                             n_rounds=args.rounds, seeds=list(range(args.seeds)),
                             n_jobs=args.n_jobs, verbose=0 if args.quiet else 1)
    results.settings.update(dataset=str(args.dataset), epochs=args.epochs,
                            test_rows=len(X_test), seconds=time.perf_counter() - start)
    _save(results, args.output)
    print(results.format_summary())
    print(f"AULC: mean test accuracy over the label budget. Win rate: share of seeds at or "
          f"above random. Written to {args.output}/: results.json, results.csv, "
          f"learning_curves.png ({results.settings['seconds']:.0f} s).")
    return 0


def _save(results, folder):
    folder.mkdir(parents=True, exist_ok=True)
    results.to_json(folder / "results.json")
    results.to_csv(folder / "results.csv")
    import matplotlib

    matplotlib.use("Agg")
    display = ALCurveDisplay.from_results(results)
    display.figure_.savefig(folder / "learning_curves.png", dpi=120, bbox_inches="tight")


def main(argv=None) -> int:
    """Entry point of the ``skralif`` console script (and ``python -m skralif``).

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a bad option or input.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as err:
        print(f"skralif: error: {err}", file=sys.stderr)
        return 2
