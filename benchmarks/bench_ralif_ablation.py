"""Why RALIF is not the best strategy everywhere: RALIF's settings, one at a time.

Same splits, nets, seeds and initial labeled sets as ``bench_learning_curves.py`` (run that
first: the baselines' AULCs are read from its ``figures/<setting>.json``). Each variant
changes one setting of ``RALIFQuery`` from its default (tau=4, candidate_fraction=0.1,
damping=1e-3, diversity, target="pool").
"""

import argparse
import json

from _report import markdown_table, write_section
from bench_learning_curves import FIGURES, SETTINGS, split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif import RALIFQuery
from skralif.evaluation import run_experiment
from skralif.nets import default_net

VARIANTS = {
    "default": {},
    "tau=2": {"tau": 2.0},
    "tau=8": {"tau": 8.0},
    "candidates 0.03": {"candidate_fraction": 0.03},
    "candidates 0.3": {"candidate_fraction": 0.3},
    "damping 1e-2": {"damping": 1e-2},
    "damping 1e-5": {"damping": 1e-5},
    "no diversity": {"diversity": False},
    "target all": {"target": "all"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+",
                        default=["digits:cold", "digits:warm", "breast_cancer:warm", "wine:cold"])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for setting in args.settings:
        name, regime = setting.split(":")
        test_rows, net_params, scale, regimes = SETTINGS[name]
        initial, query = regimes[regime]
        X_tr, X_te, y_tr, y_te = split(name, args.mnist, test_rows)
        net = default_net(batch_size=64, **net_params)
        net = make_pipeline(StandardScaler(), net) if scale else net
        strategies = {v: RALIFQuery(**p) for v, p in VARIANTS.items()}
        res = run_experiment(net, strategies, X_tr, y_tr, X_te, y_te, initial_size=initial,
                             query_size=query, n_rounds=args.rounds,
                             seeds=list(range(args.seeds)), n_jobs=args.n_jobs)
        base = {r["strategy"]: r["aulc_mean"]
                for r in json.loads((FIGURES / f"{name}_{regime}.json").read_text())["summary"]}
        best_name = max((k for k in base if not k.startswith(("ralif", "random"))),
                        key=base.get)
        aulc = res.aulc().mean(axis=1)
        row = [f"{name} {regime}", f"{base['random']:.4f}", f"{best_name} {base[best_name]:.4f}"]
        row += [f"**{a:.4f}**" if a >= base[best_name] else f"{a:.4f}" for a in aulc]
        rows.append(row)
        print(row, flush=True)
    body = ("Mean AULC over seeds of RALIF variants (bold: at least the best baseline of "
            "`bench_learning_curves`, same seeds and initial sets).\n\n"
            + markdown_table(["setting", "random", "best baseline", *VARIANTS], rows))
    write_section("bench_ralif_ablation", body)


if __name__ == "__main__":
    main()
