"""The head is found by what the forward pass does, the same way for every user."""

import numpy as np
import pytest
import torch

from skralif.influence import influence_scores
from skralif.strategies import BADGEQuery, CoresetQuery, RALIFQuery
from tests.conftest import make_net

STRATEGIES = [RALIFQuery(random_state=0), BADGEQuery(random_state=0),
              CoresetQuery(random_state=0)]
ids = lambda s: type(s).__name__  # noqa: E731


class AuxAfter(torch.nn.Module):
    """The classifier is defined before an auxiliary projection that the forward skips."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh())
        self.classifier = torch.nn.Linear(16, 10)
        self.projection = torch.nn.Linear(16, 4)

    def forward(self, X):
        return self.classifier(self.body(X))


class AuxRuns(torch.nn.Module):
    """An auxiliary projection of the raw input runs in every pass (kept for a side loss)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh())
        self.classifier = torch.nn.Linear(16, 10)
        self.projection = torch.nn.Linear(64, 8)

    def forward(self, X):
        self.side = self.projection(X)
        return self.classifier(self.body(X))


class Nested(torch.nn.Module):
    """The head sits inside a Sequential inside a ModuleDict, and the module ends in softmax."""

    def __init__(self):
        super().__init__()
        self.parts = torch.nn.ModuleDict({
            "encoder": torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU()),
            "decoder": torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Linear(16, 10),
                                           torch.nn.Softmax(dim=-1)),
        })

    def forward(self, X):
        return self.parts["decoder"](self.parts["encoder"](X))


class Scaled(torch.nn.Module):
    """The output is twice a Linear's output: no Linear is the head."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh())
        self.out = torch.nn.Linear(16, 10)

    def forward(self, X):
        return 2.0 * self.out(self.body(X))


class Twins(torch.nn.Module):
    """Two Linear layers with the same weights and input: either could be the head."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh())
        self.first = torch.nn.Linear(16, 10)
        self.second = torch.nn.Linear(16, 10)

    def forward(self, X):
        h = self.body(X)
        self.second.load_state_dict(self.first.state_dict())
        self.second(h)
        return self.first(h)


def _fit(module, digits, **kw):
    X, y = digits
    return make_net(module, max_epochs=3, **kw).fit(X[:100], y[:100])


@pytest.mark.parametrize("strategy", STRATEGIES, ids=ids)
@pytest.mark.parametrize("module", [AuxAfter, AuxRuns], ids=lambda m: m.__name__)
def test_an_auxiliary_linear_is_not_the_head(digits, module, strategy):
    X, y = digits
    net = _fit(module, digits)
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    found = strategy.query(net, X[100:400], 5, **kw)
    named = strategy.set_params(head="classifier").query(net, X[100:400], 5, **kw)
    strategy.set_params(head=None)
    np.testing.assert_array_equal(found, named)


def test_influence_finds_the_same_head(digits):
    X, y = digits
    net = _fit(AuxRuns, digits)
    found = influence_scores(net, X[:100], y[:100], X[100:200], damping=1e-2)
    named = influence_scores(net, X[:100], y[:100], X[100:200], damping=1e-2,
                             head="classifier")
    np.testing.assert_array_equal(found, named)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=ids)
def test_a_nested_head_behind_a_softmax_is_found(digits, strategy):
    X, y = digits
    net = _fit(Nested, digits, criterion=torch.nn.NLLLoss)
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    found = strategy.query(net, X[100:400], 5, **kw)
    named = strategy.set_params(head="parts.decoder.1").query(net, X[100:400], 5, **kw)
    strategy.set_params(head=None)
    np.testing.assert_array_equal(found, named)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=ids)
def test_no_head_lists_the_candidates_and_the_option(digits, strategy):
    X, y = digits
    net = _fit(Scaled, digits)
    with pytest.raises(ValueError, match=r"Cannot find the net's head.*'out' \(output \(2, 10\), "
                                         r"not the module's output.*strategy's `head=` option"):
        strategy.query(net, X[100:200], 3, X_labeled=X[:100], y_labeled=y[:100])


def test_several_candidates_are_listed(digits):
    X, y = digits
    net = _fit(Twins, digits)
    with pytest.raises(ValueError, match=r"Cannot tell the net's head.*\['first', 'second'\]"):
        RALIFQuery().query(net, X[100:200], 3, X_labeled=X[:100], y_labeled=y[:100])
    picks = RALIFQuery(head="first").query(net, X[100:200], 3, X_labeled=X[:100],
                                          y_labeled=y[:100])
    assert len(picks) == 3


def test_influence_error_names_its_own_options(digits):
    X, y = digits
    net = _fit(Scaled, digits)
    with pytest.raises(ValueError, match=r"with `head=`, or .*`params='all'`") as info:
        influence_scores(net, X[:50], y[:50], X[50:100])
    assert "strategy" not in str(info.value)
