"""The pre-registered protocol of issue 25, as code: which settings may inform a change to
RALIF's defaults, the rule that adopts a change, and the goals reported on validation.

Written and committed before any validation setting was run with the benchmark
(2026-12-04). The rule reads development settings only and refuses validation ones; a
change it adopts is then reported once on the validation settings, whatever they show.

**Development** settings (:data:`DEVELOPMENT`): the 16 settings of
``bench_learning_curves.py`` that RALIF's current defaults were chosen on. **Validation**
settings (:data:`VALIDATION`): data no default was chosen on (USPS digits with an MLP, with
the benchmark CNN cold and warm, and through a CNN pretrained on MNIST and frozen; AG News
texts through TF-IDF, truncated SVD and the MLP).

**The rule** (:func:`adopt`): a candidate default replaces the current one when, over the
development settings, with per-seed paired AULC differences ``candidate - current``:

1. no setting's 95% paired-bootstrap interval lies entirely below zero (never reliably
   worse, RALIF's promise);
2. the mean over settings of the mean difference is above zero;
3. the candidate is ahead (mean difference above zero) in at least half of the settings.

**The goals** (:func:`goals`), per setting, development and validation alike: RALIF's paired
AULC difference to margin, and to BADGE, has a 95% interval not entirely below zero; on the
convolutional, pretrained and text settings RALIF's mean gain over random is at least
margin's.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skralif.evaluation import ALResults, paired_bootstrap

FIGURES = Path(__file__).with_name("figures")

#: the 16 settings RALIF's defaults were chosen on (``<dataset>_<regime>``)
DEVELOPMENT = (
    "digits_cold", "digits_warm", "digits_large", "digits_zero",
    "breast_cancer_cold", "breast_cancer_warm", "wine_cold", "wine_warm",
    "mnist_cold", "mnist_warm", "mnist_large", "mnist_zero",
    "mnist_imbalanced_cold", "mnist_imbalanced_warm", "mnist_cnn_cold", "mnist_cnn_warm",
)
#: the settings no default may be chosen on: reported once, whatever they show
VALIDATION = (
    "usps_cold", "usps_warm", "usps_cnn_cold", "usps_cnn_warm",
    "usps_pretrained_cold", "usps_pretrained_warm", "ag_news_cold", "ag_news_warm",
)
#: where RALIF's mean gain over random must be at least margin's
DEEP_OR_TEXT = tuple(s for s in (*DEVELOPMENT, *VALIDATION)
                     if s.startswith(("mnist_cnn", "usps_cnn", "usps_pretrained", "ag_news")))


@dataclass
class Decision:
    """What :func:`adopt` decided, and why.

    Parameters
    ----------
    adopted : bool
    reasons : list of str
        One line per condition of the rule that failed (empty when adopted).
    intervals : dict
        ``{setting: (mean, low, high)}`` of ``candidate - current``.
    """

    adopted: bool
    reasons: list = field(default_factory=list)
    intervals: dict = field(default_factory=dict)


def adopt(differences):
    """The pre-registered rule: adopt a candidate default over the current one?

    Parameters
    ----------
    differences : dict of str to array-like
        Per development setting, the per-seed paired AULC differences
        ``candidate - current`` (same seeds, same initial labels).

    Returns
    -------
    Decision

    Raises
    ------
    ValueError
        When a setting is not a development setting (validation data cannot
        inform a choice) or no setting is given.
    """
    unknown = sorted(set(differences) - set(DEVELOPMENT))
    if unknown:
        raise ValueError(f"adopt() reads development settings only; got {unknown} "
                         f"(validation settings are reported, never used to choose).")
    if not differences:
        raise ValueError("adopt() needs the differences of at least one development setting.")
    intervals = {s: paired_bootstrap(d) for s, d in differences.items()}
    reasons = [f"{s}: reliably worse (95% interval {low:+.4f} to {high:+.4f})"
               for s, (_, low, high) in intervals.items() if high < 0]
    means = np.array([m for m, _, _ in intervals.values()])
    if means.mean() <= 0:
        reasons.append(f"mean difference over settings {means.mean():+.4f} is not above 0")
    if (means > 0).sum() * 2 < len(means):
        reasons.append(f"ahead in {(means > 0).sum()} of {len(means)} settings, fewer than "
                       "half")
    return Decision(not reasons, reasons, intervals)


def goals(aulc, setting):
    """Issue 25's goals in one setting.

    Parameters
    ----------
    aulc : dict of str to array-like
        Per strategy (``"ralif"``, ``"margin"``, ``"badge"``, ``"random"``),
        the per-seed AULC, seeds paired.
    setting : str
        A development or validation setting.

    Returns
    -------
    met : dict of str to bool
        ``"not behind margin"``, ``"not behind badge"`` (the paired interval
        is not entirely below zero) and, on convolutional, pretrained and text
        settings, ``"gain at least margin's"``.
    """
    if setting not in (*DEVELOPMENT, *VALIDATION):
        raise ValueError(f"{setting!r} is neither a development nor a validation setting.")
    ralif = np.asarray(aulc["ralif"], dtype=float)
    met = {}
    for rival in ("margin", "badge"):
        _, _, high = paired_bootstrap(ralif - np.asarray(aulc[rival], dtype=float))
        met[f"not behind {rival}"] = bool(high >= 0)
    if setting in DEEP_OR_TEXT:
        random = np.asarray(aulc["random"], dtype=float)
        met["gain at least margin's"] = bool(
            (ralif - random).mean() >= (np.asarray(aulc["margin"], dtype=float) - random).mean())
    return met


def settings_run(tag="_s10"):
    """The protocol's settings that have results in ``figures/<setting><tag>.json``.

    Returns
    -------
    run : list of (str, str, dict)
        ``(setting, "development" or "validation", {strategy: per-seed AULC})``.
    missing : list of str
        The settings not run yet.
    """
    run, missing = [], []
    for kind, settings in (("development", DEVELOPMENT), ("validation", VALIDATION)):
        for setting in settings:
            path = FIGURES / f"{setting}{tag}.json"
            if not path.exists():
                missing.append(setting)
                continue
            res = ALResults.from_json(path)
            run.append((setting, kind, dict(zip(res.strategies, res.aulc(), strict=True))))
    return run, missing
