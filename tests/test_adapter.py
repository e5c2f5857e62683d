"""The net adapter's value checks: fast, and never wrong."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skralif._adapter import all_finite


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.integers(0, 50),
              elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_all_finite_agrees_with_isfinite(values):
    tensor = torch.as_tensor(values)
    assert all_finite(tensor) == bool(torch.isfinite(tensor).all())


@pytest.mark.parametrize("values, expected", [
    ([3e38, 3e38], True),              # finite values whose sum overflows
    ([3e38, -3e38, float("nan")], False),
    ([float("inf"), -float("inf")], False),  # the sum is NaN
])
def test_all_finite_edge_cases(values, expected):
    assert all_finite(torch.tensor(values, dtype=torch.float32)) is expected
    assert all_finite(torch.tensor([1, 2, 3])) is True  # integers are finite
