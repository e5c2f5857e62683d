"""A query holds no more activations than the net's own ``predict_proba``.

Measured in a fresh process (``tests/scripts/memory_probe.py``): the rise of
peak resident memory during ``net.predict_proba(X)`` and during each
strategy's query of the same net over the same pool (a CNN over 1,200 images,
an MLP over 20,000 rows). Not timed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).parent / "scripts" / "memory_probe.py"
STRATEGIES = ["ralif", "ralif_recompute", "entropy", "coreset", "badge", "bald"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                    reason="peak-memory reset needs Linux's /proc/self/clear_refs")
@pytest.mark.parametrize("kind, n_pool", [("cnn", 1200), ("mlp", 20000)])
def test_query_memory_follows_predict_proba(kind, n_pool):
    # freed blocks of 1 MiB and more go back to the system: RSS is live memory
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    done = subprocess.run([sys.executable, str(PROBE), kind, str(n_pool), *STRATEGIES],
                          capture_output=True, text=True, timeout=300, check=True, env=env)
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    hessian = peaks.pop("hessian")
    bound = 2 * peaks["predict_proba"] + 64  # MiB: twice the net's own, plus a constant
    # RALIF's exact solve adds a constant of the head, not of the pool: H and its factor
    over = {k: round(v) for k, v in peaks.items()
            if v > bound + (2 * hessian if k.startswith("ralif") else 0)}
    assert not over, f"peak memory above {bound:.0f} MiB (+{2 * hessian:.0f} MiB for " \
                     f"RALIF's Hessian): {over} (all: {peaks})"
