"""Every malformed file and option: exit status 2, one line naming it, no traceback, and
nothing trained first."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from skralif import cli
from skralif.evaluation import ALResults, run_experiment


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the experiment starts: errors must come before any training."""

    def trained(*args, **kwargs):
        raise AssertionError("an experiment started before the input was validated")

    # run_experiment itself still runs: it validates its arguments before any run
    monkeypatch.setattr("skralif.evaluation._experiment._run_one", trained)


def fails_in_one_line(argv, capsys, *needles):
    status = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))


@pytest.mark.parametrize("text, needle", [
    ("", "is empty"),
    ("a,b,label\n", "has a header but no data rows"),
    ("a,b,label\n1,2,0\n3,4\n", "line 3: 2 fields, but the header has 3"),
    ('a,b,label\n1,"2,0\n3,4,1\n', "malformed CSV"),
    ("a,b,label\n1,x,0\n2,3,1\n", "line 2, column 'b': 'x' is not a number"),
    ("a,b,label\n1,1e39,0\n2,3,1\n", "not a finite float32 number"),
    ("a,b,label\n1,nan,0\n2,3,1\n", "not a finite float32 number"),
    ("a,b,label\n1,2,\n2,3,1\n", "line 2: the `label` cell is empty"),
    ("a,b,label\n" + "".join(f"{i},{i},7\n" for i in range(30)), "single class"),
])
def test_malformed_csv(tmp_path, capsys, no_training, text, needle):
    path = write(tmp_path, "data.csv", text)
    fails_in_one_line(["run", "--dataset", path, "--target", "label",
                       "--output", str(tmp_path / "out")], capsys, needle)


def idx_bytes(shape, n_data=None, magic=b"\x00\x00\x08"):
    header = magic + bytes([len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    n = int(np.prod(shape)) if n_data is None else n_data
    return header + bytes(n)


@pytest.mark.parametrize("images, labels, needle", [
    (b"\x00\x00", idx_bytes((5,)), "is not an unsigned-byte IDX file"),
    (idx_bytes((5, 2, 2), n_data=7), idx_bytes((5,)), "claims shape (5, 2, 2)"),
    (idx_bytes((5, 2, 2)), idx_bytes((4,)), "holds 5 images but"),
    (idx_bytes((5, 2, 2), magic=b"\x00\x00\x0d"), idx_bytes((5,)), "not an unsigned-byte"),
])
def test_malformed_idx(tmp_path, capsys, no_training, images, labels, needle):
    (tmp_path / "imgs-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "imgs-labels-idx1-ubyte").write_bytes(labels)
    fails_in_one_line(["run", "--dataset", str(tmp_path), "--output", str(tmp_path / "o")],
                      capsys, needle, "imgs-")


def test_idx_header_claiming_huge_sizes_allocates_nothing(tmp_path, capsys, no_training):
    # 1 MB of zeros, gzipped, under a header that claims 60000 x 60000 x 4 bytes (13 GiB)
    with gzip.open(tmp_path / "big-images.gz", "wb") as handle:
        handle.write(idx_bytes((60000, 60000, 4), n_data=2**20))
    (tmp_path / "big-labels").write_bytes(idx_bytes((60000,)))
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fails_in_one_line(["run", "--dataset", str(tmp_path), "--output", str(tmp_path / "o")],
                      capsys, "big-images.gz", "claims shape (60000, 60000, 4)")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


@pytest.mark.parametrize("option, needle", [
    (["--test-size", "inf"], "--test-size"),
    (["--test-size", "nan"], "--test-size"),
    (["--test-size", "0"], "--test-size"),
    (["--test-size", "2.5"], "--test-size"),
    (["--seeds", "0"], "--seeds"),
    (["--rounds", "x"], "--rounds"),
    (["--n-jobs", "0"], "--n-jobs"),
    (["--dropout", "1.5"], "--dropout"),
    (["--strategies", "nope"], "--strategies"),
])
def test_bad_options_are_argparse_errors(tmp_path, capsys, no_training, option, needle):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--output", str(tmp_path / "o"), *option])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("option, needle", [
    (["--test-size", "1790"], "--test-size 1790 leaves"),
    (["--initial-size", "2000"], "--initial-size + --rounds x --query-size (2160) exceeds"),
    (["--strategies", "bald"], "--strategies bald needs MC dropout: add --dropout 0.2"),
    (["--dataset", "nowhere.csv"], "`dataset` must be one of"),
    (["--dataset", "README.md"], "`dataset` must be one of"),
])
def test_bad_combinations_fail_before_training(tmp_path, capsys, no_training, option, needle):
    fails_in_one_line(["run", "--output", str(tmp_path / "o"), *option], capsys, needle)


def test_output_that_is_a_file_or_unwritable_fails_first(tmp_path, capsys, no_training):
    target = tmp_path / "file.txt"
    target.write_text("x")
    fails_in_one_line(["run", "--output", str(target)], capsys, "is a file")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        fails_in_one_line(["run", "--output", str(locked / "out")], capsys, "not a writable")
    else:
        fails_in_one_line(["run", "--output", "/proc/skralif-out"], capsys, "not a writable")


def test_a_core_install_without_matplotlib_skips_the_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    results = ALResults(["random"], [0], np.array([10, 20]), np.array([[[0.5, 0.6]]]))
    assert cli._save(results, tmp_path) == ["results.json", "results.csv"]
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_version_and_the_console_script():
    out = subprocess.run([sys.executable, "-m", "skralif", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("skralif ")


@pytest.mark.parametrize("text, needle", [
    ("{not json", "is not valid JSON"),
    ('{"strategies": ["a"]}', "is not an ALResults JSON file"),
    ('{"strategies": ["a"], "seeds": [0], "n_labeled": [1, 2], "accuracy": [[0.5]]}',
     "accuracy has shape"),
])
def test_results_from_bad_json(tmp_path, text, needle):
    with pytest.raises(ValueError, match=needle):
        ALResults.from_json(write(tmp_path, "r.json", text))


@pytest.mark.parametrize("text, needle", [
    ("", "is not an ALResults CSV file"),
    ("strategy,seed\nrandom,0\n", "is not an ALResults CSV file"),
    ("strategy,seed,round,n_labeled,accuracy\nrandom,x,0,10,0.5\n", "malformed ALResults CSV"),
])
def test_results_from_bad_csv(tmp_path, text, needle):
    with pytest.raises(ValueError, match=needle):
        ALResults.from_csv(write(tmp_path, "r.csv", text))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(seeds=[]), ValueError, "`seeds` must hold at least one seed"),
    (dict(seeds=3), TypeError, "`seeds` must be a sequence of integers"),
    (dict(strategies=[]), ValueError, "`strategies` must name at least one"),
    (dict(strategies="random"), TypeError, r"Did you mean \['random'\]"),
    (dict(n_rounds=0), ValueError, "`n_rounds` must be an integer >= 1; got 0"),
    (dict(query_size=True), ValueError, "`query_size` must be an integer"),
])
def test_run_experiment_arguments(digits, kwargs, error, match):
    X, y = digits
    params = dict(strategies=["random"], seeds=[0], n_rounds=1)
    params.update(kwargs)
    strategies = params.pop("strategies")
    with pytest.raises(error, match=match):
        run_experiment(None, strategies, X[:100], y[:100], X[100:150], y[100:150], **params)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["query", "--help"]])
def test_help_and_version_import_no_heavy_dependency(argv):
    """Issue 26: `--version` imported torch, scikit-learn, SciPy and pandas first."""
    code = (f"import sys\nfrom skralif.cli import main\ntry:\n    main({argv!r})\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'pandas', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"torch", "sklearn", "scipy", "pandas", "numpy"}


def test_the_parser_lists_every_strategy_of_the_evaluation_api():
    from skralif.evaluation import STRATEGIES

    assert sorted(cli.STRATEGY_NAMES) == sorted(STRATEGIES)


def test_a_defect_keeps_its_traceback_but_bad_input_types_get_one_line(monkeypatch, capsys):
    """Issue 21: `main` caught every TypeError, so a programming error read as bad input."""

    def defect(args):
        return None + 1

    monkeypatch.setattr(cli, "report", defect)
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["report", "results.json"])
    from skralif.exceptions import InputTypeError

    def bad_input(args):
        raise InputTypeError("`y` mixes strings and numbers")

    monkeypatch.setattr(cli, "report", bad_input)
    fails_in_one_line(["report", "results.json"], capsys, "`y` mixes strings and numbers")


def test_ctrl_c_during_start_up_is_one_line(monkeypatch, capsys):
    """Issue 22: Ctrl-C while the command line imported its modules printed a traceback."""

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["--version"]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_report_command_reads_results_without_torch():
    """Issue 26: each command imports what it uses; `skralif report` only reads JSON."""
    code = ("import sys\nfrom skralif.evaluation import write_report\n"
            "print('torch' in sys.modules, 'skorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
