"""``skralif report``: several settings' results in, a Markdown report and two figures out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._results import ALResults
from ._statistics import across_settings, penalty_matrix

__all__ = ["write_report", "setting_name"]

REPORT = "report.md"
PENALTY_PNG = "penalty_matrix.png"
RANKS_PNG = "ranks.png"


def setting_name(results, path):
    """A setting's name: its ``settings["setting"]``, else the file's stem (and the
    parent folder's name when the stem is the generic ``results``)."""
    path = Path(path)
    name = results.settings.get("setting")
    if name:
        return str(name)
    return f"{path.parent.name}/{path.stem}" if path.stem == "results" else path.stem


def write_report(paths, output, *, baseline="random", alpha=0.05, strategies=None):
    """Compare strategies over settings: per-setting tables, ranks, gains, penalty matrix.

    Parameters
    ----------
    paths : sequence of path-like
        Results written by :meth:`ALResults.to_json` (``skralif run``'s
        ``results.json``, the benchmarks' JSON files), one setting each.
    output : path-like
        Folder for ``report.md``, ``penalty_matrix.png`` and ``ranks.png``
        (created if missing; the figures need matplotlib).
    baseline : str, default="random"
        The strategy gains are measured against.
    alpha : float, default=0.05
        Significance level of the penalty matrix's paired t-tests.
    strategies : sequence of str, default=None
        Compare only these (ranks are then among them); None keeps every
        strategy present in all settings.

    Returns
    -------
    written : list of pathlib.Path
        The files written.

    Raises
    ------
    ValueError
        For an unreadable results file (naming it), duplicate setting names,
        settings without the baseline, or fewer than 2 seeds in a setting.
    """
    if not paths:
        raise ValueError("No results file given; pass one or more results.json files.")
    settings = {}
    for path in paths:
        res = _only(ALResults.from_json(path), strategies, path)
        name = setting_name(res, path)
        if name in settings:
            raise ValueError(f"Two results files are both setting {name!r}; rename one or "
                             "set settings['setting'] in it.")
        if baseline not in res.strategies:
            raise ValueError(f"{path} has no {baseline!r} run (its strategies: "
                             f"{res.strategies}); every setting needs the baseline.")
        settings[name] = res
    rows = across_settings(settings, baseline)
    names, P = penalty_matrix(list(settings.values()), alpha=alpha)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    figures = _figures(settings, rows, names, P, output)
    text = _markdown(settings, rows, names, P, baseline, alpha, figures)
    (output / REPORT).write_text(text)
    return [output / REPORT, *[output / f for f in figures]]


def _only(res, strategies, path):
    """``res`` restricted to ``strategies`` (all of them must be there)."""
    if strategies is None:
        return res
    missing = [s for s in strategies if s not in res.strategies]
    if missing:
        raise ValueError(f"{path} has no run of {missing}; its strategies: {res.strategies}.")
    keep = [res.strategies.index(s) for s in strategies]
    return ALResults(list(strategies), res.seeds, res.n_labeled, res.accuracy[keep],
                     res.settings)


def _markdown(settings, rows, names, P, baseline, alpha, figures):
    seeds = sorted({len(r.seeds) for r in settings.values()})
    out = [f"# Active-learning report: {len(settings)} setting(s)", "",
           f"Seeds per setting: {', '.join(map(str, seeds))}. Gains are in AULC points "
           f"(x100) over `{baseline}`, with paired bootstrap 95% intervals over seeds.", "",
           "## Across settings", "",
           _table(["strategy", "mean rank", "worst-case gain [95% CI]", "in setting",
                   "mean gain", "settings CI > 0", "settings CI < 0", "win rate"],
                  [[r["strategy"], f"{r['mean_rank']:.2f}",
                    _gain(r["worst_gain"], r["worst_low"], r["worst_high"]),
                    r["worst_setting"], f"{100 * r['mean_gain']:+.2f}",
                    f"{r['settings_above']}/{r['n_settings']}",
                    f"{r['settings_below']}/{r['n_settings']}", f"{r['win_rate']:.0%}"]
                   for r in rows]),
           "", "**Mean rank**: of the mean AULC within each setting (1 is best, ties "
           "averaged), averaged over settings. **Worst-case gain**: the lowest mean AULC "
           f"gain over `{baseline}` in any setting. **Settings CI > 0 / < 0**: settings whose "
           "interval lies entirely above / below zero. **Win rate**: share of (setting, "
           f"seed) pairs whose AULC is at least `{baseline}`'s.", "",
           "## Penalty matrix", "",
           f"Entry (row i, column j): settings in which i beats j by a two-sided paired "
           f"t-test over seeds at level {alpha} in a round, each round counting "
           "1 / rounds of its setting (Ash et al., 2020). The last row sums each column: "
           "how often that strategy lost (lower is better).", "",
           _table(["beats \u2192", *names],
                  [[a, *[f"{P[i, j]:.2f}" for j in range(len(names))]]
                   for i, a in enumerate(names)]
                  + [["lost", *[f"{P[:, j].sum():.2f}" for j in range(len(names))]]])]
    if figures:
        out += ["", *[f"![{f}]({f})" for f in figures]]
    out += ["", "## Per setting"]
    for name, res in settings.items():
        out += ["", f"### {name}", "",
                f"{len(res.seeds)} seeds; labels {int(res.n_labeled[0])} to "
                f"{int(res.n_labeled[-1])} over {len(res.n_labeled) - 1} rounds.", "",
                _table(["strategy", "AULC", "\u00b1 std", "gain [95% CI]", "rank",
                        "win rate", "final acc."],
                       [[r["strategy"], f"{r['aulc_mean']:.4f}", f"{r['aulc_std']:.4f}",
                         _gain(r["gain"], r["gain_low"], r["gain_high"]), f"{r['rank']:g}",
                         f"{r['win_rate']:.0%}", f"{r['final_accuracy']:.4f}"]
                        for r in res.summary(baseline)])]
    return "\n".join(out) + "\n"


def _gain(mean, low, high):
    return f"{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _figures(settings, rows, names, P, output):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(names), 0.8 + 0.6 * len(names)))
    image = ax.imshow(P, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{P[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if P[i, j] > P.max() / 2 else "black")
    ax.set_title(f"Penalty matrix: row beats column ({len(settings)} settings)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.savefig(output / PENALTY_PNG, dpi=110, bbox_inches="tight")
    plt.close(fig)

    order = [r["strategy"] for r in rows]
    by_setting = [{r["strategy"]: r["rank"] for r in res.summary(None)}
                  for res in settings.values()]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(order)))
    for k, name in enumerate(order):
        ranks = [ranked[name] for ranked in by_setting]
        ax.scatter(ranks, np.full(len(ranks), k), alpha=0.5, color="tab:blue", s=18)
        ax.scatter([np.mean(ranks)], [k], marker="D", color="tab:red", s=40,
                   label="mean rank" if k == 0 else None)
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel("rank within a setting (1 is best)")
    ax.set_title(f"Ranks over {len(settings)} settings")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(output / RANKS_PNG, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [PENALTY_PNG, RANKS_PNG]
