"""Issue 25's goals, setting by setting, from the learning curves already run.

Reads ``benchmarks/figures/<setting>_s10.json`` (``bench_learning_curves.py``) for every
development and validation setting of the pre-registered protocol
(``benchmarks/_protocol.py``) that has been run, and reports, per setting, RALIF's paired
AULC difference to margin and to BADGE with 95% intervals, its gain over random against
margin's, and whether each goal is met. Settings not run yet are listed as such.

    python benchmarks/bench_protocol.py
"""

import argparse

import numpy as np
from _protocol import goals, settings_run
from _report import markdown_table, write_section

from skralif.evaluation import paired_bootstrap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="_s10", help="suffix of the results files")
    args = parser.parse_args()
    rows = []
    run, missing = settings_run(args.tag)
    for setting, kind, aulc in run:
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
