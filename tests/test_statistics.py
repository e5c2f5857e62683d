"""Paired bootstrap intervals, ranks, the penalty matrix and ``skralif report``."""

import numpy as np
import pytest
from scipy import stats

from skralif.cli import main
from skralif.evaluation import (
    ALResults,
    across_settings,
    paired_bootstrap,
    penalty_matrix,
    write_report,
)


def results(curves, seeds=None, setting=None):
    """ALResults from ``{strategy: accuracy array (seeds, rounds + 1)}``."""
    names = list(curves)
    acc = np.array([curves[n] for n in names], dtype=float)
    n_seeds, n_points = acc.shape[1:]
    settings = {} if setting is None else {"setting": setting}
    return ALResults(names, list(range(n_seeds)) if seeds is None else seeds,
                     np.arange(n_points) * 10.0 + 10, acc, settings)


def noisy(rng, level, seeds=10, points=6, noise=0.01):
    return level + noise * rng.standard_normal((seeds, points))


def test_bootstrap_interval_of_a_constant_difference_is_a_point():
    assert paired_bootstrap(np.full(7, 0.02)) == pytest.approx((0.02, 0.02, 0.02))
    assert paired_bootstrap([0.5]) == (0.5, 0.5, 0.5)


def test_bootstrap_interval_matches_the_normal_approximation_for_many_seeds():
    d = np.random.default_rng(0).normal(0.03, 0.02, size=400)
    mean, low, high = paired_bootstrap(d)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert mean == pytest.approx(d.mean())
    assert low == pytest.approx(mean - half, abs=0.15 * half)
    assert high == pytest.approx(mean + half, abs=0.15 * half)
    assert paired_bootstrap(d) == paired_bootstrap(d)  # seeded: reproducible
    with pytest.raises(ValueError, match="`differences` is empty"):
        paired_bootstrap([])


def test_summary_has_paired_gains_intervals_and_ranks():
    rng = np.random.default_rng(1)
    res = results({"random": noisy(rng, 0.70), "good": noisy(rng, 0.75),
                   "same": noisy(rng, 0.70), "bad": noisy(rng, 0.60)})
    rows = {r["strategy"]: r for r in res.summary()}
    aulc = res.aulc()
    for i, name in enumerate(res.strategies):
        assert rows[name]["gain"] == pytest.approx((aulc[i] - aulc[0]).mean())
        assert rows[name]["gain_low"] <= rows[name]["gain"] <= rows[name]["gain_high"]
    assert rows["good"]["gain_low"] > 0 and rows["bad"]["gain_high"] < 0
    assert rows["same"]["gain_low"] < 0 < rows["same"]["gain_high"]
    assert rows["good"]["rank"] == 1 and rows["bad"]["rank"] == 4
    assert {rows["random"]["rank"], rows["same"]["rank"]} == {2, 3}
    assert rows["random"]["gain"] == 0
    assert np.isnan(res.summary("absent")[0]["gain"])


def test_penalty_matrix_counts_significant_wins_per_round_like_a_paired_t_test():
    rng = np.random.default_rng(2)
    a = results({"A": noisy(rng, 0.8), "B": noisy(rng, 0.7), "C": noisy(rng, 0.7)})
    names, P = penalty_matrix([a])
    assert names == ["A", "B", "C"]
    assert P[0, 1] == P[0, 2] == 1.0 and P[1, 0] == P[2, 0] == 0.0
    # against scipy's paired t-test on random curves, round by round
    b = results({"A": noisy(rng, 0.7, noise=0.03), "B": noisy(rng, 0.71, noise=0.03)})
    _, Pb = penalty_matrix([b], alpha=0.2)
    wins = [stats.ttest_rel(b.accuracy[0, :, r], b.accuracy[1, :, r]) for r in range(1, 6)]
    expected = sum(t.pvalue < 0.2 and t.statistic > 0 for t in wins) / 5
    assert Pb[0, 1] == pytest.approx(expected)
    assert Pb[1, 0] == pytest.approx(sum(t.pvalue < 0.2 and t.statistic < 0
                                         for t in wins) / 5)
    # settings add up; identical curves win nothing; the initial round is not counted
    same = np.tile(np.linspace(0.5, 0.9, 6), (5, 1))
    _, P2 = penalty_matrix([a, a, results({"A": same, "B": same, "C": same})])
    assert P2[0, 1] == 2.0 and np.all(np.diag(P2) == 0)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        penalty_matrix([results({"A": same[:1], "B": same[:1]})])


def test_across_settings_mean_rank_and_worst_case():
    rng = np.random.default_rng(3)
    one = results({"random": noisy(rng, 0.70), "x": noisy(rng, 0.80), "y": noisy(rng, 0.75)})
    two = results({"random": noisy(rng, 0.70), "x": noisy(rng, 0.65), "y": noisy(rng, 0.72)})
    rows = {r["strategy"]: r for r in across_settings({"one": one, "two": two})}
    assert rows["x"]["mean_rank"] == pytest.approx(2.0)  # 1st, then 3rd
    assert rows["y"]["mean_rank"] == pytest.approx(1.5)  # 2nd, then 1st
    assert rows["x"]["worst_setting"] == "two" and rows["x"]["worst_gain"] < 0
    assert rows["x"]["settings_above"] == 1 and rows["x"]["settings_below"] == 1
    assert [r["strategy"] for r in across_settings({"one": one, "two": two})][0] == "y"
    with pytest.raises(ValueError, match="`baseline` 'nope' is not in every setting"):
        across_settings({"one": one}, baseline="nope")


def test_report_from_files(tmp_path, capsys):
    rng = np.random.default_rng(4)
    paths = []
    for k, level in enumerate([0.8, 0.72, 0.68]):
        res = results({"random": noisy(rng, 0.7), "ralif": noisy(rng, level),
                       "entropy": noisy(rng, 0.71)}, setting=f"setting {k}")
        paths.append(tmp_path / f"s{k}.json")
        res.to_json(paths[-1])
    assert main(["report", *map(str, paths), "--output", str(tmp_path / "out")]) == 0
    assert "report.md" in capsys.readouterr().out
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Across settings" in text and "## Penalty matrix" in text
    assert "### setting 2" in text and "| ralif |" in text
    assert (tmp_path / "out" / "penalty_matrix.png").stat().st_size > 0
    assert (tmp_path / "out" / "ranks.png").stat().st_size > 0
    worst = next(line for line in text.splitlines() if line.startswith("| ralif | "))
    assert "setting 2" in worst  # its worst case is the third setting
    write_report(paths, tmp_path / "two", strategies=["ralif", "random"])
    assert "| entropy |" not in (tmp_path / "two" / "report.md").read_text()
    with pytest.raises(ValueError, match=r"has no run of \['badge'\]"):
        write_report(paths, tmp_path / "two", strategies=["badge", "random"])
    with pytest.raises(ValueError, match="are both setting 'setting 0'"):
        write_report([paths[0], paths[0]], tmp_path / "again")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["report", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
