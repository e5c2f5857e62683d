"""Query strategies: RALIF and the classical baselines it is compared with.

Every strategy has ``query(estimator, X_pool, n, *, X_labeled=None,
y_labeled=None)`` returning ``n`` distinct indices best first, and
``score_samples`` returning the scores it ranks by (higher first, ``NaN`` for
excluded rows). Label-free strategies (random, TypiClust, ProbCover) also
run with ``estimator=None``: they pick the first rows to label.
"""

from ._bald import BALDQuery
from ._base import QueryStrategy
from ._coldstart import ProbCoverQuery, TypiClustQuery
from ._embedding import BADGEQuery, CoresetQuery
from ._ralif import RALIFQuery
from ._uncertainty import RandomQuery, UncertaintyQuery, uncertainty

__all__ = [
    "QueryStrategy",
    "RALIFQuery",
    "RandomQuery",
    "UncertaintyQuery",
    "CoresetQuery",
    "BADGEQuery",
    "BALDQuery",
    "TypiClustQuery",
    "ProbCoverQuery",
    "uncertainty",
]
