"""Peak extra memory of each strategy against ``predict_proba``, on pools of an MLP and a CNN.

Each net and pool size runs ``tests/scripts/memory_probe.py`` (the probe
``tests/test_memory.py`` uses) in a fresh process with ``MALLOC_MMAP_THRESHOLD_=1048576``,
so resident memory is live memory: skralif's default net on 64 features (inference batch
4,096) and a small CNN on 1x16x16 images (``cnn16``: 16 and 32 channels, inference batch
1,024), each trained one epoch on 64 rows, ``predict_proba`` and each strategy's 10-row
query over the same pool, every figure the rise of the process's peak resident memory
during the call. The goal of
issue 26: at most twice ``predict_proba``'s plus 64 MiB. Core-set and BADGE hold the
pool's features by nature (``4 d`` bytes a row) and are measured whole and with
``max_candidates=20_000``; RALIF with its default ``keep_features="auto"``, and with
``True`` and ``False``.
Writes its section of ``benchmarks/RESULTS.md``.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _report import markdown_table, write_section

PROBE = Path(__file__).resolve().parents[1] / "tests" / "scripts" / "memory_probe.py"
STRATEGIES = ["ralif", "ralif_keep", "ralif_recompute", "entropy", "coreset",
              "coreset_capped", "badge", "badge_capped"]
NAMES = {"ralif": "ralif (default: keep_features=\"auto\")",
         "ralif_keep": "ralif (keep_features=True)",
         "ralif_recompute": "ralif (keep_features=False)",
         "coreset_capped": "coreset (max_candidates=20,000)",
         "badge_capped": "badge (max_candidates=20,000)"}
NETS = {"default": "MLP", "cnn16": "CNN"}  # probe's net kind -> its name in the table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    args = parser.parse_args()
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    rows, start = [], time.perf_counter()
    for net in args.nets:
        for n in args.sizes:
            done = subprocess.run([sys.executable, str(PROBE), net, str(n), *STRATEGIES],
                                  capture_output=True, text=True, check=True, env=env)
            peaks = json.loads(done.stdout.strip().splitlines()[-1])
            bound = 2 * peaks["predict_proba"] + 64
            rows.append([NETS[net], f"{n:,}", "predict_proba",
                         f"{peaks['predict_proba']:.0f} MiB", ""])
            for name in STRATEGIES:
                rows.append([NETS[net], f"{n:,}", NAMES.get(name, name),
                             f"{peaks[name]:.0f} MiB",
                             "yes" if peaks[name] <= bound else f"no (bound {bound:.0f} MiB)"])
            print(rows[-len(STRATEGIES) - 1:], flush=True)
    write_section("bench_memory", (
        "skralif's default MLP (64 features, hidden 128, 10 classes) and a small CNN "
        "(1x16x16 images, conv 16 and 32 channels, a 32-feature head), 64 labeled rows, "
        "queries of 10 rows, one fresh process per net and pool size, torch 2 threads. "
        "*Within goal*: at most twice `predict_proba`'s peak extra memory plus 64 MiB. "
        f"Total time {time.perf_counter() - start:.0f} s.\n\n"
        + markdown_table(["net", "pool rows", "call", "peak extra memory", "within goal"],
                         rows)))


if __name__ == "__main__":
    main()
