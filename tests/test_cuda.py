"""GPU: everything follows the net's device. Skipped on machines without CUDA."""

import numpy as np
import pytest
import torch

from skralif import RALIFQuery
from skralif.influence import influence_scores
from skralif.strategies import BADGEQuery, CoresetQuery, UncertaintyQuery
from tests.conftest import MLP, make_net

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def nets(digits):
    X, y = digits
    cpu = make_net(MLP, max_epochs=40).fit(X[:200], y[:200])
    gpu = make_net(MLP, max_epochs=40, device="cuda").initialize()
    gpu.module_.load_state_dict({k: v.cuda() for k, v in cpu.module_.state_dict().items()})
    return cpu, gpu


@pytest.mark.parametrize("params", ["head", "all"])
def test_influence_on_gpu_matches_cpu(nets, digits, params):
    X, y = digits
    cpu, gpu = nets
    args = (X[:200], y[:200], X[200:400])
    kw = dict(X_candidates=X[400:450], params=params, damping=0.5)
    np.testing.assert_allclose(influence_scores(gpu, *args, **kw),
                               influence_scores(cpu, *args, **kw), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("strategy", [RALIFQuery(random_state=0), RALIFQuery(method="cg"),
                                      UncertaintyQuery(), CoresetQuery(),
                                      BADGEQuery(random_state=0)], ids=repr)
def test_strategies_on_gpu_match_cpu(nets, digits, strategy):
    X, y = digits
    cpu, gpu = nets
    kw = dict(X_labeled=X[:200], y_labeled=y[:200])
    on_gpu = strategy.query(gpu, X[200:1200], 20, **kw)
    on_cpu = strategy.query(cpu, X[200:1200], 20, **kw)
    assert len(set(on_gpu) & set(on_cpu)) >= 18  # GPU kernels round differently


def test_cnn_query_gpu_memory_follows_predict_proba():
    from tests.scripts.memory_probe import CNN, STRATEGIES

    rng = np.random.RandomState(0)
    X = rng.randn(3000, 3, 32, 32).astype(np.float32)
    y = rng.randint(0, 10, 3000)
    net = make_net(CNN, max_epochs=1, batch_size=64, device="cuda").fit(X[:64], y[:64])
    # (inference batch: the net's batch_size, 64)

    def peak(call):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20

    base = peak(lambda: net.predict_proba(X))
    for name, make in STRATEGIES.items():
        strategy = make()
        used = peak(lambda s=strategy: s.query(net, X, 10, X_labeled=X[:64], y_labeled=y[:64]))
        assert used <= 2 * base + 64, (name, used, base)


def test_binary_net_on_gpu_matches_cpu():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetBinaryClassifier

    from tests.influence.test_binary import Logit

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    cpu = NeuralNetBinaryClassifier(Logit, module__hidden=8, max_epochs=20, lr=0.05,
                                    train_split=None, verbose=0)
    torch.manual_seed(0)
    cpu.fit(X[:200], y[:200].astype(np.float32))
    gpu = NeuralNetBinaryClassifier(Logit, module__hidden=8, device="cuda").initialize()
    gpu.module_.load_state_dict({k: v.cuda() for k, v in cpu.module_.state_dict().items()})
    kw = dict(X_candidates=X[300:360], damping=1e-2)
    np.testing.assert_allclose(influence_scores(gpu, X[:200], y[:200], X[200:300], **kw),
                               influence_scores(cpu, X[:200], y[:200], X[200:300], **kw),
                               rtol=1e-4, atol=1e-6)
    picks = [RALIFQuery(random_state=0).query(net, X[200:], 10, X_labeled=X[:200],
                                              y_labeled=y[:200])
             for net in (gpu, cpu)]
    assert len(set(picks[0]) & set(picks[1])) >= 8
