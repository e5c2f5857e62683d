"""Command line: ``skralif run`` compares AL strategies on a dataset and saves the evidence;
``skralif query`` proposes the next rows of the user's own file to label;
``skralif labelstudio sync`` does it for a Label Studio project."""

from __future__ import annotations

# Only the standard library at import: `skralif --help` and `--version` answer without
# torch, scikit-learn or pandas (seconds and hundreds of MB on a loaded machine, issue 26);
# each command imports what it uses when it runs.
import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from . import __version__

__all__ = ["build_parser", "main"]

DEFAULT_STRATEGIES = ["ralif", "random", "entropy", "margin", "coreset", "badge"]
#: the names of :data:`skralif.evaluation.STRATEGIES` (a test keeps them equal), here so
#: the parser lists them without importing the strategies
STRATEGY_NAMES = ("badge", "bald", "coreset", "entropy", "least_confident", "margin",
                  "probcover", "ralif", "ralif-cg", "ralif-lissa", "ralif-lowmem",
                  "ralif-nodiversity", "ralif-reference", "random", "typiclust")


def build_parser() -> argparse.ArgumentParser:
    """The ``skralif`` argument parser."""
    parser = argparse.ArgumentParser(prog="skralif", description=__doc__)
    parser.add_argument("--version", action="version", version=f"skralif {__version__}")
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
                     choices=STRATEGY_NAMES, metavar="NAME",
                     help=f"any of {', '.join(STRATEGY_NAMES)} "
                          f"(default: {' '.join(DEFAULT_STRATEGIES)})")
    run.add_argument("--seeds", type=_positive, default=3, help="number of seeds (default: 3)")
    run.add_argument("--rounds", type=_positive, default=8, help="query rounds (default: 8)")
    run.add_argument("--initial-size", type=_positive, default=30,
                     help="labels before the first query (default: 30)")
    run.add_argument("--query-size", type=_positive, default=20,
                     help="labels per round (default: 20)")
    run.add_argument("--test-size", type=_test_size, default=0.33,
                     help="held-out share (< 1) or row count (default: 0.33)")
    run.add_argument("--epochs", type=_positive, default=60,
                     help="training epochs of the MLP every round (default: 60)")
    run.add_argument("--output", type=Path, default=Path("skralif-results"),
                     help="folder for the results (default: skralif-results)")
    run.add_argument("--dropout", type=_dropout, default=0.0,
                     help="dropout of the MLP's hidden layer, needed by bald (default: 0)")
    run.add_argument("--n-jobs", type=_n_jobs, default=1,
                     help="parallel runs, -1 for every core (default: 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_query(commands)
    _add_labelstudio(commands)
    report = commands.add_parser(
        "report", help="compare strategies over several settings' results",
        description="Reads results.json files (of skralif run or the benchmarks), one setting "
                    "each, and writes report.md (per-setting tables with paired bootstrap "
                    "intervals, mean ranks, worst-case gains, the penalty matrix), "
                    "penalty_matrix.png and ranks.png.")
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    report.add_argument("--output", type=Path, default=Path("skralif-report"),
                        help="folder for the report (default: skralif-report)")
    report.add_argument("--baseline", default="random",
                        help="strategy gains are measured against (default: random)")
    report.add_argument("--strategies", nargs="+", metavar="NAME",
                        help="compare only these (default: every strategy in all settings)")
    return parser


def _add_query(commands):
    query = commands.add_parser(
        "query", help="propose the next rows of your own file to label",
        description="One round of a labeling project on DATA: trains on the rows whose "
                    "target cell is filled, writes the next rows to label to "
                    "STATE/to_label.csv and prints a summary. Fill their target cells in DATA "
                    "and run the same command again to continue.")
    query.add_argument("data", type=Path, metavar="DATA",
                       help="a .csv file with a header row (.parquet with pyarrow)")
    query.add_argument("--target", required=True, metavar="COL",
                       help="label column; an empty cell marks an unlabeled row")
    query.add_argument("--id", metavar="COL",
                       help="column of unique row ids (default: row numbers from 0)")
    query.add_argument("--ignore", nargs="+", default=[], metavar="COL",
                       help="columns that are not features (copied to to_label.csv)")
    query.add_argument("--n", type=_positive, default=20, help="rows to propose (default: 20)")
    query.add_argument("--strategy", default="ralif", choices=STRATEGY_NAMES,
                       metavar="NAME", help="query strategy (default: ralif)")
    query.add_argument("--state", type=Path, metavar="DIR",
                       help="project folder (default: DATA's name + .skralif, beside it)")
    query.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    query.add_argument("--epochs", type=_positive, default=60,
                       help="training epochs of the net every round (default: 60)")
    query.add_argument("--audit", type=_count, default=5, metavar="N",
                       help="rows drawn at random every round, labeled only to estimate the "
                            "model's accuracy on the unlabeled rows (default: 5; 0: none)")


def _count(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def _add_labelstudio(commands):
    studio = commands.add_parser("labelstudio", help="active learning in a Label Studio project")
    actions = studio.add_subparsers(dest="action", required=True)
    sync = actions.add_parser(
        "sync", help="train on the annotations, publish one scored prediction per task",
        description="Reads the project's tasks and completed annotations (its single Choices "
                    "control is the label), trains skralif's net, and writes one prediction "
                    "per unlabeled task whose score orders the tasks as the strategy does: "
                    "sort by prediction score in the data manager to label in that order.")
    _add_connection(sync)
    sync.add_argument("--project", type=_positive, required=True, help="the project id")
    sync.add_argument("--n", type=_positive, default=20,
                      help="tasks in the next batch (default: 20)")
    _add_model_options(sync)
    serve = actions.add_parser(
        "serve", help="run skralif as the projects' model backend",
        description="Serves Label Studio's model-backend protocol (/health, /setup, /predict, "
                    "/webhook). Connect it in the project's settings (Model); it retrains in "
                    "the background as people annotate and, after each training, publishes "
                    "one prediction per unlabeled task whose score orders the tasks as the "
                    "strategy does (sort by prediction score, descending).")
    _add_connection(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=9090, help="port (default: 9090)")
    serve.add_argument("--state", type=Path, default=Path("skralif-backend"),
                       help="folder of the backend's state (default: skralif-backend)")
    serve.add_argument("--train-every", type=_positive, default=10,
                       help="retrain after this many annotation events (default: 10)")
    serve.add_argument("--n", type=_positive, default=20,
                       help="tasks in the strategy's batch (default: 20)")
    serve.add_argument("--audit", type=_count, default=2, metavar="N",
                       help="tasks drawn at random each training, labeled first, only to "
                            "estimate the model's accuracy on the unlabeled tasks "
                            "(default: 2; 0: none)")
    _add_model_options(serve)


def _add_connection(parser):
    """The Label Studio server and the API key, for ``sync`` and ``serve``."""
    parser.add_argument("--url", required=True, help="the Label Studio server")
    parser.add_argument("--api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                        help="a legacy API token (default: $LABEL_STUDIO_API_KEY)")


def _add_model_options(parser):
    """The options ``sync`` and ``serve`` share: features, strategy, seed, epochs."""
    parser.add_argument("--features", metavar="F1,F2,... | MODULE:CALLABLE",
                        help="data fields used as features, or a callable returning a "
                             "scikit-learn transformer (default: TF-IDF and SVD for Text, "
                             "the numeric fields otherwise)")
    parser.add_argument("--encoder", metavar="MODULE:CALLABLE",
                        help="for Image projects: a callable returning a torch module that "
                             "embeds an image")
    parser.add_argument("--strategy", default="ralif", choices=STRATEGY_NAMES,
                        metavar="NAME", help="query strategy (default: ralif)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    parser.add_argument("--epochs", type=_positive, default=60,
                        help="training epochs of the net (default: 60)")


def _port(text):
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535; got {text}")
    return value


def _names(text, option):
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise ValueError(f"{option} must be comma-separated field names or module:callable; "
                         f"got {text!r}.")
    return names


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:  # numpy's RandomState takes 32 bits
        raise argparse.ArgumentTypeError(
            f"must be a non-negative integer below 2**32 (4294967296); got {text!r}")
    return value


def _float(text):
    """``text`` as a float; NaN (refused by every range check) when it is not one."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _test_size(text):
    value = _float(text)
    if not (0 < value < 1 or (math.isfinite(value) and value >= 1 and value == int(value))):
        raise argparse.ArgumentTypeError(
            f"must be a share in (0, 1) or a whole number of rows >= 1; got {text!r}")
    return value if value < 1 else int(value)


def _dropout(text):
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {text!r}")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or -1; got {text!r}")
    return value


def query(args) -> int:
    """One round of ``skralif query`` from parsed ``args``; return the exit status."""
    from .labeling import query_file

    report = query_file(args.data, args.target, id_column=args.id, ignore=args.ignore,
                        n=args.n, strategy=args.strategy, state_dir=args.state,
                        seed=args.seed, epochs=args.epochs, audit=args.audit)
    print(report)
    return 0


def report(args) -> int:
    """``skralif report`` from parsed ``args``; return the exit status."""
    from .evaluation import write_report

    written = write_report(args.results, args.output, baseline=args.baseline,
                           strategies=args.strategies)
    print(f"Wrote {', '.join(str(p) for p in written)}.")
    return 0


def labelstudio(args) -> int:
    """``skralif labelstudio sync`` or ``serve`` from parsed ``args``; return the exit
    status."""
    from .labeling import load_callable

    features = args.features
    if features is not None:
        features = (load_callable(features, "--features") if ":" in features
                    else _names(features, "--features"))
    encoder = None if args.encoder is None else load_callable(args.encoder, "--encoder")
    if args.action == "serve":
        from .labeling import serve_backend

        return serve_backend(args.url, args.api_key, args.state, host=args.host,
                             port=args.port, strategy=args.strategy,
                             train_every=args.train_every, n=args.n, features=features,
                             encoder=encoder, seed=args.seed, epochs=args.epochs,
                             audit=args.audit)
    from .labeling import sync_label_studio

    report = sync_label_studio(args.url, args.api_key, args.project, n=args.n,
                               features=features, encoder=encoder, strategy=args.strategy,
                               seed=args.seed, epochs=args.epochs)
    print(report)
    return 0


def run(args) -> int:
    """Run the experiment described by parsed ``args``; return the exit status.

    Every option and the data are checked, and the output folder is created and
    tested for writing, before any training starts.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    from .datasets import load_dataset
    from .evaluation import run_experiment
    from .nets import scaled_mlp

    if "bald" in args.strategies and args.dropout == 0:
        raise ValueError("--strategies bald needs MC dropout: add --dropout 0.2 (it applies "
                         "to every strategy's net, so all stay comparable).")
    _check_output(args.output)
    X, y = load_dataset(args.dataset, target=args.target)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"{args.dataset} holds a single class ({classes[0]!r}); active "
                         "learning needs at least two.")
    test_size = args.test_size
    n_test = test_size if isinstance(test_size, int) else math.ceil(test_size * len(y))
    if not len(classes) <= n_test <= len(y) - len(classes):
        raise ValueError(f"--test-size {test_size} leaves {n_test} of {len(y)} rows for the "
                         f"test set; it needs between {len(classes)} and "
                         f"{len(y) - len(classes)} (one row per class on each side).")
    if counts.min() < 2:
        raise ValueError(f"class {classes[counts.argmin()]!r} of {args.dataset} has a single "
                         "row; the stratified train/test split needs at least two per class.")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size,
                                                        stratify=y, random_state=0)
    estimator = scaled_mlp(max_epochs=args.epochs, dropout=args.dropout)
    seeds = args.seeds
    print(f"skralif run: {args.dataset} ({len(X_train)} train / {len(X_test)} test rows), "
          f"{args.initial_size} + {args.rounds} x {args.query_size} labels, "
          f"{seeds} seed{'s' if seeds > 1 else ''}, strategies: {' '.join(args.strategies)}")
    start = time.perf_counter()
    results = run_experiment(estimator, args.strategies, X_train, y_train, X_test, y_test,
                             initial_size=args.initial_size, query_size=args.query_size,
                             n_rounds=args.rounds, seeds=list(range(seeds)),
                             n_jobs=args.n_jobs, verbose=0 if args.quiet else 1)
    results.settings.update(dataset=str(args.dataset), epochs=args.epochs,
                            test_rows=len(X_test), seconds=time.perf_counter() - start)
    written = _save(results, args.output)
    print(results.format_summary())
    print(SUMMARY_HELP)
    print(f"Written to {args.output}/: {', '.join(written)} "
          f"({results.settings['seconds']:.0f} s).")
    return 0


#: what the summary's columns mean, printed under it
SUMMARY_HELP = (
    "AULC: mean test accuracy over the label budget (area under the learning curve).\n"
    "Gain vs random: AULC points (x100) over random's for the same seed, mean [paired "
    "bootstrap 95% interval over seeds].\n"
    "Win rate: share of seeds whose AULC is at least random's for the same seed.\n"
    "Labels saved: how many fewer labels than the full budget the strategy's mean curve "
    "needs to reach, and stay at, random's final accuracy (n/a if it never does; random's "
    "own is above 0 when its curve dips before the end)."
)


def _check_output(folder):
    """Create ``folder`` and prove it writable, before any training."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--output {folder} is a file; it must be a folder (it is created "
                         "if missing).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"--output {folder} is not a writable folder: {err.strerror or err}.")\
            from err


def _save(results, folder):
    results.to_json(folder / "results.json")
    results.to_csv(folder / "results.csv")
    written = ["results.json", "results.csv"]
    try:
        import matplotlib
    except ImportError:
        print("Note: matplotlib is not installed, so learning_curves.png was not drawn "
              "(pip install 'skralif[plots]').")
        return written
    from .evaluation import ALCurveDisplay

    matplotlib.use("Agg")
    display = ALCurveDisplay.from_results(results)
    display.figure_.savefig(folder / "learning_curves.png", dpi=120, bbox_inches="tight")
    return [*written, "learning_curves.png"]


#: the library's argument names (named in its errors as `name`) as each command's flags
FLAGS = {
    "run": {"initial_size": "--initial-size", "n_rounds": "--rounds",
            "query_size": "--query-size", "X_train": "the training split"},
    "query": {"data": "DATA", "target": "--target", "id_column": "--id", "ignore": "--ignore",
              "n": "--n", "strategy": "--strategy", "state_dir": "--state", "seed": "--seed",
              "epochs": "--epochs", "audit": "--audit"},
    "labelstudio": {"url": "--url", "api_key": "--api-key", "project": "--project",
                    "n": "--n", "features": "--features", "strategy": "--strategy",
                    "seed": "--seed", "epochs": "--epochs", "encoder": "--encoder",
                    "train_every": "--train-every", "state_dir": "--state",
                    "audit": "--audit"},
}


def _as_flags(message, command):
    """``message`` with the library's `argument` names replaced by the command's flags."""
    for name, flag in FLAGS.get(command, {}).items():
        message = message.replace(f"`{name}`", flag)
    return message


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
    from .exceptions import SkralifError

    try:
        args = build_parser().parse_args(argv)
        return {"run": run, "query": query, "labelstudio": labelstudio,
                "report": report}[args.command](args)
    # bad input: skralif's own errors and ValueError (scikit-learn's validation too); a
    # bare TypeError is a defect and keeps its traceback
    except (ValueError, SkralifError, OSError) as err:
        print(f"skralif: error: {_as_flags(str(err), args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # at start-up (the imports) too
        print("skralif: interrupted; nothing was written after the interrupt.", file=sys.stderr)
        return 130
