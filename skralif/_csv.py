"""Reading a CSV file of numeric features: its rows with line numbers, each cell a
finite float32 number or an error naming the file, the line and the column.

Shared by :func:`skralif.datasets.load_dataset` and the labeling workflow's tables.
"""

from __future__ import annotations

import csv

import numpy as np

__all__ = ["read_csv_rows", "parse_number", "spreadsheet_safe", "from_spreadsheet_safe"]


def read_csv_rows(path):
    """The header and the non-blank data rows of a CSV file, each with its line number.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    header : list of str
    body : list of (int, list of str)
        ``(line, cells)`` per data row; every row has as many cells as the header.

    Raises
    ------
    ValueError
        For an empty or undecodable file, unbalanced quotes, no data row, or a
        row whose field count differs from the header's (naming the line).
    """
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, strict=True))
    except csv.Error as err:
        raise ValueError(f"{path}: malformed CSV ({err}); check its quotes.") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a UTF-8 text file: {err}.") from err
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row, then data rows.")
    header = rows[0]
    body = [(line, r) for line, r in enumerate(rows[1:], start=2) if r]
    if not body:
        raise ValueError(f"{path} has a header but no data rows.")
    for line, row in body:
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, but the header has "
                             f"{len(header)}.")
    return header, body


def parse_number(text, path, line, column):
    """``text`` as a float finite in float32, or a ``ValueError`` naming the cell."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}, line {line}, column {column!r}: {text!r} is not a number; "
                         "every column but the target must be numeric.") from None
    with np.errstate(over="ignore"):
        finite = np.isfinite(np.float32(value))
    if not finite:
        raise ValueError(f"{path}, line {line}, column {column!r}: {text!r} is not a finite "
                         "float32 number (NaN, infinity, or beyond about 3.4e38).")
    return value


#: first characters that make a spreadsheet read a cell as a formula (or as the start of
#: one: tab and carriage return let a cell's formula hide behind white space)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """``cell`` as a CSV field no spreadsheet evaluates: a formula becomes text.

    A field that begins with one of :data:`FORMULA_STARTS` gets a leading ``'``
    (the mark spreadsheets use for "text, not a formula"), unless it is a plain
    number such as ``-1.5``; so does a field that already begins with ``'``, which
    makes the rule exactly reversible by :func:`from_spreadsheet_safe`. Other values
    are written as they are.

    Parameters
    ----------
    cell : object
        The value to write (``str()`` is applied).

    Returns
    -------
    str
    """
    text = str(cell)
    if text.startswith("'") or (text.startswith(FORMULA_STARTS) and not _is_number(text)):
        return "'" + text
    return text


def from_spreadsheet_safe(text):
    """The value :func:`spreadsheet_safe` was given: one leading ``'`` removed.

    Parameters
    ----------
    text : str
        A field as written.

    Returns
    -------
    str
    """
    return text[1:] if text.startswith("'") else text


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text  # "-1.5", not "\t-1" (float() strips white space)
