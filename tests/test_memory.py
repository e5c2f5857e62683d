"""A query holds no more activations than the net's own ``predict_proba``.

Measured in a fresh process (``tests/scripts/memory_probe.py``): the rise of
peak resident memory during ``net.predict_proba(X)`` and during each
strategy's query of the same CNN over the same 1,200-image pool. Not timed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).parent / "scripts" / "memory_probe.py"
STRATEGIES = ["ralif", "ralif_recompute", "entropy", "coreset", "badge", "bald"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                    reason="peak-memory reset needs Linux's /proc/self/clear_refs")
def test_cnn_query_memory_follows_predict_proba():
    done = subprocess.run([sys.executable, str(PROBE), "1200", *STRATEGIES],
                          capture_output=True, text=True, timeout=300, check=True)
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    bound = 2 * peaks["predict_proba"] + 64  # MiB: twice the net's own, plus a constant
    over = {k: round(v) for k, v in peaks.items() if v > bound}
    assert not over, f"peak memory above {bound:.0f} MiB: {over} (all: {peaks})"
