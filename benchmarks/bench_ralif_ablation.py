"""RALIF's variants through the evaluation harness: which settings of RALIFQuery to keep.

Same splits, nets, seeds, initial labeled sets and rounds as ``bench_learning_curves.py``
(run it first, with the same ``--tag`` and ``--seeds``: every baseline's curves are read
from its ``figures/<setting><tag>.json``). Each variant sets some parameters of
``RALIFQuery`` and is run here, paired with those files; the runs are kept in
``figures/variants/<setting><tag>.json``, so that a later call runs only the variants and
seeds it has not seen. ``--adopt VARIANT`` then makes a variant the study's ``ralif``, for
when it becomes RALIFQuery's default. ``--decide VARIANT ...`` applies issue 25's
pre-registered rule (``_protocol.adopt``) to each variant against the study's ``ralif``
(RALIFQuery's defaults) over the 16 development settings, from the runs kept, and writes
the decision with the section; a variant without runs on all 16 gets no decision.
``--compare VARIANT ...`` reports a variant's paired differences to the study's ``ralif``
on the settings run, with no decision: how a change decided on development settings is
reported on validation ones, before ``--adopt`` replaces the study's ``ralif``.

Candidates put to the rule, each written here before its development runs: ``refit
head`` and ``no refit`` (2026-12-04: not adopted); ``refit head, soft pool loss, tau=2``
(2026-12-05), the defaults with a plausibility threshold of twice the uniform probability
instead of four times. What informed it: the two development CNN settings (``mnist_cnn``
cold and warm; section ``bench_ralif_ablation_cnn``, gains over random), where ``tau=2``
gained +3.15 and +2.54 AULC points against the defaults' +2.56 and +2.41, ``tau=8`` +2.48
and +2.29, and ``damping=1e-2`` +2.24 on the cold start; and the reason
the threshold matters at all: over every class, the expected first-order change
``sum_k p_uk delta(u, k)`` is exactly zero, so the plausible set decides which rows can
score. No validation setting was looked at. ``refit head, soft pool loss, optimistic,
tau=2`` (2026-12-05, written here before its runs on the other 15 development settings):
the defaults with ``score="optimistic"`` and ``tau=2``. What informed it: the cause probes
below (the score's ranking alone loses to random on the CNN; a row with several plausible
classes averages changes that nearly cancel, and ``tau=2`` lets more rows have several), and
one run on ``mnist_cnn`` cold, +3.47 AULC points over random against the defaults' +2.56,
``tau=2``'s +3.15 and margin's +3.03. No validation setting was looked at. Adopted by the
rule (section ``bench_ralif_ablation_optimistic``) and made RALIFQuery's default on
2026-12-05; then run once on the 8 validation settings (``--compare``, section
``bench_ralif_ablation_validation``) and made the study's ``ralif`` everywhere with
``--adopt``. Every variant here names ``score`` and ``tau`` since, so that the ones run
before keep their meaning (``influence`` and 4, the defaults they ran with).

Probes on the CNN only, not candidates (2026-12-05): ``refit head, soft pool loss, last
block (Gauss-Newton)``, issue 25's lead "influence over the last convolutional block",
made runnable by ``curvature="gauss-newton"`` (``bench_curvature.py``: with the Hessian, CG
stalls there). On ``mnist_cnn`` cold it gains +2.46 AULC points over random against the
defaults' +2.56 (section ``bench_ralif_ablation_block``), so it was not run further.

Probes of the cause, not candidates (2026-12-05, section ``bench_ralif_ablation_probes``;
``bench_ralif_picks.py`` looks at the picks themselves): ``refit head, soft pool loss, no
diversity``, issue 25's lead "the diversity step at larger batches", the defaults' ranking
alone (the ``n`` best scores, on the CNN and the three settings whose batches are 50 or
100); ``refit head, soft pool loss, optimistic``, each row scored by its most helpful
plausible label instead of the expectation (``score="optimistic"``), on ``mnist_cnn`` cold.

Each variant is ranked in every setting among the non-RALIF strategies (as if it were the
only RALIF), and summarised across settings as ``skralif report`` does: mean rank,
worst-case gain over random with its paired bootstrap 95% interval, the number of settings
whose interval lies above zero, the mean gain.

    python benchmarks/bench_ralif_ablation.py --seeds 10 --n-jobs 2
"""

import argparse

import numpy as np
from _protocol import DEVELOPMENT
from _protocol import adopt as protocol_rule
from _report import markdown_table, write_section
from _runs import completed
from bench_learning_curves import FIGURES, SETTINGS, data_arguments, prepare

from skralif import RALIFQuery
from skralif.evaluation import ALResults, across_settings, paired_bootstrap, run_experiment

#: variant -> RALIFQuery parameters; each says ``refit_head``, ``pseudo_labels``, ``score``
#: and ``tau`` so that its meaning does not depend on the defaults of the day
#: the layer below the head: the MLPs' second Linear, the benchmark CNN's last convolution
TWO_LAYERS = ["body.3.weight", "body.3.bias"]
#: RALIFQuery's score and threshold until 2026-12-05, which every variant below ran with
#: unless it names its own
_UNTIL_2026_12_05 = {"score": "influence", "tau": 4.0}
_PAPER = {"refit_head": False, "pseudo_labels": "hard"}
_REFIT = {"refit_head": True, "pseudo_labels": "hard"}
VARIANTS = {name: {**_UNTIL_2026_12_05, **params} for name, params in {
    "no refit": _PAPER,
    "no refit, run here": _PAPER,
    "no refit, reference score": {**_PAPER, "score": "reference"},
    "no refit, LiSSA": {**_PAPER, "method": "lissa"},
    "refit head": _REFIT,
    "refit head, damping 1e-2": {**_REFIT, "damping": 1e-2},
    "refit head, soft pool loss": {"refit_head": True, "pseudo_labels": "soft"},
    "refit head, reference score": {**_REFIT, "score": "reference"},
    "no refit, soft pool loss": {"refit_head": False, "pseudo_labels": "soft"},
    "last two layers": {**_PAPER, "params": TWO_LAYERS, "method": "cg"},
    "no refit, candidates 5 n": {**_PAPER, "candidates_per_query": 5},
    "no refit, candidates 20 n": {**_PAPER, "candidates_per_query": 20},
    "no refit, tau=2": {**_PAPER, "tau": 2.0},
    "no refit, tau=8": {**_PAPER, "tau": 8.0},
    "no refit, damping 1e-2": {**_PAPER, "damping": 1e-2},
    "no refit, no diversity": {**_PAPER, "diversity": False},
    "no refit, target all": {**_PAPER, "target": "all"},
    "refit head, soft pool loss, damping 1e-2": {"refit_head": True, "pseudo_labels": "soft",
                                                 "damping": 1e-2},
    "refit head, soft pool loss, tau=2": {"refit_head": True, "pseudo_labels": "soft",
                                          "tau": 2.0},
    "refit head, soft pool loss, tau=8": {"refit_head": True, "pseudo_labels": "soft",
                                          "tau": 8.0},
    "refit head, soft pool loss, no diversity": {"refit_head": True, "pseudo_labels": "soft",
                                                 "diversity": False},
    "refit head, soft pool loss, optimistic": {"refit_head": True, "pseudo_labels": "soft",
                                               "score": "optimistic"},
    "refit head, soft pool loss, optimistic, tau=2": {
        "refit_head": True, "pseudo_labels": "soft", "score": "optimistic", "tau": 2.0},
    # influence over the layer below the head too (the CNN's last convolution), with the
    # Gauss-Newton matrix: the Hessian there is indefinite and CG stalls (bench_curvature)
    "refit head, soft pool loss, last block (Gauss-Newton)": {
        "refit_head": True, "pseudo_labels": "soft", "params": TWO_LAYERS,
        "curvature": "gauss-newton"},
}.items()}
VARIANT_RUNS = FIGURES / "variants"
#: the variant that RALIFQuery's defaults were from 2026-12-04 to 2026-12-05
PREVIOUS_DEFAULTS = "refit head, soft pool loss"


def settings_with_results(tag):
    """``name:regime`` of every setting the study has results for (``--tag``)."""
    return [f"{name}:{regime}" for name, (_, _, _, regimes) in SETTINGS.items()
            for regime in regimes if (FIGURES / f"{name}_{regime}{tag}.json").exists()]


def variant_runs(name, regime, variants, args):
    """The runs of ``variants`` on one setting, over ``--seeds``, running only what is not
    kept yet (see :func:`_runs.completed`). When the seeds grow, every variant kept is
    grown too, so that the file never loses a run; None if nothing is kept for these
    seeds and ``--no-run``."""
    path = VARIANT_RUNS / f"{name}_{regime}{args.tag}.json"
    seeds = list(range(args.seeds))
    kept = ALResults.from_json(path) if path.exists() else None
    if kept is not None and kept.seeds != seeds[:len(kept.seeds)]:
        raise SystemExit(f"{path}: its seeds {kept.seeds} are not the first of {seeds}")
    if args.no_run:
        return kept if kept is None or kept.seeds == seeds else None
    wanted = list(variants) + [v for v in (kept.strategies if kept else [])
                               if v not in variants]

    def run(names, run_seeds):
        net, data, kw = prepare(name, regime, args)
        kw.update(seeds=run_seeds)
        return run_experiment(net(), {v: RALIFQuery(**VARIANTS[v]) for v in names},
                              *data, **kw)

    runs = completed(kept, wanted, seeds, run)
    VARIANT_RUNS.mkdir(exist_ok=True)
    runs.to_json(path)
    return runs


def with_variant(study, runs, variant):
    """The study's non-RALIF strategies plus ``variant`` alone, as one ALResults."""
    keep = [s for s in study.strategies if not s.startswith("ralif")]
    accuracy = [study.accuracy[study.strategies.index(s)] for s in keep]
    accuracy.append(runs.accuracy[runs.strategies.index(variant)])
    return ALResults(keep + [variant], study.seeds, study.n_labeled, np.stack(accuracy),
                     study.settings)


def adopt(study_path, runs_path, variant):
    """Make ``variant``'s runs (kept in ``runs_path``) the study's ``ralif`` and drop its
    other RALIF columns. Their runs stay in the variants' file under explicit names: the
    study's ``ralif`` is added there as :data:`PREVIOUS_DEFAULTS` when that file lacks it
    (a setting first run when those were RALIFQuery's defaults), so no run is lost."""
    study = ALResults.from_json(study_path)
    runs = ALResults.from_json(runs_path)
    if PREVIOUS_DEFAULTS not in runs.strategies and variant != PREVIOUS_DEFAULTS:
        if "ralif" not in study.strategies or study.settings.get("ralif") is not None:
            raise SystemExit(f"{study_path}: its 'ralif' is not RALIFQuery's defaults of "
                             f"before 2026-12-05 and {runs_path} lacks {PREVIOUS_DEFAULTS!r}")
        previous = study.accuracy[study.strategies.index("ralif")]
        runs = ALResults(runs.strategies + [PREVIOUS_DEFAULTS], runs.seeds, runs.n_labeled,
                         np.concatenate([runs.accuracy, previous[None]]), runs.settings)
        runs.to_json(runs_path)
    keep = [s for s in study.strategies if not s.startswith("ralif")]
    accuracy = np.stack([runs.accuracy[runs.strategies.index(variant)]]
                        + [study.accuracy[study.strategies.index(s)] for s in keep])
    settings = dict(study.settings, ralif=f"RALIFQuery({_params(variant)}), the runs of "
                                          f"variant {variant!r} of bench_ralif_ablation.py")
    ALResults(["ralif"] + keep, study.seeds, study.n_labeled, accuracy, settings).to_json(
        study_path)


def paired_differences(variant, tag, settings):
    """Per-seed AULC differences ``variant - ralif`` (the study's) on each of ``settings``
    (``<dataset>_<regime>``) from the kept runs, and the settings without runs to pair."""
    differences, lacking = {}, []
    for setting in settings:
        path = VARIANT_RUNS / f"{setting}{tag}.json"
        runs = ALResults.from_json(path) if path.exists() else None
        study = ALResults.from_json(FIGURES / f"{setting}{tag}.json")
        if runs is None or variant not in runs.strategies or runs.seeds != study.seeds:
            lacking.append(setting)
            continue
        differences[setting] = (runs.aulc()[runs.strategies.index(variant)]
                                - study.aulc()[study.strategies.index("ralif")])
    return differences, lacking


def decide(variant, tag):
    """The pre-registered rule's :class:`_protocol.Decision` on making ``variant``
    RALIFQuery's default, from its kept runs paired with the study's ``ralif`` on every
    development setting; None, and the settings it lacks, if it has not run on all."""
    differences, lacking = paired_differences(variant, tag, DEVELOPMENT)
    return (None if lacking else protocol_rule(differences)), lacking


def _comparison_text(variant, tag, settings):
    """``variant`` against the study's ``ralif`` on ``settings``, each a paired mean
    difference with its 95% interval, in points; no decision."""
    differences, lacking = paired_differences(variant, tag, settings)
    cells = []
    for setting, d in differences.items():
        mean, low, high = (100 * v for v in paired_bootstrap(d))
        cells.append(f"{setting} {mean:+.2f} [{low:+.2f}, {high:+.2f}]")
    missing = f" Not run on {', '.join(lacking)}." if lacking else ""
    return f"- `{variant}`: " + "; ".join(cells) + "." + missing


def _decision_text(variant, tag):
    decision, lacking = decide(variant, tag)
    if decision is None:
        return f"- `{variant}`: no decision, not run on {', '.join(lacking)}."
    means = {s: 100 * m for s, (m, _, _) in decision.intervals.items()}
    ahead = sum(m > 0 for m in means.values())
    verdict = "adopted" if decision.adopted else "not adopted: " + "; ".join(decision.reasons)
    return (f"- `{variant}` against the defaults, over the 16 development settings: mean "
            f"difference {np.mean(list(means.values())):+.2f} points, ahead in {ahead} of "
            f"16; {verdict}. Per setting: "
            + ", ".join(f"{s} {m:+.2f}" for s, m in means.items()) + ".")


def _gain(results, variant):
    """``variant``'s gain over random in ``results``, in points; "not run" for None."""
    if results is None:
        return "not run"
    return next(f"{100 * r['gain']:+.2f}" for r in results.summary() if r["strategy"] == variant)


def _params(variant):
    return ", ".join(f"{k}={p!r}" for k, p in VARIANTS[variant].items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+",
                        help="name:regime pairs (default: every setting of the study but "
                             "mnist_cnn)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    data_arguments(parser)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--tag", default=None,
                        help="the study's file suffix (default: _s<seeds>, as "
                             "bench_learning_curves.py names them)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--adopt", choices=VARIANTS,
                        help="after the runs, make this variant the study's 'ralif' in "
                             "figures/<setting><tag>.json, dropping its other RALIF columns "
                             "(when RALIFQuery's defaults change to it)")
    parser.add_argument("--section", default="bench_ralif_ablation",
                        help="RESULTS.md section to write")
    parser.add_argument("--decide", nargs="+", default=[], choices=VARIANTS,
                        help="apply the pre-registered rule of benchmarks/_protocol.py to "
                             "these variants against the defaults (the study's ralif)")
    parser.add_argument("--compare", nargs="+", default=[], choices=VARIANTS,
                        help="report these variants' paired differences to the study's ralif "
                             "on --settings, without a decision (for validation settings; "
                             "before --adopt replaces the study's ralif)")
    parser.add_argument("--no-run", action="store_true",
                        help="summarise the kept runs only; a variant is then summarised "
                             "over the settings it has runs for")
    args = parser.parse_args()
    if args.tag is None:
        args.tag = f"_s{args.seeds}"
    if args.adopt and args.adopt not in args.variants:
        parser.error(f"--adopt {args.adopt!r} must be one of --variants")
    settings = args.settings or [s for s in settings_with_results(args.tag)
                                 if not s.startswith("mnist_cnn")]
    per_variant = {v: {} for v in args.variants}
    for setting in settings:
        name, regime = setting.split(":")
        study = ALResults.from_json(FIGURES / f"{name}_{regime}{args.tag}.json")
        if study.seeds != list(range(args.seeds)):
            raise SystemExit(f"{setting}: the study ran seeds {study.seeds}, not "
                             f"{args.seeds}; run bench_learning_curves.py --seeds {args.seeds}")
        runs = variant_runs(name, regime, args.variants, args)
        if args.adopt:
            adopt(FIGURES / f"{name}_{regime}{args.tag}.json",
                  VARIANT_RUNS / f"{name}_{regime}{args.tag}.json", args.adopt)
        for v in args.variants:
            if runs is not None and v in runs.strategies:
                per_variant[v][setting.replace(":", " ")] = with_variant(study, runs, v)
        print(f"{setting} done", flush=True)

    names = [s.replace(":", " ") for s in settings]
    rows, gains = [], []
    for v in [v for v in args.variants if per_variant[v]]:
        row = next(r for r in across_settings(per_variant[v]) if r["strategy"] == v)
        rows.append([v, _params(v),
                     f"{row['mean_rank']:.2f}",
                     f"{100 * row['worst_gain']:+.2f} [{100 * row['worst_low']:+.2f}, "
                     f"{100 * row['worst_high']:+.2f}] ({row['worst_setting']})",
                     f"{row['settings_above']} of {row['n_settings']}",
                     f"{100 * row['mean_gain']:+.2f}"])
        gains.append([v] + [_gain(per_variant[v].get(s), v) for s in names])
    n_other = next(len(r.strategies) for d in per_variant.values() for r in d.values()) - 1
    body = (
        f"{args.seeds} paired seeds per setting, the learning-curve study's nets, splits and "
        f"initial sets. Each variant is ranked among the {n_other} non-RALIF strategies of "
        "every setting (rank 1 is best) as if it were the only RALIF; gains are AULC points "
        "(x100) over random with paired bootstrap 95% intervals over seeds. A variant that "
        "was not run everywhere is summarised over the settings it ran on. Pairing check: "
        "a variant that runs the study's RALIF settings gives the study's curves seed by "
        "seed (`no refit, run here` against the study before RALIFQuery's defaults first "
        "changed, `refit head, soft pool loss` between the two changes), so every variant is "
        "compared on exactly the same initial sets and nets.\n\n"
        + markdown_table(["variant", "RALIFQuery settings", "mean rank", "worst-case gain "
                          "[95% CI] (setting)", "settings with CI > 0", "mean gain"], rows)
        + "\n\nGain over random per setting:\n\n"
        + markdown_table(["variant"] + names, gains))
    if args.compare:
        compared = [s.replace(":", "_") for s in settings]
        comparisons = [_comparison_text(v, args.tag, compared) for v in args.compare]
        print("\n".join(comparisons), flush=True)
        body += ("\n\nEach variant against the study's `ralif` (RALIFQuery's defaults when "
                 "the study ran), paired AULC differences in points with 95% intervals; "
                 "no decision is taken here:\n\n" + "\n".join(comparisons))
    if args.decide:
        decisions = [_decision_text(v, args.tag) for v in args.decide]
        print("\n".join(decisions), flush=True)
        body += ("\n\nThe pre-registered rule (`benchmarks/_protocol.py`), each variant "
                 "against RALIFQuery's defaults (the study's `ralif`), paired AULC "
                 "differences in points (the rule's reasons in AULC units):\n\n"
                 + "\n".join(decisions))
    write_section(args.section, body)


if __name__ == "__main__":
    main()
