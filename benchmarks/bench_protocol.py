"""Issue 25's goals, setting by setting, from the learning curves already run.

Reads ``benchmarks/figures/<setting>_s10.json`` (``bench_learning_curves.py``) for every
development and validation setting of the pre-registered protocol
(``benchmarks/_protocol.py``) that has been run, and reports, per setting, RALIF's paired
AULC difference to margin and to BADGE with 95% intervals, its gain over random against
margin's, and whether each goal is met. Settings not run yet are listed as such.

    python benchmarks/bench_protocol.py
"""

import argparse
from pathlib import Path

import numpy as np
from _protocol import DEVELOPMENT, VALIDATION, goals
from _report import markdown_table, write_section

from skralif.evaluation import ALResults, paired_bootstrap

FIGURES = Path(__file__).with_name("figures")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="_s10", help="suffix of the results files")
    args = parser.parse_args()
    rows, missing = [], []
    for kind, settings in (("development", DEVELOPMENT), ("validation", VALIDATION)):
        for setting in settings:
            path = FIGURES / f"{setting}{args.tag}.json"
            if not path.exists():
                missing.append(setting)
                continue
            res = ALResults.from_json(path)
            aulc = dict(zip(res.strategies, res.aulc(), strict=True))
            met = goals(aulc, setting)
            cells = []
            for rival in ("margin", "badge"):
                mean, low, high = paired_bootstrap(aulc["ralif"] - aulc[rival])
                cells.append(f"{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]")
            gain = 100 * np.mean(aulc["ralif"] - aulc["random"])
            margin_gain = 100 * np.mean(aulc["margin"] - aulc["random"])
            rows.append([setting, kind, *cells, f"{gain:+.2f} / {margin_gain:+.2f}",
                         ", ".join(f"{k}: {'yes' if v else '**no**'}" for k, v in met.items())])
            print(rows[-1], flush=True)
    write_section("bench_protocol", (
        "Issue 25's goals per setting (`benchmarks/_protocol.py`, pre-registered before the "
        f"validation runs), from `figures/<setting>{args.tag}.json`: RALIF's paired AULC "
        "difference to margin and to BADGE, in points, with 95% bootstrap intervals over "
        "seeds (a goal is missed when the interval lies entirely below zero); RALIF's and "
        "margin's mean gains over random.\n\n"
        + markdown_table(["setting", "kind", "RALIF - margin", "RALIF - BADGE",
                          "gain over random: RALIF / margin", "goals"], rows)
        + (f"\n\nNot run yet: {', '.join(missing)}." if missing else "")))


if __name__ == "__main__":
    main()
