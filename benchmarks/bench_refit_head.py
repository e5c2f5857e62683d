"""What RALIF's head refit changes: the trained head against the damped optimum.

For each setting of ``bench_learning_curves.py`` named, and each seed: the net of that
setting trained on a stratified initial set of the regime's size, then the head that
``RALIFQuery(refit_head=True)`` scores with (Newton's method to the optimum of the damped
labeled loss on the frozen features). Printed per head: its norm, the mean labeled loss,
the mean top probability and the accuracy over the pool; and the share of pool rows whose
predicted class the refit leaves unchanged. A diagnostic of why the refit helps the MLPs
and not the CNN (see ``bench_ralif_ablation``), not a benchmark of speed.

    python benchmarks/bench_refit_head.py --seeds 3
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from _report import markdown_table, write_section
from bench_learning_curves import prepare
from sklearn.model_selection import train_test_split

from skralif import RALIFQuery
from skralif.influence import HeadParameters, head_features, refit_head

SETTINGS = ["digits:cold", "mnist:cold", "mnist:warm", "mnist_cnn:cold", "mnist_cnn:warm"]


def heads(name, regime, seed, args):
    """``{"trained": stats, "refit": stats}`` and the argmax agreement on the pool."""
    net, (X, y, _, _), kw = prepare(name, regime, args)
    labeled, _ = train_test_split(np.arange(len(y)), train_size=kw["initial_size"],
                                  stratify=y, random_state=seed)
    torch.manual_seed(seed)
    extra = {} if name == "mnist_cnn" else dict(module__in_features=X.shape[1],
                                                 module__n_classes=10)
    estimator = net(**extra).fit(X[labeled], y[labeled])
    # the steps RALIFQuery takes at its defaults, through the public influence layer
    damping = RALIFQuery().damping
    trained = HeadParameters.from_estimator(estimator, X[labeled], damping)
    feats_pool = head_features(estimator, X)
    labels = torch.as_tensor(y[labeled])
    refit = trained.with_weights(refit_head(trained.feats, labels, trained.weights, damping,
                                            bias=trained.bias, binary=trained.binary))
    stats, predicted = {}, {}
    for which, space in [("trained", trained), ("refit", refit)]:
        W = space.weights
        P, P_lab = space.pair_scores(feats_pool, W)[1], space.pair_scores(space.feats, W)[1]
        predicted[which] = P.argmax(1).cpu().numpy()
        stats[which] = [float(W.norm()),
                        float(-torch.log(P_lab[torch.arange(len(labels)), labels]).mean()),
                        float(P.max(1).values.mean()), float((predicted[which] == y).mean())]
    return stats, float((predicted["trained"] == predicted["refit"]).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=SETTINGS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2]
                                                / "shared" / "data" / "mnist-t10k"))
    args = parser.parse_args()
    args.rounds, args.n_jobs = 8, 1
    torch.set_num_threads(1)
    rows = []
    for setting in args.settings:
        name, regime = setting.split(":")
        runs = [heads(name, regime, seed, args) for seed in range(args.seeds)]
        mean = {w: np.mean([r[0][w] for r in runs], axis=0) for w in ("trained", "refit")}
        agree = np.mean([r[1] for r in runs])
        row = [f"{name} {regime}"]
        for i, fmt in enumerate(["{:.2f}", "{:.4f}", "{:.3f}", "{:.3f}"]):
            row.append(f"{fmt.format(mean['trained'][i])} -> {fmt.format(mean['refit'][i])}")
        rows.append(row + [f"{agree:.1%}"])
        print(" | ".join(rows[-1]), flush=True)
    write_section("bench_refit_head", (
        f"Means over {args.seeds} seeds, each a stratified initial set of the regime's size "
        "and the setting's net trained on it (the nets of `bench_learning_curves`); each "
        "cell is trained head -> refitted head (RALIF's default, damping 1e-3). *Same "
        "class*: pool rows whose predicted class the refit leaves unchanged.\n\n"
        + markdown_table(["setting", "head norm", "labeled loss", "pool mean top p",
                          "pool accuracy", "same class"], rows)))


if __name__ == "__main__":
    main()
