"""Query time per strategy as a ratio to one ``predict_proba`` pass over the same pool.

MLP table: a 784-512-256-10 MLP (dropout 0.1, so BALD applies) trained briefly on 1,000
labeled rows of synthetic 784-feature data; pools of 1k to 50k rows; query size 100.
``predict_proba`` and the strategies both read 4,096 rows per pass (the net's
``iterator_valid__batch_size``).

CNN table: two 64-channel 3x3 conv layers on 3x32x32 images, global average pooling and a
linear head, inference batch size 128; a pool of ``--cnn-pool`` images. Each cell gives
the time and the *peak extra memory*: on the CPU the rise of the process's peak resident
memory during the call over the memory resident just before it (freed heap is handed back
first, and the peak is reset through ``/proc/self/clear_refs``); on CUDA the rise of
``torch.cuda.max_memory_allocated``.

Every time is the median of ``--repeats`` runs, and every ratio divides two figures
measured in the same run on the same pool.
"""

import argparse
import ctypes
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _report import markdown_table, write_section
from skorch import NeuralNetClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scripts"))
from memory_probe import CNN  # noqa: E402  (bench_memory's CNN: one net for both tables)

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
    # the defaults until 2026-12-05: what the change of score and tau costs, in one run
    "ralif (exact), expected score, tau=4": RALIFQuery(score="influence", tau=4.0,
                                                       random_state=0),
    "ralif (exact), no refit": RALIFQuery(refit_head=False, random_state=0),
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


def images(n, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 10, n)
    X = rng.randn(n, 3, 32, 32).astype(np.float32)
    X[:, 0, :4, :4] += y[:, None, None] * 0.5  # a learnable signal
    return X, y


def _status_mib(key):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise RuntimeError(key)


def peak_extra_mib(fn, device):
    """MiB by which ``fn()`` raises peak memory (host RSS, or CUDA allocations)."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = _status_mib("VmRSS")
    fn()
    return _status_mib("VmHWM") - before


def cnn_table(args):
    X, y = images(args.cnn_pool + 500)
    X_lab, y_lab, X_pool = X[:500], y[:500], X[500:]
    torch.manual_seed(0)
    net = NeuralNetClassifier(CNN, criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.05,
                              batch_size=128, train_split=None, verbose=0,
                              device=args.device).fit(X_lab, y_lab)
    calls = {"predict_proba": lambda: net.predict_proba(X_pool)}
    for name, strategy in STRATEGIES.items():
        calls[name] = (lambda s=strategy: s.query(net, X_pool, args.n, X_labeled=X_lab,
                                                  y_labeled=y_lab))
    rows, base = [], {}
    for name, fn in calls.items():
        fn()  # warm-up (CUDA kernels, allocator)
        seconds = median_time(fn, args.repeats)
        memory = peak_extra_mib(fn, args.device)
        base = base or {"t": seconds, "m": max(memory, 1e-9)}
        rows.append([name, f"{seconds:.3f} s ({seconds / base['t']:.2f}x)",
                     f"{memory:.0f} MiB ({memory / base['m']:.2f}x)"])
        print("cnn", name, rows[-1][1:], flush=True)
    return (f"{args.cnn_pool:,} pool images (3x32x32), 500 labeled, query size {args.n}, "
            "inference batch 128. Ratios are to `predict_proba` on the same pool.\n\n"
            + markdown_table(["strategy", "time", "peak extra memory"], rows))


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="*", default=[1000, 10000, 50000],
                        help="MLP pool sizes (none skips the MLP table)")
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cnn-pool", type=int, default=4800,
                        help="images in the CNN table's pool (0 skips the table)")
    parser.add_argument("--device", default="cpu", help="torch device of the nets")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    suffix = "" if args.device == "cpu" else f" ({args.device}: {_device_name(args.device)})"
    if args.cnn_pool:
        write_section("bench_query_cnn" + suffix, cnn_table(args))
    if not args.pools:
        return
    X_lab, y_lab = data(args.labeled)
    torch.manual_seed(0)
    net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, max_epochs=5, lr=0.05,
                              batch_size=64, iterator_valid__batch_size=4096,
                              train_split=None, verbose=0, device=args.device).fit(X_lab, y_lab)
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
    write_section("bench_query" + suffix, body)


def _device_name(device):
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else device


if __name__ == "__main__":
    main()
