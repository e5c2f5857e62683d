"""The learning curves of a study, their summary and their files."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from ._statistics import paired_bootstrap

__all__ = ["ALResults"]


@dataclass
class ALResults:
    """Test accuracy after every round, per strategy and seed.

    Parameters
    ----------
    strategies : list of str
        Strategy names, the first axis of ``accuracy``.
    seeds : list of int
        Seeds, the second axis.
    n_labeled : array-like of shape (n_rounds + 1,)
        Labels after each round (the initial set first).
    accuracy : array-like of shape (n_strategies, n_seeds, n_rounds + 1)
        Test accuracy.
    settings : dict
        Experiment settings, kept with the results.
    """

    strategies: list
    seeds: list
    n_labeled: np.ndarray
    accuracy: np.ndarray
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        # lists and tuples are fine too: every method (and to_json) works on arrays
        self.strategies, self.seeds = list(self.strategies), list(self.seeds)
        self.n_labeled = np.asarray(self.n_labeled)
        self.accuracy = np.asarray(self.accuracy, dtype=float)

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
        """One dict per strategy: AULC, its gain over the baseline, rank, win rate.

        ``aulc_mean``, ``aulc_std``: the AULC over seeds. ``gain``: the mean
        paired difference of AULC from the baseline's (same seed), with
        ``gain_low`` and ``gain_high`` the ends of its paired bootstrap 95%
        interval (:func:`~skralif.evaluation.paired_bootstrap`, seeds
        resampled). ``rank``: of the mean AULC within these results (1 is
        best, ties averaged). ``win_rate`` is the share of seeds whose AULC is
        at least the baseline's for the same seed. ``labels_saved`` is how
        many fewer labels than the full budget the mean curve needs to reach
        the baseline's final mean accuracy *and stay at or above it* (linear
        interpolation; NaN if the final point is below it; for the baseline
        itself 0 unless its mean curve reaches its final accuracy earlier and
        stays there). The baseline's columns are NaN without a baseline.

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
        ranks = rankdata(-aulc.mean(axis=1), method="average")
        rows = []
        for i, name in enumerate(self.strategies):
            gain = paired_bootstrap(aulc[i] - base) if has_base else (float("nan"),) * 3
            rows.append({
                "strategy": name,
                "aulc_mean": float(aulc[i].mean()),
                "aulc_std": float(aulc[i].std()),
                "gain": gain[0], "gain_low": gain[1], "gain_high": gain[2],
                "rank": float(ranks[i]),
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
        """The summary as a plain-text table, and what the seeds cannot separate.

        Besides each strategy's AULC, its gain over ``baseline`` in AULC points
        (x100) with the paired bootstrap 95% interval, and a last line naming the
        strategies whose paired interval against the best (by mean AULC) contains
        zero: with these seeds, their order is not evidence.

        Parameters
        ----------
        baseline : str, default="random"
            Strategy to compare with.

        Returns
        -------
        str
        """
        lines = [f"{'strategy':<20} {'AULC':>7} {'± std':>7} {'gain vs ' + baseline:>26} "
                 f"{'final':>7} {'win rate':>9} {'labels saved':>13}"]
        for row in self.summary(baseline):
            win = "n/a" if np.isnan(row["win_rate"]) else f"{row['win_rate']:.0%}"
            saved = "n/a" if np.isnan(row["labels_saved"]) else f"{row['labels_saved']:.1f}"
            gain = ("n/a" if np.isnan(row["gain"]) or row["strategy"] == baseline else
                    f"{100 * row['gain']:+.2f} [{100 * row['gain_low']:+.2f}, "
                    f"{100 * row['gain_high']:+.2f}]")
            lines.append(f"{row['strategy']:<20} {row['aulc_mean']:7.4f} {row['aulc_std']:7.4f} "
                         f"{gain:>26} {row['final_accuracy']:7.4f} {win:>9} {saved:>13}")
        return "\n".join([*lines, self._separation_line()])

    def _separation_line(self):
        """Which strategies the seeds cannot tell from the best one (paired intervals)."""
        aulc = self.aulc()
        best = int(np.argmax(aulc.mean(axis=1)))
        tied = [name for i, name in enumerate(self.strategies)
                if i != best and paired_bootstrap(aulc[best] - aulc[i])[1] <= 0]
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        if not tied:
            return (f"With {seeds}, {self.strategies[best]} (best mean AULC) is ahead of "
                    "every other strategy: each paired 95% interval excludes zero.")
        return (f"With {seeds}, the paired 95% intervals cannot separate "
                f"{', '.join(tied)} from {self.strategies[best]} (best mean AULC): read "
                "their order as a tie, or run more seeds.")

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
