"""Peak memory of reading a CNN over an image pool: ``predict_proba`` versus each strategy.

Run as a script (a fresh process, so nothing else inflates its peak):
``python memory_probe.py N_POOL [STRATEGY ...]``. Prints one JSON object mapping
``"predict_proba"`` and each strategy to the rise of peak resident memory (MiB)
during that call over the memory resident just before it. The peak is reset
before each call through ``/proc/self/clear_refs`` (Linux).
"""

import ctypes
import gc
import json
import sys
import warnings

import numpy as np
import torch
from skorch import NeuralNetClassifier

from skralif.strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    RALIFQuery,
    UncertaintyQuery,
)

STRATEGIES = {
    "ralif": lambda: RALIFQuery(random_state=0),
    "ralif_recompute": lambda: RALIFQuery(keep_features=False, random_state=0),
    "entropy": UncertaintyQuery,
    "coreset": CoresetQuery,
    "badge": lambda: BADGEQuery(random_state=0),
    "bald": lambda: BALDQuery(n_samples=2, random_state=0),
}


class CNN(torch.nn.Module):
    """Two 64-channel conv layers on 3x32x32 images, global pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Dropout(0.1),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(64, 10)

    def forward(self, X):
        return self.head(self.body(X))


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def peak_rise(call):
    """MiB by which ``call()`` raises the peak resident memory above the current one."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so RSS is what is live
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak := current
    before = _status("VmRSS")
    call()
    return _status("VmHWM") - before


def main(n_pool, names):
    warnings.simplefilter("ignore")  # an almost untrained net: RALIF warns of exclusions
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    X = rng.randn(n_pool, 3, 32, 32).astype(np.float32)
    y = rng.randint(0, 10, n_pool)
    net = NeuralNetClassifier(CNN, criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                              batch_size=64, train_split=None, verbose=0)
    net.fit(X[:64], y[:64])
    kw = dict(X_labeled=X[:64], y_labeled=y[:64])
    out = {"predict_proba": peak_rise(lambda: net.predict_proba(X))}
    for name in names:
        strategy = STRATEGIES[name]()
        out[name] = peak_rise(lambda s=strategy: s.query(net, X, 10, **kw))
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
