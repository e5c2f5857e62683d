"""Query time and peak memory for pools of 10k to 1M rows: in memory vs a 2-worker Dask cluster.

A 64-64-10 MLP (encoder width d=64) on synthetic 64-feature float32 data, 1,000 labeled
rows, query size 100. ``ralif`` is the default (``keep_features="auto"``: the pool's
features kept up to 64 MiB), ``ralif-keep`` always keeps them (the default before),
``ralif-lowmem`` never does. Every measurement runs in a fresh subprocess: *peak extra memory* is
the process's peak resident set size during the query minus its resident set size just
before it (so the pool array itself, created before, is not counted). In the Dask runs the
pool is generated lazily on the workers and only the client's memory is measured.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from _report import markdown_table, write_section

D_IN, N_LABELED, QUERY = 64, 1000, 100


def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_net(device="cpu"):
    import torch
    from skorch import NeuralNetClassifier

    from skralif.nets import MLPModule

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, D_IN), dtype=np.float32)
    y = rng.integers(0, 10, N_LABELED)
    X = centers[y] + rng.standard_normal((N_LABELED, D_IN), dtype=np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(MLPModule, module__in_features=D_IN, module__n_classes=10,
                              module__hidden_units=(64,), criterion=torch.nn.CrossEntropyLoss,
                              max_epochs=5, train_split=None, verbose=0,
                              iterator_valid__batch_size=4096, device=device)
    return net.fit(X, y), X, y, centers


def one(mode, n_pool, strategy_name, device):
    """Run one measurement and print it as JSON (called in a subprocess)."""
    import torch

    from skralif.evaluation import make_strategy
    from skralif.strategies import RALIFQuery

    net, X_lab, y_lab, centers = make_net(device)
    # ralif-keep: the features always kept (the default before keep_features="auto")
    strategy = (RALIFQuery(keep_features=True) if strategy_name == "ralif-keep"
                else make_strategy(strategy_name))
    if "random_state" in strategy.get_params():
        strategy.set_params(random_state=0)
    if mode == "memory":
        rng = np.random.default_rng(1)
        pool = np.empty((n_pool, D_IN), dtype=np.float32)
        for start in range(0, n_pool, 2**16):  # built in chunks: no float64 copy
            stop = min(start + 2**16, n_pool)
            pool[start:stop] = rng.standard_normal((stop - start, D_IN), dtype=np.float32)
            pool[start:stop] += centers[rng.integers(0, 10, stop - start)]
        client = None
    else:
        import dask.array as da
        import distributed

        client = distributed.Client(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=None, host="127.0.0.1")
        pool = da.random.default_rng(1).standard_normal((n_pool, D_IN), chunks=(2**16, D_IN))
        pool = pool.astype(np.float32)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        gpu_before = torch.cuda.memory_allocated()
    before = rss_mib()
    start = time.perf_counter()
    picks = strategy.query(net, pool, QUERY, X_labeled=X_lab, y_labeled=y_lab)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    extra = max(peak_mib() - before, 0.0)
    gpu_extra = (torch.cuda.max_memory_allocated() - gpu_before) / 2**20 if cuda else 0.0
    if client is not None:
        client.close()
    pool_mib = n_pool * D_IN * 4 / 2**20
    print(json.dumps(dict(mode=mode, n=n_pool, strategy=strategy_name, seconds=seconds,
                          extra_mib=extra, gpu_extra_mib=gpu_extra, pool_mib=pool_mib,
                          picks=len(set(picks)))))


def measure(mode, n_pool, strategy, device):
    # glibc hands large blocks back at once (as bench_memory does): without it, freed
    # chunks of earlier passes stay resident and the peak varies 4x between identical runs
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    out = subprocess.run([sys.executable, __file__, "--one", mode, str(n_pool), strategy, device],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--strategies", nargs="+",
                        default=["ralif", "ralif-keep", "ralif-lowmem", "entropy"])
    parser.add_argument("--modes", nargs="+", default=["memory", "dask"])
    parser.add_argument("--device", default="cpu", help="torch device of the net")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(args.one[0], int(args.one[1]), args.one[2], args.one[3])
    cuda = args.device.startswith("cuda")
    rows = []
    for strategy in args.strategies:
        for mode in args.modes:
            for n_pool in args.pools:
                r = measure(mode, n_pool, strategy, args.device)
                rows.append([strategy, mode, f"{n_pool:,}", f"{r['seconds']:.2f}",
                             f"{r['seconds'] / n_pool * 1e6:.2f}", f"{r['pool_mib']:.0f}",
                             f"{r['extra_mib']:.0f}"]
                            + ([f"{r['gpu_extra_mib']:.0f}"] if cuda else []))
                print(rows[-1], flush=True)
    body = (f"Query of {QUERY} rows, {N_LABELED:,} labeled rows, 64-64-10 MLP, float32 pool of "
            f"{D_IN} features. *Extra peak*: peak resident memory during the query minus "
            "resident memory before it (client process only for Dask; the Dask pool is "
            "generated on the 2 workers, so it is never in the client).\n\n"
            + markdown_table(["strategy", "pool", "rows", "seconds", "us per row",
                              "pool array (MiB)", "extra peak (MiB)"]
                             + (["GPU extra peak (MiB)"] if cuda else []), rows))
    name = "bench_scale"
    if cuda:
        import torch

        name += f" ({args.device}: {torch.cuda.get_device_name(args.device)})"
    write_section(name, body)


if __name__ == "__main__":
    main()
