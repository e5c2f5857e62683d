"""Which stored pool row a taught row is: identity by position, never by value alone.

Distinct samples can hold equal values (integer features repeat, issue 22), so a
taught row is matched to an equal row of the stored pool, those the last query
proposed first; a row matching none is a new sample, unless it copies a row taken
from the stored pool by an earlier ``teach`` (taught twice).
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_rows", "check_not_taught"]


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
