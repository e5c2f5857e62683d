"""Threads and Dask's in-process schedulers read one shared net and get the sequential answer.

Before every forward pass held its module's lock, concurrent passes captured
each other's head inputs ("must be called exactly once per forward pass") or
ran with another thread's mode switches.
"""

import threading

import numpy as np
import pytest
from joblib import parallel_backend

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.evaluation import run_experiment
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
