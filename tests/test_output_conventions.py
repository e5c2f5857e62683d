"""Nets as users write them (issue 25, item 4): a module ending in ``log_softmax`` trained
with ``CrossEntropyLoss``, and a module returning a tuple whose first element is the output
(skorch's convention), give the same RALIF, BADGE and influence scores as the equivalent
logits net; ``log_softmax`` with ``NLLLoss`` is refused with the fix named."""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from skralif.influence import influence_scores
from skralif.strategies import BADGEQuery, RALIFQuery


class Net(torch.nn.Module):
    def __init__(self, final="logits", tuple_out=False):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 24), torch.nn.Tanh())
        self.head = torch.nn.Linear(24, 10)
        self.final, self.tuple_out = final, tuple_out

    def forward(self, X):
        z = self.head(self.body(X))
        if self.final == "log_softmax":
            z = torch.log_softmax(z, dim=-1)
        elif self.final == "softmax":
            z = torch.softmax(z, dim=-1)
        return (z, self.body(X).detach()) if self.tuple_out else z


class TupleNet(NeuralNetClassifier):
    """A user's net for a module returning ``(output, extra)``: the loss reads the output."""

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        if isinstance(y_pred, tuple):
            y_pred = y_pred[0]
        return super().get_loss(y_pred, y_true, *args, **kwargs)


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:80], y[:80], X[80:200], y[80:200]


@pytest.fixture(scope="module")
def reference(data):
    X, y, _, _ = data
    torch.manual_seed(0)
    net = NeuralNetClassifier(Net, criterion=torch.nn.CrossEntropyLoss, max_epochs=15, lr=0.2,
                              train_split=None, verbose=0).fit(X, y)
    return net


def same_weights(reference, final, tuple_out, criterion=torch.nn.CrossEntropyLoss):
    """A net of another output convention holding ``reference``'s weights."""
    cls = TupleNet if tuple_out else NeuralNetClassifier
    net = cls(Net, module__final=final, module__tuple_out=tuple_out, criterion=criterion,
              train_split=None, verbose=0).initialize()
    net.module_.load_state_dict(reference.module_.state_dict())
    return net


def scores(net, data):
    X, y, X_pool, y_pool = data
    ralif = RALIFQuery(random_state=0).score_samples(net, X_pool, X_labeled=X, y_labeled=y)
    badge = BADGEQuery(random_state=0).query(net, X_pool, 10, X_labeled=X, y_labeled=y)
    head = influence_scores(net, X, y, X_pool[:30], y_pool[:30], damping=0.01)
    every = influence_scores(net, X[:40], y[:40], X_pool[:10], y_pool[:10], params="all",
                             damping=0.1)
    # the Gauss-Newton matrix linearises the output: log_softmax's Jacobian (I - 1 p^T)
    # meets a loss Hessian that annihilates 1, so it is the logits net's matrix
    gauss_newton = influence_scores(net, X[:40], y[:40], X_pool[:10], y_pool[:10],
                                    params="all", damping=0.01, curvature="gauss-newton")
    return ralif, badge, head, every, gauss_newton


@pytest.mark.parametrize("final, tuple_out", [("log_softmax", False), ("logits", True),
                                              ("log_softmax", True)])
def test_conventions_give_the_logits_nets_scores(reference, data, final, tuple_out):
    expected = scores(reference, data)
    got = scores(same_weights(reference, final, tuple_out), data)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-5)  # RALIF
    np.testing.assert_array_equal(got[1], expected[1])  # BADGE's picks
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-5, atol=1e-5)  # head influence
    np.testing.assert_allclose(got[3], expected[3], rtol=1e-4, atol=1e-5)  # all parameters
    np.testing.assert_allclose(got[4], expected[4], rtol=1e-4, atol=1e-5)  # Gauss-Newton


def test_tuple_of_probabilities_with_nllloss(reference, data):
    """skorch's default criterion, a softmax module returning a tuple."""
    X, y, X_pool, _ = data
    softmax = same_weights(reference, "softmax", False, torch.nn.NLLLoss)
    paired = same_weights(reference, "softmax", True, torch.nn.NLLLoss)
    np.testing.assert_allclose(
        RALIFQuery(random_state=0).score_samples(paired, X_pool, X_labeled=X, y_labeled=y),
        RALIFQuery(random_state=0).score_samples(softmax, X_pool, X_labeled=X, y_labeled=y),
        rtol=1e-5, atol=1e-5)


def test_log_softmax_with_nllloss_names_the_fix(reference, data):
    X, y, X_pool, _ = data
    wrong = same_weights(reference, "log_softmax", False, torch.nn.NLLLoss)
    with pytest.raises(ValueError, match="criterion=torch.nn.CrossEntropyLoss") as err:
        RALIFQuery(random_state=0).score_samples(wrong, X_pool, X_labeled=X, y_labeled=y)
    assert "head=" not in str(err.value)
