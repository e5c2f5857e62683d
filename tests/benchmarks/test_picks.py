"""bench_ralif_picks.py looks at the study's own round-0 nets, not nets of its own."""

import sys
import types
from pathlib import Path

import pytest

from skralif.evaluation import ALResults

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from bench_ralif_picks import round_zero  # noqa: E402


@pytest.mark.parametrize("seed", [0, 3])
def test_round_zero_is_the_studys_first_fit(seed):
    study = ALResults.from_json(BENCHMARKS / "figures" / "digits_cold_s10.json")
    args = types.SimpleNamespace(mnist=None, usps=None, ag_news=None, seeds=10, rounds=8,
                                 n_jobs=1)
    learner, (_, _, X_test, y_test), _ = round_zero("digits", "cold", seed, args)
    # every strategy of the study shares the initial rows and the first fit
    assert learner.score(X_test, y_test) == pytest.approx(study.accuracy[0, seed, 0])
    assert len(learner.y_labeled_) == study.n_labeled[0]
