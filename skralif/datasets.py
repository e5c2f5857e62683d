"""Load the data users already have: bundled sklearn sets, CSV files, MNIST-format IDX files.

Nothing is ever downloaded. Every loader returns ``(X, y)`` with ``X`` a float32
array of shape ``(n_samples, n_features)`` and ``y`` a 1-D label array.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
from sklearn import datasets as _sk

__all__ = ["BUNDLED", "load_dataset", "load_csv", "load_idx"]

#: names accepted by :func:`load_dataset` for scikit-learn's bundled sets
BUNDLED = {
    "digits": _sk.load_digits,
    "breast_cancer": _sk.load_breast_cancer,
    "wine": _sk.load_wine,
}


def load_dataset(name, *, target=None):
    """Load a bundled set by name, a CSV file, or a folder of IDX files.

    Parameters
    ----------
    name : str or path-like
        ``"digits"``, ``"breast_cancer"`` or ``"wine"``; a path to a ``.csv``
        file (then ``target`` names the label column); or a folder holding an
        ``*images*`` and a ``*labels*`` IDX file (optionally gzipped), such as
        MNIST's.
    target : str, default=None
        Label column of a CSV file.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skralif.datasets import load_dataset
    >>> X, y = load_dataset("wine")
    >>> X.shape, X.dtype
    ((178, 13), dtype('float32'))
    """
    if str(name) in BUNDLED:
        X, y = BUNDLED[str(name)](return_X_y=True)
        return X.astype(np.float32), y
    path = Path(name)
    if path.is_dir():
        return load_idx(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        if target is None:
            raise ValueError(f"`target` must name the label column of the CSV file {path}.")
        return load_csv(path, target)
    raise ValueError(
        f"`dataset` must be one of {sorted(BUNDLED)}, a .csv file or a folder of IDX "
        f"files; got {str(name)!r}, which is none of these."
    )


def load_csv(path, target):
    """Read a CSV file with a header row; every column but ``target`` is a numeric feature.

    Parameters
    ----------
    path : path-like
        The file.
    target : str
        Name of the label column (its values are kept as strings unless all
        are integers).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,)
    """
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], [r for r in rows[1:] if r]
    if target not in header:
        raise ValueError(f"`target` {target!r} is not a column of {path}; columns: {header}.")
    col = header.index(target)
    labels = [r[col] for r in body]
    try:
        X = np.array([[float(v) for i, v in enumerate(r) if i != col] for r in body],
                     dtype=np.float32)
    except ValueError as err:
        raise ValueError(f"Every column of {path} but `target` must be numeric: {err}.") from err
    y = np.array(labels)
    if all(v.lstrip("-").isdigit() for v in labels):
        y = y.astype(np.int64)
    return X, y


def load_idx(folder):
    """Read MNIST-format IDX files (``*images*`` and ``*labels*``, optionally ``.gz``).

    Parameters
    ----------
    folder : path-like
        Folder holding exactly one images file and one labels file.

    Returns
    -------
    X : ndarray of shape (n_samples, height * width), float32 in [0, 1]
    y : ndarray of shape (n_samples,), int64
    """
    folder = Path(folder)
    images = sorted(folder.glob("*images*"))
    labels = sorted(folder.glob("*labels*"))
    if len(images) != 1 or len(labels) != 1:
        raise ValueError(
            f"{folder} must hold one '*images*' and one '*labels*' IDX file; found "
            f"{[p.name for p in images + labels]}."
        )
    X = _read_idx(images[0])
    y = _read_idx(labels[0]).astype(np.int64)
    return (X.reshape(len(X), -1) / 255.0).astype(np.float32), y


def _read_idx(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
