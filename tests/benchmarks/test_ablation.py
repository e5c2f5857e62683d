"""The ablation's variants keep their meaning when RALIFQuery's defaults change."""

import sys
from pathlib import Path

import numpy as np
import pytest

from skralif import RALIFQuery

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_ralif_ablation import VARIANTS  # noqa: E402


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_names_the_settings_whose_defaults_changed(variant):
    # "no refit" ran with hard pseudo labels while they were the default, "refit head,
    # soft pool loss" with score="influence" and tau=4; a variant that left them to the
    # default would run something else once it changed
    params = VARIANTS[variant]
    assert {"refit_head", "pseudo_labels", "score", "tau"} <= set(params)
    RALIFQuery(**params)._validate_params()


def test_adopting_a_variant_keeps_the_previous_defaults_runs(tmp_path):
    # a validation setting's study ran RALIFQuery's previous defaults as its "ralif" and
    # has no variants file of its own yet: adopting must not drop those runs
    from bench_ralif_ablation import PREVIOUS_DEFAULTS, adopt

    from skralif.evaluation import ALResults

    rng = np.random.default_rng(0)
    n_labeled = np.array([10, 20, 30])
    study = ALResults(["ralif", "random"], [0, 1], n_labeled, rng.random((2, 2, 3)))
    variant = "refit head, soft pool loss, optimistic, tau=2"
    runs = ALResults([variant], [0, 1], n_labeled, rng.random((1, 2, 3)))
    study.to_json(tmp_path / "study.json")
    runs.to_json(tmp_path / "runs.json")
    adopt(tmp_path / "study.json", tmp_path / "runs.json", variant)
    adopted = ALResults.from_json(tmp_path / "study.json")
    kept = ALResults.from_json(tmp_path / "runs.json")
    assert adopted.strategies == ["ralif", "random"]
    np.testing.assert_array_equal(adopted.accuracy[0], runs.accuracy[0])
    np.testing.assert_array_equal(adopted.accuracy[1], study.accuracy[1])
    assert kept.strategies == [variant, PREVIOUS_DEFAULTS]
    np.testing.assert_array_equal(kept.accuracy[1], study.accuracy[0])
    assert variant in adopted.settings["ralif"]
