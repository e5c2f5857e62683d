"""Where each strategy helps and where it loses to random, from the learning curves run.

For every strategy and every setting of ``benchmarks/figures/<setting>_s10.json``
(development and validation settings of ``benchmarks/_protocol.py`` that have been run),
the gain over random (paired by seed) with its 95% bootstrap interval: *helps* when the
interval lies above zero, *loses* when it lies below, *tie* otherwise. Writes the
``bench_regimes`` section of RESULTS.md, which the strategies page of the docs cites.

    python benchmarks/bench_regimes.py
"""

import argparse
from collections import defaultdict

from _protocol import settings_run
from _report import markdown_table, write_section

from skralif.evaluation import paired_bootstrap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="_s10", help="suffix of the results files")
    args = parser.parse_args()
    verdicts = defaultdict(lambda: {"helps": [], "tie": [], "loses": []})
    found, _ = settings_run(args.tag)
    run = [setting for setting, _, _ in found]
    for setting, _, aulc in found:
        for strategy, values in aulc.items():
            if strategy == "random":
                continue
            mean, low, high = paired_bootstrap(values - aulc["random"])
            kind = "helps" if low > 0 else "loses" if high < 0 else "tie"
            verdicts[strategy][kind].append(f"{setting} ({100 * mean:+.1f})")
    rows = [[s, len(v["helps"]), len(v["tie"]), len(v["loses"]),
             "; ".join(v["loses"]) or "none"] for s, v in verdicts.items()]
    for row in rows:
        print(row, flush=True)
    write_section("bench_regimes", (
        f"Gain over random per strategy in the {len(run)} settings run (`figures/<setting>"
        f"{args.tag}.json`: {', '.join(run)}), 10 paired seeds: *helps* when the 95% "
        "interval of the gain lies above zero, *loses* when below, *tie* otherwise; the "
        "settings lost are listed with the mean gain in AULC points.\n\n"
        + markdown_table(["strategy", "helps", "tie", "loses", "settings where it loses to "
                          "random"], rows)))


if __name__ == "__main__":
    main()
