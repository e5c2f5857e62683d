"""Dask pools give the same indices as in-memory pools, on a real distributed cluster."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from skralif import ActiveLearningClassifier, RALIFQuery  # noqa: E402
from skralif.evaluation import run_experiment  # noqa: E402
from skralif.nets import default_net  # noqa: E402
from skralif.strategies import (  # noqa: E402
    BADGEQuery,
    BALDQuery,
    CoresetQuery,
    RandomQuery,
    UncertaintyQuery,
)
from tests.conftest import MLP, make_net  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def net(digits):
    X, y = digits
    return make_net(MLP, module__dropout=0.2, max_epochs=60).fit(X[:100], y[:100])


STRATEGIES = [
    RALIFQuery(batch_size=128, random_state=0),
    RALIFQuery(batch_size=128, score="reference", diversity=False),
    RALIFQuery(batch_size=128, method="cg", target="all", random_state=1),
    UncertaintyQuery(batch_size=128),
    RandomQuery(random_state=0),
    CoresetQuery(batch_size=128),
    BADGEQuery(batch_size=128, random_state=0),
    BALDQuery(n_samples=4, batch_size=128, random_state=0),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: repr(s)[:60])
def test_dask_pool_equals_numpy_pool(client, net, digits, strategy):
    X, y = digits
    pool = X[100:1100]
    lazy = da.from_array(pool, chunks=300)  # chunks unrelated to batch_size on purpose
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    np.testing.assert_array_equal(strategy.query(net, lazy, 20, **kw),
                                  strategy.query(net, pool, 20, **kw))


@pytest.mark.parametrize("strategy", [RALIFQuery(random_state=0),
                                      BALDQuery(n_samples=2, random_state=0)], ids=repr)
def test_dask_blocks_of_the_net_batch_size_equal_numpy(client, net, digits, strategy):
    # the net reads 64 rows a pass: a 9,000-row pool is three blocks of whole batches
    X, y = digits
    pool = np.tile(X[100:1000], (10, 1))
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    np.testing.assert_array_equal(strategy.query(net, da.from_array(pool, chunks=1000), 20, **kw),
                                  strategy.query(net, pool, 20, **kw))


def test_chunk_size_does_not_change_the_answer(net, digits):
    X, y = digits
    kw = dict(X_labeled=X[:100], y_labeled=y[:100])
    small = RALIFQuery(batch_size=64, random_state=0).query(net, X[100:900], 15, **kw)
    large = RALIFQuery(batch_size=4096, random_state=0).query(net, X[100:900], 15, **kw)
    assert len(set(small) & set(large)) >= 12  # float32 encoder batches differ in rounding only


def test_dask_pool_values_are_checked_in_the_tasks(client, net, digits):
    X, y = digits
    bad = X[100:400].copy()
    bad[250, 3] = np.nan
    with pytest.raises(ValueError, match="`X_pool` holds NaN or infinity"):
        RALIFQuery(batch_size=128).query(net, da.from_array(bad, chunks=100), 5,
                                         X_labeled=X[:100], y_labeled=y[:100])


def test_learner_queries_a_dask_pool(client, digits):
    X, y = digits
    labels = np.full(600, -1)
    labels[:60] = y[:60]
    clf = ActiveLearningClassifier(default_net(max_epochs=20), random_state=0).fit(X[:600], labels)
    lazy = da.from_array(X[600:1600], chunks=250)
    np.testing.assert_array_equal(clf.query(lazy, n=10), clf.query(X[600:1600], n=10))


def test_experiments_under_the_dask_joblib_backend(client):
    import joblib
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    kw = dict(initial_size=9, query_size=6, n_rounds=1, seeds=[0, 1])
    args = (default_net(max_epochs=10), ["random", "entropy"], X[::2], y[::2], X[1::2], y[1::2])
    local = run_experiment(*args, n_jobs=1, **kw)
    with joblib.parallel_backend("dask"):
        spread = run_experiment(*args, n_jobs=-1, **kw)
    np.testing.assert_array_equal(spread.accuracy, local.accuracy)
