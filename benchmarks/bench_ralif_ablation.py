"""RALIF's variants through the evaluation harness: which settings of RALIFQuery to keep.

Same splits, nets, seeds, initial labeled sets and rounds as ``bench_learning_curves.py``
(run it first, with the same ``--tag`` and ``--seeds``: every baseline's curves are read
from its ``figures/<setting><tag>.json``, and ``default``, ``reference score`` and
``LiSSA`` are its ``ralif``, ``ralif-reference`` and ``ralif-lissa`` runs). Each other
variant changes some settings of ``RALIFQuery`` from its defaults and is run here, paired
with those files; its runs are kept in ``figures/variants/<setting><tag>.json`` so that a
later call runs only the variants it has not seen.

Each variant is then ranked in every setting among the non-RALIF strategies (as if it were
the only RALIF), and summarised across settings as ``skralif report`` does: mean rank,
worst-case gain over random with its paired bootstrap 95% interval, the number of settings
whose interval lies above zero, the mean gain.

    python benchmarks/bench_ralif_ablation.py --seeds 10 --tag _s10 --n-jobs 2
"""

import argparse
from pathlib import Path

import numpy as np
from _report import markdown_table, write_section
from bench_learning_curves import FIGURES, SETTINGS, prepare

from skralif import RALIFQuery
from skralif.evaluation import ALResults, across_settings, run_experiment

#: variant -> RALIFQuery parameters changed from the defaults
VARIANTS = {
    "default": {},
    "reference score": {"score": "reference"},
    "LiSSA": {"method": "lissa"},
    "refit head": {"refit_head": True},
    "refit head, damping 1e-2": {"refit_head": True, "damping": 1e-2},
    "soft pool loss": {"pseudo_labels": "soft"},
    "last two layers": {"params": ["body.3.weight", "body.3.bias"], "method": "cg"},
    "candidates 5 n": {"candidates_per_query": 5},
    "candidates 20 n": {"candidates_per_query": 20},
    "tau=2": {"tau": 2.0},
    "tau=8": {"tau": 8.0},
    "damping 1e-2": {"damping": 1e-2},
    "no diversity": {"diversity": False},
    "target all": {"target": "all"},
}
#: variants whose runs are the learning-curve study's own
STORED = {"default": "ralif", "reference score": "ralif-reference", "LiSSA": "ralif-lissa"}
VARIANT_RUNS = FIGURES / "variants"


def settings_with_results(tag):
    """``name:regime`` of every setting the study has results for (``--tag``)."""
    return [f"{name}:{regime}" for name, (_, _, _, regimes) in SETTINGS.items()
            for regime in regimes if (FIGURES / f"{name}_{regime}{tag}.json").exists()]


def variant_runs(name, regime, variants, args):
    """The runs of ``variants`` (not stored) on one setting, running those not kept yet."""
    path = VARIANT_RUNS / f"{name}_{regime}{args.tag}.json"
    seeds = list(range(args.seeds))
    kept = ALResults.from_json(path) if path.exists() else None
    if kept is not None and kept.seeds != seeds:
        kept = None
    have = [] if kept is None else kept.strategies
    missing = [v for v in variants if v not in have]
    if missing:
        net, data, kw = prepare(name, regime, args)
        strategies = {v: RALIFQuery(**VARIANTS[v]) for v in missing}
        new = run_experiment(net(), strategies, *data, **kw)
        kept = new if kept is None else ALResults(
            kept.strategies + new.strategies, seeds, kept.n_labeled,
            np.concatenate([kept.accuracy, new.accuracy]), kept.settings)
        VARIANT_RUNS.mkdir(exist_ok=True)
        kept.to_json(path)
    return kept


def with_variant(study, runs, variant):
    """The study's non-RALIF strategies plus ``variant`` alone, as one ALResults."""
    keep = [s for s in study.strategies if not s.startswith("ralif")]
    source, name = (study, STORED[variant]) if variant in STORED else (runs, variant)
    if not np.array_equal(source.n_labeled, study.n_labeled):
        raise ValueError(f"{variant}: other label counts than the study's")
    accuracy = [study.accuracy[study.strategies.index(s)] for s in keep]
    accuracy.append(source.accuracy[source.strategies.index(name)])
    return ALResults(keep + [variant], study.seeds, study.n_labeled, np.stack(accuracy),
                     study.settings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+",
                        help="name:regime pairs (default: every setting of the study but "
                             "mnist_cnn)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2]
                                                / "shared" / "data" / "mnist-t10k"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--tag", default="_s10")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    settings = args.settings or [s for s in settings_with_results(args.tag)
                                 if not s.startswith("mnist_cnn")]
    per_variant = {v: {} for v in args.variants}
    for setting in settings:
        name, regime = setting.split(":")
        study = ALResults.from_json(FIGURES / f"{name}_{regime}{args.tag}.json")
        if study.seeds != list(range(args.seeds)):
            raise SystemExit(f"{setting}: the study ran seeds {study.seeds}, not "
                             f"{args.seeds}; run bench_learning_curves.py --seeds {args.seeds}")
        runs = variant_runs(name, regime, [v for v in args.variants if v not in STORED], args)
        for v in args.variants:
            per_variant[v][setting.replace(":", " ")] = with_variant(study, runs, v)
        print(f"{setting} done", flush=True)

    rows, gains = [], []
    for v in args.variants:
        row = next(r for r in across_settings(per_variant[v]) if r["strategy"] == v)
        rows.append([v, ", ".join(f"{k}={p!r}" for k, p in VARIANTS[v].items()) or "-",
                     f"{row['mean_rank']:.2f}",
                     f"{100 * row['worst_gain']:+.2f} [{100 * row['worst_low']:+.2f}, "
                     f"{100 * row['worst_high']:+.2f}] ({row['worst_setting']})",
                     f"{row['settings_above']} of {row['n_settings']}",
                     f"{100 * row['mean_gain']:+.2f}"])
        gains.append([v] + [next(f"{100 * r['gain']:+.2f}" for r in res.summary()
                                 if r["strategy"] == v) for res in per_variant[v].values()])
    n_other = len(next(iter(per_variant[args.variants[0]].values())).strategies) - 1
    body = (
        f"{args.seeds} paired seeds per setting, the learning-curve study's nets, splits and "
        f"initial sets. Each variant is ranked among the {n_other} non-RALIF strategies of "
        "every setting (rank 1 is best) as if it were the only RALIF; gains are AULC points "
        "(x100) over random with paired bootstrap 95% intervals over seeds.\n\n"
        + markdown_table(["variant", "RALIFQuery settings", "mean rank", "worst-case gain "
                          "[95% CI] (setting)", "settings with CI > 0", "mean gain"], rows)
        + "\n\nGain over random per setting:\n\n"
        + markdown_table(["variant"] + [s.replace(":", " ") for s in settings], gains))
    write_section("bench_ralif_ablation", body)


if __name__ == "__main__":
    main()
