"""Forward passes follow the net's own inference batch size unless told otherwise."""

import pytest
import torch

from skralif.influence import influence_scores
from skralif.strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    RALIFQuery,
    UncertaintyQuery,
)
from tests.conftest import MLP, assert_close_to_float32, make_net

SEEN: list = []


class Recorder(MLP):
    """The test MLP, noting the number of rows of every forward pass."""

    def forward(self, X):
        SEEN.append(len(X))
        return super().forward(X)


def _strategies(**kw):
    return [RALIFQuery(random_state=0, **kw), RALIFQuery(keep_features=False, **kw),
            UncertaintyQuery(**kw), CoresetQuery(**kw), BADGEQuery(random_state=0, **kw),
            BALDQuery(n_samples=2, random_state=0, **kw)]


def _passes(net, strategy, X, y):
    SEEN.clear()
    strategy.query(net, X[200:700], 10, X_labeled=X[:200], y_labeled=y[:200])
    return list(SEEN)


@pytest.mark.parametrize("net_kw, expected", [
    (dict(batch_size=16), 16),
    (dict(batch_size=64, iterator_valid__batch_size=8), 8),
])
@pytest.mark.parametrize("index", range(6))
def test_strategies_read_the_net_in_its_own_batches(digits, net_kw, expected, index):
    X, y = digits
    net = make_net(Recorder, module__dropout=0.1, max_epochs=2, **net_kw).fit(X[:200], y[:200])
    seen = _passes(net, _strategies()[index], X, y)
    assert seen and max(seen) == expected


@pytest.mark.parametrize("index", range(6))
def test_batch_size_option_overrides_the_net(digits, index):
    X, y = digits
    net = make_net(Recorder, module__dropout=0.1, max_epochs=2, batch_size=16).fit(
        X[:200], y[:200])
    seen = _passes(net, _strategies(batch_size=40)[index], X, y)
    assert max(seen) == 40


def test_minus_one_reads_the_whole_pool_at_once(digits):
    X, y = digits
    net = make_net(Recorder, max_epochs=2, batch_size=32,
                   iterator_valid__batch_size=-1).fit(X[:200], y[:200])
    seen = _passes(net, UncertaintyQuery(), X, y)
    assert seen == [500]


def test_influence_scores_follow_the_net_batch_size(digits):
    X, y = digits
    net = make_net(Recorder, max_epochs=2, iterator_valid__batch_size=24).fit(X[:200], y[:200])
    SEEN.clear()
    influence_scores(net, X[:100], y[:100], X[100:200], damping=1e-2)
    assert max(SEEN) == 24


def test_scores_do_not_depend_on_the_batch_size(mlp_net, digits):
    X, y = digits
    kw = dict(X_labeled=X[:300], y_labeled=y[:300])
    small = RALIFQuery(batch_size=7).score_samples(mlp_net, X[300:900], **kw)
    large = RALIFQuery(batch_size=600).score_samples(mlp_net, X[300:900], **kw)
    assert_close_to_float32(small, large)


def test_a_bad_net_batch_size_is_named(digits):
    X, y = digits
    net = make_net(torch.nn.Linear, module__in_features=64, module__out_features=10,
                   max_epochs=1, iterator_valid__batch_size=0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"`iterator_valid__batch_size`.*got 0.*`batch_size=`"):
        UncertaintyQuery().query(net, X[100:200], 3)
