"""A labeling project's state folder: plain JSON, written atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["load_state", "save_json", "STATE_FILE", "FORMAT"]

#: the state file inside the project folder
STATE_FILE = "state.json"
#: version of its layout
FORMAT = 1


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
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a skralif state file ({err}); move it away to start "
                         "over, or pass another `state_dir` folder.") from err
    keys = {"skralif_state", "data", "settings", "rounds"}
    if not isinstance(state, dict) or not keys <= set(state):
        raise ValueError(f"{path} is not a skralif state file (it lacks "
                         f"{sorted(keys - set(state) if isinstance(state, dict) else keys)}); "
                         "move it away to start over, or pass another `state_dir` folder.")
    if state["skralif_state"] != FORMAT:
        raise ValueError(f"{path} has state format {state['skralif_state']!r}; this skralif "
                         f"reads format {FORMAT}.")
    return state


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


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
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
