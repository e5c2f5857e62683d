"""A learner whose call raises, Ctrl-C included, is exactly as it was before the call."""

import pickle

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EarlyStopping

from skralif import ActiveLearningClassifier
from skralif.nets import default_net
from skralif.strategies import RandomQuery


class RaiseAtEpoch(Callback):
    """Raises ``RaiseAtEpoch.error`` in the 5th epoch of a fit while ``RaiseAtEpoch.error``
    is set (a class attribute, so that arming it changes no parameter of the learner)."""

    error = None

    def on_train_begin(self, net, **kwargs):
        self.start_ = len(net.history)

    def on_epoch_end(self, net, **kwargs):
        if RaiseAtEpoch.error is not None and len(net.history) - self.start_ >= 5:
            raise RaiseAtEpoch.error("raised by the test callback")


@pytest.fixture(autouse=True)
def disarm():
    RaiseAtEpoch.error = None
    yield
    RaiseAtEpoch.error = None


def snapshot(clf, X_probe):
    """Everything the brief says a failed call leaves unchanged."""
    return dict(
        X_labeled=clf.X_labeled_.copy(), y_labeled=clf.y_labeled_.copy(),
        X_pool=clf.X_pool_.copy(), labeled_iter=clf.labeled_iter_.copy(),
        classes=clf.classes_.copy(), n_features=clf.n_features_in_, n_iter=clf.n_iter_,
        history=len(clf.history_), proba=clf.predict_proba(X_probe),
        weights=[p.detach().clone() for p in clf.estimator_.module_.parameters()],
        net_history=len(clf.estimator_.history_), pickled=len(pickle.dumps(clf)),
    )


def assert_unchanged(before, clf, X_probe):
    after = snapshot(clf, X_probe)
    for key, value in before.items():
        if key == "weights":
            for a, b in zip(value, after[key], strict=True):
                assert torch.equal(a, b), key
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key], err_msg=key)
        else:
            assert value == after[key], key


@pytest.fixture
def session(digits):
    X, y = digits
    y_known = np.full(600, -1)
    y_known[:40] = y[:40]
    net = default_net(max_epochs=8, callbacks=[("fault", RaiseAtEpoch())])
    return X[:600], y[:600], y_known, net


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_teach_whose_refit_raises_changes_nothing(session, warm_start, error):
    X, y, y_known, net = session
    clf = ActiveLearningClassifier(net, RandomQuery(random_state=0), warm_start=warm_start,
                                   random_state=0).fit(X, y_known)
    before = snapshot(clf, X[:50])
    RaiseAtEpoch.error = error
    with pytest.raises(error):
        clf.teach(clf.X_pool_[:10], y[40:50])
    assert_unchanged(before, clf, X[:50])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("n_queries", [0, 2])
def test_refit_that_raises_changes_nothing(session, error, n_queries):
    X, y, y_known, net = session
    clf = ActiveLearningClassifier(net, RandomQuery(random_state=0), random_state=0,
                                   initial_size=30, query_size=10).fit(X, y_known)
    before = snapshot(clf, X[:50])
    clf.set_params(n_queries=n_queries)
    before["pickled"] = len(pickle.dumps(clf))
    RaiseAtEpoch.error = error
    with pytest.raises(error):
        clf.fit(X, y if n_queries else y_known)
    assert_unchanged(before, clf, X[:50])
    with pytest.raises(error):
        for _ in clf.fit_iter(X, y if n_queries else y_known):
            pass
    assert_unchanged(before, clf, X[:50])


def test_rejected_refit_keeps_the_old_model_usable(session):
    X, y, y_known, net = session
    clf = ActiveLearningClassifier(net, RandomQuery(), random_state=0).fit(X, y_known)
    before = snapshot(clf, X[:50])
    wider = np.hstack([X, X[:, :1]])
    with pytest.raises(ValueError, match="`y` has 599 labels for 600 rows"):
        clf.fit(wider, y_known[:-1])
    assert_unchanged(before, clf, X[:50])


def test_a_refit_with_new_classes_that_fails_keeps_the_old_classes(session):
    X, y, y_known, net = session
    y_few = np.where(np.isin(y_known, [0, 1, 2]), y_known, -1)
    clf = ActiveLearningClassifier(net, RandomQuery(), random_state=0).fit(X, y_few)
    before = snapshot(clf, X[:50])
    RaiseAtEpoch.error = RuntimeError
    with pytest.raises(RuntimeError):
        clf.fit(X, y_known)  # ten classes now, and training raises
    assert_unchanged(before, clf, X[:50])


def test_an_interrupted_first_fit_leaves_no_fitted_state(session):
    X, _, y_known, net = session
    RaiseAtEpoch.error = KeyboardInterrupt
    clf = ActiveLearningClassifier(net, RandomQuery(), random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y_known)
    assert not hasattr(clf, "estimator_") and not hasattr(clf, "classes_")


def test_early_stopping_still_ends_training_normally(digits):
    X, y = digits
    y_known = np.full(600, -1)
    y_known[:60] = y[:60]
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    clf = ActiveLearningClassifier(default_net(max_epochs=50, callbacks=[stop]), RandomQuery(),
                                   random_state=0).fit(X[:600], y_known)
    assert len(clf.estimator_.history_) < 50  # stopped early, and no KeyboardInterrupt


def test_values_that_overflow_float32_are_refused_everywhere(session):
    X, y, y_known, net = session
    clf = ActiveLearningClassifier(net, RandomQuery(), random_state=0).fit(X, y_known)
    before = snapshot(clf, X[:50])
    huge = X[:5].astype(np.float64)
    huge[2, 3] = 1e39
    match = r"holds NaN or infinity in 1 row\(s\) \(first: \[2\]\) once cast to float32"
    with pytest.raises(ValueError, match=f"`X` {match}"):
        clf.teach(huge, y[:5])
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(ValueError, match=f"`X` {match}"):
            method(huge)
    with pytest.raises(ValueError, match=f"`X` {match}"):
        clf.score(huge, y[:5])
    with pytest.raises(ValueError, match=f"`X_pool` {match}"):
        clf.query(huge, n=2)
    X_bad = X.astype(np.float64)
    X_bad[7, 0] = -1e39
    with pytest.raises(ValueError, match="`X` holds NaN or infinity"):
        clf.fit(X_bad, y_known)
    assert_unchanged(before, clf, X[:50])


class LogSoftmaxMLP(torch.nn.Module):
    """Returns log-probabilities: skorch's NLLLoss path takes a second log of them."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                          torch.nn.Linear(8, 3), torch.nn.LogSoftmax(dim=-1))

    def forward(self, X):
        return self.layers(X)


def _iris_session(net, n_labeled=30):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    X, y = X[order], y[order]
    y_known = np.where(np.arange(len(y)) < n_labeled, y, -1)
    return X, y, y_known


@pytest.mark.parametrize("net", [
    lambda: default_net(lr=1e30, max_epochs=5),
    lambda: NeuralNetClassifier(LogSoftmaxMLP, criterion=torch.nn.NLLLoss, max_epochs=5,
                                train_split=None, verbose=0),
], ids=["lr=1e30", "log_softmax+NLLLoss"])
def test_a_net_that_trains_to_nan_is_refused_and_never_committed(net):
    """Issue 22: such nets were committed; predict returned class 0, score 0.10 and the
    strategies ranked rows 0..n-1."""
    X, y, y_known = _iris_session(None)
    with pytest.raises(ValueError, match="Training failed: .*not kept.*lr"):
        ActiveLearningClassifier(net(), random_state=0).fit(X, y_known)
    with pytest.raises(ValueError, match="Training failed"):
        ActiveLearningClassifier(net(), initial_size=10, query_size=5, n_queries=1,
                                 random_state=0).fit(X, y)
    # teach: a good session whose refit diverges keeps its model
    clf = ActiveLearningClassifier(default_net(max_epochs=5), random_state=0).fit(X, y_known)
    before = clf.estimator_
    clf.set_params(estimator=net())
    with pytest.raises(ValueError, match="Training failed"):
        clf.teach(clf.X_pool_[:3], y[30:33])
    assert clf.estimator_ is before and len(clf.y_labeled_) == 30


def test_a_diverged_but_finite_net_is_kept_with_a_warning(monkeypatch):
    import skralif._training as training

    monkeypatch.setattr(training, "DIVERGED_LOSS", 1e-9)  # any real loss is above it
    X, y, y_known = _iris_session(None)
    with pytest.warns(UserWarning, match="finite, but no trained classifier's"):
        ActiveLearningClassifier(default_net(max_epochs=3), random_state=0).fit(X, y_known)


class DisablesGradThenInterrupts(Callback):
    """What a Ctrl-C inside skorch's no-grad validation pass can leave behind."""

    def on_epoch_end(self, net, **kwargs):
        torch.set_grad_enabled(False)
        raise KeyboardInterrupt


def test_an_interrupted_teach_restores_torch_grad_mode():
    X, y, y_known = _iris_session(None)
    clf = ActiveLearningClassifier(default_net(max_epochs=3), random_state=0).fit(X, y_known)
    clf.set_params(estimator=default_net(max_epochs=3,
                                         callbacks=[DisablesGradThenInterrupts()]))
    try:
        with pytest.raises(KeyboardInterrupt):
            clf.teach(clf.X_pool_[:3], y[30:33])
        assert torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)


def test_a_saturated_net_is_kept_with_a_warning():
    """Issue 22: lr=1e4 trains to a finite loss (about 4e3) whose probabilities are all
    exactly 0 or 1: every strategy's scores tie, silently."""
    X, y, y_known = _iris_session(None)
    with pytest.warns(UserWarning, match="The net is saturated: every probability"):
        ActiveLearningClassifier(default_net(lr=1e4, max_epochs=20),
                                 random_state=0).fit(X, y_known)
