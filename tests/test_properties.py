"""Property-based checks over the public entry points (hypothesis).

Valid inputs give valid results; invalid ones give ``ValueError``/``TypeError``
naming the argument; and after any rejected call a fitted learner's state is
unchanged. Each rejected call is recorded in ``SCOREBOARD``, printed at the end
of the session (``pytest -s``), for the closing note's figures.
"""

import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skralif import ActiveLearningClassifier, RALIFQuery
from skralif.nets import default_net
from skralif.strategies import (
    BADGEQuery,
    CoresetQuery,
    ProbCoverQuery,
    RandomQuery,
    TypiClustQuery,
    UncertaintyQuery,
)

SCOREBOARD = Counter()
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    y_known = np.full(400, -1)
    y_known[:60] = y[:60]
    return ActiveLearningClassifier(default_net(max_epochs=5), RALIFQuery(batch_size=64),
                                    random_state=0).fit(X[:400], y_known)


def snapshot(clf, probe):
    return (clf.X_labeled_.copy(), clf.y_labeled_.copy(), clf.X_pool_.copy(),
            clf.labeled_iter_.copy(), clf.classes_.copy(), clf.n_features_in_, clf.n_iter_,
            clf.predict_proba(probe), len(pickle.dumps(clf)))


def assert_same(before, after):
    for a, b in zip(before, after, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


def rejected(call, names, what):
    """Run ``call``; if it raises, the error must be a ValueError/TypeError naming one of
    ``names``. Returns whether it was rejected."""
    try:
        call()
    except (ValueError, TypeError) as err:
        assert any(name in str(err) for name in names), (what, str(err))
        SCOREBOARD[f"{what}: clear error"] += 1
        return True
    SCOREBOARD[f"{what}: accepted"] += 1
    return False


# values a user can pass where rows of 64 features are expected
finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
cells = st.one_of(finite, st.just(np.nan), st.just(np.inf), st.just(-np.inf),
                  st.just(1e39), st.just(-1e39))
bad_rows = hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(64)), elements=cells)
any_rows = st.one_of(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(64)), elements=finite),
    hnp.arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(1, 70)), elements=cells))


@PROPERTY
@given(X=any_rows, n=st.one_of(st.integers(-3, 10), st.floats(allow_nan=True), st.booleans(),
                               st.none(), st.text(max_size=2)))
def test_query_accepts_valid_and_rejects_invalid_pools(fitted, digits, X, n):
    before = snapshot(fitted, digits[0][:20])
    valid_rows = X.shape[1] == 64 and len(X) > 0 and np.isfinite(X.astype(np.float32)).all()
    valid_n = (n is None and len(X) >= fitted.query_size) or (
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= len(X))
    if valid_rows and valid_n:
        idx = fitted.query(X, n=n)
        assert len(set(idx.tolist())) == len(idx) and idx.min() >= 0 and idx.max() < len(X)
        SCOREBOARD["query: valid input, valid result"] += 1
    else:
        assert rejected(lambda: fitted.query(X, n=n), ["X_pool", "`n`", "`query_size`"],
                        "query"), (X.shape, n)
    assert_same(before, snapshot(fitted, digits[0][:20]))


@PROPERTY
@given(X=bad_rows, labels=st.lists(st.one_of(st.integers(-2, 12), st.none(),
                                              st.just(np.nan), st.text(max_size=2),
                                              st.floats(0, 12)), min_size=0, max_size=7))
def test_teach_rejects_invalid_input_and_keeps_state(fitted, digits, X, labels):
    before = snapshot(fitted, digits[0][:20])
    y = np.array(labels, dtype=object)
    valid_x = np.isfinite(X.astype(np.float32)).all()
    valid_y = len(y) == len(X) and all(
        isinstance(v, int) and v != -1 or (isinstance(v, float) and v == v and v % 1 == 0)
        for v in labels)
    if valid_x and valid_y:
        SCOREBOARD["teach: valid input (not run: it refits)"] += 1
        return
    assert rejected(lambda: fitted.teach(X, y), ["`X`", "`y`"], "teach"), (X, labels)
    assert_same(before, snapshot(fitted, digits[0][:20]))


@PROPERTY
@given(X=any_rows)
def test_predict_and_score_reject_invalid_rows(fitted, digits, X):
    before = snapshot(fitted, digits[0][:20])
    valid = X.shape[1] == 64 and len(X) > 0 and np.isfinite(X.astype(np.float32)).all()
    for name, call in (("predict", lambda: fitted.predict(X)),
                       ("predict_proba", lambda: fitted.predict_proba(X)),
                       ("score", lambda: fitted.score(X, np.zeros(len(X), dtype=int)))):
        if valid:
            call()
            SCOREBOARD[f"{name}: valid input, valid result"] += 1
        else:
            assert rejected(call, ["`X`", "X has"], name), X.shape
    assert_same(before, snapshot(fitted, digits[0][:20]))


strategy_params = st.sampled_from([
    ("tau", st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(max_size=2))),
    ("damping", st.one_of(st.floats(allow_nan=True), st.booleans())),
    ("candidate_fraction", st.floats(allow_nan=True)),
    ("batch_size", st.one_of(st.integers(-5, 200), st.floats(), st.booleans())),
    ("diversity", st.one_of(st.booleans(), st.text(max_size=3), st.integers(0, 1))),
    ("keep_features", st.one_of(st.booleans(), st.text(max_size=3))),
    ("curvature", st.one_of(st.sampled_from(["hessian", "gauss-newton", "Hessian", "ggn"]),
                            st.text(max_size=3), st.none(), st.integers(0, 1))),
])


@PROPERTY
@given(data=st.data(), param=strategy_params)
def test_strategy_parameters_valid_or_named(fitted, digits, data, param):
    name, values = param
    value = data.draw(values)
    X = digits[0]
    strategy = RALIFQuery(random_state=0).set_params(**{name: value})
    try:
        strategy.query(fitted.estimator_, X[400:700], 5, X_labeled=X[:60],
                       y_labeled=digits[1][:60])
    except (ValueError, TypeError) as err:
        assert repr(name) in str(err) or f"`{name}`" in str(err), (name, value, str(err))
        SCOREBOARD["RALIFQuery params: clear error"] += 1
        return
    SCOREBOARD["RALIFQuery params: accepted"] += 1
    ok = {"tau": lambda v: not isinstance(v, bool | str) and v >= 0 and np.isfinite(v),
          "damping": lambda v: not isinstance(v, bool) and v >= 0 and np.isfinite(v),
          "candidate_fraction": lambda v: 0 < v <= 1,
          "batch_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
          "diversity": lambda v: isinstance(v, bool), "keep_features": lambda v: isinstance(
              v, bool) or v == "auto",
          "curvature": lambda v: v in ("hessian", "gauss-newton")}
    assert ok[name](value), f"silently accepted {name}={value!r}"


@PROPERTY
@given(X=any_rows, strategy=st.sampled_from([RandomQuery(random_state=0), UncertaintyQuery(),
                                             CoresetQuery(), BADGEQuery(random_state=0)]))
def test_strategies_validate_score_samples_like_query(fitted, X, strategy):
    valid = (X.shape[1] == 64 or isinstance(strategy, RandomQuery)) and len(X) > 0 and (
        np.isfinite(X.astype(np.float32)).all())
    net = fitted.estimator_
    if valid:
        assert strategy.score_samples(net, X).shape == (len(X),)
        SCOREBOARD["score_samples: valid input, valid result"] += 1
    else:
        assert rejected(lambda: strategy.score_samples(net, X), ["X_pool"],
                        "score_samples"), X.shape


def teardown_module(module):
    print("\nProperty-suite scoreboard:")
    for key, count in sorted(SCOREBOARD.items()):
        print(f"  {key}: {count}")


@pytest.mark.parametrize("strategy", [CoresetQuery(), BADGEQuery(), TypiClustQuery(),
                                      ProbCoverQuery()])
def test_a_pool_of_the_wrong_width_is_named_by_every_strategy(strategy, digits):
    """Found by the property above: head discovery probed the pool under the name `X`."""
    X, y = digits
    clf = ActiveLearningClassifier(default_net(max_epochs=2), random_state=0).fit(X[:60],
                                                                                   y[:60])
    for call in (lambda: strategy.score_samples(clf.estimator_, np.zeros((3, 1))),
                 lambda: strategy.query(clf.estimator_, np.zeros((3, 1)), 1)):
        with pytest.raises(ValueError, match="`X_pool`"):
            call()
