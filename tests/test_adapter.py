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


def test_a_head_whose_float32_logits_cancel_is_still_the_head():
    """Found on USPS (a validation setting): features of about 4,000 made float32 logits
    near zero differ from float64 by 1e-4, and BADGE refused the net as "not the output
    of its head". A wrong output (another map of the features) is still refused."""
    from skralif._adapter import HeadView

    torch.manual_seed(0)
    head = torch.nn.Linear(64, 3)
    feats = torch.rand(2000, 64) * 4000
    with torch.no_grad():  # logits centred on zero: some land near it, from large terms
        head.bias -= head(feats).mean(dim=0)
    out = head(feats).detach()
    view = HeadView(None, "head", head, "logits")
    view.check_output(feats, out)  # no error
    view.check_output(feats, torch.log_softmax(out.double(), dim=1).float())  # CE, too
    with pytest.raises(ValueError, match="not the output of its head"):
        view.check_output(feats, out * 1.01)
