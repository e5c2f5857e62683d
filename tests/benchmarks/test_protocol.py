"""The pre-registered protocol of issue 25 is a function (``benchmarks/_protocol.py``): its
rule adopts only what the development settings support and never reads validation data."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _protocol import DEEP_OR_TEXT, DEVELOPMENT, VALIDATION, adopt, goals  # noqa: E402

SEEDS = 10


def steady(mean, spread=0.002, seed=0):
    return mean + np.random.default_rng(seed).normal(0, spread, SEEDS)


def test_the_settings_are_the_16_of_development_and_new_ones_for_validation():
    assert len(DEVELOPMENT) == 16 and not set(DEVELOPMENT) & set(VALIDATION)
    assert set(DEEP_OR_TEXT) == {"mnist_cnn_cold", "mnist_cnn_warm", "usps_cnn_cold",
                                 "usps_cnn_warm", "usps_pretrained_cold",
                                 "usps_pretrained_warm", "ag_news_cold", "ag_news_warm"}


def test_a_small_gain_everywhere_is_adopted():
    decision = adopt({s: steady(0.004, seed=i) for i, s in enumerate(DEVELOPMENT)})
    assert decision.adopted and not decision.reasons


def test_a_large_mean_gain_with_one_reliable_loss_is_refused():
    differences = {s: steady(0.05, seed=i) for i, s in enumerate(DEVELOPMENT)}
    differences["mnist_cnn_cold"] = steady(-0.01, seed=99)
    decision = adopt(differences)
    assert not decision.adopted
    assert decision.reasons == [decision.reasons[0]] and "mnist_cnn_cold" in decision.reasons[0]


def test_gains_in_few_settings_are_refused_even_with_a_positive_mean():
    # three large gains, thirteen small losses that are not reliable (intervals across 0)
    differences = {s: steady(0.05, seed=i) for i, s in enumerate(DEVELOPMENT[:3])}
    differences.update({s: np.linspace(-0.006, 0.004, SEEDS) for s in DEVELOPMENT[3:]})
    decision = adopt(differences)
    assert not decision.adopted and any("fewer than half" in r for r in decision.reasons)


def test_validation_data_cannot_inform_the_choice():
    with pytest.raises(ValueError, match="development settings only"):
        adopt({"digits_cold": steady(0.01), "usps_cnn_cold": steady(0.01)})
    with pytest.raises(ValueError, match="at least one"):
        adopt({})


def test_goals_in_a_convolutional_setting():
    random = steady(0.80, seed=1)
    aulc = {"random": random, "margin": random + 0.03, "badge": random + 0.02,
            "ralif": random + 0.025}
    met = goals(aulc, "usps_cnn_cold")
    assert met == {"not behind margin": False, "not behind badge": True,
                   "gain at least margin's": False}
    assert set(goals(aulc, "digits_cold")) == {"not behind margin", "not behind badge"}
    with pytest.raises(ValueError, match="neither"):
        goals(aulc, "cifar")
