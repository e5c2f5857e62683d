"""Rows given to a fitted learner: checked against its fit, matched to its stored pool,
and held at each commit as one :class:`Rows` (labeled rows, the pool left, rounds).

Rows passed to ``query``, ``predict`` or ``teach`` must look like the rows of
``fit`` (width, shape, feature names, finite in float32). A taught row's identity
is its position in the stored pool, never its values alone: distinct samples can
hold equal values (integer features repeat, issue 22), so a taught row is matched
to an equal row of the stored pool, those the last query proposed first; a row
matching none is a new sample, unless it copies a row taken from the stored pool by
an earlier ``teach`` (taught twice).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import validate_data

from ._adapter import check_pool, is_dask
from ._labels import check_fit_labels
from ._training import net_classes
from ._validation import as_float32, check_rows
from .exceptions import PoolChangedError

__all__ = ["check_fit_input", "check_fit_rows", "check_like_fit", "match_rows", "check_not_taught",
           "Rows", "started_rows", "revealed_rows", "taught_rows", "last_proposals",
           "remember_proposals"]

_DTYPES = [np.float32, np.float64]


def check_fit_rows(learner, X):
    """``X`` of ``fit`` as float32, every error naming ``X``; sets ``learner``'s
    ``n_features_in_`` (and ``feature_names_in_``) as scikit-learn's ``validate_data``."""
    check_rows(X, "X", allow_nd=True, dtype=_DTYPES)  # named errors first
    X = validate_data(learner, X, reset=True, allow_nd=True, dtype=_DTYPES,
                      ensure_all_finite=False)
    return as_float32(X, "X")


def check_fit_input(learner, X, y):
    """``(X, y, missing)`` of a learner's ``fit``: rows as :func:`check_fit_rows`, labels
    with the unlabeled rows marked, and the settings that cannot work with them refused."""
    X = check_fit_rows(learner, X)
    y, missing = check_fit_labels(y, len(X), learner.missing_label)
    if missing.all() and (learner.n_queries > 0 or learner.initial_strategy is None):
        raise ValueError(
            f"`y` has no labeled row: every label is `missing_label`="
            f"{learner.missing_label!r}, None or NaN; label a row per class you expect, or "
            "pass `initial_strategy` (e.g. TypiClustQuery()) to start from zero labels.")
    known = np.unique(y[~missing])
    if learner.n_queries > 0 and len(known) == 1 and net_classes(learner.estimator) is None:
        raise ValueError(
            f"`y`, the oracle of simulated mode (`n_queries`={learner.n_queries}), labels "
            f"every labelable row with one class ({known.tolist()[0]!r}); a simulation needs "
            "at least two, or a net given every class it should learn (skorch's "
            "`classes=`).")
    if learner.audit_size and learner.n_queries == 0:
        raise ValueError(
            f"`audit_size`={learner.audit_size} applies to simulated mode (`n_queries` > 0). "
            "An interactive session audits with `skralif query --audit`, or with "
            "skralif.evaluation.draw_audit and estimate_accuracy; pass audit_size=0.")
    return X, y, missing


def check_like_fit(learner, X, name):
    """Rows (a dask array too) shaped like the learner's labeled rows, as float32; a
    dask array's values are checked chunk by chunk, inside its tasks."""
    shape, expected = learner.X_labeled_.shape[1:], learner.n_features_in_
    if is_dask(X):
        X = check_pool(X, name)
        if X.shape[1:] != shape:
            raise ValueError(f"`{name}` has {X.shape[1]} features, but "
                             f"ActiveLearningClassifier is expecting {expected}.")
        return X.astype(np.float32)
    checked = check_rows(X, name, allow_nd=True, dtype=_DTYPES)
    if checked.shape[1] != expected:
        raise ValueError(f"{name} has {checked.shape[1]} features, but "
                         f"ActiveLearningClassifier is expecting {expected} "
                         f"features as input (argument `{name}`).")
    validate_data(learner, X, reset=False, skip_check_array=True)  # feature names
    if checked.shape[1:] != shape:
        raise ValueError(f"`{name}` rows have shape {checked.shape[1:]}, but "
                         f"ActiveLearningClassifier was fitted on {shape}.")
    return as_float32(checked, name)


def match_rows(pool, X, prefer=None) -> np.ndarray:
    """For each row of ``X``, the position of an equal row of ``pool`` or -1 (each pool
    row is matched once). Among equal pool rows, positions in ``prefer`` (the last
    proposals) come first, so duplicated rows are taught where they were proposed."""
    if len(pool) == 0 or len(X) == 0:
        return np.full(len(X), -1, dtype=np.int64)
    where = {}
    first = [] if prefer is None else [int(i) for i in prefer if 0 <= i < len(pool)]
    rows = pool.reshape(len(pool), -1)
    for i in dict.fromkeys(first + list(range(len(pool)))):
        where.setdefault(rows[i].tobytes(), []).append(i)
    taken = []
    for row in np.asarray(X, dtype=pool.dtype).reshape(len(X), -1):
        positions = where.get(row.tobytes())
        taken.append(positions.pop(0) if positions else -1)
    return np.asarray(taken, dtype=np.int64)


def check_not_taught(X, taken, X_from_pool):
    """Refuse rows of ``X`` that match no pool row left (``taken`` is -1) but a row taken
    from the stored pool by an earlier teach (``X_from_pool``)."""
    outside = np.flatnonzero(taken < 0)
    if len(outside) == 0 or len(X_from_pool) == 0:
        return
    again = outside[match_rows(X_from_pool, X[outside]) >= 0]
    if len(again):
        raise ValueError(
            f"Rows {again[:10].tolist()} of `X` were taken from the stored pool "
            "(`X_pool_`) by an earlier teach and no equal row is left in it; teaching "
            "them again would count them twice. Pass only rows not labeled yet; rows "
            "from outside the stored pool are new samples, equal values or not."
        )


class Rows(NamedTuple):
    """A learner's rows at one commit, built by :func:`started_rows`,
    :func:`revealed_rows` or :func:`taught_rows` and never changed in place."""

    X_labeled: np.ndarray
    y_labeled: np.ndarray
    from_pool: np.ndarray  # per labeled row: taken from the rows of fit
    pool_index: np.ndarray  # per pool row: its position among the rows of fit
    X_pool: np.ndarray
    labeled_iter: np.ndarray  # per row of fit: the round it was labeled in, -1 if never


def started_rows(X, y, missing):
    """An interactive session's rows: the labeled rows of ``fit``, the others the pool."""
    labeled = np.flatnonzero(~missing)
    return Rows(X[labeled], y[labeled], np.zeros(len(labeled), dtype=bool),
                np.flatnonzero(missing), X[missing], np.where(missing, -1, 0))


def revealed_rows(X, y, labeled, labeled_iter, labelable):
    """A simulated round's rows: ``labeled`` revealed by the oracle, the ``labelable``
    rows never revealed (``labeled_iter`` -1) the pool."""
    pool = labelable[labeled_iter[labelable] == -1]
    return Rows(X[labeled], y[labeled], np.ones(len(labeled), dtype=bool), pool, X[pool],
                labeled_iter)


def taught_rows(rows, X, y, taken, round_):
    """``rows`` after a teach of ``(X, y)`` in ``round_`` that took the stored pool
    positions ``taken`` (-1: a new sample)."""
    took = taken[taken >= 0]
    keep = np.ones(len(rows.pool_index), dtype=bool)
    keep[took] = False
    labeled_iter = rows.labeled_iter.copy()
    labeled_iter[rows.pool_index[took]] = round_
    first = len(rows.y_labeled) == 0  # a session started with no label sets the label kind
    return Rows(np.concatenate([rows.X_labeled, X.astype(rows.X_labeled.dtype)]),
                y if first else np.concatenate([rows.y_labeled, y]),
                np.concatenate([rows.from_pool, taken >= 0]), rows.pool_index[keep],
                rows.X_pool[keep], labeled_iter)


def last_proposals(learner):
    """Pool positions the last ``query`` of the learner's stored pool proposed, if the
    pool is still the one it saw: among equal pool rows, these are the ones taught."""
    pool_id, picks = getattr(learner, "_proposed", (None, None))
    return picks if pool_id == id(learner.X_pool_) else None


def remember_proposals(learner, stored, picks):
    """Keep ``picks`` of the learner's stored pool for :func:`last_proposals`, unless a
    ``teach`` replaced the pool (``stored``, the one the query read) meanwhile."""
    if learner.X_pool_ is not stored:
        raise PoolChangedError(
            "The stored pool changed while this query ran (a `teach` in another "
            "thread committed): its indices would point into a pool that is gone. "
            "Query again, or query and teach from one thread.")
    learner._proposed = (id(stored), picks.copy())
