"""Threads and Dask's in-process schedulers read one shared net and get the sequential answer.

Before every forward pass held its module's lock, concurrent passes captured
each other's head inputs ("must be called exactly once per forward pass") or
ran with another thread's mode switches.
"""

import threading
import time

import numpy as np
import pytest
import torch
from joblib import parallel_backend

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.evaluation import run_experiment
from skralif.exceptions import PoolChangedError
from skralif.nets import default_net
from skralif.strategies import BADGEQuery, BALDQuery, CoresetQuery, UncertaintyQuery
from tests.conftest import MLP, make_net

STRATEGIES = [
    RALIFQuery(batch_size=64, random_state=0),
    BADGEQuery(batch_size=64, random_state=0),
    CoresetQuery(batch_size=64),
    UncertaintyQuery(batch_size=64),
    BALDQuery(n_samples=3, batch_size=64, random_state=0),
]


@pytest.fixture(scope="module")
def net(digits):
    X, y = digits
    return make_net(MLP, module__dropout=0.2, max_epochs=20).fit(X[:100], y[:100])


def in_threads(fn, n_threads=3):
    """Run ``fn`` in ``n_threads`` threads started together; results and errors."""
    barrier = threading.Barrier(n_threads)
    results, errors = [None] * n_threads, []

    def work(i):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as err:  # collected, so the test shows every failure
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_threads_get_the_sequential_indices(net, digits, strategy):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    expected = strategy.query(net, X[100:900], 15, **kw)
    for _ in range(3):
        results, errors = in_threads(lambda: strategy.query(net, X[100:900], 15, **kw))
        assert errors == []
        for got in results:
            np.testing.assert_array_equal(got, expected)


def test_threads_query_one_learner(digits):
    X, y = digits
    y_known = np.full(len(y), -1)
    y_known[:80] = y[:80]
    clf = ActiveLearningClassifier(default_net(max_epochs=5), RALIFQuery(batch_size=64),
                                   random_state=0).fit(X[:800], y_known[:800])
    expected = clf.query(n=10)
    results, errors = in_threads(lambda: clf.query(n=10))
    assert errors == []
    for got in results:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("strategy", STRATEGIES[:3], ids=lambda s: type(s).__name__)
def test_dask_threaded_scheduler_equals_numpy(net, digits, strategy):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    expected = strategy.query(net, X[100:900], 15, **kw)
    lazy = da.from_array(X[100:900], chunks=100)
    with dask.config.set(scheduler="threads", num_workers=4):
        np.testing.assert_array_equal(strategy.query(net, lazy, 15, **kw), expected)


def test_in_process_distributed_client_equals_numpy(net, digits):
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    lazy = da.from_array(X[100:900], chunks=100)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=4,
                            dashboard_address=None) as _client:
        for strategy in STRATEGIES[:3]:
            np.testing.assert_array_equal(strategy.query(net, lazy, 15, **kw),
                                          strategy.query(net, X[100:900], 15, **kw))


def test_joblib_threading_backend_warns_it_is_not_reproducible(digits):
    X, y = digits
    with parallel_backend("threading", n_jobs=2), pytest.warns(UserWarning, match="threading"):
        run_experiment(default_net(max_epochs=1), ["random"], X[:200], y[:200], X[200:300],
                       y[200:300], initial_size=20, query_size=10, n_rounds=1, seeds=[0, 1])


class OneAtATime(torch.nn.Module):
    """An MLP whose forward pass fails if another is running on it (a slow one, so two
    unlocked passes overlap for sure)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh())
        self.head = torch.nn.Linear(16, 10)
        self.running = 0

    def forward(self, X):
        self.running += 1
        try:
            if self.running > 1:
                raise RuntimeError("two forward passes at once")
            time.sleep(0.002)
            return self.head(self.body(X))
        finally:
            self.running -= 1


def test_predict_proba_and_queries_in_threads_never_overlap(digits):
    """Issue 22: the learner's predict_proba ran skorch's forward pass outside skralif's
    lock; mixed with queries in 4 threads it raised in 2 of 430 calls."""
    X, y = digits
    y_known = np.where(np.arange(600) < 100, y[:600], -1)
    clf = ActiveLearningClassifier(make_net(OneAtATime, max_epochs=3, batch_size=32,
                                            iterator_valid__batch_size=50),
                                   UncertaintyQuery(batch_size=50), random_state=0)
    clf.fit(X[:600], y_known)

    turns = iter(range(4))

    def mixed():
        predicts = next(turns) % 2  # two threads predict, two query
        for _ in range(4):
            clf.predict_proba(X[:200]) if predicts else clf.query(n=3)
        return True

    results, errors = in_threads(mixed, n_threads=4)
    assert not errors and all(results)


def test_a_query_overlapped_by_a_teach_is_refused(digits):
    """Issue 22: it returned indices into a pool that no longer existed."""
    X, y = digits
    y_known = np.where(np.arange(300) < 60, y[:300], -1)
    clf = ActiveLearningClassifier(default_net(max_epochs=3), UncertaintyQuery(),
                                   random_state=0).fit(X[:300], y_known)

    class TeachesMidway(UncertaintyQuery):
        def _scores(self, estimator, X_pool, X_labeled, y_labeled):
            clf.teach(clf.X_pool_[:2], y[60:62])  # what another thread could do meanwhile
            return super()._scores(estimator, X_pool, X_labeled, y_labeled)

    clf.query_strategy_ = TeachesMidway()
    with pytest.raises(PoolChangedError, match="stored pool changed while this query ran"):
        clf.query(n=3)
    clf.query_strategy_ = UncertaintyQuery()
    assert len(clf.query(n=3)) == 3
