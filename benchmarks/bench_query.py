"""Query time per strategy as a ratio to one ``predict_proba`` pass over the same pool.

A 784-512-256-10 MLP (dropout 0.1, so BALD applies) trained briefly on 1,000 labeled rows
of synthetic 784-feature data; pools of 1k to 50k rows; query size 100. Every time is
the median of ``--repeats`` runs, and every ratio divides two times measured in the same
run on the same pool. ``predict_proba`` and the strategies both use 4,096-row batches.
"""

import argparse
import statistics
import time

import numpy as np
import torch
from _report import markdown_table, write_section
from skorch import NeuralNetClassifier

from skralif.strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    RALIFQuery,
    RandomQuery,
    UncertaintyQuery,
)

STRATEGIES = {
    "ralif (exact)": RALIFQuery(random_state=0),
    "ralif (cg)": RALIFQuery(method="cg", random_state=0),
    "ralif (lissa)": RALIFQuery(method="lissa", random_state=0),
    "ralif, no diversity": RALIFQuery(diversity=False),
    "random": RandomQuery(random_state=0),
    "entropy": UncertaintyQuery(),
    "margin": UncertaintyQuery(measure="margin"),
    "coreset": CoresetQuery(random_state=0),
    "badge": BADGEQuery(random_state=0),
    "bald (20 masks)": BALDQuery(random_state=0),
}


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.1),
            torch.nn.Linear(512, 256), torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(256, 10)

    def forward(self, X):
        return self.head(self.body(X))


def data(n, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(10, 784)
    y = rng.randint(0, 10, n)
    return (centers[y] * 0.3 + rng.randn(n, 784)).astype(np.float32), y


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    X_lab, y_lab = data(args.labeled)
    torch.manual_seed(0)
    net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, max_epochs=5, lr=0.05,
                              batch_size=64, iterator_valid__batch_size=4096,
                              train_split=None, verbose=0).fit(X_lab, y_lab)
    times = {}
    for n_pool in args.pools:
        X_pool = data(n_pool, seed=1)[0]
        base = median_time(lambda X=X_pool: net.predict_proba(X), args.repeats)
        times[n_pool] = {"predict_proba": base}
        for name, strategy in STRATEGIES.items():
            times[n_pool][name] = median_time(
                lambda s=strategy, X=X_pool: s.query(net, X, args.n, X_labeled=X_lab,
                                                     y_labeled=y_lab), args.repeats)
            print(n_pool, name, f"{times[n_pool][name]:.3f}s",
                  f"{times[n_pool][name] / base:.2f}x", flush=True)
    pools = args.pools
    header = ["strategy"] + [f"{p:,} rows" for p in pools]
    if len(pools) > 1:
        header.append(f"time {pools[-1]:,} / {pools[-2]:,}")
    rows = []
    for name in ["predict_proba", *STRATEGIES]:
        cells = [f"{times[p][name]:.3f} s ({times[p][name] / times[p]['predict_proba']:.2f}x)"
                 for p in pools]
        if len(pools) > 1:
            cells.append(f"{times[pools[-1]][name] / times[pools[-2]][name]:.1f}"
                         f" (rows x{pools[-1] / pools[-2]:.0f})")
        rows.append([name, *cells])
    body = (
        f"Query size {args.n}, {args.labeled:,} labeled rows, 784-512-256-10 MLP. Each cell: "
        "median seconds over "
        f"{args.repeats} runs (ratio to one `predict_proba` pass over the same pool).\n\n"
        + markdown_table(header, rows)
    )
    write_section("bench_query", body)


if __name__ == "__main__":
    main()
