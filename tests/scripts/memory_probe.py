"""Peak memory of reading a net over a pool: ``predict_proba`` versus each strategy.

Run as a script (a fresh process, so nothing else inflates its peak):
``python memory_probe.py {cnn,cnn16,mlp,default} N_POOL [STRATEGY ...]``: a CNN over
3x32x32 images (inference batch 64), a small CNN over 1x16x16 images (USPS's shape;
inference batch 1,024), a 784-512-256-10 MLP (inference batch 4,096), or skralif's
default net on 64 features (inference batch 4,096). Prints one JSON object mapping
``"predict_proba"`` and each strategy to the rise of peak resident memory (MiB)
during that call over the memory resident just before it, and ``"hessian"`` to
the size (MiB) of RALIF's dense float64 head Hessian, a constant of the net. The
peak is reset before each call through ``/proc/self/clear_refs`` (Linux). Run it
with ``MALLOC_MMAP_THRESHOLD_=1048576`` to measure live memory: glibc otherwise
serves freed multi-MiB blocks from its heap and keeps them resident.
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
    "ralif_keep": lambda: RALIFQuery(keep_features=True, random_state=0),
    "entropy": UncertaintyQuery,
    "coreset": CoresetQuery,
    "badge": lambda: BADGEQuery(random_state=0),
    "coreset_capped": lambda: CoresetQuery(max_candidates=20_000, random_state=0),
    "badge_capped": lambda: BADGEQuery(max_candidates=20_000, random_state=0),
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


class CNN16(torch.nn.Module):
    """A 16- and a 32-channel conv layer on 1x16x16 images, pooling, a linear head: a net
    small enough to read a million images on two cores."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Dropout(0.1),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(32, 10)

    def forward(self, X):
        return self.head(self.body(X))


class MLP(torch.nn.Module):
    """784-512-256 ReLU MLP (dropout 0.1) and a linear head."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.1),
            torch.nn.Linear(512, 256), torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(256, 10)

    def forward(self, X):
        return self.head(self.body(X))


def _default_mlp():
    """skralif's default net's module (one hidden layer of 128) on 64 features."""
    from skralif.nets import MLPModule

    return MLPModule(in_features=64, n_classes=10)


#: net kind -> (module, row shape, training and inference batch sizes)
NETS = {"cnn": (CNN, (3, 32, 32), 64, 64), "cnn16": (CNN16, (1, 16, 16), 32, 1024),
        "mlp": (MLP, (784,), 64, 4096),
        "default": (_default_mlp, (64,), 32, 4096)}


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


def main(kind, n_pool, names):
    warnings.simplefilter("ignore")  # an almost untrained net: RALIF warns of exclusions
    torch.set_num_threads(2)
    torch.manual_seed(0)
    module, shape, train_batch, infer_batch = NETS[kind]
    rng = np.random.RandomState(0)
    X = rng.randn(n_pool, *shape).astype(np.float32)
    y = rng.randint(0, 10, n_pool)
    net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                              batch_size=train_batch, iterator_valid__batch_size=infer_batch,
                              train_split=None, verbose=0)
    net.fit(X[:64], y[:64])
    kw = dict(X_labeled=X[:64], y_labeled=y[:64])
    head = net.module_.head
    side = (head.in_features + 1) * head.out_features  # RALIF's exact Hessian: side x side
    out = {"hessian": side * side * 8 / 2**20,
           "predict_proba": peak_rise(lambda: net.predict_proba(X))}
    for name in names:
        strategy = STRATEGIES[name]()
        out[name] = peak_rise(lambda s=strategy: s.query(net, X, 10, **kw))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
