"""The ablation's variants keep their meaning when RALIFQuery's defaults change."""

import sys
from pathlib import Path

import pytest

from skralif import RALIFQuery

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_ralif_ablation import VARIANTS  # noqa: E402


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_names_the_settings_whose_defaults_changed(variant):
    # "no refit" ran with hard pseudo labels while they were the default; a variant
    # that leaves them to the default would run something else once it changed
    params = VARIANTS[variant]
    assert {"refit_head", "pseudo_labels"} <= set(params)
    RALIFQuery(**params)._validate_params()
