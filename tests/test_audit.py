"""The audit's accuracy estimate: exact on hand-computed cases, unbiased and covering on
simulations where the truth is known, and carried by the learner's history."""

import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skralif import ActiveLearningClassifier
from skralif.evaluation import draw_audit, estimate_accuracy
from skralif.nets import default_net
from skralif.strategies import UncertaintyQuery


def test_wilson_interval_by_hand():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), the textbook Wilson interval
    est = estimate_accuracy([1] * 8 + [0] * 2, estimator="proportion")
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert est.estimate == 0.8 and est.n == 10 and est.n_correct == 8
    assert est.low == pytest.approx(centre - half) and est.high == pytest.approx(centre + half)


def test_difference_estimator_by_hand():
    # mean confidence 0.9 over the pool, draws correct/wrong at confidences 0.8/0.6
    est = estimate_accuracy([1, 0], [0.8, 0.6], [0.9, 0.9, 0.9, 0.9])
    assert est.estimate == pytest.approx(0.9 + ((1 - 0.8) + (0 - 0.6)) / 2)
    residuals = np.array([0.2, -0.6, -0.9, 0.1])  # the two pseudo-draws at 0.9 appended
    half = 1.959963984540054 * math.sqrt(residuals.var(ddof=1) / 2)
    assert est.low == pytest.approx(max(est.estimate - half, 0))
    assert est.high == pytest.approx(min(est.estimate + half, 1))


def test_no_draw_is_no_estimate_and_bad_estimator_is_named():
    est = estimate_accuracy([])
    assert est.n == 0 and math.isnan(est.estimate)
    assert "no audit label yet" in est.line()
    with pytest.raises(ValueError, match="`estimator`.*'mean'"):
        estimate_accuracy([1], estimator="mean")
    with pytest.raises(ValueError, match="needs `confidence_drawn` .* got None and None"):
        estimate_accuracy([1, 0])
    with pytest.raises(ValueError, match="one per draw, 2 here.*got 3 and 4"):
        estimate_accuracy([1, 0], [0.9, 0.8, 0.7], [0.9] * 4)


@pytest.mark.parametrize("estimator", ["difference", "proportion"])
def test_unbiased_and_covering_on_a_known_population(estimator):
    """A population whose truth is known: 2,000 rows, the model right with probability
    equal to its (deliberately miscalibrated) confidence squared."""
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, size=2000)
    correct = rng.random(2000) < confidence**2
    truth = correct.mean()
    estimates, covered = [], []
    draw_rng = np.random.RandomState(1)
    for _ in range(400):
        rows = draw_audit(draw_rng, np.arange(2000), 60)
        est = estimate_accuracy(correct[rows], confidence[rows], confidence, estimator)
        estimates.append(est.estimate)
        covered.append(est.low <= truth <= est.high)
    assert abs(np.mean(estimates) - truth) < 0.01  # unbiased (se of the mean ~0.003)
    assert np.mean(covered) >= 0.92  # a 95% interval


def test_draw_audit_is_uniform_without_replacement():
    rows = draw_audit(np.random.RandomState(0), np.arange(100, 110), 20)
    assert sorted(rows.tolist()) == list(range(100, 110))  # all of them, once
    assert len(draw_audit(np.random.RandomState(0), np.arange(0), 5)) == 0


@pytest.fixture(scope="module")
def audited():
    X, y = load_digits(return_X_y=True)
    return ActiveLearningClassifier(default_net(max_epochs=15), UncertaintyQuery(),
                                    initial_size=30, query_size=20, n_queries=3,
                                    audit_size=10, random_state=0).fit(X, y)


def test_history_carries_the_estimate_beside_the_truth(audited):
    for record in audited.history_:
        assert record["accuracy_low"] <= record["accuracy_estimate"] <= record["accuracy_high"]
        assert 0 <= record["audit_correct"] <= record["n_audit"]
    # every round draws 10 rows from the unlabeled ones; a draw the strategy picks
    # later drops out of the estimate, so n_audit grows by at most 10 a round
    n = [r["n_audit"] for r in audited.history_]
    assert n[0] == 10 and all(0 < b - a <= 10 for a, b in zip(n, n[1:], strict=False))
    # the labels the audit cost: drawn rows never labeled for training
    assert audited.history_[-1]["audit_labels"] <= 40


def test_no_audit_no_fields_and_same_run():
    X, y = load_digits(return_X_y=True)
    kw = dict(initial_size=30, query_size=20, n_queries=1, random_state=0)
    plain = ActiveLearningClassifier(default_net(max_epochs=5), UncertaintyQuery(), **kw)
    audit = ActiveLearningClassifier(default_net(max_epochs=5), UncertaintyQuery(),
                                     audit_size=5, **kw)
    plain.fit(X, y)
    audit.fit(X, y)
    assert "accuracy_estimate" not in plain.history_[-1]
    # auditing changes nothing the strategy does: the same rows are labeled
    np.testing.assert_array_equal(plain.labeled_iter_, audit.labeled_iter_)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "5"])
def test_bad_audit_size_is_named(bad):
    X, y = load_digits(return_X_y=True)
    clf = ActiveLearningClassifier(audit_size=bad, n_queries=1)
    with pytest.raises((ValueError, TypeError), match="audit_size"):
        clf.fit(X, y)
    assert not hasattr(clf, "history_")


def _overconfident(rng, n, temperature):
    """Labels drawn from softmax(z), probabilities reported as softmax(z * temperature)."""
    from skralif._audit import scale_temperature

    true = rng.dirichlet(np.ones(4) * 0.7, size=n)
    y = np.array([rng.choice(4, p=p) for p in true])
    return scale_temperature(true, 1 / temperature), y, true


def test_temperature_recovers_how_overconfident_a_model_is():
    from skralif._audit import fit_temperature, scale_temperature

    rng = np.random.default_rng(0)
    reported, y, true = _overconfident(rng, 4000, 3.0)
    temperature = fit_temperature(reported, y, smoothing=0)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(reported, y) == pytest.approx(3.0, rel=0.1)  # 1/4002: no matter
    np.testing.assert_allclose(scale_temperature(reported, temperature), true, atol=0.05)
    # scaling never changes the predicted class
    assert (scale_temperature(reported, temperature).argmax(1) == reported.argmax(1)).all()
    calibrated, y, _ = _overconfident(rng, 4000, 1.0)
    assert fit_temperature(calibrated, y) == pytest.approx(1.0, rel=0.1)


def test_a_few_correct_labels_never_make_every_probability_one():
    """The defect the proposals file showed: 14 audit labels, all predicted right, fitted
    a temperature at its lower bound (0.05) and every probability read 1.0000."""
    from skralif._audit import fit_temperature, scale_temperature

    proba = np.array([[0.97, 0.02, 0.01], [0.9, 0.05, 0.05]] * 7)
    y = np.zeros(14, dtype=int)
    assert fit_temperature(proba, y, smoothing=0) < 1.01  # never sharpens
    top = scale_temperature(proba, fit_temperature(proba, y)).max(axis=1)
    assert top.max() < 0.99 and top.min() > 0.85  # about 1 - 1/16 on average


def test_audit_size_in_an_interactive_session_is_refused_not_ignored():
    X, y = load_digits(return_X_y=True)
    y = np.where(np.arange(len(y)) < 50, y, -1)
    clf = ActiveLearningClassifier(audit_size=5)
    with pytest.raises(ValueError, match="`audit_size`=5 applies to simulated mode"):
        clf.fit(X, y)
    assert not hasattr(clf, "history_")


def test_choose_temperature_scales_only_when_held_out_labels_say_so():
    from skralif._audit import choose_temperature

    rng = np.random.default_rng(1)
    reported, y, _ = _overconfident(rng, 200, 3.0)
    assert choose_temperature(reported, y) > 2  # overconfident: scaled
    calibrated, y, _ = _overconfident(rng, 30, 1.0)
    assert choose_temperature(calibrated, y) == 1.0  # already calibrated: left alone
