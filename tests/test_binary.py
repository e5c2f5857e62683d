"""Binary nets (skorch's NeuralNetBinaryClassifier, one logit) through the learner and
every strategy."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.strategies import (
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    RandomQuery,
    UncertaintyQuery,
)

STRATEGIES = [RALIFQuery(), RALIFQuery(method="cg", target="all"), RALIFQuery(method="lissa"),
              RandomQuery(), UncertaintyQuery(), UncertaintyQuery(measure="margin"),
              CoresetQuery(), BADGEQuery(), BALDQuery(n_samples=4)]


class Logit(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(),
                                        torch.nn.Dropout(0.2))
        self.head = torch.nn.Linear(16, 1)

    def forward(self, X):
        return self.head(self.body(X)).squeeze(-1)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    names = np.array(["malignant", "benign"])[y]  # the learner maps any two labels to 0/1
    return StandardScaler().fit_transform(X).astype(np.float32), names


def _net():
    return NeuralNetBinaryClassifier(Logit, max_epochs=20, lr=0.05, batch_size=32,
                                     train_split=None, verbose=0)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: repr(s)[:50])
def test_simulated_rounds_with_a_binary_net(cancer, strategy):
    X, y = cancer
    clf = ActiveLearningClassifier(_net(), query_strategy=strategy, initial_size=20,
                                   query_size=10, n_queries=2, random_state=0)
    clf.fit(X[:400], y[:400])
    assert len(clf.y_labeled_) == 40
    assert list(clf.classes_) == ["benign", "malignant"]
    assert clf.predict_proba(X[400:]).shape == (169, 2)
    assert clf.score(X[400:], y[400:]) > 0.8


def test_interactive_query_and_teach_with_a_binary_net(cancer):
    X, y = cancer
    partial = np.full(300, None, dtype=object)
    partial[:20] = y[:20]
    clf = ActiveLearningClassifier(_net(), random_state=0).fit(X[:300], partial)
    idx = clf.query(n=5)
    pool = clf.X_pool_
    clf.teach(pool[idx], _labels_of(pool[idx], X, y))
    assert len(clf.y_labeled_) == 25


def _labels_of(rows, X, y):
    return np.array([y[np.flatnonzero((X == r).all(axis=1))[0]] for r in rows])


def test_binary_ralif_scores_are_finite_and_ranked(cancer):
    X, y = cancer
    labels = (y[:60] == "malignant").astype(np.int64)
    net = _net().fit(X[:60], labels.astype(np.float32))
    for refit in (True, False):
        scores = RALIFQuery(refit_head=refit).score_samples(net, X[60:], X_labeled=X[:60],
                                                            y_labeled=labels)
        assert np.isfinite(scores).all() and scores.std() > 0


def test_a_binary_net_with_one_labeled_class_is_refused(cancer):
    X, y = cancer
    labels = np.full(200, None, dtype=object)
    benign = np.flatnonzero(y[:200] == "benign")[:10]
    labels[benign] = "benign"
    with pytest.raises(ValueError, match="NeuralNetBinaryClassifier learns two classes"):
        ActiveLearningClassifier(_net(), random_state=0).fit(X[:200], labels)
