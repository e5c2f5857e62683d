"""Across settings: mean rank, worst-case gain, win rates and the penalty matrix.

Reads the per-setting results that ``bench_learning_curves.py`` leaves in
``benchmarks/figures/*.json`` (or the files given), runs :func:`skralif.evaluation.write_report`
on them, and writes its "Across settings" and "Penalty matrix" parts, with the two figures,
to the ``bench_across_settings`` section of ``benchmarks/RESULTS.md``.

    python benchmarks/bench_across.py --strategies ralif random entropy margin coreset badge
"""

import argparse
from pathlib import Path

from _report import write_section

from skralif.evaluation import write_report

FIGURES = Path(__file__).with_name("figures")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path,
                        help="results JSON files (default: benchmarks/figures/*.json)")
    parser.add_argument("--strategies", nargs="+", help="compare only these")
    parser.add_argument("--section", default="bench_across_settings",
                        help="RESULTS.md section to write; its figures go to "
                             "figures/<section without bench_>")
    args = parser.parse_args()
    paths = args.results or sorted(FIGURES.glob("*.json"))
    folder = "across" if args.section == "bench_across_settings" else \
        args.section.removeprefix("bench_")
    out = FIGURES / folder
    write_report(paths, out, strategies=args.strategies)
    report = (out / "report.md").read_text()
    body = report[report.index("Seeds per setting"):report.index("## Per setting")]
    body = body.replace("## ", "### ").replace("](penalty_matrix.png)",
                                               f"](figures/{folder}/penalty_matrix.png)")
    body = body.replace("](ranks.png)", f"](figures/{folder}/ranks.png)")
    names = ", ".join(p.stem for p in paths)
    write_section(args.section, f"Settings: {names}.\n\n{body}")


if __name__ == "__main__":
    main()
