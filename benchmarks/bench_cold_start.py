"""Cold start from zero labels: the first batch by TypiClust, ProbCover or at random, then RALIF.

On digits and MNIST-t10k (MLPs, the nets of ``bench_learning_curves``), nothing is
labeled at the start: the initial strategy picks the first batch without any label or
model, then RALIF queries every round. Compared first batches: a plain random draw (the
baseline), TypiClust, ProbCover, and the stratified draw the simulations use by default
(it peeks at the oracle's labels, so it is a reference no real project can reach). One
more row keeps TypiClust for every round, to show what switching to RALIF after the
first batch buys. Paired seeds: same net initialisation per seed. Writes its section of
``benchmarks/RESULTS.md``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_learning_curves import SETTINGS, split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif.evaluation import ALResults, run_experiment
from skralif.nets import default_net
from skralif.strategies import ProbCoverQuery, RandomQuery, TypiClustQuery

#: dataset -> labels per batch (the first batch included)
BATCH = {"digits": 10, "mnist": 20}

#: name -> (initial strategy, query strategy)
RUNS = {
    "random -> ralif": (RandomQuery(), "ralif"),
    "typiclust -> ralif": (TypiClustQuery(), "ralif"),
    "probcover -> ralif": (ProbCoverQuery(), "ralif"),
    "stratified (peeks) -> ralif": (None, "ralif"),
    "typiclust throughout": (TypiClustQuery(), "typiclust"),
}


def run_dataset(name, args):
    test_rows, net_params, scale, _ = SETTINGS[name]
    X_tr, X_te, y_tr, y_te = split(name, args.mnist, test_rows)
    net = default_net(batch_size=64, **net_params)
    estimator = make_pipeline(StandardScaler(), net) if scale else net
    batch, curves = BATCH[name], []
    for label, (initial, strategy) in RUNS.items():
        start = time.perf_counter()
        res = run_experiment(estimator, [strategy], X_tr, y_tr, X_te, y_te,
                             initial_size=batch, query_size=batch, n_rounds=args.rounds,
                             seeds=range(args.seeds), initial_strategy=initial,
                             n_jobs=args.n_jobs)
        print(f"{name} {label}: {time.perf_counter() - start:.0f} s", flush=True)
        curves.append(res.accuracy[0])
    return ALResults(list(RUNS), res.seeds, res.n_labeled, np.stack(curves),
                     dict(res.settings, dataset=name))


def table(res):
    aulc = res.aulc()
    base = list(RUNS).index("random -> ralif")
    rows = []
    for i, name in enumerate(res.strategies):
        first = res.accuracy[i, :, 0]
        rows.append([name, f"{first.mean():.4f} ± {first.std():.4f}",
                     f"{np.mean(first > res.accuracy[base, :, 0]):.0%}" if i != base else "-",
                     f"{aulc[i].mean():.4f} ± {aulc[i].std():.4f}",
                     f"{np.mean(aulc[i] >= aulc[base]):.0%}" if i != base else "-"])
    return markdown_table(["first batch", "accuracy after it", "beats random's (seeds)",
                           "AULC", "AULC >= random's (seeds)"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(BATCH), choices=list(BATCH))
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2]
                                                / "shared" / "data" / "mnist-t10k"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = []
    for name in args.datasets:
        start = time.perf_counter()
        res = run_dataset(name, args)
        batch = BATCH[name]
        sections.append(f"#### {name}: {batch} + {args.rounds} x {batch} labels from zero "
                        f"({time.perf_counter() - start:.0f} s)\n\n{table(res)}")
    body = (
        f"{args.seeds} paired seeds, {args.rounds} RALIF rounds after the first batch; "
        "MLPs of bench_learning_curves retrained from scratch each round. *accuracy after "
        "it*: test accuracy of the model trained on the first batch alone; *AULC*: mean "
        "test accuracy over the whole budget. Seed columns count seeds whose figure beats "
        "(first batch) or matches (AULC) the random first batch's for the same seed. "
        "ProbCover and TypiClust see the rows as the net does (digits: standardised).\n\n"
        + "\n\n".join(sections))
    write_section("bench_cold_start", body)


if __name__ == "__main__":
    main()
