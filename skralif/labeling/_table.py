"""Reading the user's own file: rows to label, their ids, features and labels so far."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._csv import parse_number, read_csv_rows

__all__ = ["Table", "read_table"]


@dataclass
class Table:
    """A data file read for labeling.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    header : list of str
        Its columns, in order.
    cells : list of list of str
        Every data row's cells as text, as written back to ``to_label.csv``.
    lines : list of int
        Each row's line in the file (CSV), or its row number plus 2 (Parquet:
        as if it had a header line).
    id_name : str
        The ``id_column`` column, or ``"row"`` (ids are then row numbers from 0).
    ids : list
        One id per row, unique: ``str`` from the id column, ``int`` row numbers.
    features : list of str
        The feature columns.
    X : ndarray of shape (n_rows, n_features), float32
    y : ndarray of shape (n_rows,), object
        Each row's label (``int`` when every label in the file is an integer,
        ``str`` otherwise), ``None`` where the target cell is empty.
    """

    path: Path
    header: list
    cells: list
    lines: list
    id_name: str
    ids: list
    features: list
    X: np.ndarray
    y: np.ndarray

    @property
    def labeled(self) -> np.ndarray:
        """Indices of the rows with a label."""
        return np.flatnonzero([v is not None for v in self.y])


_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def read_table(path, target, *, id_column=None, ignore=()):
    """Read a CSV (or, with pyarrow, Parquet) file for labeling.

    Rows whose ``target`` cell is empty are unlabeled; every column but the
    target, the id column and the ``ignore`` columns is a numeric feature.

    Parameters
    ----------
    path : path-like
        A ``.csv`` file with a header row, or a ``.parquet`` file.
    target : str
        The label column.
    id_column : str, default=None
        A column of unique, non-empty row ids; None numbers the rows from 0.
    ignore : sequence of str, default=()
        Columns that are not features (names, free text, dates, ...); they are
        still copied to ``to_label.csv``.

    Returns
    -------
    table : Table

    Raises
    ------
    ValueError
        Naming the file and the column (and the line, where there is one) for
        a missing column, a non-numeric or empty feature cell, a value beyond
        float32, an empty or duplicate id, or a file with no feature.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"DATA {path} is not a file.")
    if path.suffix.lower() == ".parquet":
        header, body = _read_parquet_rows(path)
    elif path.suffix.lower() == ".csv":
        header, body = read_csv_rows(path)
    else:
        raise ValueError(f"DATA {path} must be a .csv or .parquet file; got a "
                         f"{path.suffix or 'suffix-less'} file.")
    if len(set(header)) != len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        raise ValueError(f"{path}: the header repeats column(s) {twice}; names must be unique.")
    for option, name in [("`target`", target), ("`id_column`", id_column), *[("`ignore`", c)
                                                                       for c in ignore]]:
        if name is not None and name not in header:
            raise ValueError(f"{option} {name!r} is not a column of {path}; its columns: "
                             f"{header}.")
    if id_column == target:
        raise ValueError(f"`id_column` and `target` name the same column {target!r}.")
    features = [c for c in header if c not in {target, id_column, *ignore}]
    if not features:
        raise ValueError(f"{path} has no feature column left besides the target, the id and "
                         "the `ignore` columns.")
    X = _features(path, header, body, features)
    lines = [line for line, _ in body]
    cells = [row for _, row in body]
    col = {c: i for i, c in enumerate(header)}
    ids = _ids(path, body, col.get(id_column), id_column)
    raw = [row[col[target]].strip() for row in cells]
    y = np.empty(len(raw), dtype=object)
    given = [v for v in raw if v]
    # integers only when every label is written as one, canonically: "01" and "1" are two
    # labels, not one, and "²" (a digit to str.isdigit) is text (issue 22)
    integers = bool(given) and all(_CANONICAL_INT.fullmatch(v) for v in given)
    y[:] = [(int(v) if integers else v) if v else None for v in raw]
    return Table(path, header, cells, lines, id_column or "row", ids, features, X, y)


def _features(path, header, body, features):
    """The feature cells as float32, each parsed once; one error naming every
    non-numeric column (with an example each), or the first empty or
    out-of-range cell."""
    index = [header.index(c) for c in features]
    X = np.empty((len(body), len(features)), dtype=np.float64)
    bad = {}
    for r, (line, row) in enumerate(body):
        for j, (c, i) in enumerate(zip(features, index, strict=True)):
            if c in bad:
                continue
            text = row[i].strip()
            if not text:
                raise ValueError(f"{path}, line {line}, column {c!r}: the cell is empty; every "
                                 "feature needs a value (fill it, or pass `ignore` "
                                 f"{c!r} to leave the column out).")
            try:
                X[r, j] = float(text)
            except ValueError:
                bad[c] = (line, text)
    if bad:
        examples = "; ".join(f"{c!r} (line {line}: {text!r})" for c, (line, text) in bad.items())
        raise ValueError(
            f"{path}: feature columns must be numeric; not numeric: {examples}. Drop them from "
            f"the features with `ignore` {' '.join(bad)} (they are still copied to "
            "to_label.csv).")
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = X.astype(np.float32)
    if not np.isfinite(X32).all():
        r, j = np.argwhere(~np.isfinite(X32))[0]
        line, row = body[r]
        parse_number(row[index[j]], path, line, features[j])  # raises, naming the cell
    return X32


def _ids(path, body, index, name):
    if index is None:
        return list(range(len(body)))
    ids, seen = [], {}
    for line, row in body:
        value = row[index].strip()
        if not value:
            raise ValueError(f"{path}, line {line}: the `id_column` column {name!r} is empty; "
                             "every row needs an id.")
        if value in seen:
            raise ValueError(f"{path}, lines {seen[value]} and {line}: id {value!r} of column "
                             f"{name!r} appears twice; ids must be unique.")
        seen[value] = line
        ids.append(value)
    return ids


def _read_parquet_rows(path):
    """A Parquet file as ``(header, [(line, cells)])``, cells as text like a CSV's."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ValueError(f"Reading {path} needs pyarrow: pip install pyarrow (or "
                         "'skralif[parquet]'), or save the file as CSV.") from err
    try:
        data = pq.read_table(path).to_pydict()
    except Exception as err:  # pyarrow raises its own error types for a bad file
        raise ValueError(f"{path} cannot be read as Parquet: {err}.") from err
    header = list(data)
    n = len(data[header[0]]) if header else 0
    if n == 0:
        raise ValueError(f"{path} has no data rows.")
    columns = [[_text(v) for v in data[c]] for c in header]
    return header, [(i + 2, [col[i] for col in columns]) for i in range(n)]


def _text(value):
    """A Parquet cell as CSV text: null and NaN are empty (pandas writes a missing
    label as NaN), and a whole float is written as an integer (``3.0`` is class 3)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
