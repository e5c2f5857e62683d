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
