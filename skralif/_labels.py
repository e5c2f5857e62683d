"""Labels as users hold them: missing markers, one kind per learner, class indices.

The learner's labels are the user's own values (strings or numbers, never a mix);
skorch trains on their positions in ``classes_`` (:func:`encode_labels`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .exceptions import InputTypeError

__all__ = ["is_missing", "clean_labels", "encode_labels", "check_fit_labels",
           "check_teach_labels", "check_score_labels"]


def check_fit_labels(y, n_rows, missing_label):
    """``(labels, missing)`` of the ``y`` given to ``fit``.

    ``labels`` is one array of the labels' own dtype (rows marked missing hold a
    filler never read); ``missing`` marks the rows to keep as the pool.
    """
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n_rows:
        raise ValueError(f"`y` has {len(y)} labels for {n_rows} rows of `X`.")
    _check_missing_label(missing_label, y)
    missing = is_missing(y, missing_label)
    labels = clean_labels(y[~missing], "y", nan_was_missing=bool(missing.any()))
    if len(labels):
        check_classification_targets(labels)
    clean = np.empty(len(y), dtype=labels.dtype)
    clean[~missing] = labels
    if missing.any() and len(labels):
        clean[missing] = labels[0]
    return clean, missing


def check_teach_labels(y, n_rows, missing_label, known, user_classes=None):
    """The labels given to ``teach``, of the same kind as the ``known`` ones.

    Integral floats become the known integer dtype (2.0 is class 2); labels outside
    the net's own ``classes`` (``user_classes``) are refused.
    """
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n_rows:
        raise ValueError(f"`y` has {len(y)} labels for {n_rows} rows of `X`.")
    _check_missing_label(missing_label, y)
    if is_missing(y, missing_label).any():
        raise ValueError(
            f"`y` passed to teach must hold real labels; got `missing_label`="
            f"{missing_label!r}, None or NaN."
        )
    y = clean_labels(y, "y")
    if len(known) == 0:
        pass  # the first labels of a session started with none set the kind
    elif (y.dtype.kind in "US") != (known.dtype.kind in "US") or (
            (y.dtype.kind == "b") != (known.dtype.kind == "b")):
        before = {"U": "strings", "S": "strings", "b": "booleans"}.get(known.dtype.kind,
                                                                       "numbers")
        raise InputTypeError(
            f"`y` must hold labels of the same kind as before ({before}, dtype "
            f"{known.dtype}); got dtype {y.dtype}."
        )
    elif known.dtype.kind in "iub" and y.dtype.kind == "f":
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError(
                f"`y` must hold integer labels like the learner's (dtype {known.dtype}); got "
                f"non-integer values {sorted(set(y[np.mod(y, 1) != 0].tolist()))[:5]}.")
        y = y.astype(known.dtype)  # 2.0 is class 2: classes_ keeps the learner's dtype
    check_classification_targets(y)
    if user_classes is not None and not np.isin(y, user_classes).all():
        raise ValueError(
            f"`y` holds labels {sorted(set(y) - set(user_classes))} outside the net's "
            f"`classes`={list(user_classes)}."
        )
    return y


def check_score_labels(y, n_rows, classes):
    """The true labels given to ``score``: one per row, of the kind of ``classes``."""
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n_rows:
        raise ValueError(f"`y` has {len(y)} labels for {n_rows} rows of `X`.")
    strings = y.dtype.kind in "US" or (y.dtype.kind == "O" and len(y) and all(
        isinstance(v, str) for v in y))
    if bool(strings) != (classes.dtype.kind in "US"):
        raise InputTypeError(
            f"`y` must hold labels of the learner's kind ({classes.dtype}, e.g. "
            f"{classes[0]!r}); got {y[:3].tolist()} (dtype {y.dtype}).")
    return y


def _check_missing_label(missing_label, y):
    """``missing_label`` is one value that can mark rows of ``y``."""
    if not (missing_label is None or isinstance(missing_label, str | bytes | float | int
                                                   | np.generic)):
        raise InputTypeError(
            f"`missing_label` must be one value (a number, a string, None or NaN) that marks "
            f"unlabeled rows; got {type(missing_label).__name__} {missing_label!r}.")
    if isinstance(missing_label, str | bytes) and y.dtype.kind in "biuf":
        raise ValueError(
            f"`missing_label`={missing_label!r} is a string but `y` holds numbers, so it would "
            "mark no row and every row would count as labeled. Pass the number that marks "
            "unlabeled rows (e.g. -1), or None/NaN.")


def is_missing(y, missing_label) -> np.ndarray:
    """Entries of ``y`` equal to ``missing_label``, and None and NaN always."""
    if y.dtype.kind == "O":
        always = np.array([v is None or (isinstance(v, float | np.floating) and v != v)
                           for v in y], dtype=bool)
    elif y.dtype.kind == "f":
        always = np.isnan(y)
    else:
        always = np.zeros(len(y), dtype=bool)
    if missing_label is None or (isinstance(missing_label, float) and np.isnan(missing_label)):
        return always
    if y.dtype.kind in "OUS" and not isinstance(missing_label, str):
        equal = np.array([_same_label(v, missing_label) for v in y], dtype=bool)
    elif y.dtype.kind not in "OUS" and isinstance(missing_label, str):
        equal = np.zeros(len(y), dtype=bool)
    else:
        equal = np.asarray(y == missing_label, dtype=bool).reshape(len(y))
    return always | equal


def _same_label(value, missing_label):
    return not isinstance(value, str | bytes) and value is not None and value == missing_label


def clean_labels(values, name, nan_was_missing=False):
    """Labels as one plain array: strings or numbers, never a mix.

    Integer-valued floats become int64 when NaN marked missing rows (a pandas
    column of ints with NaN is stored as floats).
    """
    kind = _label_kind(values)
    if kind == "mixed":
        strs = [v for v in values if isinstance(v, str | bytes)][:3]
        nums = [v for v in values if not isinstance(v, str | bytes)][:3]
        raise InputTypeError(
            f"`{name}` mixes strings ({strs}) and numbers ({nums}); labels must be all "
            "strings or all numbers. Convert them, e.g. `y.astype(str)`."
        )
    clean = np.array(values.tolist()) if values.dtype.kind == "O" else values
    if clean.dtype.kind == "O":
        raise InputTypeError(f"`{name}` must hold strings or numbers; got {values[:3].tolist()}.")
    if nan_was_missing and clean.dtype.kind == "f" and np.all(np.mod(clean, 1) == 0):
        clean = clean.astype(np.int64)
    return clean


def encode_labels(y, classes) -> np.ndarray:
    """Positions of the labels ``y`` in ``classes`` as int64 (what skorch trains on)."""
    sorter = np.argsort(classes)
    pos = np.searchsorted(classes, y, sorter=sorter).clip(0, len(classes) - 1)
    idx = sorter[pos]
    if not np.all(classes[idx] == y):
        raise ValueError(f"Labels {sorted(set(np.asarray(y)) - set(classes))} are not in "
                         f"`classes_`={list(classes)}.")
    return idx.astype(np.int64)


def _label_kind(values):
    """"str", "number" or "mixed" for an array of labels."""
    if values.dtype.kind in "US":
        return "str"
    if values.dtype.kind != "O":
        return "number"
    is_str = np.array([isinstance(v, str | bytes) for v in values], dtype=bool)
    return "str" if is_str.all() else ("number" if not is_str.any() else "mixed")
