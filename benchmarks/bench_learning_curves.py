"""Learning curves: RALIF against every baseline.

Datasets: digits, breast_cancer, wine (bundled) and MNIST-t10k (IDX files from
``--mnist``) with MLPs; ``mnist_imbalanced`` is MNIST-t10k whose pool has a 10:1 long
tail (class k keeps a share 0.1^(k/9) of its rows; the test set stays balanced);
``mnist_cnn`` is MNIST-t10k as 1x28x28 images with a small CNN (two conv blocks, a 2x2
average pool and a linear head on its 128 features). Regimes: a cold start with a few
labels per class, a warmer one, ``large`` (each query 10% of the final budget) and
``zero`` (no label at the start: TypiClust picks the first batch). For every seed all
strategies share the initial labeled set, the net settings and the torch seeds. BALD
needs MC dropout, so it alone runs the same net with dropout 0.2 (a caveat stated with the
results). Writes its figures to ``benchmarks/RESULTS.md`` and one plot and one JSON file
per setting to ``benchmarks/figures/<setting>_s<seeds>`` (``skralif report`` and
``bench_across.py`` read them; ``--reuse`` grows them).

Validation settings (``benchmarks/_protocol.py``: reported, never used to choose a
default): ``usps`` (256 features, the digits MLP), ``usps_cnn`` (1x16x16 images, the
benchmark CNN) and ``usps_pretrained`` (USPS as MNIST-sized images through the body of a
CNN trained on MNIST-t10k and frozen, with a linear head), from ``--usps``; ``ag_news``
(the 7,600 AG News texts of ``--ag-news``, 1,600 of them the test set: TF-IDF and a
100-component truncated SVD fitted on the 6,000 training texts without their labels, then
the digits MLP). The text features are what ``make_pipeline(TfidfVectorizer(...),
TruncatedSVD(100), ActiveLearningClassifier(net))`` computes when fitted on the training
texts: a Pipeline's unsupervised steps see every text, labeled or not (the worked example
in the docs); they are computed once here because ``run_experiment`` wraps the net itself.
"""

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from _report import markdown_table, write_section
from _runs import completed
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skralif.datasets import load_ag_news, load_dataset, load_usps
from skralif.evaluation import ALCurveDisplay, ALResults, run_experiment
from skralif.nets import FrozenEncoder, default_net
from skralif.strategies import TypiClustQuery

matplotlib.use("Agg")
FIGURES = Path(__file__).with_name("figures")

#: dataset -> (test rows, net settings, scale?, {regime: (initial, query[, rounds])})
SETTINGS = {
    "digits": (600, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True,
               {"cold": (10, 10), "warm": (30, 20), "large": (100, 100, 9), "zero": (10, 10)}),
    "breast_cancer": (200, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True,
                      {"cold": (4, 4), "warm": (20, 10)}),
    "wine": (60, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True,
             {"cold": (3, 3), "warm": (9, 6)}),
    "mnist": (3000, dict(module__hidden_units=(256, 128), lr=1e-3, max_epochs=30), False,
              {"cold": (20, 20), "warm": (50, 50), "large": (100, 100, 9),
               "zero": (20, 20)}),
    "mnist_imbalanced": (3000, dict(module__hidden_units=(256, 128), lr=1e-3, max_epochs=30),
                         False, {"cold": (20, 20), "warm": (50, 50)}),
    "mnist_cnn": (3000, dict(lr=3e-3, max_epochs=100), False,
                  {"cold": (20, 20), "warm": (50, 50)}),
    # validation settings (benchmarks/_protocol.py): USPS, never used to choose a default,
    # with the development settings' nets as a new user would reuse them
    "usps": (600, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True,
             {"cold": (10, 10), "warm": (30, 20)}),
    "usps_cnn": (600, dict(lr=3e-3, max_epochs=100), False,
                 {"cold": (20, 20), "warm": (50, 50)}),
    "usps_pretrained": (600, dict(lr=1e-2, max_epochs=60), False,
                        {"cold": (10, 10), "warm": (30, 20)}),
    "ag_news": (1600, dict(module__hidden_units=(128, 128), lr=1e-2, max_epochs=60), True,
                {"cold": (10, 10), "warm": (30, 20)}),
}
#: the settings of a regime ``zero`` start from no label, the first batch by TypiClust
ZERO = "zero"
DEFAULT_DATASETS = ["digits", "breast_cancer", "wine", "mnist"]


class SmallCNN(torch.nn.Module):
    """Two conv blocks (16 and 32 channels, ReLU, 2x2 max pool), a 2x2 average pool
    and a linear head: 128 features, so RALIF's exact Hessian is 1,290 square."""

    def __init__(self, n_classes=10, dropout=0.0):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Dropout(dropout),
        )
        self.head = torch.nn.Linear(128, n_classes)

    def forward(self, X):
        return self.head(self.body(X))
#: RALIF's own variants (LiSSA, the reference score, ...) are measured by
#: bench_ralif_ablation.py, paired with these runs
STRATEGIES = ["ralif", "random", "entropy", "margin", "coreset", "badge", "typiclust",
              "probcover"]


class PretrainedHead(torch.nn.Module):
    """A linear head on a frozen encoder (:class:`skralif.nets.FrozenEncoder`)."""

    def __init__(self, encoder, n_features=128, n_classes=10, dropout=0.0):
        super().__init__()
        self.encoder, self.dropout = encoder, torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(n_features, n_classes)

    def forward(self, X):
        return self.head(self.dropout(self.encoder(X)))


def mnist_encoder(mnist_path):
    """The body of a :class:`SmallCNN` trained on all of MNIST-t10k (10 epochs, seed 0),
    frozen: the pretrained backbone of ``usps_pretrained`` (kept in figures/)."""
    path = FIGURES / "mnist_cnn_encoder.pt"
    cnn = SmallCNN()
    if path.exists():
        cnn.load_state_dict(torch.load(path, weights_only=True))
    else:
        X, y = load_dataset(mnist_path)
        X = (X / X.max()).reshape(-1, 1, 28, 28).astype(np.float32)
        torch.manual_seed(0)
        net = default_net(module=SmallCNN, batch_size=64, lr=3e-3, max_epochs=10,
                          iterator_valid__batch_size=256).fit(X, y)
        cnn = net.module_
        torch.save(cnn.state_dict(), path)
    return FrozenEncoder(cnn.body)


def as_mnist_image(X):
    """USPS rows (256 values in [-1, 1]) as MNIST-like 1x28x28 images in [0, 1]: the
    16x16 digit resized to MNIST's 20x20 box and padded by 4 on every side."""
    images = torch.from_numpy((X.reshape(-1, 1, 16, 16) + 1) / 2)
    boxed = torch.nn.functional.interpolate(images, size=(20, 20), mode="bilinear",
                                            align_corners=False)
    return torch.nn.functional.pad(boxed, (4, 4, 4, 4)).numpy().astype(np.float32)


def text_features():
    """The unsupervised text steps of the ``ag_news`` setting, fitted on its training texts."""
    return make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english"),
                         TruncatedSVD(100, random_state=0))


def split(name, args, test_rows):
    if name == "ag_news":
        X, y = load_ag_news(args.ag_news)
    elif name.startswith("usps"):
        if not args.usps:
            raise SystemExit(f"{name} needs --usps PATH (USPS's zip.test.gz)")
        X, y = load_usps(args.usps)
    else:
        X, y = load_dataset(args.mnist if name.startswith("mnist") else name)
    if name == "mnist_cnn":
        X = (X / X.max()).reshape(-1, 1, 28, 28).astype(np.float32)
    elif name == "usps_cnn":
        X = ((X + 1) / 2).reshape(-1, 1, 16, 16).astype(np.float32)
    elif name == "usps_pretrained":
        X = as_mnist_image(X)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_rows, stratify=y,
                                              random_state=0)
    if name == "mnist_imbalanced":  # a 10:1 long tail in the pool only
        rng = np.random.default_rng(0)
        keep = [i for k in range(10) for i in np.flatnonzero(y_tr == k)
                if rng.random() < 0.1 ** (k / 9)]
        X_tr, y_tr = X_tr[np.sort(keep)], y_tr[np.sort(keep)]
    if name == "ag_news":  # fitted on the training texts, never on their labels
        features = text_features().fit(X_tr)
        X_tr, X_te = (features.transform(X).astype(np.float32) for X in (X_tr, X_te))
    return X_tr, X_te, y_tr, y_te


def prepare(name, regime, args):
    """``(net, data, kw)`` of one setting: ``net(**extra)`` builds its estimator, ``data``
    is ``(X_train, y_train, X_test, y_test)`` and ``kw`` the rest of ``run_experiment``'s
    arguments (``--seeds``, ``--rounds`` and ``--n-jobs`` of ``args``)."""
    test_rows, net_params, scale, regimes = SETTINGS[name]
    initial, query, *rounds = regimes[regime]
    X_tr, X_te, y_tr, y_te = split(name, args, test_rows)
    encoder = mnist_encoder(args.mnist) if name == "usps_pretrained" else None
    data = (X_tr, y_tr, X_te, y_te)
    kw = dict(initial_size=initial, query_size=query, n_rounds=rounds[0] if rounds else
              args.rounds, seeds=list(range(args.seeds)), n_jobs=args.n_jobs,
              initial_strategy=TypiClustQuery(random_state=0) if regime == ZERO else None)

    def net(**extra):
        if name in ("mnist_cnn", "usps_cnn"):
            extra = {"module__dropout": extra.pop("module__dropout", 0.0), **extra}
            n = default_net(module=SmallCNN, batch_size=64, iterator_valid__batch_size=256,
                            **net_params, **extra)
        elif name == "usps_pretrained":
            n = default_net(module=PretrainedHead, module__encoder=encoder, batch_size=64,
                            iterator_valid__batch_size=256, **net_params, **extra)
        else:
            n = default_net(batch_size=64, **net_params, **extra)
        return make_pipeline(StandardScaler(), n) if scale else n

    return net, data, kw


BALD = "bald (dropout 0.2)"


def run_setting(name, regime, args, strategies, seeds):
    """The results of ``strategies`` (BALD's name, :data:`BALD`, among them) over
    ``seeds`` on one setting, with their wall time as ``settings["seconds"]``."""
    start = time.perf_counter()
    net, data, kw = prepare(name, regime, args)
    kw.update(seeds=list(seeds))
    parts = []
    main = [s for s in strategies if s != BALD]
    if main:
        parts.append(run_experiment(net(), main, *data, **kw))
    if BALD in strategies:
        bald = run_experiment(net(module__dropout=0.2), ["bald"], *data, **kw)
        parts.append(ALResults([BALD], bald.seeds, bald.n_labeled, bald.accuracy,
                               bald.settings))
    names = [s for p in parts for s in p.strategies]
    accuracy = np.concatenate([p.accuracy for p in parts])
    settings = dict(parts[0].settings, seconds=round(time.perf_counter() - start))
    return ALResults(names, parts[0].seeds, parts[0].n_labeled,
                     accuracy[[names.index(s) for s in strategies]], settings)


def results(name, regime, args):
    """The results of one setting: with ``--reuse``, the earlier run kept in
    ``figures/{name}_{regime}{tag}.json`` (same labels) grown by running only what it
    lacks (seeds, strategies: see :func:`_runs.completed`); everything run otherwise."""
    strategies = list(args.strategies) + ([] if args.no_bald else [BALD])
    seeds = list(range(args.seeds))
    path = FIGURES / f"{name}_{regime}{args.tag}.json"
    stored = ALResults.from_json(path) if args.reuse and path.exists() else None
    if stored is not None:
        initial, query, *rounds = SETTINGS[name][3][regime]
        expected = dict(initial_size=initial, query_size=query,
                        n_rounds=rounds[0] if rounds else args.rounds)
        if any(stored.settings.get(k) != v for k, v in expected.items()):
            print(f"{path.name}: other settings, run again", flush=True)
            stored = None
        else:
            print(f"{path.name}: reused {stored.strategies} x seeds {stored.seeds}",
                  flush=True)
    return completed(stored, strategies, seeds,
                     lambda names, run_seeds: run_setting(name, regime, args, names,
                                                          run_seeds))


def verdict(rows):
    """RALIF (its defaults) against random and the best baseline of one setting."""
    by = {r["strategy"]: r for r in rows}
    ralif = by["ralif"]
    baselines = [r for r in rows if not r["strategy"].startswith(("ralif", "random"))]
    best = max(baselines, key=lambda r: r["aulc_mean"])
    return (ralif["aulc_mean"] >= by["random"]["aulc_mean"], ralif["win_rate"],
            ralif["aulc_mean"] >= best["aulc_mean"], best["strategy"])


def data_arguments(parser):
    """The paths of the data files that :func:`split` reads, as ``parser`` arguments."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--mnist", default=str(shared / "mnist-t10k"),
                        help="folder of the MNIST IDX files")
    parser.add_argument("--usps", default=str(shared / "usps" / "zip.test.gz"),
                        help="USPS's zip.test.gz (validation settings only)")
    parser.add_argument("--ag-news", default=str(shared / "ag_news" / "test.csv.gz"),
                        help="AG News's test.csv.gz (validation setting ag_news only)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS,
                        choices=list(SETTINGS))
    parser.add_argument("--regimes", nargs="+", default=["cold", "warm"])
    data_arguments(parser)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--no-bald", action="store_true", help="skip BALD")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--tag", default=None,
                        help="suffix of the figure and JSON file names, so a study does "
                             "not overwrite another's files (default: _s<seeds>)")
    parser.add_argument("--reuse", action="store_true",
                        help="take a setting's results from figures/ when an earlier run "
                             "had the same labels, running only the seeds and strategies "
                             "it lacks")
    parser.add_argument("--section", default="bench_learning_curves",
                        help="RESULTS.md section to write (one per family of settings)")
    args = parser.parse_args()
    if args.tag is None:
        args.tag = f"_s{args.seeds}"
    FIGURES.mkdir(exist_ok=True)
    tables, verdicts = [], []
    for name in args.datasets:
        for regime in [r for r in args.regimes if r in SETTINGS[name][3]]:
            res = results(name, regime, args)
            res.settings.update(setting=f"{name} {regime}")
            seconds = res.settings.get("seconds", float("nan"))
            start_from = "0 (TypiClust) + " if regime == ZERO else ""
            title = f"{name}, {regime} ({start_from}{res.n_labeled[0]:.0f} + "
            title += f"{len(res.n_labeled) - 1} x {res.n_labeled[1] - res.n_labeled[0]:.0f} "
            title += f"labels; {seconds:.0f} s)" if seconds == seconds else "labels)"
            display = ALCurveDisplay.from_results(res)
            display.ax_.set_title(title)
            png = FIGURES / f"{name}_{regime}{args.tag}.png"
            display.figure_.savefig(png, dpi=100, bbox_inches="tight")
            matplotlib.pyplot.close(display.figure_)
            res.to_json(FIGURES / f"{name}_{regime}{args.tag}.json")
            rows = res.summary()
            print(f"{title}\n{res.format_summary()}", flush=True)
            tables.append(f"#### {title}\n\n![{name} {regime}](figures/{png.name})\n\n"
                          + markdown_table(
                              ["strategy", "AULC mean", "std", "gain vs random [95% CI]",
                               "rank", "final acc.", "win rate vs random", "labels saved"],
                              [[r["strategy"], f"{r['aulc_mean']:.4f}", f"{r['aulc_std']:.4f}",
                                f"{100 * r['gain']:+.2f} [{100 * r['gain_low']:+.2f}, "
                                f"{100 * r['gain_high']:+.2f}]", f"{r['rank']:g}",
                                f"{r['final_accuracy']:.4f}", f"{r['win_rate']:.0%}",
                                f"{r['labels_saved']:.1f}"] for r in rows]))
            above, win, best_ok, best = verdict(rows)
            verdicts.append([f"{name} {regime}", "yes" if above else "**no**", f"{win:.0%}",
                             "yes" if best_ok else f"no ({best})"])
    n_best = sum(v[3] == "yes" for v in verdicts)
    body = (
        f"{args.seeds} seeds, {args.rounds} rounds unless the title says otherwise; nets "
        "retrained from scratch every round "
        "(Adam, batch 64, no validation split); StandardScaler before the net for the "
        "tabular sets. AULC: mean test accuracy over the label budget (trapezoid, normalised). "
        "Win rate: share of seeds whose AULC is at least random's. Labels saved: labels "
        "fewer than the budget at which the mean curve first reaches random's final mean "
        "accuracy. Gain: mean paired AULC difference from random in points (x100), with "
        "a 95% bootstrap interval over seeds; rank: of the mean AULC in the setting.\n\n"
        "### Goals for RALIF (RALIFQuery's defaults)\n\n"
        + markdown_table(["setting", "AULC >= random (mean)", "win rate vs random",
                          "AULC >= best baseline"], verdicts)
        + f"\n\nAt least the best baseline on {n_best} of {len(verdicts)} settings.\n\n"
        "### Per setting\n\n" + "\n\n".join(tables)
    )
    write_section(args.section, body)


if __name__ == "__main__":
    main()
