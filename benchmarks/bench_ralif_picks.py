"""What RALIF's first query picks, against margin's and random's, on the MLP and the CNN.

Issue 25's cause analysis: on the benchmark CNN RALIF trails margin sampling, on the MLPs
it leads. This script looks at the first query of the learning-curve study (same splits,
nets, initial sets and seeds as ``bench_learning_curves.py``, development settings only)
and reports, per setting, means over seeds:

- how far RALIF's score agrees with uncertainty: the Spearman correlation, over the rows
  it scores, of ``RALIFQuery.score_samples`` with minus the margin (top probability minus
  the second);
- the candidate set (the 10% of the pool with the best score, the rows the diversity step
  draws from): its median margin and its overlap with margin's own top 10%;
- each strategy's picks: the share the net misclassifies (the labels that correct it) and
  their median margin.

    python benchmarks/bench_ralif_picks.py --seeds 5 --threads 2
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_learning_curves import prepare
from scipy.stats import spearmanr

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.strategies import RandomQuery, UncertaintyQuery

SETTINGS = ["mnist:cold", "mnist:warm", "mnist_cnn:cold", "mnist_cnn:warm"]


def round_zero(name, regime, seed, args):
    """The study's learner of one seed fitted on its initial rows, before any query (as
    ``run_experiment`` builds it), with the setting's data and arguments."""
    net, data, kw = prepare(name, regime, args)
    learner = ActiveLearningClassifier(net(), RALIFQuery(random_state=seed),
                                       initial_size=kw["initial_size"],
                                       query_size=kw["query_size"], n_queries=1,
                                       initial_strategy=kw["initial_strategy"],
                                       random_state=seed)
    next(learner.fit_iter(*data[:2]))
    return learner, data, kw


def first_query(name, regime, seed, args):
    """The pool's RALIF scores, margins and misclassified rows at the study's round 0 of
    one seed, and the first query's picks of RALIF, margin and random."""
    learner, (X, y, _, _), kw = round_zero(name, regime, seed, args)
    pool = learner.labeled_iter_ == -1
    X_pool, y_pool = X[pool], y[pool]
    proba = learner.predict_proba(X_pool)
    top = np.sort(proba, axis=1)
    margin = top[:, -1] - top[:, -2]
    wrong = learner.classes_[proba.argmax(1)] != y_pool
    labeled = dict(X_labeled=learner.X_labeled_, y_labeled=learner.y_labeled_)
    score = learner.query_strategy_.score_samples(learner.estimator_, X_pool, **labeled)
    n = kw["query_size"]
    picks = {"ralif": learner.query(X_pool, n)}
    for strategy, q in (("margin", UncertaintyQuery("margin")),
                        ("random", RandomQuery(random_state=seed))):
        picks[strategy] = q.query(learner.estimator_, X_pool, n, **labeled)
    return score, margin, wrong, picks


def measure(setting, args):
    name, regime = setting.split(":")
    rows = []
    for seed in range(args.seeds):
        score, margin, wrong, picks = first_query(name, regime, seed, args)
        scored = ~np.isnan(score)
        size = int(np.ceil(0.1 * len(score)))
        candidates = np.argsort(-np.where(scored, score, -np.inf), kind="stable")[:size]
        by_margin = np.argsort(margin, kind="stable")[:size]
        rows.append(dict(
            rho=spearmanr(score[scored], -margin[scored])[0],
            cand_margin=np.median(margin[candidates]),
            overlap=len(np.intersect1d(candidates, by_margin)) / size,
            **{f"{s}_error": wrong[p].mean() for s, p in picks.items()},
            **{f"{s}_margin": np.median(margin[p]) for s, p in picks.items()}))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=SETTINGS)
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2]
                                                / "shared" / "data" / "mnist-t10k"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--section", default="bench_ralif_picks")
    args = parser.parse_args()
    args.usps = args.ag_news = None
    args.rounds, args.n_jobs = 1, 1
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    table = []
    for setting in args.settings:
        m = measure(setting, args)
        table.append([setting.replace(":", " "), f"{m['rho']:+.2f}", f"{m['cand_margin']:.2f}",
                      f"{m['overlap']:.2f}"]
                     + [f"{m[f'{s}_error']:.2f} / {m[f'{s}_margin']:.2f}"
                        for s in ("ralif", "margin", "random")])
        print(table[-1], flush=True)
    body = (
        f"The first query of the learning-curve study's development settings (its nets, "
        f"splits and initial sets), means over {args.seeds} seeds; {args.threads} torch "
        f"threads, {time.perf_counter() - start:.0f} s. Spearman: RALIF's score against "
        "minus the margin (top probability minus the second) over the rows it scores. "
        "Candidates: the 10% of the pool with RALIF's best scores, the set its diversity step "
        "draws from. Picks: the share the net misclassifies / their median margin.\n\n"
        + markdown_table(["setting", "Spearman(score, -margin)", "candidates' median margin",
                          "candidates in margin's top 10%", "RALIF picks", "margin picks",
                          "random picks"], table))
    write_section(args.section, body)


if __name__ == "__main__":
    main()
