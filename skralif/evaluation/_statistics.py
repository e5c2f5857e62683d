"""Statistics of AL studies: paired bootstrap intervals, ranks and the penalty matrix."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

__all__ = ["paired_bootstrap", "penalty_matrix", "across_settings"]


def paired_bootstrap(differences, *, n_resamples=10_000, confidence=0.95, random_state=0):
    """Mean of paired differences with a percentile bootstrap interval.

    The seeds are resampled with replacement, so the interval reflects how
    much the mean gain depends on which seeds were drawn.

    Parameters
    ----------
    differences : array-like of shape (n_seeds,)
        One paired difference per seed (e.g. a strategy's AULC minus random's).
    n_resamples : int, default=10000
        Bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the interval.
    random_state : int, RandomState instance or None, default=0
        Seeds the resampling (fixed by default: the same results give the same
        interval).

    Returns
    -------
    mean : float
    low, high : float
        The interval's ends (both equal to ``mean`` with a single seed).
    """
    d = np.asarray(differences, dtype=float).ravel()
    if len(d) == 0:
        raise ValueError("`differences` is empty; need one value per seed.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1); got {confidence!r}.")
    rng = check_random_state(random_state)
    means = d[rng.randint(0, len(d), size=(n_resamples, len(d)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(d.mean()), float(low), float(high)


def penalty_matrix(results, *, alpha=0.05):
    """Pairwise penalty matrix over settings (Ash et al., ICLR 2020, the BADGE paper).

    For every setting, every pair of strategies and every round after the
    initial one, a two-sided paired t-test over seeds compares the test
    accuracies; when strategy ``i`` is significantly better than ``j`` at
    level ``alpha``, ``P[i, j]`` grows by ``1 / n_rounds`` of that setting.
    A setting thus adds at most 1 to an entry: ``P[i, j]`` reads as "the
    number of settings in which ``i`` beats ``j``", counting partial wins by
    the share of rounds won. A column's sum is how often that strategy lost
    (lower is better); a row's, how often it won.

    Parameters
    ----------
    results : sequence of ALResults
        One per setting, each with at least 2 seeds.
    alpha : float, default=0.05
        Significance level of each test.

    Returns
    -------
    strategies : list of str
        The strategies present in every setting, in the first setting's order.
    P : ndarray of shape (n_strategies, n_strategies)
        ``P[i, j]``: settings in which ``strategies[i]`` beats ``strategies[j]``.
    """
    names = _common_strategies(results)
    P = np.zeros((len(names), len(names)))
    for res in results:
        if len(res.seeds) < 2:
            raise ValueError("A paired t-test needs at least 2 seeds per setting; got "
                             f"{len(res.seeds)}.")
        acc = res.accuracy[[res.strategies.index(s) for s in names]][:, :, 1:]
        n_rounds = acc.shape[-1]
        critical = stats.t.ppf(1 - alpha / 2, df=len(res.seeds) - 1)
        diff = acc[:, None] - acc[None, :]  # (i, j, seeds, rounds)
        mean = diff.mean(axis=2)
        sd = diff.std(axis=2, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = mean / (sd / np.sqrt(len(res.seeds)))
        # equal curves in every seed: no evidence either way; a constant nonzero gap: a win
        t = np.where(sd == 0, np.where(mean > 0, np.inf, 0.0), t)
        P += (t > critical).sum(axis=-1) / n_rounds
    return names, P


def across_settings(results, baseline="random"):
    """Each strategy over several settings: mean rank, gains over the baseline.

    Parameters
    ----------
    results : dict of str to ALResults
        Settings by name.
    baseline : str, default="random"
        The strategy gains are measured against (present in every setting).

    Returns
    -------
    rows : list of dict
        One per strategy present in every setting, best mean rank first:
        ``strategy``; ``mean_rank`` (of its mean AULC within each setting, 1
        is best, ties averaged); ``worst_gain``, ``worst_low``,
        ``worst_high`` and ``worst_setting`` (the setting of its lowest mean
        AULC gain over the baseline, with that gain's paired bootstrap 95%
        interval); ``mean_gain``; ``settings_above`` (settings whose interval
        lies above zero) and ``settings_below`` (below zero); ``win_rate``
        (share of (setting, seed) pairs whose AULC is at least the
        baseline's); ``n_settings``.
    """
    names = _common_strategies(list(results.values()))
    if baseline not in names:
        raise ValueError(f"`baseline` {baseline!r} is not in every setting; the strategies "
                         f"common to all are {names}.")
    per = {s: [] for s in names}
    for setting, res in results.items():
        for row in res.summary(baseline):
            if row["strategy"] in per:
                per[row["strategy"]].append((setting, row))
    out = []
    for name, rows in per.items():
        setting, worst = min(rows, key=lambda item: item[1]["gain"])
        out.append({
            "strategy": name,
            "mean_rank": float(np.mean([r["rank"] for _, r in rows])),
            "worst_gain": worst["gain"], "worst_low": worst["gain_low"],
            "worst_high": worst["gain_high"], "worst_setting": setting,
            "mean_gain": float(np.mean([r["gain"] for _, r in rows])),
            "settings_above": sum(r["gain_low"] > 0 for _, r in rows),
            "settings_below": sum(r["gain_high"] < 0 for _, r in rows),
            "win_rate": float(np.mean([r["win_rate"] for _, r in rows])),
            "n_settings": len(rows),
        })
    return sorted(out, key=lambda r: (r["mean_rank"], r["strategy"]))


def _common_strategies(results):
    if not results:
        raise ValueError("No results given; need at least one setting.")
    names = [s for s in results[0].strategies if all(s in r.strategies for r in results[1:])]
    if len(names) < 1:
        raise ValueError("The settings share no strategy.")
    return names
