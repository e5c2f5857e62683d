"""Stored learning curves completed instead of rerun.

Runs are paired within a seed only (a seed fixes the initial labeled set and the net's
initialisation for every strategy), so a stored grid of strategies x seeds can grow by
running just its missing cells: the seeds it lacks, for the strategies it has, and every
seed for the strategies it lacks.
"""

import numpy as np

from skralif.evaluation import ALResults


def completed(stored, strategies, seeds, run):
    """``stored`` results grown to ``strategies`` x ``seeds`` by running what it lacks.

    Parameters
    ----------
    stored : ALResults or None
        Earlier results; their seeds must be the first of ``seeds``, else (or for None)
        everything is run. Strategies that are not asked for are dropped.
    strategies : list of str
        The strategies wanted, in the order of the result.
    seeds : list of int
        The seeds wanted.
    run : callable
        ``run(strategies, seeds)`` returns the ALResults of those strategies (in that
        order) and seeds.

    Returns
    -------
    results : ALResults
        ``settings`` are the stored ones; their ``seconds`` (when stored) grow by the
        ``seconds`` of the runs.
    """
    if stored is None or stored.seeds != seeds[:len(stored.seeds)]:
        return run(list(strategies), list(seeds))
    have = [s for s in strategies if s in stored.strategies]
    lacking = [s for s in strategies if s not in stored.strategies]
    new_seeds = list(seeds[len(stored.seeds):])
    rows = {s: stored.accuracy[stored.strategies.index(s)] for s in have}
    settings = dict(stored.settings)
    for names, run_seeds in [(have, new_seeds), (lacking, list(seeds))]:
        if not names or not run_seeds:
            continue
        more = run(names, run_seeds)
        if not np.array_equal(more.n_labeled, stored.n_labeled):
            raise ValueError(f"the new runs labeled {more.n_labeled.tolist()}, the stored "
                             f"ones {np.asarray(stored.n_labeled).tolist()}")
        for s in names:
            row = more.accuracy[more.strategies.index(s)]
            rows[s] = np.concatenate([rows[s], row]) if s in have else row
        if "seconds" in settings:
            settings["seconds"] += more.settings.get("seconds", float("nan"))
    return ALResults(list(strategies), list(seeds), stored.n_labeled,
                     np.stack([rows[s] for s in strategies]), settings)
