"""Does active learning pay off on this data? Learning curves over strategies and seeds.

:func:`run_experiment` runs simulated AL for several strategies and seeds on a
train/test split: for a given seed every strategy starts from the same labeled
rows, trains the same estimator settings with the same torch seeds, and is
scored on the test set after every round. :class:`ALResults` summarises the
curves and :class:`ALCurveDisplay` plots them.
"""

from __future__ import annotations

import csv
import json
import numbers
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from tqdm.auto import tqdm

from ._learner import ActiveLearningClassifier
from .strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    ProbCoverQuery,
    RALIFQuery,
    RandomQuery,
    TypiClustQuery,
    UncertaintyQuery,
)

__all__ = ["STRATEGIES", "make_strategy", "run_experiment", "ALResults", "ALCurveDisplay"]

#: strategy names understood by :func:`make_strategy` and the command line
STRATEGIES = {
    "ralif": lambda: RALIFQuery(),
    "ralif-cg": lambda: RALIFQuery(method="cg"),
    "ralif-lissa": lambda: RALIFQuery(method="lissa"),
    "ralif-reference": lambda: RALIFQuery(score="reference"),
    "ralif-nodiversity": lambda: RALIFQuery(diversity=False),
    "ralif-lowmem": lambda: RALIFQuery(keep_features=False),
    "random": lambda: RandomQuery(),
    "entropy": lambda: UncertaintyQuery(measure="entropy"),
    "margin": lambda: UncertaintyQuery(measure="margin"),
    "least_confident": lambda: UncertaintyQuery(measure="least_confident"),
    "coreset": lambda: CoresetQuery(),
    "badge": lambda: BADGEQuery(),
    "bald": lambda: BALDQuery(),
    "typiclust": lambda: TypiClustQuery(),
    "probcover": lambda: ProbCoverQuery(),
}


def make_strategy(name):
    """Return a fresh strategy for a name of :data:`STRATEGIES`.

    Parameters
    ----------
    name : str
        One of ``STRATEGIES``.

    Returns
    -------
    strategy : QueryStrategy
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {sorted(STRATEGIES)}.")
    return STRATEGIES[name]()


def run_experiment(estimator, strategies, X_train, y_train, X_test, y_test, *,
                   initial_size=30, query_size=20, n_rounds=8, seeds=(0, 1, 2),
                   initial_strategy=None, n_jobs=None, verbose=0):
    """Simulated AL for every (strategy, seed), scored on a test set after every round.

    Runs are independent and dispatched with :class:`joblib.Parallel`, so a
    Dask or Ray joblib backend (``joblib.parallel_backend("dask")``) spreads a
    large study over a cluster unchanged.

    Parameters
    ----------
    estimator : estimator
        Passed to :class:`~skralif.ActiveLearningClassifier` (None: the default net).
    strategies : dict of str to QueryStrategy, or list of str
        Strategies by display name, or names of :data:`STRATEGIES`.
    X_train, y_train : array-like
        Pool and oracle labels.
    X_test, y_test : array-like
        Held-out rows for the accuracy curve.
    initial_size : int, default=30
        Labeled rows before the first query (same rows for every strategy of a seed).
    query_size : int, default=20
        Labels per round.
    n_rounds : int, default=8
        Query rounds.
    seeds : sequence of int, default=(0, 1, 2)
        One run per seed and strategy.
    initial_strategy : QueryStrategy or None, default=None
        Chooses the initial labeled rows (see
        :class:`~skralif.ActiveLearningClassifier`); None is the stratified
        draw. Either way every strategy of a seed starts from the same rows.
    n_jobs : int, default=None
        Parallel runs (joblib semantics).
    verbose : int, default=0
        Show a tqdm progress bar over the runs when > 0.

    Returns
    -------
    results : ALResults

    Notes
    -----
    **Reproducibility.** Each run seeds its own draws, so the default
    process-based joblib backend (loky), ``n_jobs=1`` and a Dask cluster with
    process workers give identical curves for identical seeds. The threading
    backend does not: torch's CPU kernels can sum in a different order while
    another thread computes, and the last-digit differences grow over rounds
    of training. A :class:`UserWarning` says so when that backend is active.
    """
    strategies = _check_strategies(strategies)
    seeds = _check_seeds(seeds)
    for name, value, low in (("initial_size", initial_size, 1), ("query_size", query_size, 1),
                             ("n_rounds", n_rounds, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}.")
    _warn_if_threads(n_jobs)
    tasks = [(name, seed) for name in strategies for seed in seeds]
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_run_one)(estimator, strategies[name], seed, X_train, y_train, X_test, y_test,
                          initial_size, query_size, n_rounds, initial_strategy)
        for name, seed in tasks
    )
    curves = list(tqdm(runs, total=len(tasks), disable=not verbose, desc="AL runs"))
    n_labeled = curves[0][0]
    if any(len(c[0]) != len(n_labeled) for c in curves):
        raise ValueError("The pool ran out before the last round; lower `n_rounds`.")
    accuracy = np.array([c[1] for c in curves]).reshape(len(strategies), len(seeds), -1)
    settings = dict(initial_size=initial_size, query_size=query_size, n_rounds=n_rounds)
    if initial_strategy is not None:
        settings["initial_strategy"] = repr(initial_strategy)
    return ALResults(list(strategies), list(seeds), np.asarray(n_labeled), accuracy, settings)


def _check_strategies(strategies):
    """A dict of display name to strategy, from a dict or a list of names."""
    if isinstance(strategies, str):
        raise TypeError(
            f"`strategies` must be a list of names or a dict of name to strategy; got the "
            f"string {strategies!r}. Did you mean [{strategies!r}]?")
    if not isinstance(strategies, dict):
        strategies = {name: make_strategy(name) for name in strategies}
    if not strategies:
        raise ValueError(f"`strategies` must name at least one strategy; got none. Choose from "
                         f"{sorted(STRATEGIES)}.")
    return strategies


def _check_seeds(seeds):
    if isinstance(seeds, numbers.Integral) or isinstance(seeds, str):
        raise TypeError(f"`seeds` must be a sequence of integers, e.g. range(5); got {seeds!r}.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("`seeds` must hold at least one seed; got an empty sequence.")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
    if bad or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct integers; got {seeds!r}.")
    return [int(s) for s in seeds]


def _warn_if_threads(n_jobs):
    from joblib.parallel import ThreadingBackend, get_active_backend

    backend, active_jobs = get_active_backend()
    jobs = active_jobs if n_jobs is None else n_jobs
    if isinstance(backend, ThreadingBackend) and jobs not in (1, None):
        warnings.warn(
            "run_experiment under joblib's threading backend is not reproducible: torch's "
            "CPU kernels can sum in a different order while other threads compute, and "
            "the differences grow over rounds of training. Use the default (loky) backend "
            "or a Dask cluster with process workers for identical curves per seed.",
            UserWarning, stacklevel=3)


def _run_one(estimator, strategy, seed, X_train, y_train, X_test, y_test, initial_size,
             query_size, n_rounds, initial_strategy=None):
    learner = ActiveLearningClassifier(estimator, clone(strategy), initial_size=initial_size,
                                       query_size=query_size, n_queries=n_rounds,
                                       initial_strategy=initial_strategy, random_state=seed)
    scores, n_labeled = [], []
    for fitted in learner.fit_iter(X_train, y_train):
        scores.append(fitted.score(X_test, y_test))
        n_labeled.append(fitted.history_[-1]["n_labeled"])
    return n_labeled, scores


@dataclass
class ALResults:
    """Test accuracy after every round, per strategy and seed.

    Parameters
    ----------
    strategies : list of str
        Strategy names, the first axis of ``accuracy``.
    seeds : list of int
        Seeds, the second axis.
    n_labeled : ndarray of shape (n_rounds + 1,)
        Labels after each round (the initial set first).
    accuracy : ndarray of shape (n_strategies, n_seeds, n_rounds + 1)
        Test accuracy.
    settings : dict
        Experiment settings, kept with the results.
    """

    strategies: list
    seeds: list
    n_labeled: np.ndarray
    accuracy: np.ndarray
    settings: dict = field(default_factory=dict)

    def aulc(self):
        """Normalised area under each learning curve, shape ``(n_strategies, n_seeds)``.

        The trapezoidal area under accuracy vs number of labels, divided by the
        label range: the mean accuracy over the budget, in [0, 1].
        """
        if len(self.n_labeled) == 1:
            return self.accuracy[..., 0]
        span = self.n_labeled[-1] - self.n_labeled[0]
        return np.trapezoid(self.accuracy, self.n_labeled, axis=-1) / span

    def summary(self, baseline="random"):
        """One dict per strategy: AULC mean and std, win rate and labels saved.

        ``win_rate`` is the share of seeds whose AULC is at least the baseline's
        for the same seed. ``labels_saved`` is how many fewer labels than the
        full budget the mean curve needs to reach the baseline's final mean
        accuracy *and stay at or above it* (linear interpolation; 0 for the
        baseline itself; NaN if the final point is below it). Both are NaN
        without a baseline.

        Parameters
        ----------
        baseline : str, default="random"
            Strategy to compare with.

        Returns
        -------
        rows : list of dict
        """
        aulc = self.aulc()
        has_base = baseline in self.strategies
        base = aulc[self.strategies.index(baseline)] if has_base else None
        target = self.accuracy[self.strategies.index(baseline)].mean(0)[-1] if has_base else None
        rows = []
        for i, name in enumerate(self.strategies):
            rows.append({
                "strategy": name,
                "aulc_mean": float(aulc[i].mean()),
                "aulc_std": float(aulc[i].std()),
                "final_accuracy": float(self.accuracy[i, :, -1].mean()),
                "win_rate": float(np.mean(aulc[i] >= base)) if has_base else float("nan"),
                "labels_saved": (self._labels_saved(self.accuracy[i].mean(0), target)
                                 if has_base else float("nan")),
            })
        return rows

    def _labels_saved(self, curve, target):
        below = np.flatnonzero(curve < target)
        if len(below) and below[-1] == len(curve) - 1:
            return float("nan")  # ends below the target
        if len(below) == 0:
            needed = float(self.n_labeled[0])
        else:  # interpolate between the last point below and the next one
            j = below[-1] + 1
            lo, hi = curve[j - 1], curve[j]
            frac = (target - lo) / (hi - lo)
            needed = self.n_labeled[j - 1] + frac * (self.n_labeled[j] - self.n_labeled[j - 1])
        return float(self.n_labeled[-1] - needed)

    def format_summary(self, baseline="random"):
        """The summary as a plain-text table.

        Parameters
        ----------
        baseline : str, default="random"
            Strategy to compare with.

        Returns
        -------
        str
        """
        lines = [f"{'strategy':<20} {'AULC':>7} {'± std':>7} {'final':>7} "
                 f"{'win rate':>9} {'labels saved':>13}"]
        for row in self.summary(baseline):
            win = "n/a" if np.isnan(row["win_rate"]) else f"{row['win_rate']:.0%}"
            saved = "n/a" if np.isnan(row["labels_saved"]) else f"{row['labels_saved']:.1f}"
            lines.append(f"{row['strategy']:<20} {row['aulc_mean']:7.4f} {row['aulc_std']:7.4f} "
                         f"{row['final_accuracy']:7.4f} {win:>9} {saved:>13}")
        return "\n".join(lines)

    def to_json(self, path):
        """Write every number and setting, and the summary, as JSON.

        Parameters
        ----------
        path : path-like
            File to write.
        """
        data = dict(strategies=self.strategies, seeds=self.seeds,
                    n_labeled=self.n_labeled.tolist(), accuracy=self.accuracy.tolist(),
                    settings=self.settings, summary=self.summary())
        Path(path).write_text(json.dumps(data, indent=2))

    @classmethod
    def from_json(cls, path):
        """Read results written by :meth:`to_json`.

        Parameters
        ----------
        path : path-like
            File to read.

        Returns
        -------
        ALResults
        """
        try:
            data = json.loads(Path(path).read_text())
            results = cls(list(data["strategies"]), list(data["seeds"]),
                          np.asarray(data["n_labeled"], dtype=float),
                          np.asarray(data["accuracy"], dtype=float), data.get("settings", {}))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); expected a file written by "
                             "ALResults.to_json or `skralif run`.") from err
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is not an ALResults JSON file (missing or malformed "
                             f"{err}); expected the keys strategies, seeds, n_labeled and "
                             "accuracy.") from err
        return results._checked(path)

    def _checked(self, path):
        shape = (len(self.strategies), len(self.seeds), len(self.n_labeled))
        if self.accuracy.shape != shape:
            raise ValueError(f"{path}: accuracy has shape {self.accuracy.shape}, but "
                             f"strategies x seeds x rounds is {shape}.")
        return self

    def to_csv(self, path):
        """Write one row per (strategy, seed, round): the long format for spreadsheets.

        Parameters
        ----------
        path : path-like
            File to write.
        """
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["strategy", "seed", "round", "n_labeled", "accuracy"])
            for i, name in enumerate(self.strategies):
                for k, seed in enumerate(self.seeds):
                    for r, n in enumerate(self.n_labeled):
                        writer.writerow([name, seed, r, int(n), float(self.accuracy[i, k, r])])

    @classmethod
    def from_csv(cls, path, settings=None):
        """Read results written by :meth:`to_csv`.

        Parameters
        ----------
        path : path-like
            File to read.
        settings : dict, default=None
            Settings to attach (CSV files do not hold them).

        Returns
        -------
        ALResults
        """
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        columns = ["strategy", "seed", "round", "n_labeled", "accuracy"]
        if not rows or any(c not in rows[0] for c in columns):
            raise ValueError(f"{path} is not an ALResults CSV file: it needs a header with "
                             f"{columns} and at least one row.")
        try:
            strategies = list(dict.fromkeys(r["strategy"] for r in rows))
            seeds = list(dict.fromkeys(int(r["seed"]) for r in rows))
            rounds = sorted({int(r["round"]) for r in rows})
            if rounds != list(range(len(rounds))):
                raise ValueError(f"rounds {rounds} are not 0, 1, 2, ...")
            n_labeled = np.zeros(len(rounds), dtype=int)
            accuracy = np.full((len(strategies), len(seeds), len(rounds)), np.nan)
            for r in rows:
                i, k = strategies.index(r["strategy"]), seeds.index(int(r["seed"]))
                n_labeled[int(r["round"])] = int(r["n_labeled"])
                accuracy[i, k, int(r["round"])] = float(r["accuracy"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: malformed ALResults CSV ({err}).") from err
        if np.isnan(accuracy).any():
            raise ValueError(f"{path}: some (strategy, seed, round) rows are missing.")
        return cls(strategies, seeds, n_labeled, accuracy, settings or {})


class ALCurveDisplay:
    """Learning curves, mean over seeds with a band, in the style of sklearn's displays.

    Parameters
    ----------
    results : ALResults
        What to plot.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes plotted on.
    figure_ : matplotlib Figure
        Its figure.
    lines_ : dict of str to Line2D
        The mean curve of each strategy.
    """

    def __init__(self, results):
        self.results = results

    @classmethod
    def from_results(cls, results, *, ax=None, band="std"):
        """Build the display and plot it.

        Parameters
        ----------
        results : ALResults
            What to plot.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        band : {"std", None}, default="std"
            See :meth:`plot`.

        Returns
        -------
        ALCurveDisplay
        """
        return cls(results).plot(ax=ax, band=band)

    def plot(self, ax=None, *, band="std"):
        """Plot mean test accuracy against labels, one curve per strategy.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        band : {"std", None}, default="std"
            Shade mean ± one standard deviation over seeds, or nothing.

        Returns
        -------
        self : ALCurveDisplay
        """
        import matplotlib.pyplot as plt  # optional dependency: imported only to plot

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        r, self.lines_ = self.results, {}
        for i, name in enumerate(r.strategies):
            mean, std = r.accuracy[i].mean(0), r.accuracy[i].std(0)
            (self.lines_[name],) = ax.plot(r.n_labeled, mean, marker="o", ms=3, label=name)
            if band == "std":
                ax.fill_between(r.n_labeled, mean - std, mean + std, alpha=0.15,
                                color=self.lines_[name].get_color())
        ax.set_xlabel("labeled samples")
        ax.set_ylabel("test accuracy")
        dataset = r.settings.get("dataset")
        seeds = f"{len(r.seeds)} seed{'s' if len(r.seeds) > 1 else ''}"
        ax.set_title(f"Learning curves{f' on {dataset}' if dataset else ''} ({seeds}, "
                     f"mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
