"""The benchmarks grow stored studies cell by cell (``benchmarks/_runs.py``): that must
give what running the whole study at once gives, since seeds are paired only within."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skralif.evaluation import ALResults, run_experiment
from skralif.nets import default_net

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _runs import completed  # noqa: E402


@pytest.fixture(scope="module")
def study():
    X, y = load_iris(return_X_y=True)
    calls = []

    def run(strategies, seeds):
        calls.append((list(strategies), list(seeds)))
        res = run_experiment(default_net(max_epochs=5), strategies, X[::2], y[::2],
                             X[1::2], y[1::2], initial_size=9, query_size=6, n_rounds=2,
                             seeds=seeds)
        res.settings["seconds"] = 1
        return res

    return run, calls


def test_growing_a_stored_study_equals_running_it_whole(study):
    run, calls = study
    whole = run(["random", "entropy", "margin"], [0, 1, 2])
    stored = run(["entropy", "random"], [0, 1])
    calls.clear()
    grown = completed(stored, ["random", "entropy", "margin"], [0, 1, 2], run)
    # only the missing cells ran: seed 2 of the stored strategies, every seed of margin
    assert calls == [(["random", "entropy"], [2]), (["margin"], [0, 1, 2])]
    assert grown.strategies == ["random", "entropy", "margin"] and grown.seeds == [0, 1, 2]
    np.testing.assert_array_equal(grown.accuracy, whole.accuracy)
    assert grown.settings["seconds"] == 3


def test_complete_study_runs_nothing_and_drops_what_is_not_asked(study):
    run, calls = study
    stored = run(["random", "entropy"], [0, 1])
    calls.clear()
    kept = completed(stored, ["entropy"], [0, 1], run)
    assert calls == [] and kept.strategies == ["entropy"]
    np.testing.assert_array_equal(kept.accuracy[0], stored.accuracy[1])


def test_other_seeds_or_labels_are_run_again(study):
    run, calls = study
    stored = run(["random"], [1])
    calls.clear()
    again = completed(stored, ["random"], [0, 1], run)
    assert calls == [(["random"], [0, 1])] and again.seeds == [0, 1]
    other = ALResults(["random"], [0], np.array([1.0, 2.0, 3.0]), np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="the new runs labeled"):
        completed(other, ["random"], [0, 1], run)
