"""The simulated-runs benchmarks (bench_estimate, bench_stopping) read every dataset they
offer. bench_learning_curves.split took the whole argument namespace from 2026-12-04 on,
and bench_estimate still passed it the MNIST path alone: both benchmarks failed on
their first dataset, and nothing ran them until a default changed."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_estimate  # noqa: E402
import bench_stopping  # noqa: E402


@pytest.mark.parametrize("name", sorted(set(bench_estimate.BUDGETS) | set(bench_stopping.BUDGETS)))
def test_every_dataset_of_the_simulated_runs_loads(name):
    args = bench_estimate.run_arguments("", bench_stopping.BUDGETS, seeds=1).parse_args([])
    if name.startswith(("mnist", "usps")) and not Path(
            args.mnist if name.startswith("mnist") else args.usps).exists():
        pytest.skip("../shared/data is not beside the checkout")
    X_tr, X_te, y_tr, y_te, net_params, scale = bench_estimate.data(name, args)
    assert len(X_tr) == len(y_tr) > 0 and len(X_te) == len(y_te) > 0
    assert set(np.unique(y_te)) <= set(np.unique(y_tr))
    assert isinstance(net_params, dict) and isinstance(scale, bool)
