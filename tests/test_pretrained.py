"""Active learning on a pretrained backbone: precomputed embeddings, or a frozen encoder
inside the module (trained head only, one shared encoder, influence on the head)."""

import copy

import pytest
import torch
from sklearn.base import clone
from skorch import NeuralNetClassifier

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif._adapter import HeadView
from skralif.influence import influence_scores
from skralif.nets import FrozenEncoder, default_net
from tests.conftest import MLP, assert_close_to_float32, make_net


@pytest.fixture(scope="module")
def backbone(digits):
    """A small 'pretrained' encoder: the body of an MLP trained on other digits."""
    X, y = digits
    return make_net(MLP, module__hidden=32, max_epochs=30).fit(X[1000:], y[1000:]).module_.body


class Classifier(torch.nn.Module):
    """A frozen encoder followed by a trainable linear head."""

    def __init__(self, encoder=None, n_classes=10, width=32):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.encoder(X))


def _net(backbone, **kw):
    return NeuralNetClassifier(Classifier, module__encoder=FrozenEncoder(backbone),
                               criterion=torch.nn.CrossEntropyLoss, max_epochs=30, lr=0.1,
                               train_split=None, verbose=0, **kw)


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("warm_start", [False, True])
def test_rounds_train_the_head_only_and_share_the_encoder(digits, backbone, warm_start):
    X, y = digits
    before = _weights(backbone)
    clf = ActiveLearningClassifier(_net(backbone), query_strategy=RALIFQuery(),
                                   initial_size=20, query_size=10, n_queries=3,
                                   warm_start=warm_start, random_state=0).fit(X[:800], y[:800])
    module = clf.estimator_.module_
    if not warm_start:  # refits from a clone: no copy of the encoder, however many rounds
        assert module.encoder.encoder is backbone
    # (a warm start continues a deepcopy of the fitted net, which skorch makes by
    # serializing its module: that copy holds an encoder of its own)
    for k, v in _weights(module.encoder.encoder).items():
        torch.testing.assert_close(v, before[k])
    assert not module.encoder.encoder.training
    assert clf.score(X[800:], y[800:]) > 0.5


def test_clone_and_deepcopy_share_the_frozen_encoder(backbone):
    net = _net(backbone)
    assert clone(net).module__encoder is net.module__encoder
    frozen = net.module__encoder
    assert copy.deepcopy(frozen) is frozen
    fitted = net.initialize()
    assert fitted.module_.encoder is frozen
    assert all(not p.requires_grad for p in fitted.module_.encoder.parameters())
    assert all(p.requires_grad for p in fitted.module_.head.parameters())


def test_influence_uses_the_head(digits, backbone):
    X, y = digits
    net = _net(backbone).fit(X[:200], y[:200])
    assert HeadView.from_net(net, X[:2]).name == "head"
    head = influence_scores(net, X[:200], y[:200], X[200:300], damping=1e-2,
                            X_candidates=X[300:340])
    # every trainable parameter is the head's: the torch.func path agrees
    full = influence_scores(net, X[:200], y[:200], X[200:300], damping=1e-2,
                            X_candidates=X[300:340], params="all")
    assert_close_to_float32(head, full)
    assert all(p.dtype == torch.float32 for p in backbone.parameters())  # the float64 copy
    #  of the torch.func path is private, not the shared encoder cast in place


def test_precomputed_embeddings_with_linear_and_mlp_heads(digits, backbone):
    X, y = digits
    with torch.no_grad():
        E = backbone(torch.as_tensor(X)).numpy()
    for hidden in [(), (16,)]:
        clf = ActiveLearningClassifier(default_net(module__hidden_units=hidden, max_epochs=40),
                                       initial_size=20, query_size=10, n_queries=2,
                                       random_state=0).fit(E[:800], y[:800])
        assert clf.X_labeled_.shape == (40, 32)
        assert clf.score(E[800:], y[800:]) > 0.5
