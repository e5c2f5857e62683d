"""A labeling project's state folder: plain JSON, written atomically."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["load_state", "save_json", "write_atomically", "project_lock", "STATE_FILE",
           "FORMAT"]

#: the state file inside the project folder
STATE_FILE = "state.json"
#: version of its layout
FORMAT = 1
#: the lock file a running round holds (it names the process holding it)
LOCK_FILE = ".lock"


def load_state(folder):
    """The project state in ``folder``, or None for a new project.

    Parameters
    ----------
    folder : pathlib.Path

    Returns
    -------
    state : dict or None

    Raises
    ------
    ValueError
        When ``folder`` is a file, or its state file is not one skralif wrote.
    """
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`state_dir` {folder} is a file; it must be a folder (created if "
                         "missing).")
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else err
        raise ValueError(f"{path} is not a skralif state file ({reason}); move it away to "
                         "start over, or pass another `state_dir` folder.") from None
    keys = {"skralif_state", "data", "settings", "rounds", "labeled_ids"}
    if not isinstance(state, dict) or not keys <= set(state):
        raise ValueError(f"{path} is not a skralif state file (it lacks "
                         f"{sorted(keys - set(state) if isinstance(state, dict) else keys)}); "
                         "move it away to start over, or pass another `state_dir` folder.")
    if state["skralif_state"] != FORMAT:
        raise ValueError(f"{path} has state format {state['skralif_state']!r}; this skralif "
                         f"reads format {FORMAT}.")
    try:
        _check_schema(state)
    except _SchemaError as err:
        raise ValueError(f"{path}: {err}; it was edited by hand or by another program. Undo "
                         "the edit, or move the folder away to start over.") from None
    return state


class _SchemaError(Exception):
    """A key of the state whose value is not what skralif wrote (the message names it)."""


def _expect(value, kinds, where, what):
    """``value`` if it is one of ``kinds`` (bool never counts as int), else a
    :class:`_SchemaError` naming ``where``."""
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise _SchemaError(f"`{where}` must be {what}; got {_describe(value)}")
    return value


def _describe(value):
    text = json.dumps(value)[:40] if not isinstance(value, float) else repr(value)
    return f"{type(value).__name__} {text}"


def _expect_list(value, kinds, where, what):
    for i, item in enumerate(_expect(value, (list,), where, f"a list of {what}")):
        _expect(item, kinds, f"{where}[{i}]", what)
    return value


def _check_schema(state):
    """Every key a round reads, checked against what skralif writes (issue 22: a
    hand-edited state gave tracebacks)."""
    _expect(state["data"], (str,), "data", "a path")
    settings = _expect(state["settings"], (dict,), "settings", "an object")
    _expect(settings.get("target"), (str,), "settings.target", "a column name")
    _expect(settings.get("id"), (str, type(None)), "settings.id", "a column name or null")
    _expect_list(settings.get("ignore"), (str,), "settings.ignore", "column names")
    _expect_list(settings.get("features"), (str,), "settings.features", "column names")
    ids = (str, int)
    _expect_list(state["labeled_ids"], ids, "labeled_ids", "row ids")
    for k, record in enumerate(_expect(state["rounds"], (list,), "rounds", "a list")):
        where = f"rounds[{k}]"
        _expect(record, (dict,), where, "an object")
        number = _expect(record.get("round"), (int,), f"{where}.round", "a round number")
        if number != k + 1:
            raise _SchemaError(f"`{where}.round` must be {k + 1} (rounds are numbered in "
                               f"order); got {number}")
        _expect_list(record.get("proposed"), ids, f"{where}.proposed", "row ids")
        _expect_list(record.get("audit_drawn", []), ids, f"{where}.audit_drawn", "row ids")
        _expect(record.get("came_back_labeled"), (int, type(None)),
                f"{where}.came_back_labeled", "a count or null")
    stopping = _expect(state.get("stopping"), (dict, type(None)), "stopping",
                       "an object or null")
    if stopping is not None:
        stop_set = _expect_list(stopping.get("stop_set"), ids, "stopping.stop_set", "row ids")
        _expect_list(stopping.get("values"), (int, float, type(None)), "stopping.values",
                     "numbers or null")
        predictions = stopping.get("predictions")
        if predictions is not None:
            _expect_list(predictions, (str, int, float), "stopping.predictions", "labels")
            if len(predictions) != len(stop_set):
                raise _SchemaError(f"`stopping.predictions` must hold one label per row of "
                                   f"`stopping.stop_set` ({len(stop_set)}); got "
                                   f"{len(predictions)}")
    _expect(state.get("model"), (dict, type(None)), "model", "an object or null")


def save_json(path, data):
    """Write ``data`` as JSON to ``path`` atomically (a temporary file, then a rename),
    so an interrupted run leaves the previous file whole. NaN is written as null."""
    write_atomically(path, _dumps(_plain(data)))


def _dumps(data):
    """JSON with one top-level key, or one record of a list of records, per line."""
    def value(v):
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            return "[\n  " + ",\n  ".join(json.dumps(r, allow_nan=False) for r in v) + "\n ]"
        return json.dumps(v, allow_nan=False)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(v)}" for k, v in data.items()) + "\n}\n"


def write_atomically(path, content):
    """Write ``content`` to ``path`` through a temporary file in the same folder, renamed
    over it: readers see the old file or the new, never half of one.

    ``content`` is text, or a function that writes the file at the path it is given
    (skorch's ``save_params``).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if not callable(content):
                handle.write(content)
        if callable(content):
            content(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(value):
    """``value`` with numpy scalars and arrays as Python values and NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@contextlib.contextmanager
def project_lock(folder):
    """Hold the project ``folder`` for one round: a second round on the same folder, in
    another process, is refused with who holds it (issue 22: two runs both exited 0 and
    one round vanished). The operating system releases the lock if the holder dies."""
    path = Path(folder) / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until the end)
    try:
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ValueError(f"{folder} is in use by another skralif round ({holder}); wait "
                             "for it to finish, or pass another `state_dir` folder.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:  # empty again: a round that did not happen leaves no trace
            handle.seek(0)
            handle.truncate()
    finally:
        handle.close()  # closing the file releases the lock


def _lock(handle):
    """An exclusive, non-blocking lock on an open file; OSError when it is held."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
