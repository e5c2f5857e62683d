"""Experiments, summaries against hand-made curves, persistence, plots, data loaders, CLI."""

import gzip
import json

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skralif import ActiveLearningClassifier
from skralif.cli import main
from skralif.datasets import load_csv, load_dataset, load_idx
from skralif.evaluation import ALCurveDisplay, ALResults, make_strategy, run_experiment
from skralif.nets import default_net
from skralif.strategies import RandomQuery


def hand_results():
    # random: flat 0.5 / 0.7; a: better on seed 0, worse on seed 1
    acc = np.array([
        [[0.5, 0.5, 0.5], [0.7, 0.7, 0.7]],
        [[0.5, 0.6, 0.9], [0.5, 0.6, 0.6]],
    ])
    return ALResults(["random", "a"], [0, 1], np.array([10, 20, 30]), acc, {"k": 1})


def test_summary_matches_hand_computation():
    res = hand_results()
    np.testing.assert_allclose(res.aulc(), [[0.5, 0.7], [0.65, 0.575]])
    random, a = res.summary()
    # random's mean curve is flat at its final 0.6, so it "reaches" it with the first 10 labels
    assert random["win_rate"] == 1.0 and random["labels_saved"] == 20.0
    assert a["win_rate"] == 0.5
    assert a["aulc_mean"] == pytest.approx(0.6125) and a["aulc_std"] == pytest.approx(0.0375)
    # random ends at mean 0.6; a's mean curve (0.5, 0.6, 0.75) reaches 0.6 at 20 labels
    assert a["labels_saved"] == pytest.approx(10.0)
    text = res.format_summary()
    assert "win rate" in text and "gain vs random" in text
    # a gains +15 and -12.5 points over random, seed by seed: two seeds cannot separate them
    assert "+1.25 [-12.50, +15.00]" in text
    assert text.splitlines()[-1] == ("With 2 seeds, the paired 95% intervals cannot separate "
                                     "random from a (best mean AULC): read their order as a "
                                     "tie, or run more seeds.")


def test_results_round_trip_through_json_and_csv(tmp_path):
    res = hand_results()
    res.to_json(tmp_path / "r.json")
    back = ALResults.from_json(tmp_path / "r.json")
    np.testing.assert_array_equal(back.accuracy, res.accuracy)
    assert back.settings == {"k": 1} and json.loads((tmp_path / "r.json").read_text())["summary"]
    res.to_csv(tmp_path / "r.csv")
    again = ALResults.from_csv(tmp_path / "r.csv")
    np.testing.assert_array_equal(again.accuracy, res.accuracy)
    np.testing.assert_array_equal(again.n_labeled, res.n_labeled)
    assert again.strategies == res.strategies and again.seeds == res.seeds


def test_results_built_from_lists_work_like_arrays(tmp_path):
    # to_json called .tolist() on n_labeled and failed on a list (found writing a test)
    res = ALResults(("random", "a"), (0,), [10, 20], [[[0.5, 0.6]], [[0.5, 0.7]]])
    assert res.strategies == ["random", "a"] and res.seeds == [0]
    res.to_json(tmp_path / "r.json")
    back = ALResults.from_json(tmp_path / "r.json")
    np.testing.assert_array_equal(back.accuracy, res.accuracy)
    np.testing.assert_array_equal(back.aulc(), res.aulc())


def test_display_plots_a_band_per_strategy():
    import matplotlib

    matplotlib.use("Agg")
    display = ALCurveDisplay.from_results(hand_results())
    assert set(display.lines_) == {"random", "a"}
    assert len(display.ax_.collections) == 2  # one band each
    np.testing.assert_allclose(display.lines_["a"].get_ydata(), [0.5, 0.6, 0.75])


def test_run_experiment_shares_the_initial_set_and_matches_the_learner():
    X, y = load_iris(return_X_y=True)
    net = default_net(max_epochs=10)
    kw = dict(initial_size=9, query_size=6, n_rounds=2, seeds=[0, 1])
    res = run_experiment(net, {"random": RandomQuery(), "entropy": make_strategy("entropy")},
                         X[::2], y[::2], X[1::2], y[1::2], **kw)
    assert res.accuracy.shape == (2, 2, 3) and list(res.n_labeled) == [9, 15, 21]
    # round 0 is the same labeled set and the same torch seed for every strategy
    np.testing.assert_array_equal(res.accuracy[0, :, 0], res.accuracy[1, :, 0])
    learner = ActiveLearningClassifier(net, RandomQuery(), initial_size=9, query_size=6,
                                       n_queries=2, random_state=1).fit(X[::2], y[::2])
    assert learner.score(X[1::2], y[1::2]) == res.accuracy[0, 1, -1]
    parallel = run_experiment(net, ["random"], X[::2], y[::2], X[1::2], y[1::2], n_jobs=2, **kw)
    np.testing.assert_array_equal(parallel.accuracy[0], res.accuracy[0])


def test_unknown_strategy_name():
    with pytest.raises(ValueError, match="Unknown strategy 'best'"):
        make_strategy("best")


def test_loaders(tmp_path):
    X, y = load_dataset("digits")
    assert X.shape == (1797, 64) and X.dtype == np.float32
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5.5,6,x\n")
    X, y = load_csv(tmp_path / "d.csv", "label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5.5, 6]])
    assert list(y) == ["x", "y", "x"]
    X2, _ = load_dataset(tmp_path / "d.csv", target="label")
    np.testing.assert_array_equal(X2, X)
    with pytest.raises(ValueError, match="`target` 'kind' is not a column"):
        load_csv(tmp_path / "d.csv", "kind")
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        load_dataset("imagenet")


def test_idx_reader(tmp_path):
    images = np.arange(2 * 3 * 2, dtype=np.uint8).reshape(2, 3, 2)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    with gzip.open(tmp_path / "x-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.tobytes())
    (tmp_path / "x-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]))
    X, y = load_idx(tmp_path)
    np.testing.assert_allclose(X, images.reshape(2, 6) / 255.0, rtol=1e-6)
    assert list(y) == [7, 3]


def test_cli_runs_and_writes_its_outputs(tmp_path, capsys):
    code = main(["run", "--dataset", "wine", "--strategies", "random", "entropy", "--seeds",
                 "2", "--rounds", "2", "--initial-size", "6", "--query-size", "5",
                 "--epochs", "5", "--output", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "entropy" in out and "win rate" in out
    for name in ("results.json", "results.csv", "learning_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert ALResults.from_json(tmp_path / "results.json").accuracy.shape == (2, 2, 3)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["run", "--dataset", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skralif: error: `dataset` must be one of") and err.count("\n") == 1
    assert main(["run", "--dataset", "wine", "--rounds", "50", "--output", str(tmp_path)]) == 2
    assert "exceeds the" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--seeds", "0"])
    assert "must be a positive integer" in capsys.readouterr().err
